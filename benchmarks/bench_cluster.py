"""Benchmark: extraction on a Dask cluster against the in-process run (JSON on stdout).

Two measurements (see README "SCALE-OUT"):

``--mode real``
    clips/s of 30-s clips with the paper-size SampleCNN (random weights):
    in process, on ``local:1`` and on ``local:2`` (the cost of the scheduler on
    real work, on this machine's cores).
``--mode null``
    the scheduler's and the driver's own cost per clip: an extractor that
    does nothing, ``--clips`` empty files (hashed and indexed by the driver
    as in a real run), on ``local:2``; and the driver's peak memory.

    python benchmarks/bench_cluster.py --mode real --clips 16
    python benchmarks/bench_cluster.py --mode null --clips 10000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class NullExtractor:
    """Does nothing: what is left of a run is the scheduler's and the driver's work."""

    id, dim, input_spec = "null-v1", 1, ("null",)

    def info(self) -> dict:
        return {"extractor": "null"}

    def load(self) -> None:
        pass

    def prepare(self, path):
        return 0

    def embed(self, prepared):
        return np.zeros((len(prepared), 1), np.float32)


def _clips(folder: Path, n: int) -> list[str]:
    from mirex.demo.synth import GENRES, synthesize_clip
    from mirex.fileio import atomic_write_bytes

    import io

    import soundfile as sf

    paths = []
    for i in range(n):
        buffer = io.BytesIO()
        sf.write(buffer, synthesize_clip(GENRES[i % len(GENRES)], seed=i, duration=30.0),
                 22050, format="WAV", subtype="PCM_16")
        paths.append(str(atomic_write_bytes(folder / f"clip{i:03d}.wav", buffer.getvalue())))
    return paths


def _timed_extract(scratch, list_path, extractors, cluster) -> dict:
    from mirex import pipeline

    started = time.perf_counter()
    report = pipeline.extract(scratch, list_path, extractors, cluster=cluster)
    seconds = time.perf_counter() - started
    return {"cluster": cluster or "in-process", "seconds": round(seconds, 2),
            "clips_per_s_end_to_end": round(report.n_extracted / seconds, 3),
            **report.extra["timing"]}


def real(n_clips: int) -> dict:
    from mirex import lists
    from mirex.backbones import create_random_backbone
    from mirex.extractors.samplecnn import SampleCNNExtractor

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        backbone = create_random_backbone(tmp / "paper", name="paper", seed=0)
        cache = tmp / "engines"
        paths = _clips(tmp, n_clips)
        lists.write_paths(tmp / "list.txt", paths)
        # convert once, so that every run below starts from a cached converted model
        SampleCNNExtractor(backbone, engine_cache=cache).load()
        runs = [_timed_extract(tmp / f"s{k}", tmp / "list.txt",
                               [SampleCNNExtractor(backbone, engine_cache=cache)], cluster)
                for k, cluster in enumerate((None, "local:1", "local:2"))]
    return {"benchmark": "cluster-real", "clips": n_clips, "clip_seconds": 30.0,
            "model": "SampleCNN 3^9 paper config (random weights)", "runs": runs}


def null(n_clips: int) -> dict:
    from mirex import lists

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        audio = tmp / "audio"
        audio.mkdir()
        paths = []
        for i in range(n_clips):
            path = audio / f"{i:07d}.wav"
            path.touch()
            paths.append(str(path))
        lists.write_paths(tmp / "list.txt", paths)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        run = _timed_extract(tmp / "s", tmp / "list.txt", [NullExtractor()], "local:2")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    run["ms_per_clip"] = round(1000 * run["seconds"] / n_clips, 3)
    return {"benchmark": "cluster-null", "clips": n_clips, "run": run,
            "driver_peak_rss_mb": round(rss, 1),
            "driver_rss_before_mb": round(rss_before, 1)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("real", "null"), default="real")
    parser.add_argument("--clips", type=int, default=16)
    args = parser.parse_args(argv)
    from mirex.config import quiet_tensorflow

    quiet_tensorflow()
    result = real(args.clips) if args.mode == "real" else null(args.clips)
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} cores"
    result["load_average"] = os.getloadavg()[0]
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
