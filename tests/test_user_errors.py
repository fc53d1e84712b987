"""What a new user hits: no mistake may cost data or hours, every message one line.

Real processes through the real wrappers wherever the user would use them.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import tone_clip, write_clip
from mirex import lists
from mirex.cli import main

BIN = Path(__file__).resolve().parent.parent / "bin"


def run(argv, env_extra=None, cwd=None, expect=0):
    env = {**os.environ, **(env_extra or {})}
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == expect, f"{argv[:2]} exited {proc.returncode}:\n{proc.stderr}"
    return proc.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tone_task, tiny_models):
    """A scratch folder whose features of the tone task are extracted and whose SVM is trained."""
    root = tmp_path_factory.mktemp("user")
    env = {"MIREX_MODELS_DIR": str(tiny_models)}
    lists.write_labelled(root / "train.txt", tone_task)
    lists.write_paths(root / "test.txt", [p for p, _ in tone_task])
    run([BIN / "extractFeatures.sh", root / "s", root / "test.txt"], env)
    run([BIN / "Train.sh", root / "s", root / "train.txt"], env)
    return root, env


def test_swapped_test_arguments_never_overwrite_the_test_list(trained):
    root, env = trained
    run([BIN / "Test.sh", root / "s", root / "test.txt", root / "old.txt"], env)
    before = (root / "test.txt").read_bytes()
    errors = []
    for args in ([root / "old.txt", root / "test.txt"], [root / "test.txt", root / "test.txt"]):
        err = run([BIN / "Test.sh", root / "s", *args], env, expect=1)
        assert (root / "test.txt").read_bytes() == before
        assert err.strip().splitlines()[-1].startswith("Error:") and "Traceback" not in err
        assert "refusing to overwrite" in err
        errors.append(err)
    assert "old.txt: 12 line(s) have a second column after the tab" in errors[0]
    # an earlier output list is replaced as usual
    run([BIN / "Test.sh", root / "s", root / "test.txt", root / "old.txt"], env)


def test_output_folder_is_created(trained):
    root, env = trained
    out = root / "new" / "dir" / "out.txt"
    run([BIN / "Test.sh", root / "s", root / "test.txt", out], env)
    assert len(lists.read_labelled(out)) == len(lists.read_paths(root / "test.txt"))


def test_wrappers_work_through_symlinks_and_plain_sh(trained, tmp_path):
    root, env = trained
    link_dir = tmp_path / "links"
    link_dir.mkdir()
    (link_dir / "Classify.sh").symlink_to(BIN / "Classify.sh")
    (link_dir / "hop.sh").symlink_to(link_dir / "Classify.sh")      # a link to a link
    for k, argv in enumerate([[link_dir / "hop.sh"], ["sh", BIN / "Test.sh"],
                              ["bash", BIN / "Classify.sh"], ["dash", BIN / "Classify.sh"]]):
        if argv[0] == "dash" and not shutil.which("dash"):
            continue
        out = tmp_path / f"out{k}.txt"
        run([*argv, "-numThreads", "1", root / "s", root / "test.txt", out], env, cwd=tmp_path)
        assert len(lists.read_labelled(out)) == len(lists.read_paths(root / "test.txt"))
    err = run(["sh", BIN / "Classify.sh", root / "s"], env, expect=2)
    assert "usage: Classify.sh" in err and "mirex classify --help" in err


def fake_tensorflow(tmp_path) -> dict:
    """An environment in which importing TensorFlow fails loudly."""
    fake = tmp_path / "fake_tf" / "tensorflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('TensorFlow was imported')\n")
    return {"PYTHONPATH": str(fake.parent)}


def test_cached_calls_never_import_tensorflow(trained, tmp_path, tone_task):
    root, env = trained
    no_tf = {**env, **fake_tensorflow(tmp_path)}
    # every feature cached: Train and Test need no network at all
    run([BIN / "Train.sh", root / "s", root / "train.txt"], no_tf)
    run([BIN / "Test.sh", root / "s", root / "test.txt", tmp_path / "out.txt"], no_tf)
    # new audio, converted model cached by the fixture's extraction: LiteRT alone runs it
    new = write_clip(tmp_path / "new clip.wav", tone_clip("high", seed=77))
    lists.write_paths(tmp_path / "new.txt", [new])
    err = run([BIN / "extractFeatures.sh", tmp_path / "s2", tmp_path / "new.txt"], no_tf)
    assert "1 extracted" in err and "start-up" in err


def test_converted_models_are_cached_and_a_damaged_one_is_rebuilt(tiny_models, tmp_path,
                                                                 tone_task, monkeypatch):
    import mirex.engines.tflite as tflite
    from mirex.backbones import load_backbone
    from mirex.engines import embed_clips
    from mirex.engines.tflite import TFLiteEngine

    conversions, convert = [], tflite.convert
    monkeypatch.setattr(tflite, "convert",
                        lambda *args: conversions.append(args) or convert(*args))
    backbone = load_backbone(tiny_models / "samplecnn-msd")
    segments = [tone_clip("low", 1)[None, : backbone.segment_samples]]
    first = TFLiteEngine(backbone, 4, cache_dir=tmp_path)
    (cached,) = tmp_path.glob("*.tflite")
    second = TFLiteEngine(backbone, 4, cache_dir=tmp_path)
    assert len(conversions) == 1                       # served from the cache, nothing converted
    assert (embed_clips(first, segments) == embed_clips(second, segments)).all()
    cached.write_bytes(b"not a flatbuffer")
    third = TFLiteEngine(backbone, 4, cache_dir=tmp_path)
    assert len(conversions) == 2 and cached.stat().st_size > 1000
    assert (embed_clips(third, segments) == embed_clips(first, segments)).all()
    assert not list(tmp_path.glob(".*.tmp"))            # atomic writes leave nothing behind


def test_tensorflow_noise_stays_off_the_terminal(tiny_models, tone_task, tmp_path):
    lists.write_paths(tmp_path / "one.txt", [tone_task[0][0]])
    env = {"MIREX_MODELS_DIR": str(tiny_models), "MIREX_CACHE_DIR": str(tmp_path / "cold")}
    err = run([BIN / "extractFeatures.sh", tmp_path / "s", tmp_path / "one.txt"], env)
    for noise in ("absl", "oneDNN", "cuda", "XNNPACK", "I0000"):
        assert noise not in err, err
    assert "1 extracted" in err
    err = run([BIN / "extractFeatures.sh", tmp_path / "s", tmp_path / "one.txt"],
              {**env, "MIREX_ENGINE": "quantum"}, expect=1)
    assert err.strip().splitlines()[-1].startswith("Error: unknown inference engine 'quantum'")
    assert "Traceback" not in err


def test_a_task_the_scorer_cannot_score_is_refused_before_any_work(tmp_path, tiny_models):
    y = tone_clip("low", 3)
    a = write_clip(tmp_path / "dupA" / "c2.wav", y)
    b = write_clip(tmp_path / "dupB" / "C2.ogg", y, subtype="VORBIS")
    others = [write_clip(tmp_path / f"o{i}.wav", y) for i in range(4)]
    items = [(a, "x"), (b, "y")] + [(p, "xy"[i % 2]) for i, p in enumerate(others)]
    lists.write_labelled(tmp_path / "all.txt", items)
    result = CliRunner().invoke(main, ["dryrun", str(tmp_path / "all.txt"), str(tmp_path / "out"),
                                       "--folds", "2"])
    assert result.exit_code == 1
    assert "same track 'c2'" in result.output and "lines 1" not in result.output
    assert "(line 1)" in result.output and "(line 2)" in result.output
    assert not (tmp_path / "out" / "scratch").exists()       # nothing was run
    result = CliRunner().invoke(main, ["make-folds", str(tmp_path / "all.txt"),
                                       str(tmp_path / "folds")])
    assert result.exit_code == 1 and "same track 'c2'" in result.output
    lists.write_labelled(tmp_path / "labels.txt", [(p, lab) for p, lab in
                                                   zip(others, ["Hip Hop", "Hip-Hop", "x", "x"])])
    result = CliRunner().invoke(main, ["make-folds", str(tmp_path / "labels.txt"),
                                       str(tmp_path / "folds")])
    assert result.exit_code == 1 and "same class 'hiphop'" in result.output


def test_conflicting_training_labels_are_named(tone_task, tiny_models, tmp_path, caplog):
    from mirex import pipeline
    from mirex.systems import resolve_extractors

    items = list(tone_task) + [(tone_task[0][0], "Something Else")]
    lists.write_labelled(tmp_path / "train.txt", items)
    extractors = resolve_extractors("LPNKK1", models_dir=tiny_models)
    (tmp_path / "train.txt").write_text("\n" + (tmp_path / "train.txt").read_text())  # blank line 1
    with caplog.at_level("WARNING", logger="mirex"):
        pipeline.train(tmp_path / "s", tmp_path / "train.txt", extractors, "LPNKK1")
    named = [r.getMessage() for r in caplog.records if "different labels" in r.getMessage()]
    assert len(named) == 1 and f"line {len(items) + 1}: 'Something Else'" in named[0]
    assert "line 2: 'Low Tones'" in named[0]


def test_init_backbone_never_replaces_without_overwrite(tmp_path):
    folder = str(tmp_path / "b")
    assert CliRunner().invoke(main, ["init-backbone", folder, "--seed", "1"]).exit_code == 0
    weights = (tmp_path / "b" / "manifest.json").read_text()
    result = CliRunner().invoke(main, ["init-backbone", folder, "--seed", "5"])
    assert result.exit_code == 1 and "--overwrite" in result.output
    assert (tmp_path / "b" / "manifest.json").read_text() == weights
    result = CliRunner().invoke(main, ["init-backbone", folder, "--seed", "5", "--overwrite"])
    assert result.exit_code == 0 and (tmp_path / "b" / "manifest.json").read_text() != weights


def test_unknown_systems_are_echoed_as_typed(tmp_path):
    lists.write_labelled(tmp_path / "l.txt", [("/a.wav", "x")])
    result = CliRunner().invoke(main, ["dryrun", str(tmp_path / "l.txt"), str(tmp_path / "o"),
                                       "--systems", "LPNKK1,foo"])
    assert result.exit_code == 2 and "['foo']" in result.output and "musicnn-svm" in result.output


def test_variant_and_backbone_together_are_refused(tmp_path, tiny_models):
    (tmp_path / "l.txt").write_text("/a.wav\n")
    result = CliRunner().invoke(main, ["extract", "--variant", "LPNKK2", "--backbone",
                                       str(tiny_models / "samplecnn-msd"), str(tmp_path / "s"),
                                       str(tmp_path / "l.txt")])
    assert result.exit_code == 1 and "--variant and --backbone both given" in result.output


def test_too_many_folds_for_a_class_is_one_warning_line(tmp_path):
    y = tone_clip("low", 1)
    items = [(write_clip(tmp_path / f"c{i}.wav", y), "big" if i < 12 else "small")
             for i in range(14)]
    lists.write_labelled(tmp_path / "all.txt", items)
    err = run([sys.executable, "-m", "mirex.cli", "make-folds", tmp_path / "all.txt", tmp_path / "folds",
               "--folds", "10"], cwd=Path(__file__).resolve().parent.parent)
    (line,) = [x for x in err.splitlines() if "fewer than 10" in x]
    assert line.startswith("[mirex] WARNING: 1 class(es) have fewer than 10")
    assert "warnings.warn" not in err and "UserWarning" not in err and ".py:" not in err


def test_a_path_with_a_trailing_space_is_taken_as_given(trained, tmp_path):
    root, env = trained
    plain = write_clip(tmp_path / "trail.wav", tone_clip("low", seed=31))
    spaced = plain + " "
    os.rename(plain, spaced)
    (tmp_path / "test.txt").write_text(f"{spaced}\n")
    err = run([BIN / "Test.sh", root / "s", tmp_path / "test.txt", tmp_path / "out.txt"], env)
    path, label = (tmp_path / "out.txt").read_text().rstrip("\n").split("\t")
    assert path == spaced and label in {lab for _, lab in lists.read_labelled(root / "train.txt")}
    assert "1 extracted, 0 failed" in err


def test_a_one_line_path_list_without_a_line_end_is_not_overwritten(tmp_path):
    from mirex.pipeline import PipelineError, _check_output

    (tmp_path / "one.txt").write_text("/a/clip.wav")               # no final newline
    with pytest.raises(PipelineError, match="refusing to overwrite"):
        _check_output(tmp_path / "one.txt", tmp_path / "test.txt")
    (tmp_path / "old_output.txt").write_text("/a/clip.wav\tpop")   # an output list may go
    _check_output(tmp_path / "old_output.txt", tmp_path / "test.txt")
