"""Extraction on a Dask cluster: real scheduler and worker processes on 127.0.0.1."""

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
from mirex import lists, pipeline

ROOT = Path(__file__).resolve().parent.parent
#: The `dask` command of this environment (scheduler and worker subcommands).
DASK = str(Path(sys.executable).with_name("dask"))


def entries(scratch):
    return sorted(Path(scratch, "features").glob("*/*/*.npy"))


def same_entries(a, b):
    ea, eb = entries(a), entries(b)
    assert [e.relative_to(a) for e in ea] == [e.relative_to(b) for e in eb] and ea
    for x, y in zip(ea, eb):
        np.testing.assert_allclose(np.load(x), np.load(y), rtol=1e-6, atol=1e-7)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """40 short clips in 3 classes, and two bad files mixed in."""
    root = tmp_path_factory.mktemp("cluster")
    paths = [write_clip(root / f"c{i:02d}.wav", tone_clip(("low", "high", "noise")[i % 3], i))
             for i in range(40)]
    (root / "bad.wav").write_bytes(b"RIFF nothing")
    paths[5:5] = [str(root / "bad.wav"), str(root / "gone.wav")]
    lists.write_paths(root / "list.txt", paths)
    return root, paths


def extractors_of(variant, tiny_models):
    """The extractors the MIREX scripts would use (same configuration: engine, precision,
    converted-model cache), so that in-process, cluster and script runs write the same entries."""
    from mirex import config
    from mirex.systems import extractors_for

    return extractors_for(config.resolve(variant, models_dir=tiny_models))


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """A scheduler and two single-threaded workers (no nannies) on the loopback interface."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    file = tmp_path_factory.mktemp("dask") / "scheduler.json"
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(file)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    deadline = time.monotonic() + 60
    while not file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    for _ in range(2):
        procs.append(subprocess.Popen(
            [DASK, "worker", "--scheduler-file", str(file), "--nthreads", "1", "--no-nanny", "--no-dashboard",
             "--host", "127.0.0.1"], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True))
    address = json.loads(file.read_text())["address"]
    from distributed import Client

    with Client(address, timeout=30) as client:
        client.wait_for_workers(2, timeout=60)
    yield address, procs
    for proc in procs:
        proc.kill()
        proc.wait()


def test_cluster_run_writes_the_entries_of_a_local_run(clips, tiny_models, scheduler, tmp_path):
    root, paths = clips
    extractors = extractors_of("LPNKK3", tiny_models)
    local = pipeline.extract(tmp_path / "local", root / "list.txt", extractors)
    address, _ = scheduler
    remote = pipeline.extract(tmp_path / "remote", root / "list.txt", extractors,
                              cluster=address)
    same_entries(tmp_path / "local", tmp_path / "remote")
    assert sorted(remote.failures) == sorted(local.failures) == sorted(paths[5:7])
    assert remote.n_extracted == local.n_extracted == 40
    again = pipeline.extract(tmp_path / "remote", root / "list.txt", extractors, cluster=address)
    assert again.n_cached == 40 and again.n_extracted == 0      # nothing is sent again


def test_an_unreachable_scheduler_is_one_line_in_seconds(clips, tiny_models, tmp_path):
    root, _ = clips
    env = {**os.environ, "MIREX_MODELS_DIR": str(tiny_models)}
    started = time.monotonic()
    proc = subprocess.run([str(ROOT / "bin" / "extractFeatures.sh"), str(tmp_path / "s"),
                           str(root / "list.txt")], capture_output=True, text=True,
                          env={**env, "MIREX_CLUSTER": "tcp://127.0.0.1:9"})
    assert proc.returncode == 1 and time.monotonic() - started < 30
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: cluster 'tcp://127.0.0.1:9': cannot connect"), proc.stderr
    assert "Traceback" not in proc.stderr
    proc = subprocess.run([str(ROOT / "bin" / "extractFeatures.sh"), str(tmp_path / "s"),
                           str(root / "list.txt")], capture_output=True, text=True,
                          env={**env, "MIREX_CLUSTER": "local:zero"})
    assert proc.returncode == 1 and "Error: cluster 'local:zero'" in proc.stderr


def test_workers_without_the_shared_file_system_send_vectors_back(clips, tiny_models,
                                                                  tmp_path, monkeypatch):
    from mirex import cluster

    root, _ = clips
    extractors = extractors_of("LPNKK1", tiny_models)
    pipeline.extract(tmp_path / "local", root / "list.txt", extractors)
    monkeypatch.setattr(cluster, "_sees", lambda store, paths: False)   # as if on other hosts
    report = pipeline.extract(tmp_path / "remote", root / "list.txt", extractors,
                              cluster="local:1")
    same_entries(tmp_path / "local", tmp_path / "remote")
    assert any("bad.wav" in reason and "not a readable audio file" in reason
               for reason in report.failures.values())


def test_a_worker_killed_mid_run_loses_nothing(clips, tiny_models, scheduler, tmp_path):
    """Last in this file: it kills one of the module's two workers."""
    root, paths = clips
    address, procs = scheduler
    extractors = extractors_of("LPNKK1", tiny_models)
    pipeline.extract(tmp_path / "local", root / "list.txt", extractors)
    env = {**os.environ, "MIREX_MODELS_DIR": str(tiny_models), "MIREX_CLUSTER": address}
    run = subprocess.Popen([str(ROOT / "bin" / "extractFeatures.sh"), str(tmp_path / "remote"),
                            str(root / "list.txt")], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not entries(tmp_path / "remote") and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(procs[1].pid, signal.SIGKILL)
    n_at_kill = len(entries(tmp_path / "remote"))
    _, err = run.communicate(timeout=300)
    assert run.returncode == 0, err
    same_entries(tmp_path / "local", tmp_path / "remote")
    warned = [line for line in err.splitlines() if "WARNING" in line and "bad.wav" in line]
    assert len(warned) == 1                                             # reported once
    assert "40 extracted" in err
    print(f"{n_at_kill} of 40 entries written when the worker was killed")
