"""How the systems transfer: one table of fold accuracies over held-out tasks (issue 14).

Reads the dry runs of ``benchmarks/transfer.sh`` (one ``mirex dryrun`` per
task and system, ``EVAL/<task>/runs/<system>/report/PerFoldResults.csv``) and
writes, per task and system, the mean of the fold accuracies, their sample
standard deviation (ddof=1) and their min-max, the pooled accuracy over all
test clips, and per system the mean over tasks (of the per-task fold means):

    EVAL/transfer.md     the Markdown table (also printed)
    EVAL/transfer.json   the same figures, with clip and class counts per task

Rebuild the three tasks, every run and the table in one command (hours of CPU
on 2 cores; resumable, a finished run is kept)::

    make transfer        # = sh benchmarks/transfer.sh (EVAL_DIR=cache/eval)

which needs ``make corpus`` (the held-out packages) and, for the score task,
``pip install music21`` and ``apt-get install fluidsynth fluid-soundfont-gm``.
The table alone, for any systems (a system is a run folder name: a ``mirex``
variant, ``untrained`` = LPNKK1's harness on an untrained SampleCNN, or any
peer added later, e.g. ``musicnn-vgg-svm``)::

    python benchmarks/transfer_table.py --eval cache/eval \\
        --tasks soundtrack,score,games \\
        --systems untrained,mfcc-svm,musicnn-svm,musicnn-vgg-svm,LPNKK1,LPNKK2,LPNKK3

A run without a report is shown as "-" and left out of the mean over tasks,
which then says over how many tasks it is.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from pathlib import Path

DEFAULT_TASKS = ("soundtrack", "score", "games")
DEFAULT_SYSTEMS = ("untrained", "mfcc-svm", "musicnn-svm", "musicnn-vgg-svm", "LPNKK1", "LPNKK2",
                   "LPNKK3")
#: What the table calls each task.
TASK_TITLES = {"soundtrack": "A soundtrack", "games": "C games", "score": "B score"}


def _job(columns: list[str], system: str) -> str | None:
    """The report column of ``system``: its own name, else the run's only system."""
    if system in columns:
        return system
    return columns[0] if len(columns) == 1 else None


def fold_accuracies(report: Path, system: str) -> list[float] | None:
    """Accuracy (fraction of test clips) per fold from ``report/PerFoldResults.csv``."""
    path = report / "PerFoldResults.csv"
    if not path.is_file():
        return None
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        job = _job([c for c in reader.fieldnames if c not in ("Fold", "Measure")], system)
        rows = [r for r in reader if r["Measure"] == "Accuracy"]
    if job is None or not rows:
        return None
    return [float(r[job]) for r in sorted(rows, key=lambda r: int(r["Fold"]))]


def pooled_accuracy(report: Path, system: str) -> float | None:
    """``Overall Accuracy`` (all folds' test clips pooled) from ``summaryResults.csv``."""
    path = report / "summaryResults.csv"
    if not path.is_file():
        return None
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    job = _job([r["Job"] for r in rows], system)
    row = next((r for r in rows if r["Job"] == job), None)
    return float(row["Overall Accuracy"]) if row and row["Overall Accuracy"] else None


def spread(values: list[float]) -> dict:
    """Mean, sample std (ddof=1; 0 for one value), min and max of fold accuracies."""
    return {"mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "folds": values}


def task_info(task_dir: Path) -> dict:
    """Clips and clips per class of a task, from its ``all.txt`` (path<TAB>label)."""
    classes: dict[str, int] = {}
    path = task_dir / "all.txt"
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if "\t" in line:
                label = line.rsplit("\t", 1)[1].strip()
                classes[label] = classes.get(label, 0) + 1
    return {"clips": sum(classes.values()), "classes": classes}


def collect(eval_dir: Path, tasks, systems, runs: str = "runs") -> dict:
    """Every figure of the table, as a JSON-ready dict (``runs``: the run folder of
    each task, ``runs`` or ``runs-seed<N>`` for other fold seeds)."""
    out = {"eval_dir": str(eval_dir), "runs": runs,
           "accuracy": "fraction of test clips, per fold",
           "std": "sample standard deviation over folds (ddof=1)", "tasks": {}, "systems": {}}
    for task in tasks:
        entry = dict(task_info(eval_dir / task), results={})
        for system in systems:
            report = eval_dir / task / runs / system / "report"
            folds = fold_accuracies(report, system)
            if folds:
                entry["results"][system] = dict(spread(folds),
                                                pooled=pooled_accuracy(report, system))
        out["tasks"][task] = entry
    for system in systems:
        means = {t: e["results"][system]["mean"] for t, e in out["tasks"].items()
                 if system in e["results"]}
        out["systems"][system] = {
            "mean_over_tasks": statistics.fmean(means.values()) if means else None,
            "tasks": sorted(means), "complete": len(means) == len(tasks)}
    return out


def _cell(r: dict | None) -> str:
    if r is None:
        return "-"
    return f"{r['mean']:.3f} ± {r['std']:.3f} ({r['min']:.3f}-{r['max']:.3f})"


def markdown(table: dict) -> str:
    """The table: a row per system, a column per task, then the mean over tasks."""
    tasks = table["tasks"]
    n_tasks = len(tasks)
    head = ["System"] + [f"{TASK_TITLES.get(t, t)} ({e['clips']} clips, {len(e['classes'])} "
                         f"classes)" for t, e in tasks.items()] + ["Mean over tasks"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for system, s in table["systems"].items():
        cells = [_cell(e["results"].get(system)) for e in tasks.values()]
        mean = "-" if s["mean_over_tasks"] is None else f"{s['mean_over_tasks']:.3f}"
        if s["mean_over_tasks"] is not None and not s["complete"]:
            mean += f" ({len(s['tasks'])}/{n_tasks} tasks)"
        lines.append("| " + " | ".join([system] + cells + [mean]) + " |")
    folds = {len(r["folds"]) for e in tasks.values() for r in e["results"].values()}
    lines += ["", "Cells: mean accuracy over folds ± sample std (min-max over the "
              f"{'/'.join(map(str, sorted(folds))) or '?'} folds)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--eval", type=Path, default=Path("cache/eval"), help="EVAL_DIR of transfer.sh")
    p.add_argument("--tasks", default=",".join(DEFAULT_TASKS))
    p.add_argument("--systems", default=",".join(DEFAULT_SYSTEMS),
                   help="run folder names under EVAL/<task>/runs/, in table order")
    p.add_argument("--runs", default="runs",
                   help="run folder of each task: runs (fold seed 0) or runs-seed<N>")
    p.add_argument("--out", type=Path, default=None,
                   help="stem of the .md and .json written (default EVAL/transfer, "
                        "EVAL/transfer-seed<N> for --runs runs-seed<N>)")
    args = p.parse_args(argv)
    split = lambda s: [x for x in s.split(",") if x]  # noqa: E731
    table = collect(args.eval, split(args.tasks), split(args.systems), args.runs)
    text = markdown(table)
    stem = args.out or args.eval / ("transfer" + args.runs.removeprefix("runs"))
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".md").write_text(text)
    stem.with_suffix(".json").write_text(json.dumps(table, indent=2) + "\n")
    print(text, end="")
    return table


if __name__ == "__main__":
    main()
