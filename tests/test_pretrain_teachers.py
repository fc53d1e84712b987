"""Several teachers per student, augmented crops, and the two-student recipe end to end.

Clips are generated here; the teachers are the committed musicnn and VGG
folders. The recipe test runs ``tools/train_students.py`` itself (in
process) with a narrow SampleCNN for a few steps: both students, four
teachers cached once, resumed after an interruption inside an epoch.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import tone_clip, write_clip

from mirex.pretrain import augment as A
from mirex.pretrain import targets as TG
from mirex.pretrain.teacher import load_teachers, teacher_paths

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models"
TINY = {"widths": [8, 8, 8, 16, 16, 16, 16, 16, 16, 24, 24], "n_outputs": 3, "dropout": 0.0}


def test_teacher_option_takes_commas_and_repeats():
    assert teacher_paths(None) == [] and teacher_paths("a") == ["a"]
    assert teacher_paths("a, b") == ["a", "b"]
    assert teacher_paths(["a,b", Path("c")]) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="twice"):
        teacher_paths(["a", "./a"])


def test_combination_rule_mean_of_posteriors_or_concatenated_features():
    a = np.array([[0.2, 0.8], [0.0, 1.0]], np.float32)
    b = np.array([[0.6, 0.4], [1.0, 0.0]], np.float32)
    np.testing.assert_allclose(TG.combine_teachers([a, b], "posteriors"), [[0.4, 0.6], [0.5, 0.5]])
    assert TG.combine_teachers([a, b[:, :1]], "features").shape == (2, 3)
    np.testing.assert_array_equal(TG.combine_teachers([a], "posteriors"), a)
    with pytest.raises(ValueError, match="windows"):
        TG.combine_teachers([a, b[:1]], "posteriors")


def test_posteriors_are_only_combined_within_one_label_set():
    msd = load_teachers([MODELS / "musicnn-msd", MODELS / "musicnn-vgg-msd"])
    assert [t.name for t in msd] == ["musicnn-msd", "musicnn-vgg-msd"]
    assert msd[1].info()["architecture"] == "musicnn-vgg"
    with pytest.raises(ValueError, match="different labels"):
        load_teachers(f"{MODELS / 'musicnn-msd'},{MODELS / 'musicnn-mtt'}")
    # features of teachers of any labels can be concatenated
    assert len(load_teachers([MODELS / "musicnn-msd", MODELS / "musicnn-mtt"], "features")) == 2


def test_augmented_batches_are_a_function_of_seed_epoch_and_step():
    """What an exact resume needs: the batches from step k on are those of an uninterrupted epoch."""
    from mirex.pretrain.plans import epoch_plan
    from mirex.pretrain.sources import MemorySource
    from mirex.pretrain.trainer import _batches

    source = MemorySource.__new__(MemorySource)       # three clips held in memory
    lengths = [70000, 80000, 90000]
    super(MemorySource, source).__init__(lengths)
    source.offsets = np.array([0, 70000, 150000])
    source.wave = np.random.default_rng(0).standard_normal(240000).astype(np.float32)
    units = TG.label_units(lengths, np.eye(3, dtype=np.float32))
    plan = epoch_plan(units, seed=5, epoch=2, n_segments=12)
    settings = A.augment_settings("all")
    whole = _batches(source, units, plan, 4, 0, 1, augment=settings, seed=5, epoch=2)
    tail = _batches(source, units, plan, 4, 1, 1, augment=settings, seed=5, epoch=2)
    for i in range(2):
        for a, b in zip(whole[i + 1], tail[i]):
            np.testing.assert_array_equal(a, b)
    plain = _batches(source, units, plan, 4, 0, 1)
    assert not np.array_equal(whole[0][0], plain[0][0])     # augmented
    assert np.array_equal(plain[0][1], units.y[plan[0][:4]])


def _train_students():
    spec = importlib.util.spec_from_file_location("train_students",
                                                  REPO / "tools" / "train_students.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _epochs(run) -> list[str]:
    with open(run / "log.csv", newline="") as handle:
        return [row["epoch"] for row in csv.DictReader(handle)]


def test_students_recipe_end_to_end_with_resume(tmp_path):
    """tools/train_students.py: both students, four teachers cached once, interrupted and resumed."""
    from mirex.backbones import load_backbone

    paths = [write_clip(tmp_path / "audio" / f"{kind}{i}.wav",
                        tone_clip(kind, seed=i, seconds=3.5 + 0.5 * i))
             for i, kind in enumerate(["low", "high", "noise", "low"])]
    listing = tmp_path / "train.txt"
    listing.write_text("\n".join(paths) + "\n", encoding="utf-8")
    out = tmp_path / "students"
    main = _train_students()
    common = ["--list", str(listing), "--out", str(out), "--models-dir", str(MODELS),
              "--config", json.dumps(TINY), "--batch-size", "4", "--steps-per-epoch", "2",
              "--valid-fraction", "0.25", "--valid-segments", "2", "--precision", "float32",
              "--workers", "1", "--verbose", "0", "--minutes", "30"]
    main(common + ["--max-epochs", "1"])
    first = json.loads((out / "students.json").read_text())["students"]
    assert list(first) == ["samplecnn-msd", "samplecnn-mtt"]
    assert first["samplecnn-msd"]["teacher_computed"] == 2 * 4      # two teachers x 4 files
    assert first["samplecnn-mtt"]["teacher_computed"] == 2 * 4
    assert first["samplecnn-mtt"]["decoded"] == 0                   # audio shared
    caches = sorted(p.name.split("-hop")[0][:-13] for p in (out / "cache").glob("teacher-*"))
    assert caches == ["teacher-musicnn-msd", "teacher-musicnn-mtt", "teacher-musicnn-vgg-msd",
                      "teacher-musicnn-vgg-mtt"]

    main(common + ["--max-epochs", "2", "--max-minutes", "0"])       # stops inside epoch 2
    for name in first:
        state = json.loads((out / name / "checkpoint.json").read_text())
        assert (state["epoch"], state["step"]) == (1, 1) and _epochs(out / name) == ["1"]
    main(common + ["--max-epochs", "2"])
    final = json.loads((out / "students.json").read_text())["students"]
    for name, teachers in (("samplecnn-msd", ("musicnn-msd", "musicnn-vgg-msd")),
                           ("samplecnn-mtt", ("musicnn-mtt", "musicnn-vgg-mtt"))):
        result = final[name]
        assert result["teacher_computed"] == 0 and result["decoded"] == 0
        assert result["steps"] == 4 and _epochs(out / name) == ["1", "2"]
        backbone = load_backbone(result["backbone"])
        prov = backbone.manifest["provenance"]
        assert backbone.config["n_outputs"] == 50 and backbone.manifest["labels"] == \
            json.loads((MODELS / teachers[0] / "manifest.json").read_text())["labels"]
        assert [m["name"] for m in prov["teacher"]["members"]] == list(teachers)
        assert prov["teacher"]["combination"] == "mean of the teachers' posteriors"
        assert list(prov["augment"]) == list(A.ORDER)
        assert " + ".join(teachers) in prov["description"]
        assert prov["command"].startswith("mirex distil") and "--augment all" in prov["command"]
    # a resume with other teachers is refused, naming the setting
    from mirex.pretrain.api import distil

    with pytest.raises(ValueError, match="teacher"):
        distil(str(listing), [str(MODELS / "musicnn-msd")], out / "samplecnn-msd",
               config=TINY, resume=True, precision="float32", workers=1, verbose=0,
               batch_size=4, steps_per_epoch=2, valid_fraction=0.25, valid_segments=2,
               augment="all", minutes=30, cache_dir=out / "cache")


def test_recipe_halves_and_a_signal_ends_the_whole_run(tmp_path, monkeypatch):
    """split='halves' deals the files alternately; a student stopped by SIGTERM ends the call."""
    from mirex.pretrain import api
    from mirex.pretrain.students import student_lists, train_students

    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"/a/{i}.wav\n" for i in range(5)), encoding="utf-8")
    halves = student_lists(listing, tmp_path, ["samplecnn-msd", "samplecnn-mtt"], "halves")
    assert Path(halves["samplecnn-msd"]).read_text().split() == ["/a/0.wav", "/a/2.wav",
                                                                  "/a/4.wav"]
    assert Path(halves["samplecnn-mtt"]).read_text().split() == ["/a/1.wav", "/a/3.wav"]
    calls = []

    def fake_distil(list_path, teachers, out_dir, **options):
        calls.append((Path(out_dir).name, [Path(t).name for t in teachers], options["augment"]))
        return {"status": "paused", "backbone": None, "stopped_by_signal": True}

    monkeypatch.setattr(api, "distil", fake_distil)
    summary = train_students(listing, tmp_path / "out", models_dir=MODELS)
    assert calls == [("samplecnn-msd", ["musicnn-msd", "musicnn-vgg-msd"], "all")]
    assert list(summary["students"]) == ["samplecnn-msd"]
