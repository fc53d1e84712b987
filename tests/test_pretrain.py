"""mirex.pretrain.train / data / teacher: a tiny SampleCNN trained for a few steps.

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

from mirex.constants import MSD_TAGS, SAMPLE_RATE, SEGMENT_SAMPLES
from mirex.pretrain import data as D
from mirex.pretrain import teacher as T
from mirex.pretrain import train as TR
from mirex.pretrain.student import build_student

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
    with open(Path(out_dir) / TR.LOG_NAME, newline="") as handle:
        return list(csv.DictReader(handle))


def _state(out_dir) -> dict:
    return json.loads((Path(out_dir) / TR.CHECKPOINT_NAME).read_text())


# ---------------------------------------------------------------------------
# Lists, plans, cache, teacher geometry (no training)
# ---------------------------------------------------------------------------

def test_tag_list_and_vocabulary(tmp_path):
    lst = tmp_path / "tags.txt"
    lst.write_text("a.wav\trock, female vocalists ,rock\nb.wav\tjazz\nc.wav\tpolka\n")
    items = D.read_tag_list(lst)
    assert items[0] == ("a.wav", ["rock", "female vocalists"])
    vocab, kept, dropped = D.make_vocabulary(items)
    assert vocab == ["female vocalists", "jazz", "polka", "rock"] and len(kept) == 3
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("rock\njazz\n")
    vocab, kept, dropped = D.make_vocabulary(items, D.read_vocabulary(vocab_file))
    assert vocab == ["rock", "jazz"]
    assert [k[1] for k in kept] == [["rock"], ["jazz"]]
    assert dropped == {"labels": 2, "clips": 1}
    y = D.encode_labels([k[1] for k in kept], vocab)
    assert y.tolist() == [[1, 0], [0, 1]]
    bad = tmp_path / "bad.txt"
    bad.write_text("a.wav\t , \n")
    with pytest.raises(D.ListError):
        D.read_tag_list(bad)


def test_epoch_plan_is_a_function_of_seed_and_epoch():
    lengths = [SEGMENT_SAMPLES * 3 + 5, 40000, SEGMENT_SAMPLES * 10]
    a = D.epoch_plan(lengths, seed=7, epoch=3, multiple_of=4)
    b = D.epoch_plan(lengths, seed=7, epoch=3, multiple_of=4)
    c = D.epoch_plan(lengths, seed=7, epoch=4, multiple_of=4)
    d = D.epoch_plan(lengths, seed=8, epoch=3, multiple_of=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[1], c[1]) and not np.array_equal(a[1], d[1])
    clip, start = a
    assert clip.size == 16                     # 3 + 1 + 10 whole segments, rounded to 4s
    room = np.maximum(np.array(lengths)[clip] - SEGMENT_SAMPLES, 0)
    assert np.all((start >= 0) & (start <= room))
    assert np.all(start[clip == 1] == 0)       # shorter than a segment
    assert D.epoch_plan(lengths, 0, 0, n_segments=46)[0].size == 46
    skipped = D.shard_plan(a, skip=8)
    assert np.array_equal(skipped[0], clip[8:])


def test_cache_holds_float16_audio_and_crops_match_segments(corpus, tmp_path):
    from mirex.audio import load, segment

    path = D.read_paths(corpus["paths"])[4]
    index = D.KeyIndex(tmp_path / "index.json")
    key = index.key(path)
    assert key == D.sha256_file(path) and index.n_hashed == 1
    index.save()
    again = D.KeyIndex(tmp_path / "index.json")
    assert again.key(path) == key and again.n_hashed == 0
    cache = D.AudioCache(tmp_path)
    clip = cache.get(path, key)
    assert cache.n_decoded == 1 and cache.get(path, key) == clip and cache.n_decoded == 1
    y = load(path)
    assert clip.n_samples == y.size
    plan = D.validation_plan([clip.n_samples], max_segments=10)
    crops = D.read_crops([clip], *plan)
    np.testing.assert_allclose(crops, segment(y), atol=1e-3)    # float16 rounding
    tiny = D.CachedClip(path, key, clip.file, clip.offset, 1000)
    tiled = D.read_crop(tiny, 0)
    assert tiled.shape == (SEGMENT_SAMPLES,)
    np.testing.assert_array_equal(tiled[1000:2000], tiled[:1000])


def test_teacher_grid_and_interpolation():
    hop = T.hop_frames(1.0)
    assert hop == 62
    centres = T.window_centres(3, hop)
    np.testing.assert_allclose(centres, (np.arange(3) * 62 + 93) * 256 / 16000)
    values = np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0]], np.float32)
    at = T.interpolate(centres, values, np.array([0.0, centres[1], (centres[1] + centres[2]) / 2,
                                                  99.0]))
    np.testing.assert_allclose(at, [[0, 1], [1, 3], [1.5, 4], [2, 5]], atol=1e-6)
    start = np.array([0])
    np.testing.assert_allclose(T.segment_centres(start), SEGMENT_SAMPLES / 2 / SAMPLE_RATE)
    truth = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])
    assert T.tag_agreement(truth, truth, 0.5) == (1.0, 2)
    assert T.tag_agreement(truth, truth, top_k=1)[0] == 1.0
    assert T.r2(truth, truth) == 1.0


# ---------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------

def test_tags_run_writes_a_backbone_and_reuses_the_decoded_audio(corpus, tmp_path):
    from mirex.backbones import load_backbone
    from mirex.embedding import FeatureModel

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
    assert prov["hours"] > 0 and "python -m mirex.pretrain.train" in prov["command"]
    assert prov["val"]["val_loss"] is not None
    rows = _rows(tmp_path / "run1")
    assert [r["epoch"] for r in rows] == ["1"] and rows[0]["val_auc"] != ""
    features = FeatureModel(backbone).segment_features(np.zeros((2, SEGMENT_SAMPLES), np.float32))
    assert features.shape == (2, backbone.embedding_dim)

    entries = sorted((cache / "audio-22050-600s").rglob("*.npy"))
    mtimes = [p.stat().st_mtime_ns for p in entries]
    assert len(entries) == 6
    again = TR.pretrain(corpus["tags"], tmp_path / "run2", mode="tags", cache_dir=cache,
                        max_epochs=1, **FAST)
    assert again["decoded"] == 0
    assert [p.stat().st_mtime_ns for p in entries] == mtimes


def test_genres_run_through_the_command_line(corpus, tmp_path, capsys):
    out = tmp_path / "genres"
    code = TR.main(["--mode", "genres", "--train-list", str(corpus["genres"]), "--out", str(out),
                    "--config", json.dumps(TINY), "--steps-per-epoch", "2", "--batch-size", "4",
                    "--valid-segments", "2", "--valid-fraction", "0.5", "--max-epochs", "1",
                    "--verbose", "0", "--name", "samplecnn-genres-test"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["status"] == "paused" and printed["epoch"] == 1
    manifest = json.loads((out / "backbone" / "manifest.json").read_text())
    assert manifest["name"] == "samplecnn-genres-test"
    assert manifest["config"]["output_activation"] == "softmax"
    assert manifest["labels"] == ["high", "low", "noise"]
    assert manifest["provenance"]["command"].startswith("python -m mirex.pretrain.train --mode")
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
    assert teacher["name"] == "musicnn-msd" and teacher["hop_frames"] == 62
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


def test_learning_rate_stages_follow_patience(corpus, tmp_path, monkeypatch):
    """Scripted validation losses: two non-improving epochs end a stage (patience 2)."""
    losses = iter([1.0, 0.8, 0.9, 0.85, 0.7, 0.75, 0.75, 0.9, 0.9])
    monkeypatch.setattr(TR._Session, "evaluate", lambda self: {"val_loss": next(losses)})
    out = tmp_path / "stages"
    kw = dict(mode="tags", cache_dir=tmp_path / "cache", patience=2, lrs=(0.01, 0.002, 0.0004),
              **FAST)
    result = TR.pretrain(corpus["tags"], out, max_epochs=4, **kw)
    state = _state(out)
    assert (state["stage"], state["lr"], state["epoch"], state["epoch_in_stage"],
            state["wait"]) == (1, 0.002, 4, 0, 0)
    assert result["best_epoch"] == 2
    # the new stage starts from the best weights, with fresh momenta
    model = build_student(
        {**TR.validate_config(TINY), "n_outputs": 5}, None, 0)[0]
    model.load_weights(out / TR.CHECKPOINT_DIR / state["files"]["weights"]["file"])
    current = [w.copy() for w in model.get_weights()]
    model.load_weights(out / TR.CHECKPOINT_DIR / state["files"]["best"]["file"])
    for x, y in zip(current, model.get_weights()):
        np.testing.assert_array_equal(x, y)
    with np.load(out / TR.CHECKPOINT_DIR / state["files"]["optimizer"]["file"]) as saved:
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
    weights = out / TR.CHECKPOINT_DIR / state["files"]["weights"]["file"]
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(ValueError, match="corrupt checkpoint"):
        TR.pretrain(corpus["tags"], out, mode="tags", cache_dir=tmp_path / "cache",
                    max_epochs=2, **FAST)


_QUIET = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def _endless_run(corpus, out) -> list[str]:
    """Command line of a tiny tags run that would go on for a very long time."""
    return [sys.executable, "-m", "mirex.pretrain.train", "--mode", "tags",
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
            if (out / TR.CHECKPOINT_NAME).is_file() and _state(out)["epoch"] >= 1:
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
    while not ((out / TR.CHECKPOINT_NAME).is_file() and _state(out)["epoch"] >= 1):
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
    assert (out / TR.BACKBONE_DIR / "manifest.json").is_file()


def test_mirrored_strategy_on_two_logical_cpus(corpus, tmp_path):
    """The distributed path (2 replicas, per-replica batches) runs and checkpoints."""
    script = f"""
import os, json, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from mirex.pretrain.train import pretrain
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
