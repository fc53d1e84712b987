"""Benchmark: SampleCNN embedding throughput on an accelerator, any Keras 3 backend.

The harness extracts with TensorFlow; a lent GPU machine may have JAX but no
TensorFlow. This benchmark builds the harness's own Keras feature model
(:func:`mirex.engines.tap_model`: paper 3^9 SampleCNN, seeded
random weights, the multi-level taps time-maxed per segment) with the
backend at hand and times ``predict`` on random segments in float32 and in
mixed bfloat16, then compares the two (relative error of the embedding, per
segment, as the harness standardises each dimension before the SVM).

Prints JSON: segments/s and 30-s clips/s (10 segments each) per precision
and batch size, TFLOP/s achieved, the bf16-vs-fp32 error.

    KERAS_BACKEND=jax python benchmarks/bench_accelerator.py [--segments 4096]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> dict:
    import tempfile

    import keras

    from mirex.backbones import create_random_backbone
    from mirex.backbones.samplecnn import PAPER_CONFIG, multiply_adds
    from mirex.engines import tap_model
    from mirex.constants import SEGMENT_SAMPLES

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--segments", type=int, default=4096)
    p.add_argument("--batches", default="64,256")
    args = p.parse_args(argv)

    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((args.segments, SEGMENT_SAMPLES, 1))).astype(np.float32)
    flop = 2.0 * multiply_adds(PAPER_CONFIG)
    result = {"backend": keras.backend.backend(), "keras": keras.__version__,
              "segments": args.segments, "gflop_per_segment": round(flop / 1e9, 3), "runs": []}
    outputs = {}
    with tempfile.TemporaryDirectory() as tmp:
        backbone = create_random_backbone(Path(tmp) / "paper", config=PAPER_CONFIG, seed=0)
        models = {p: tap_model(backbone, p) for p in ("fp32", "bf16")}
    for policy, model in models.items():
        for batch in [int(b) for b in args.batches.split(",")]:
            model.predict(x[: 2 * batch], batch_size=batch, verbose=0)   # compile
            t0 = time.perf_counter()
            y = model.predict(x, batch_size=batch, verbose=0)
            seconds = time.perf_counter() - t0
            outputs[policy] = y
            result["runs"].append({
                "precision": policy, "batch": batch, "seconds": round(seconds, 3),
                "segments_per_s": round(args.segments / seconds, 1),
                "clips_per_s": round(args.segments / seconds / 10, 1),
                "tflop_per_s": round(flop * args.segments / seconds / 1e12, 2)})
    a, b = outputs["fp32"].astype(np.float64), outputs["bf16"].astype(np.float64)
    scale = np.abs(a).max(axis=1, keepdims=True) + 1e-12
    result["bf16_vs_fp32"] = {"max_rel_error": float((np.abs(a - b) / scale).max()),
                              "median_rel_error": float(np.median(np.abs(a - b) / scale))}
    try:
        import jax

        result["devices"] = [str(d) for d in jax.devices()]
    except ImportError:
        pass
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
