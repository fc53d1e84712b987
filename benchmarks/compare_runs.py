"""Do two dry runs predict the same labels? (e.g. bf16 against fp32 extraction)

Reads ``RUN/predictions/SYSTEM/fold*.txt`` of two ``mirex dryrun`` output
folders made on the same list and folds, and prints JSON per system: the
clips compared, the fraction with the same predicted label, and each run's
overall accuracy from its ``report/summaryResults.csv``.

    python benchmarks/compare_runs.py cache/prec2/games-fp32 cache/prec2/games-auto \\
        --systems LPNKK1,LPNKK2
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def predictions(run: Path, system: str) -> dict:
    from mirex.lists import read_labelled

    out = {}
    for fold in sorted((run / "predictions" / system).glob("fold*.txt")):
        out.update(dict(read_labelled(fold)))
    return out


def overall_accuracy(run: Path, system: str):
    """``Overall Accuracy`` of ``system`` in the run's ``summaryResults.csv`` (None if absent)."""
    path = run / "report" / "summaryResults.csv"
    if not path.is_file():
        return None
    with path.open(newline="") as f:
        row = next((r for r in csv.DictReader(f) if r["Job"] == system), None)
    return float(row["Overall Accuracy"]) if row and row["Overall Accuracy"] else None


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_a", type=Path)
    p.add_argument("run_b", type=Path)
    p.add_argument("--systems", default="LPNKK1")
    args = p.parse_args(argv)
    result = {"run_a": str(args.run_a), "run_b": str(args.run_b), "systems": {}}
    for system in args.systems.split(","):
        a, b = predictions(args.run_a, system), predictions(args.run_b, system)
        common = sorted(set(a) & set(b))
        same = sum(a[k] == b[k] for k in common)
        result["systems"][system] = {
            "clips": len(common),
            "same_prediction": round(same / len(common), 4) if common else None,
            "accuracy_a": overall_accuracy(args.run_a, system),
            "accuracy_b": overall_accuracy(args.run_b, system)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
