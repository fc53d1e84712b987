"""Benchmark: the time `mirex evaluate` adds around one step.

A no-op step (a /bin/sh script that exits 0) run N times each way, interleaved:
a bare ``subprocess.run``; :func:`mirex.evaluation.runner.run_step` (new
session, tree sampling, limits, log); and the whole schedule
(:func:`mirex.evaluation.schedule.run_nodes`: fingerprints and the atomic
resume record), fresh and with every step resumed. Prints JSON, milliseconds.

    python benchmarks/bench_evaluate_overhead.py [--steps 300]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from mirex.evaluation.runner import StepSpec, run_step
from mirex.evaluation.schedule import Node, run_nodes


def _ms(values, q=0.5) -> float:
    return round(sorted(values)[int(q * (len(values) - 1))] * 1e3, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    n = parser.parse_args().steps
    root = Path(tempfile.mkdtemp(prefix="mirex-overhead-"))
    noop = root / "noop.sh"
    noop.write_text("#!/bin/sh\nexit 0\n")
    noop.chmod(0o755)
    bare, measured = [], []
    for _ in range(n):
        started = time.perf_counter()
        with open(root / "bare.log", "w") as handle:
            subprocess.run([str(noop)], stdout=handle, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, cwd=root)
        bare.append(time.perf_counter() - started)
        started = time.perf_counter()
        run_step(StepSpec((str(noop),), str(root), str(root / "step.log")))
        measured.append(time.perf_counter() - started)
    nodes = [Node(f"n{i}", StepSpec((str(noop),), str(root), str(root / f"{i}.log")),
                  str(root / f"{i}.json"), "inputs") for i in range(n)]
    started = time.perf_counter()
    run_nodes(nodes, 1, resume=False)
    fresh = (time.perf_counter() - started) / n
    started = time.perf_counter()
    run_nodes(nodes, 1, resume=True)
    resumed = (time.perf_counter() - started) / n
    shutil.rmtree(root)
    print(json.dumps({"steps": n, "bare_median_ms": _ms(bare), "bare_p90_ms": _ms(bare, 0.9),
                      "run_step_median_ms": _ms(measured), "run_step_p90_ms": _ms(measured, 0.9),
                      "schedule_fresh_mean_ms": round(fresh * 1e3, 2),
                      "schedule_resumed_mean_ms": round(resumed * 1e3, 3)}))


if __name__ == "__main__":
    main()
