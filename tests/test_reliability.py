"""Fault injection: every bad input named in one line, the run going on, nothing lost."""

import errno
import os
import signal
import subprocess
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import tone_clip, write_clip
from mirex import audio, lists, pipeline
from mirex.constants import SAMPLE_RATE
from mirex.systems import resolve_extractors

BIN = Path(__file__).resolve().parent.parent / "bin"
#: Outcome of a damaged file: what comes before the damage, or a named failure.
ANY = "decoded in part, or named"


def truncate(path, fraction=0.5):
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: int(len(data) * fraction)])
    return str(path)


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    """Each bad input of the reliability issue as a file: name -> (path, expected message or None)."""
    root = tmp_path_factory.mktemp("bad")
    y = tone_clip("low", 5, seconds=4.0)
    cases = {"missing": (str(root / "missing.wav"), "file not found")}
    (root / "zero.wav").write_bytes(b"")
    cases["zero-byte"] = (str(root / "zero.wav"), "file is empty")
    (root / "text.mp3").write_bytes(b"ID3 but then just text, no frames at all\n" * 50)
    cases["non-audio"] = (str(root / "text.mp3"), "not a readable audio file")
    for fmt, ext in (("WAV", "wav"), ("FLAC", "flac"), ("OGG", "ogg"), ("MP3", "mp3")):
        path = root / f"truncated.{ext}"
        sf.write(path, y, SAMPLE_RATE, format=fmt)
        cases[f"truncated {ext}"] = (truncate(path), ANY)
    cases["all-silent"] = (write_clip(root / "silent.wav", np.zeros(SAMPLE_RATE)), None)
    cases["5 samples"] = (write_clip(root / "tiny.wav", y[:5]), None)
    eight = np.stack([y * (c + 1) / 8 for c in range(8)], axis=1)
    cases["8 channels"] = (write_clip(root / "eight.wav", eight), None)
    nan = y.copy()
    nan[::100] = np.nan
    cases["NaN samples"] = (write_clip(root / "nan.wav", nan, subtype="FLOAT"), None)
    cases["8 kHz"] = (write_clip(root / "8k.wav", y[::2], sr=8000), None)
    cases["96 kHz 24-bit"] = (write_clip(root / "96k.wav", np.repeat(y, 4), sr=96000,
                                         subtype="PCM_24"), None)
    cases["quotes and non-ASCII"] = (write_clip(root / "it's \"q\" — ünï cødé.wav", y), None)
    return cases


@pytest.fixture(scope="module")
def extractors(tiny_models):
    return resolve_extractors("LPNKK1", models_dir=tiny_models)


def test_each_bad_input_is_named_and_the_run_goes_on(bad_inputs, extractors, tone_task,
                                                     tmp_path, caplog):
    good = [p for p, _ in tone_task]
    test_paths = [p for p, _ in bad_inputs.values()] + good[:2] + [bad_inputs["missing"][0]]
    train = tone_task + [(bad_inputs["zero-byte"][0], "R&B")]
    lists.write_labelled(tmp_path / "train.txt", train)
    lists.write_paths(tmp_path / "test.txt", test_paths)
    scratch = tmp_path / "scratch"
    pipeline.train(scratch, tmp_path / "train.txt", extractors, "LPNKK1")
    report = pipeline.classify(scratch, tmp_path / "test.txt", tmp_path / "out.txt", extractors,
                               "LPNKK1")
    out = lists.read_labelled(tmp_path / "out.txt")
    assert [p for p, _ in out] == test_paths  # every line, in order, even the bad ones
    labels = {label for _, label in tone_task}
    assert all(label in labels for _, label in out)
    for name, (path, message) in bad_inputs.items():
        if message is ANY:
            reason = report.failures.get(path, path)
            assert reason.startswith(path) and "\n" not in reason, name
        elif message:
            assert report.failures[path].startswith(path) and message in report.failures[path], name
            assert any(path in r.getMessage() and message in r.getMessage()
                       for r in caplog.records), name
            assert "\n" not in report.failures[path]
        else:
            assert path not in report.failures, f"{name}: {report.failures.get(path)}"
    assert any("all-silent" in r.getMessage() for r in caplog.records)


def test_long_files_are_decoded_in_bounded_memory(tmp_path):
    path = tmp_path / "eleven minutes.wav"
    with sf.SoundFile(path, "w", 44100, 2, subtype="PCM_16") as handle:
        block = (0.1 * np.random.default_rng(0).standard_normal((44100 * 10, 2))).astype(np.float32)
        for _ in range(66):
            handle.write(block)
    tracemalloc.start()
    y = audio.load(path, max_duration=60.0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(y) == 60 * SAMPLE_RATE
    assert peak < 40e6  # 11 min of stereo float would be 230 MB


def test_single_class_training_list_predicts_that_class(extractors, tone_task, tmp_path):
    lows = [(p, "only") for p, label in tone_task if label == "Low Tones"]
    lists.write_labelled(tmp_path / "train.txt", lows)
    lists.write_paths(tmp_path / "test.txt", [p for p, _ in tone_task])
    pipeline.train(tmp_path / "s", tmp_path / "train.txt", extractors, "LPNKK1")
    pipeline.classify(tmp_path / "s", tmp_path / "test.txt", tmp_path / "o.txt", extractors, "LPNKK1")
    assert {label for _, label in lists.read_labelled(tmp_path / "o.txt")} == {"only"}


def test_nothing_useful_is_a_clear_error_but_output_is_still_written(extractors, tone_task, tmp_path):
    lists.write_labelled(tmp_path / "train.txt", tone_task)
    pipeline.train(tmp_path / "s", tmp_path / "train.txt", extractors, "LPNKK1")
    lists.write_paths(tmp_path / "test.txt", [str(tmp_path / "a.wav"), str(tmp_path / "b.wav")])
    with pytest.raises(pipeline.PipelineError, match="no test file could be processed"):
        pipeline.classify(tmp_path / "s", tmp_path / "test.txt", tmp_path / "o.txt", extractors,
                          "LPNKK1")
    assert len(lists.read_labelled(tmp_path / "o.txt")) == 2
    (tmp_path / "file").write_text("x")
    with pytest.raises(pipeline.PipelineError, match="cannot create scratch folder"):
        pipeline.extract(tmp_path / "file" / "scratch", tmp_path / "test.txt", extractors)


def test_disk_full_during_a_cache_write_is_reported_and_leaves_no_entry(
        extractors, tone_task, tmp_path, monkeypatch, caplog):
    import mirex.fileio

    real_fdopen = os.fdopen

    class FullDisk:
        """A file whose writes fail as on a full disk."""

        def __init__(self, fd, *args, **kwargs):
            self.handle = real_fdopen(fd, *args, **kwargs)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    lists.write_paths(tmp_path / "l.txt", [p for p, _ in tone_task[:3]])
    monkeypatch.setattr(mirex.fileio.os, "fdopen", FullDisk)
    report = pipeline.extract(tmp_path / "s", tmp_path / "l.txt", extractors)
    assert report.n_extracted == 3
    assert any("No space left on device" in r.getMessage() for r in caplog.records)
    files = [f for _, _, fs in os.walk(tmp_path / "s" / "features") for f in fs]
    assert not [f for f in files if f.endswith(".npy") or f.endswith(".tmp")]


def _extract_cmd(scratch, list_file, threads=1):
    return [str(BIN / "extractFeatures.sh"), "-numThreads", str(threads), str(scratch),
            str(list_file)]


@pytest.fixture(scope="module")
def many_clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("many")
    paths = [write_clip(root / f"c{i:02d}.wav", tone_clip(("low", "high", "noise")[i % 3], i,
                                                          seconds=6.0)) for i in range(24)]
    lists.write_paths(root / "list.txt", paths)
    return root, paths


def entries(scratch):
    return sorted(Path(scratch, "features").glob("samplecnn-msd-*/*/*.npy"))


@pytest.fixture(scope="module")
def paper_size_run(tmp_path_factory):
    """A run slow enough to be killed mid-way on any machine: the paper-size
    network on 16 clips of 30 s (two decode/embed chunks of several seconds)."""
    from mirex.backbones import create_random_backbone

    root = tmp_path_factory.mktemp("slow")
    create_random_backbone(root / "models" / "samplecnn-msd", name="samplecnn-msd", seed=1)
    paths = [write_clip(root / f"c{i:02d}.wav", tone_clip(("low", "high", "noise")[i % 3], i,
                                                          seconds=30.0)) for i in range(16)]
    lists.write_paths(root / "list.txt", paths)
    return root, paths


def test_sigkill_during_extraction_then_rerun_completes_with_intact_cache(paper_size_run,
                                                                          tmp_path):
    root, paths = paper_size_run
    assert len(paths) > pipeline.CHUNK_CLIPS  # else no run could be cut after its first chunk
    env = {**os.environ, "MIREX_MODELS_DIR": str(root / "models")}
    scratch = tmp_path / "scratch"
    proc = subprocess.Popen(_extract_cmd(scratch, root / "list.txt"), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    while not entries(scratch) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = len(entries(scratch))
    assert 0 < n_before < len(paths), "the kill should land mid-run"
    done = subprocess.run(_extract_cmd(scratch, root / "list.txt"), env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"{n_before} from cache, {len(paths) - n_before} extracted" in done.stderr
    vectors = [np.load(e, allow_pickle=False) for e in entries(scratch)]
    assert len(vectors) == len(paths) and all(np.isfinite(v).all() for v in vectors)


def test_two_concurrent_extractions_of_one_scratch_agree_with_a_serial_one(
        many_clips, tiny_models, tmp_path):
    root, paths = many_clips
    env = {**os.environ, "MIREX_MODELS_DIR": str(tiny_models)}
    shared = tmp_path / "shared"
    procs = [subprocess.Popen(_extract_cmd(shared, root / "list.txt"), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    assert all(p.wait() == 0 for p in procs)
    serial = tmp_path / "serial"
    subprocess.run(_extract_cmd(serial, root / "list.txt", threads=2), env=env, check=True,
                   capture_output=True)
    a, b = entries(shared), entries(serial)
    assert [e.name for e in a] == [e.name for e in b] and len(a) == len(paths)
    for x, y in zip(a, b):  # also across -numThreads 1 and 2
        np.testing.assert_allclose(np.load(x), np.load(y), rtol=1e-4, atol=1e-5)


def test_predictions_are_byte_identical_across_reruns_and_thread_counts(
        many_clips, tiny_models, tmp_path):
    root, paths = many_clips
    env = {**os.environ, "MIREX_MODELS_DIR": str(tiny_models)}
    kinds = ("low", "high", "noise")
    lists.write_labelled(tmp_path / "train.txt", [(p, kinds[i % 3]) for i, p in enumerate(paths)
                                                  if i < 15])
    lists.write_paths(tmp_path / "test.txt", paths[15:])
    outputs = []
    for run, threads in enumerate((1, 2, 1)):
        scratch = tmp_path / f"s{run}"
        for script, args in (("Train.sh", [tmp_path / "train.txt"]),
                             ("Test.sh", [tmp_path / "test.txt", tmp_path / f"out{run}.txt"])):
            subprocess.run([str(BIN / script), "-numThreads", str(threads), str(scratch),
                            *map(str, args)], env=env, check=True, capture_output=True)
        outputs.append((tmp_path / f"out{run}.txt").read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]
