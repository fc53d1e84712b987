"""Benchmark: end-to-end feature extraction of 30-s clips with the full-size paper model.

Prints one JSON object: clips per second and real-time factor of the whole
extraction (decode + resample + segment + CNN + cache write), the model-only
throughput, GFLOP per clip, achieved GFLOP/s, the startup time (imports,
model build and trace) and the peak resident memory.

The network is the paper's 3^9 SampleCNN with seeded random weights: speed
does not depend on the values of the weights. Clips are generated 44.1 kHz
stereo 16-bit WAVs, so decoding, mixdown and resampling are all exercised.

    python benchmarks/bench_extraction.py [--clips 24] [--threads N] [--variant LPNKK1|LPNKK3]
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
import soundfile as sf


def make_clips(folder: Path, n: int, seconds: float = 30.0, sr: int = 44100) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    t = np.arange(int(seconds * sr)) / sr
    for i in range(n):
        f = rng.uniform(100, 1000)
        y = 0.3 * np.sin(2 * np.pi * f * t)[:, None] + 0.05 * rng.standard_normal((t.size, 2))
        path = folder / f"clip{i:03d}.wav"
        sf.write(path, y.astype(np.float32), sr, subtype="PCM_16")
        paths.append(str(path))
    return paths


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--variant", default="LPNKK1", choices=["LPNKK1", "LPNKK3"])
    parser.add_argument("--engine", default="auto", choices=["auto", "keras", "blas"])
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from mirex.embedding import configure_threads

    configure_threads(args.threads)
    t_start = time.perf_counter()
    from mirex import pipeline
    from mirex.backbones import create_random_backbone
    from mirex.backbones.samplecnn import PAPER_CONFIG, multiply_adds
    from mirex.cache import FeatureStore
    from mirex.embedding import SampleCNNExtractor

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        names = ["a"] if args.variant == "LPNKK1" else ["a", "b"]
        extractors = [SampleCNNExtractor(create_random_backbone(tmp / n, name=f"paper-{n}",
                                                                seed=i), engine=args.engine)
                      for i, n in enumerate(names)]
        paths = make_clips(tmp / "audio", args.clips + 2)
        warm, timed = paths[:2], paths[2:]
        # Startup: build + trace the network(s) and process two clips.
        store = FeatureStore(tmp / "scratch" / "features")
        pipeline.gather_features(warm, extractors, [store])
        startup = time.perf_counter() - t_start

        t0 = time.perf_counter()
        table = pipeline.gather_features(timed, extractors, [store])
        elapsed = time.perf_counter() - t0
        assert not table.failures and table.n_extracted == len(timed)

        # Model only: the same number of segments, already in memory.
        segments = [e.prepare(timed[0]) for e in extractors[:1]][0]
        batch = [segments] * len(timed)
        t0 = time.perf_counter()
        for e in extractors:
            e.embed(batch)
        model_only = time.perf_counter() - t0

    n_seg = len(segments)
    gflop_clip = 2 * multiply_adds(PAPER_CONFIG) * n_seg * len(extractors) / 1e9
    result = {
        "benchmark": "extraction",
        "variant": args.variant,
        "engine": type(extractors[0]._model).__name__,
        "model": "SampleCNN 3^9 paper config (random weights)",
        "clips": len(timed),
        "clip_seconds": 30.0,
        "segments_per_clip": n_seg,
        "threads": args.threads or os.cpu_count(),
        "end_to_end_clips_per_s": round(len(timed) / elapsed, 3),
        "real_time_factor": round(30.0 * len(timed) / elapsed, 1),
        "model_only_clips_per_s": round(len(timed) / model_only, 3),
        "gflop_per_clip": round(gflop_clip, 2),
        "achieved_gflop_per_s_end_to_end": round(gflop_clip * len(timed) / elapsed, 1),
        "achieved_gflop_per_s_model_only": round(gflop_clip * len(timed) / model_only, 1),
        "startup_s_incl_2_clips": round(startup, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
