"""Benchmark: end-to-end feature extraction of 30-s clips with the full-size paper model.

Prints one JSON object: clips per second and real-time factor of the whole
extraction (decode + resample + segment + CNN + cache write), the model-only
throughput, GFLOP per clip, achieved GFLOP/s, the startup time (imports,
model build and trace) and the peak resident memory.

The network is the paper's 3^9 SampleCNN with seeded random weights: speed
does not depend on the values of the weights. Clips are 44.1-kHz stereo
16-bit WAVs of generated music (:mod:`mirex.demo.synth`), so decoding, mixdown and
resampling are all exercised. Each run also measures NumPy's float32
matrix-multiply rate (the machine's practical peak, for the percentage) and
the agreement of clip embeddings with the float32 Keras model, as they come
and with each clip scaled to RMS levels from -40 to -6 dBFS (reduced
precision loses most on quiet recordings). ``--backbone`` measures a
committed backbone (trained weights) instead of the random paper model.

    python benchmarks/bench_extraction.py [--clips 24] [--threads N] [--variant LPNKK1|LPNKK3]
        [--engine auto|keras|tflite|openvino] [--precision auto|fp32|bf16]
        [--backbone models/samplecnn-msd[,models/samplecnn-mtt]]
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
    """``n`` clips of generated music (mirex.demo.synth, genres in turn), 44.1-kHz stereo 16-bit WAV."""
    from mirex.demo.synth import GENRES, synthesize_clip

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        y = synthesize_clip(GENRES[i % len(GENRES)], seed=1000 + i, duration=seconds, sr=sr)
        stereo = np.stack([y, 0.9 * y + 0.01 * rng.standard_normal(y.size)], axis=1)
        path = folder / f"clip{i:03d}.wav"
        sf.write(path, np.clip(stereo, -1, 1).astype(np.float32), sr, subtype="PCM_16")
        paths.append(str(path))
    return paths


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best float32 matrix-multiply rate of NumPy's BLAS here, in GFLOP/s."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


#: RMS levels (dBFS) at which reduced-precision agreement is measured.
AGREEMENT_DBFS = (-40.0, -30.0, -20.0, -12.0, -6.0)


def compare_with_fp32(extractor, prepared) -> dict:
    """Clip embeddings of ``extractor`` against the float32 Keras model's.

    ``prepared``: clips as segments ``(n_segments, n_samples)``.
    ``max_rel_error``: largest absolute difference over a clip's largest
    reference feature; ``min_cosine``: worst cosine similarity.
    """
    from mirex.engines import default_batch, embed_clips
    from mirex.engines.keras import KerasEngine

    got = extractor.embed(prepared).astype(np.float64)
    reference = KerasEngine(extractor.backbone, default_batch("keras", "fp32"))
    ref = embed_clips(reference, prepared).astype(np.float64)
    rel = np.abs(got - ref).max(axis=1) / np.abs(ref).max(axis=1)
    cos = (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
    return {"clips": len(prepared), "max_rel_error": round(float(rel.max()), 6),
            "min_cosine": round(float(cos.min()), 6)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--variant", default="LPNKK1", choices=["LPNKK1", "LPNKK3"])
    parser.add_argument("--engine", default="auto", choices=["auto", "keras", "tflite", "openvino"])
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--batch", type=int, default=None,
                        help="segments per inference batch (default: the extractor's)")
    parser.add_argument("--agreement-clips", type=int, default=4,
                        help="clips compared with the float32 Keras model")
    parser.add_argument("--backbone", default=None,
                        help="backbone folder(s) to measure, comma-separated, one per "
                             "network of the variant (default: the paper model, random weights)")
    args = parser.parse_args(argv)

    from mirex.config import configure_threads, quiet_tensorflow

    quiet_tensorflow()
    configure_threads(args.threads)
    t_start = time.perf_counter()
    from mirex import pipeline
    from mirex.audio import scale_to_dbfs
    from mirex.backbones import create_random_backbone, load_backbone
    from mirex.backbones.samplecnn import multiply_adds
    from mirex.cache import FeatureStore
    from mirex.extractors.samplecnn import SampleCNNExtractor

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        names = ["a"] if args.variant == "LPNKK1" else ["a", "b"]
        if args.backbone:
            backbones = [load_backbone(b) for b in args.backbone.split(",")]
            if len(backbones) != len(names):
                parser.error(f"--variant {args.variant} needs {len(names)} backbone(s)")
        else:
            backbones = [create_random_backbone(tmp / n, name=f"paper-{n}", seed=i)
                         for i, n in enumerate(names)]
        extractors = [SampleCNNExtractor(backbone,
                                         engine=args.engine, precision=args.precision,
                                         batch_segments=args.batch, num_threads=args.threads)
                      for backbone in backbones]
        t_clips = time.perf_counter()
        paths = make_clips(tmp / "audio", args.clips + 2)
        t_clips = time.perf_counter() - t_clips        # not part of the startup
        warm, timed = paths[:2], paths[2:]
        # Startup: build + trace the network(s) and process two clips.
        store = FeatureStore(tmp / "scratch" / "features")
        pipeline.gather_features(warm, extractors, [store])
        startup = time.perf_counter() - t_start - t_clips

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
        peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        prepared = [extractors[0].prepare(p) for p in timed[: args.agreement_clips]]
        agreement = compare_with_fp32(extractors[0], prepared)
        agreement["by_rms_dbfs"] = {
            str(level): compare_with_fp32(extractors[0],
                                          [scale_to_dbfs(x, level) for x in prepared])
            for level in AGREEMENT_DBFS}
        peak = matmul_peak_gflops()

    n_seg = len(segments)
    gflop_clip = 2 * multiply_adds(backbones[0].config) * n_seg * len(extractors) / 1e9
    result = {
        "benchmark": "extraction",
        "variant": args.variant,
        "engine": type(extractors[0]._engine).__name__,
        "precision": getattr(extractors[0]._engine, "precision", "fp32"),
        "batch_segments": extractors[0]._engine.batch_segments,
        "model": (f"backbone {backbones[0].name} ({args.backbone})" if args.backbone else
                  "SampleCNN 3^9 paper config (random weights)"),
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
        "matmul_peak_gflop_per_s": round(peak, 1),
        "percent_of_matmul_peak_end_to_end": round(100 * gflop_clip * len(timed) / elapsed / peak, 1),
        "percent_of_matmul_peak_model_only": round(100 * gflop_clip * len(timed) / model_only / peak,
                                                   1),
        "startup_s_incl_2_clips": round(startup, 2),
        "end_to_end_clips_per_s_incl_startup": round((len(timed) + 2) / (startup + elapsed), 3),
        "peak_rss_mb": round(peak_rss, 1),
        "agreement_with_keras_fp32": agreement,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
