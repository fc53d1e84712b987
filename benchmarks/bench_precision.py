"""Benchmark: reduced-precision inference candidates against fp32, on the trained backbones.

For each backbone and candidate prints (one JSON object at the end):

- ``model_only_clips_per_s``: 30-s clips (10 segments each, in memory)
  through the engine, best (shortest) of ``--repeats`` runs;
- ``end_to_end_clips_per_s``: the same number of 44.1-kHz stereo WAV clips
  through the whole extraction (decode, resample, segment, CNN, cache
  write; a fresh feature store each run), best of ``--repeats``;
- ``startup_s``: wall time of a fresh Python process that imports the
  harness, builds the engine and embeds one segment, with an empty model cache
  (``cold``: tflite converts, openvino builds and compiles) and again with the
  cache it left (``warm``);
- ``by_rms_dbfs``: agreement of clip embeddings with the float32 Keras model
  on generated music scaled to RMS levels from -40 to -6 dBFS:
  ``max_rel_error`` (largest absolute difference over the clip's largest
  reference feature) and ``min_cosine``;
- the 1-minute load average next to every speed figure (the cores may be
  shared: best-of-N keeps the least disturbed run) and the CPU time of the
  best model-only run (less sensitive to other processes than wall time).

Candidates, as ``engine-precision``: ``tflite-fp32`` (the reference
numerics), ``openvino-fp32``, ``openvino-bf16`` ('auto' on a CPU with
AMX-BF16 or AVX512-BF16) and ``keras-bf16`` (the GPU path, here on the CPU).
Candidates measured and deleted (issue 13), on a 2-core Sapphire Rapids with
the trained backbones: fixed-range int8 in 5 loudness bands (0.078 CPU-s a
clip but 8-10 % off fp32), plain dynamic-range quantization (3-4 % off),
the same with blocks 1-2 in float32, float16 weights (no faster), and
dynamic int8 with blocks 1-2 in float32 and two-term weights ('dyn8': 1.6 %
off, 0.30-0.38 CPU-s a clip, no less than openvino-fp32's 0.28-0.49 in the
same runs).

    python benchmarks/bench_precision.py [--backbone models/samplecnn-msd,models/samplecnn-mtt]
        [--candidates tflite-fp32,openvino-bf16,...] [--clips 6] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

#: RMS levels (dBFS) at which agreement with fp32 is measured.
LEVELS_DBFS = (-40.0, -30.0, -20.0, -12.0, -6.0)
CANDIDATES = ("tflite-fp32", "openvino-fp32", "openvino-bf16", "keras-bf16")
#: Segments per batch where the engine's own is not the one to measure.
_BATCH = {"keras-bf16": 16}


def make_extractor(backbone, candidate: str, threads=None, cache_dir=None):
    """A SampleCNN extractor running ``candidate`` (``engine-precision``), its engine built."""
    from mirex.extractors.samplecnn import SampleCNNExtractor

    engine, precision = candidate.split("-")
    extractor = SampleCNNExtractor(backbone, engine=engine, precision=precision,
                                   batch_segments=_BATCH.get(candidate), num_threads=threads,
                                   engine_cache=cache_dir)
    extractor.load()
    return extractor


def _startup_probe(backbone_dir: str, candidate: str, cache_dir: str) -> None:
    """Child process: import, build, embed one segment; print the seconds since start."""
    t0 = time.perf_counter()
    from mirex.config import quiet_tensorflow

    quiet_tensorflow()
    from mirex.backbones import load_backbone

    backbone = load_backbone(backbone_dir)
    extractor = make_extractor(backbone, candidate, cache_dir=cache_dir)
    x = np.random.default_rng(0).standard_normal((1, backbone.segment_samples))
    extractor.embed([np.asarray(x, np.float32)])
    print(json.dumps({"startup_s": time.perf_counter() - t0}))


def startup(backbone_dir: str, candidate: str) -> dict:
    """Cold (empty converted-model cache) and warm start-up seconds of a fresh process."""
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        for kind in ("cold", "warm"):
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, __file__, "--startup-probe", backbone_dir,
                                   candidate, cache], capture_output=True, text=True,
                                  env={**os.environ, "PYTHONPATH": str(HERE.parent)})
            if proc.returncode:
                raise RuntimeError(proc.stderr[-2000:])
            out[kind] = round(time.perf_counter() - t0, 2)  # the whole process, Python's start too
    return out


def _best_of(fn, repeats: int) -> dict:
    """Shortest wall time of ``repeats`` runs, its CPU time and the load average then."""
    best = None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        if best is None or wall < best[0]:
            best = (wall, cpu, os.getloadavg()[0])
    return {"wall_s": best[0], "cpu_s": best[1], "loadavg_1min": round(best[2], 2)}


def agreement(extractor, by_level: dict, reference: dict) -> dict:
    """Clip embeddings of ``extractor`` against the fp32 Keras ones, per level."""
    out = {}
    for level, clips in by_level.items():
        got = extractor.embed(clips).astype(np.float64)
        ref = reference[level]
        rel = np.abs(got - ref).max(axis=1) / np.abs(ref).max(axis=1)
        cos = (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
        out[str(level)] = {"max_rel_error": round(float(rel.max()), 5),
                           "min_cosine": round(float(cos.min()), 6)}
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="models/samplecnn-msd,models/samplecnn-mtt")
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--clips", type=int, default=6, help="clips per speed run")
    parser.add_argument("--agreement-clips", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-startup", action="store_true")
    parser.add_argument("--startup-probe", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.startup_probe:
        _startup_probe(*args.startup_probe)
        return {}

    from mirex.config import configure_threads, quiet_tensorflow

    quiet_tensorflow()
    configure_threads(args.threads)
    from bench_extraction import make_clips

    from mirex import pipeline
    from mirex.audio import scale_to_dbfs
    from mirex.backbones import load_backbone
    from mirex.cache import FeatureStore
    from mirex.engines import cpu_flags, default_batch, embed_clips
    from mirex.engines.keras import KerasEngine

    candidates = args.candidates.split(",")
    result = {"benchmark": "precision", "machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "cpu_flags": sorted(cpu_flags() & {"avx2", "avx512f", "avx512_vnni",
                                                 "avx512_bf16", "amx_bf16"}),
              "clips_per_speed_run": args.clips,
              "segments_per_clip": 10, "repeats": args.repeats, "backbones": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = make_clips(tmp / "audio", max(args.clips, args.agreement_clips))
        for backbone_dir in args.backbone.split(","):
            backbone = load_backbone(backbone_dir)
            probe = make_extractor(backbone, "tflite-fp32")
            prepared = [probe.prepare(p) for p in paths]
            by_level = {level: [scale_to_dbfs(x, level) for x in prepared[: args.agreement_clips]]
                        for level in LEVELS_DBFS}
            keras = KerasEngine(backbone, default_batch("keras", "fp32"))
            reference = {level: embed_clips(keras, clips).astype(np.float64)
                         for level, clips in by_level.items()}
            del keras
            rows = {}
            for candidate in candidates:
                try:
                    extractor = make_extractor(backbone, candidate, args.threads)
                except ValueError as exc:   # e.g. openvino-bf16 on a CPU without bf16
                    rows[candidate] = {"skipped": str(exc)}
                    continue
                batch = [prepared[0]] * args.clips
                extractor.embed(batch[:1])  # warm
                model = _best_of(lambda: extractor.embed(batch), args.repeats)
                runs = iter(range(args.repeats))

                def end_to_end():
                    store = FeatureStore(tmp / f"store-{candidate}-{next(runs)}")
                    table = pipeline.gather_features(paths[: args.clips], [extractor], [store])
                    assert table.n_extracted == args.clips and not table.failures

                e2e = _best_of(end_to_end, args.repeats)
                row = {
                    "engine": type(extractor._engine).__name__,
                    "batch_segments": extractor._engine.batch_segments,
                    "model_only_clips_per_s": round(args.clips / model["wall_s"], 2),
                    "model_only_loadavg": model["loadavg_1min"],
                    "model_only_cpu_s_per_clip": round(model["cpu_s"] / args.clips, 3),
                    "end_to_end_clips_per_s": round(args.clips / e2e["wall_s"], 2),
                    "end_to_end_loadavg": e2e["loadavg_1min"],
                    "end_to_end_cpu_s_per_clip": round(e2e["cpu_s"] / args.clips, 3),
                    "by_rms_dbfs": agreement(extractor, by_level, reference),
                }
                row["max_rel_error"] = max(v["max_rel_error"] for v in row["by_rms_dbfs"].values())
                row["min_cosine"] = min(v["min_cosine"] for v in row["by_rms_dbfs"].values())
                if not args.no_startup:
                    row["startup_s"] = startup(backbone_dir, candidate)
                rows[candidate] = row
                print(json.dumps({backbone.name: {candidate: row}}), file=sys.stderr, flush=True)
            result["backbones"][backbone.name] = rows
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
