"""Benchmark: the SVM search of Train.sh at MIREX scale.

7000 clips x 3072 dims (LPNKK3 with two 1536-d backbones; the US Pop genre
task's size), 10 balanced classes drawn as noisy clusters in a low-rank
subspace (like CNN embeddings: correlated, non-negative after ReLU).
Prints JSON: seconds for the whole C/gamma search + refit, the chosen
parameters and the cross-validated accuracy.

    python benchmarks/bench_svm.py [--clips 7000] [--dims 3072] [--classes 10]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numpy as np


def make_features(n, dim, n_classes, seed=0):
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((32, dim)).astype(np.float32)
    centres = rng.standard_normal((n_classes, 32)).astype(np.float32)
    y = np.arange(n) % n_classes
    latent = centres[y] + 1.5 * rng.standard_normal((n, 32)).astype(np.float32)
    X = np.maximum(latent @ basis + 0.5 * rng.standard_normal((n, dim)).astype(np.float32), 0)
    return X.astype(np.float32), [f"class{c}" for c in y]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=7000)
    parser.add_argument("--dims", type=int, default=3072)
    parser.add_argument("--classes", type=int, default=10)
    args = parser.parse_args(argv)
    from mirex.classifier import fit_classifier

    X, y = make_features(args.clips, args.dims, args.classes)
    started = time.perf_counter()
    clf = fit_classifier(X, y)
    seconds = time.perf_counter() - started
    result = {"benchmark": "svm-search", "clips": args.clips, "dims": args.dims,
              "classes": args.classes, "seconds": round(seconds, 1), "search": clf.search,
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
              "cores": os.cpu_count()}
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
