"""mirex.pretrain (the one trainer, ``mirex pretrain``): a tiny SampleCNN trained a few steps.

Every clip is generated here (a few seconds, written with soundfile); the
teacher is the committed ``models/musicnn-msd``. Runs use a narrow SampleCNN
of the paper's depth, batches of 4 and 2-3 steps per epoch.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import tone_clip, write_clip

from mirex.backbones.samplecnn import validate_config
from mirex.constants import MSD_TAGS, SAMPLE_RATE, SEGMENT_SAMPLES
from mirex.fileio import sha256_file
from mirex.lists import ListError, read_paths
from mirex.pretrain import api as TR
from mirex.pretrain import audiocache as AC
from mirex.pretrain import checkpoints as CK
from mirex.pretrain import metrics as M
from mirex.pretrain import plans as P
from mirex.pretrain import sources as S
from mirex.pretrain import targets as TG
from mirex.pretrain import teacher as T
from mirex.pretrain.output import BACKBONE_DIR
from mirex.pretrain.schedule import Schedule
from mirex.pretrain.student import build_student
from mirex.pretrain.trainer import Trainer, _batches

REPO = Path(__file__).resolve().parent.parent
MUSICNN_MSD = REPO / "models" / "musicnn-msd"
TINY = {"widths": [8, 8, 8, 16, 16, 16, 16, 16, 16, 24, 24], "n_outputs": 3, "dropout": 0.0}
#: Small, fast settings shared by the runs below.
FAST = dict(config=TINY, steps_per_epoch=2, batch_size=4, valid_segments=2, verbose=0,
            valid_fraction=0.3, workers=1)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Six 3-4.5 s clips and their tag, genre and plain path lists."""
    root = tmp_path_factory.mktemp("pretrain")
    tags, genres, paths = [], [], []
    for i, kind in enumerate(["low", "high", "noise"] * 2):
        path = write_clip(root / "audio" / f"{kind} {i}.wav",
                          tone_clip(kind, seed=i, seconds=3.0 + 0.3 * i))
        tags.append(f"{path}\t{kind},{'odd' if i % 2 else 'even'}")
        genres.append(f"{path}\t{kind}")
        paths.append(path)
    lists = {}
    for name, lines in (("tags", tags), ("genres", genres), ("paths", paths)):
        lists[name] = root / f"{name}.txt"
        lists[name].write_text("\n".join(lines) + "\n", encoding="utf-8")
    lists["teacher"] = root / "teacher.txt"          # the teacher runs: 3 + 2 clips
    lists["teacher"].write_text("\n".join(paths[:3]) + "\n", encoding="utf-8")
    lists["teacher_valid"] = root / "teacher_valid.txt"
    lists["teacher_valid"].write_text("\n".join(paths[3:5]) + "\n", encoding="utf-8")
    lists["root"] = root
    return lists


def _rows(out_dir) -> list[dict]:
    with open(Path(out_dir) / CK.LOG_NAME, newline="") as handle:
        return list(csv.DictReader(handle))


def _state(out_dir) -> dict:
    return json.loads((Path(out_dir) / CK.CHECKPOINT_NAME).read_text())


# ---------------------------------------------------------------------------
# Lists, plans, cache, teacher geometry (no training)
# ---------------------------------------------------------------------------

def test_tag_list_and_vocabulary(tmp_path):
    lst = tmp_path / "tags.txt"
    lst.write_text("a.wav\trock, female vocalists ,rock\nb.wav\tjazz\nc.wav\tpolka\n")
    items = TG.read_tag_list(lst)
    assert items[0] == ("a.wav", ["rock", "female vocalists"])
    vocab, kept, dropped = TG.make_vocabulary(items)
    assert vocab == ["female vocalists", "jazz", "polka", "rock"] and len(kept) == 3
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("rock\njazz\n")
    vocab, kept, dropped = TG.make_vocabulary(items, TG.read_vocabulary(vocab_file))
    assert vocab == ["rock", "jazz"]
    assert [k[1] for k in kept] == [["rock"], ["jazz"]]
    assert dropped == {"labels": 2, "clips": 1}
    y = TG.encode_labels([k[1] for k in kept], vocab)
    assert y.tolist() == [[1, 0], [0, 1]]
    bad = tmp_path / "bad.txt"
    bad.write_text("a.wav\t , \n")
    with pytest.raises(ListError):
        TG.read_tag_list(bad)


def test_epoch_plan_is_a_function_of_seed_and_epoch():
    lengths = [SEGMENT_SAMPLES * 3 + 5, 40000, SEGMENT_SAMPLES * 10]
    units = TG.label_units(lengths)
    n = P.n_epoch_segments(units, None, 4)
    a = P.epoch_plan(units, seed=7, epoch=3, n_segments=n)
    b = P.epoch_plan(units, seed=7, epoch=3, n_segments=n)
    c = P.epoch_plan(units, seed=7, epoch=4, n_segments=n)
    d = P.epoch_plan(units, seed=8, epoch=3, n_segments=n)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[1], c[1]) and not np.array_equal(a[1], d[1])
    clip, start = a
    assert clip.size == 16                     # 3 + 1 + 10 whole segments, rounded to 4s
    room = np.maximum(np.array(lengths)[clip] - SEGMENT_SAMPLES, 0)
    assert np.all((start >= 0) & (start <= room))
    assert np.all(start[clip == 1] == 0)       # shorter than a segment
    assert P.epoch_plan(units, 0, 0, P.n_epoch_segments(units, 46, 1))[0].size == 46


def test_cache_holds_float16_audio_and_crops_match_segments(corpus, tmp_path):
    from mirex.audio import load, segment

    path = read_paths(corpus["paths"])[4]
    index = AC.KeyIndex(tmp_path / "index.json")
    key = index.key(path)
    assert key == sha256_file(path) and index.n_hashed == 1
    index.save()
    again = AC.KeyIndex(tmp_path / "index.json")
    assert again.key(path) == key and again.n_hashed == 0
    cache = AC.AudioCache(tmp_path)
    clip = cache.get(path, key)
    assert cache.n_decoded == 1 and cache.get(path, key) == clip and cache.n_decoded == 1
    y = load(path)
    assert clip.n_samples == y.size
    starts = P.segment_starts(clip.n_samples, max_segments=10)
    crops = S.DiskSource([clip]).crops(np.zeros(starts.size, np.int64), starts)[..., 0]
    np.testing.assert_allclose(crops, segment(y), atol=1e-3)    # float16 rounding
    tiny = AC.CachedClip(path, key, clip.file, clip.offset, 1000)
    tiled = S.read_crop(tiny, 0)
    assert tiled.shape == (SEGMENT_SAMPLES,)
    np.testing.assert_array_equal(tiled[1000:2000], tiled[:1000])


def test_both_sources_give_the_same_crops_for_the_same_plan(corpus, tmp_path):
    """Disk and memory sources cut the same samples; a resumed epoch reads the rest of its plan."""
    cache, index = AC.AudioCache(tmp_path), AC.KeyIndex(tmp_path / "index.json")
    paths = read_paths(corpus["paths"])
    clips = [cache.get(p, index.key(p)) for p in paths]
    short = AC.CachedClip(paths[0], "short", clips[0].file, clips[0].offset, 1000)
    clips.append(short)                                  # tiled up to one segment
    disk, memory = S.make_source("disk", clips), S.make_source("memory", clips)
    assert np.array_equal(disk.lengths, memory.lengths) and disk.hours == memory.hours
    units = TG.label_units(disk.lengths, np.eye(len(clips), dtype=np.float32))
    plan = P.epoch_plan(units, seed=3, epoch=1, n_segments=24)
    a, b = disk.crops(units.clip[plan[0]], plan[1]), memory.crops(units.clip[plan[0]], plan[1])
    assert a.shape == (24, SEGMENT_SAMPLES, 1) and np.array_equal(a, b)
    np.testing.assert_array_equal(memory.crop(len(clips) - 1, 0)[1000:2000],
                                  memory.crop(len(clips) - 1, 0)[:1000])
    rest = _batches(memory, units, plan, 4, first_step=2, workers=1)
    assert len(rest) == 4
    x, y = rest[0]
    assert np.array_equal(x, a[8:12]) and np.array_equal(y, units.y[plan[0][8:12]])


def test_schedule_plateau_and_budget_policies():
    plateau = Schedule(lrs=(0.01, 0.002), patience=2)
    s = plateau.initial_state()
    for improved, over in ((True, False), (False, False), (False, True)):
        plateau.count(s, improved)
        assert plateau.advance(s) is over
    assert (s["stage"], s["lr"], s["wait"], s["finished"]) == (1, 0.002, 0, False)
    for _ in range(2):
        plateau.count(s, False)
        plateau.advance(s)
    assert s["finished"]
    budget = Schedule(lrs=(0.02, 0.004, 0.0008), policy="budget", budget_seconds=100.0)
    s = budget.initial_state()
    assert not budget.begin_epoch(s) and s["lr"] == 0.02
    s["seconds"] = 60.0
    assert budget.begin_epoch(s) and (s["stage"], s["lr"]) == (1, 0.004)
    budget.count(s, False)
    assert not budget.advance(s) and not s["finished"]
    s["seconds"] = 100.0
    budget.advance(s)
    assert s["finished"]
    with pytest.raises(ValueError, match="budget"):
        Schedule(policy="budget")


def test_teacher_windows_hold_their_crops():
    assert T.hop_frames(1.0) == 62 and T.DEFAULT_HOP_FRAMES == 32
    centres = T.window_centres(3, 32)
    np.testing.assert_allclose(centres, (np.arange(3) * 32 + 93) * 256 / 16000)
    lengths = [SAMPLE_RATE * 5, SEGMENT_SAMPLES + 100, 1000]
    outputs = [np.full((n, 2), c, np.float32) for c, n in enumerate((6, 1, 1))]
    units = TG.teacher_units(lengths, outputs, hop_frames=32)
    first = units.start[units.clip == 0]
    assert first[1] - first[0] == round(32 * 256 / 16000 * SAMPLE_RATE)
    assert np.all((units.room >= 0) & (units.room <= TG.window_slack()))
    assert TG.window_slack() == round(187 * 256 / 16000 * SAMPLE_RATE) - SEGMENT_SAMPLES
    # the latest crop of every window ends inside its clip (or the clip is tiled)
    ends = units.start + units.room + SEGMENT_SAMPLES
    longer = np.array(lengths)[units.clip] >= SEGMENT_SAMPLES
    assert np.all(ends[longer] <= np.array(lengths)[units.clip][longer])
    assert units.y[units.clip == 2].tolist() == [[2.0, 2.0]]
    plan = P.validation_plan(units, lengths, max_segments=2, windows=True)
    assert plan[0].tolist() == [0, 5, 6, 7]
    truth = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])
    assert M.tag_agreement(truth, truth, 0.5) == (1.0, 2)
    assert M.tag_agreement(truth, truth, top_k=1)[0] == 1.0
    assert M.r2(truth, truth) == 1.0


def test_named_configs_have_one_table_and_the_old_spellings_as_aliases(tmp_path):
    from mirex.backbones import samplecnn as SC

    assert sorted(SC.CONFIGS) == ["msd-released", "paper"]
    assert SC.named_config("paper") == SC.PAPER_CONFIG
    for name in ("msd-released", "released", "msd"):
        assert SC.resolve_config(name) == SC.MSD_RELEASED_CONFIG
    assert SC.resolve_config(json.dumps(TINY)) == TINY
    (tmp_path / "c.json").write_text(json.dumps(TINY))
    assert SC.resolve_config(str(tmp_path / "c.json")) == TINY
    config = SC.resolve_config("paper")
    config["widths"][0] = 1                     # a copy: the table stays as it was
    assert SC.PAPER_CONFIG["widths"][0] == 128
    with pytest.raises(ValueError, match="not a known name"):
        SC.resolve_config("papper")


def test_a_strategy_needs_the_tensorflow_backend(monkeypatch):
    import keras

    from mirex.pretrain.strategies import make_strategy

    assert make_strategy("default") is None
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(ValueError, match="needs the TensorFlow backend"):
        make_strategy("mirrored")


# ---------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------

def test_tags_run_writes_a_backbone_and_reuses_the_decoded_audio(corpus, tmp_path):
    from mirex.backbones import load_backbone
    from mirex.engines.keras import KerasEngine

    cache = tmp_path / "cache"
    result = TR.pretrain(corpus["tags"], tmp_path / "run1", mode="tags", cache_dir=cache,
                         max_epochs=1, **FAST)
    assert result["status"] == "paused" and result["decoded"] == 6
    backbone = load_backbone(result["backbone"])
    assert backbone.trained and backbone.config["output_activation"] == "sigmoid"
    assert backbone.manifest["labels"] == ["even", "high", "low", "noise", "odd"]
    prov = backbone.manifest["provenance"]
    assert prov["mode"] == "tags" and prov["epochs"] == 1 and prov["complete"] is False
    assert prov["corpus"]["clips"] == 4 and prov["corpus"]["valid_clips"] == 2
    assert prov["hours"] > 0 and prov["command"].startswith("mirex pretrain --train-list")
    assert prov["val"]["val_loss"] is not None
    rows = _rows(tmp_path / "run1")
    assert [r["epoch"] for r in rows] == ["1"] and rows[0]["val_auc"] != ""
    features = KerasEngine(backbone, 4).segment_features(np.zeros((2, SEGMENT_SAMPLES), np.float32))
    assert features.shape == (2, backbone.embedding_dim)

    entries = sorted((cache / "audio-22050-600s").rglob("*.npy"))
    mtimes = [p.stat().st_mtime_ns for p in entries]
    assert len(entries) == 6
    again = TR.pretrain(corpus["tags"], tmp_path / "run2", mode="tags", cache_dir=cache,
                        max_epochs=1, **FAST)
    assert again["decoded"] == 0
    assert [p.stat().st_mtime_ns for p in entries] == mtimes


def test_genres_run_through_the_command_line(corpus, tmp_path):
    from click.testing import CliRunner

    from mirex.cli import main

    out = tmp_path / "genres"
    done = CliRunner().invoke(main, [
        "pretrain", "--mode", "genres", "--train-list", str(corpus["genres"]), "--out", str(out),
        "--config", json.dumps(TINY), "--steps-per-epoch", "2", "--batch-size", "4",
        "--valid-segments", "2", "--valid-fraction", "0.5", "--max-epochs", "1",
        "--verbose", "0", "--name", "samplecnn-genres-test"])
    assert done.exit_code == 0, done.output
    printed = json.loads(done.stdout)
    assert printed["status"] == "paused" and printed["epoch"] == 1
    manifest = json.loads((out / "backbone" / "manifest.json").read_text())
    assert manifest["name"] == "samplecnn-genres-test"
    assert manifest["config"]["output_activation"] == "softmax"
    assert manifest["labels"] == ["high", "low", "noise"]
    command = manifest["provenance"]["command"]
    assert command.startswith("mirex pretrain --train-list") and "--mode genres" in command
    assert _rows(out)[0]["val_accuracy"] != ""


@pytest.fixture(scope="module")
def teacher_cache(tmp_path_factory):
    """A cache folder shared by the two distillation runs (targets computed once)."""
    return tmp_path_factory.mktemp("teacher-cache")


def test_teacher_posteriors_run(corpus, teacher_cache, tmp_path):
    from mirex.backbones import load_backbone

    result = TR.pretrain(corpus["teacher"], tmp_path / "distil", mode="teacher",
                         teacher=MUSICNN_MSD, cache_dir=teacher_cache, max_epochs=1,
                         valid_list=corpus["teacher_valid"], **FAST)
    assert result["status"] == "paused" and result["teacher_computed"] == 5
    assert (result["train_clips"], result["valid_clips"]) == (3, 2)
    backbone = load_backbone(result["backbone"])
    assert backbone.trained and backbone.manifest["labels"] == list(MSD_TAGS)
    assert backbone.config["n_outputs"] == 50
    teacher = backbone.manifest["provenance"]["teacher"]
    assert teacher["name"] == "musicnn-msd" and teacher["hop_frames"] == 32
    assert teacher["weights_sha256"] == json.loads(
        (MUSICNN_MSD / "manifest.json").read_text())["weights"]["sha256"]
    row = _rows(tmp_path / "distil")[0]
    assert row["val_loss"] != "" and row["val_auc_top5"] != ""
    files = sorted(teacher_cache.glob("teacher-musicnn-msd-*/*/*.npz"))
    assert len(files) == 5
    with np.load(files[0]) as entry:
        assert entry["taggram"].shape[1] == 50 and entry["max_pool"].shape[1] == 753
        assert entry["centres"].shape[0] == entry["taggram"].shape[0]


def test_teacher_features_run(corpus, teacher_cache, tmp_path):
    from mirex.backbones import load_backbone

    result = TR.pretrain(corpus["teacher"], tmp_path / "features", mode="teacher",
                         teacher=MUSICNN_MSD, distill="features", cache_dir=teacher_cache,
                         max_epochs=1, valid_list=corpus["teacher_valid"], **FAST)
    assert result["teacher_computed"] == 0 and result["decoded"] == 0   # cached above
    backbone = load_backbone(result["backbone"])
    assert backbone.manifest["provenance"]["distill"] == "features"
    assert backbone.manifest["labels"] == ["output0", "output1", "output2"]
    row = _rows(tmp_path / "features")[0]
    assert row["val_r2"] != "" and row["val_auc"] == ""


def test_interrupted_run_resumes_where_it_stopped(corpus, tmp_path):
    """max_minutes=0 stops after every step; the resumed run equals an uninterrupted one."""
    cache = tmp_path / "cache"
    whole = TR.pretrain(corpus["tags"], tmp_path / "whole", mode="tags", cache_dir=cache,
                        max_epochs=2, **FAST)
    calls, result = 0, None
    while result is None or result["epoch"] < 2:
        result = TR.pretrain(corpus["tags"], tmp_path / "chunks", mode="tags", cache_dir=cache,
                             max_epochs=2, max_minutes=0, **FAST)
        calls += 1
        if calls == 1:
            state = _state(tmp_path / "chunks")
            assert (state["epoch"], state["step"], state["stage"]) == (0, 1, 0)
            assert _rows(tmp_path / "chunks") == []
    assert calls == 4 and result["status"] == "paused"       # 2 epochs of 2 steps
    a, b = _rows(tmp_path / "whole"), _rows(tmp_path / "chunks")
    assert [r["epoch"] for r in b] == ["1", "2"]
    for ra, rb in zip(a, b):
        for key in ("stage", "lr", "steps", "epoch_in_stage"):
            assert ra[key] == rb[key]
        for key in ("train_loss", "val_loss"):
            assert float(ra[key]) == pytest.approx(float(rb[key]), rel=1e-4)
    assert whole["best_val_loss"] == pytest.approx(result["best_val_loss"], rel=1e-4)
    # a checkpoint after every step (checkpoint_minutes=0) cuts each epoch but changes nothing
    saved = TR.pretrain(corpus["tags"], tmp_path / "saved", mode="tags", cache_dir=cache,
                        max_epochs=2, checkpoint_minutes=0, **FAST)
    assert saved["status"] == "paused" and saved["epoch"] == 2
    for ra, rc in zip(a, _rows(tmp_path / "saved")):
        for key in ("train_loss", "val_loss"):
            assert float(ra[key]) == pytest.approx(float(rc[key]), rel=1e-4)


def test_learning_rate_stages_follow_patience(corpus, tmp_path, monkeypatch):
    """Scripted validation losses: two non-improving epochs end a stage (patience 2)."""
    losses = iter([1.0, 0.8, 0.9, 0.85, 0.7, 0.75, 0.75, 0.9, 0.9])
    monkeypatch.setattr(Trainer, "evaluate", lambda self: {"val_loss": next(losses)})
    out = tmp_path / "stages"
    kw = dict(mode="tags", cache_dir=tmp_path / "cache", patience=2, lrs=(0.01, 0.002, 0.0004),
              **FAST)
    result = TR.pretrain(corpus["tags"], out, max_epochs=4, **kw)
    state = _state(out)
    assert (state["stage"], state["lr"], state["epoch"], state["epoch_in_stage"],
            state["wait"]) == (1, 0.002, 4, 0, 0)
    assert result["best_epoch"] == 2
    # the new stage starts from the best weights, with fresh momenta
    model = build_student({**validate_config(TINY), "n_outputs": 5}, None, 0)[0]
    model.load_weights(out / CK.CHECKPOINT_DIR / state["files"]["weights"]["file"])
    current = [w.copy() for w in model.get_weights()]
    model.load_weights(out / CK.CHECKPOINT_DIR / state["files"]["best"]["file"])
    for x, y in zip(current, model.get_weights()):
        np.testing.assert_array_equal(x, y)
    with np.load(out / CK.CHECKPOINT_DIR / state["files"]["optimizer"]["file"]) as saved:
        assert float(saved["1"]) == pytest.approx(0.002)                  # learning rate
        assert all(not np.any(saved[str(i)]) for i in range(2, len(saved.files)))
    result = TR.pretrain(corpus["tags"], out, **kw)
    assert result["status"] == "finished" and result["best_epoch"] == 5
    rows = _rows(out)
    assert [float(r["lr"]) for r in rows] == [0.01] * 4 + [0.002] * 3 + [0.0004] * 2
    assert [r["wait"] for r in rows] == ["0", "0", "1", "2", "0", "1", "2", "1", "2"]
    manifest = json.loads((out / "backbone" / "manifest.json").read_text())
    assert manifest["provenance"]["complete"] is True
    assert manifest["provenance"]["best_epoch"] == 5


def test_resume_refuses_other_settings_and_corrupt_checkpoints(corpus, tmp_path):
    out = tmp_path / "run"
    TR.pretrain(corpus["tags"], out, mode="tags", cache_dir=tmp_path / "cache", max_epochs=1,
                **FAST)
    with pytest.raises(ValueError, match="seed"):
        TR.pretrain(corpus["tags"], out, mode="tags", cache_dir=tmp_path / "cache", seed=1,
                    max_epochs=2, **FAST)
    state = _state(out)
    weights = out / CK.CHECKPOINT_DIR / state["files"]["weights"]["file"]
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(ValueError, match="corrupt checkpoint"):
        TR.pretrain(corpus["tags"], out, mode="tags", cache_dir=tmp_path / "cache",
                    max_epochs=2, **FAST)


_QUIET = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def _endless_run(corpus, out) -> list[str]:
    """Command line of a tiny tags run that would go on for a very long time."""
    return [sys.executable, "-m", "mirex.cli", "pretrain", "--mode", "tags",
            "--train-list", str(corpus["tags"]), "--out", str(out),
            "--config", json.dumps(TINY), "--steps-per-epoch", "2", "--batch-size", "4",
            "--valid-segments", "2", "--valid-fraction", "0.3", "--workers", "1",
            "--max-epochs", "100000", "--verbose", "0"]


def test_sigkill_then_resume(corpus, tmp_path):
    """A real process killed with SIGKILL after its first epoch resumes from the checkpoint."""
    out = tmp_path / "killed"
    proc = subprocess.Popen(_endless_run(corpus, out), cwd=REPO, env=_QUIET,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (out / CK.CHECKPOINT_NAME).is_file() and _state(out)["epoch"] >= 1:
                break
            time.sleep(0.05)
        else:
            pytest.fail("no checkpoint within 60 s")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    state = _state(out)
    done = state["epoch"]
    result = TR.pretrain(corpus["tags"], out, mode="tags", max_epochs=done + 1, **FAST)
    assert result["epoch"] == done + 1 and result["decoded"] == 0
    rows = _rows(out)
    assert [int(r["epoch"]) for r in rows] == list(range(1, done + 2))
    assert rows[-1]["stage"] == str(state["stage"]) and float(rows[-1]["lr"]) == state["lr"]


def test_sigterm_checkpoints_and_exits_cleanly(corpus, tmp_path):
    """SIGTERM (what job schedulers send) stops a run after a checkpoint, exit status 0."""
    out = tmp_path / "terminated"
    proc = subprocess.Popen(_endless_run(corpus, out), cwd=REPO, env=_QUIET,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not ((out / CK.CHECKPOINT_NAME).is_file() and _state(out)["epoch"] >= 1):
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("no checkpoint within 60 s")
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the run did not stop within 60 s of SIGTERM")
    assert proc.returncode == 0, err
    assert "SIGTERM received" in err
    state = _state(out)
    assert not state["finished"] and state["epoch"] >= 1
    assert (out / BACKBONE_DIR / "manifest.json").is_file()


def test_mirrored_strategy_on_two_logical_cpus(corpus, tmp_path):
    """The distributed path (2 replicas, per-replica batches) runs and checkpoints."""
    script = f"""
import os, json, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from mirex.pretrain.api import pretrain
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
r = pretrain({str(corpus['tags'])!r}, {str(tmp_path / 'mirrored')!r}, mode="tags",
             strategy=strategy, config={TINY!r}, steps_per_epoch=2, batch_size=4,
             valid_segments=2, verbose=0, valid_fraction=0.3, workers=1, max_epochs=1)
print(json.dumps({{"replicas": strategy.num_replicas_in_sync, "epoch": r["epoch"],
                   "backbone": r["backbone"]}}))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {"replicas": 2, "epoch": 1, "backbone": str(tmp_path / "mirrored" / "backbone")}
    assert float(_rows(tmp_path / "mirrored")[0]["train_loss"]) > 0
