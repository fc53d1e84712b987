"""The results of several submissions on several tasks: one CSV and one HTML page.

Conventions
-----------
* A **row** is one submission on one task: ``task``, ``submission``,
  ``status`` (``ok``, ``partial``, ``failed``, ``timeout``), ``reason``, ``log``
  (the log of the step that says why), ``scores`` (its FoldScore list, or None
  when it could not be scored) and the figures of its steps: ``extract_s``,
  ``train_s``, ``classify_s`` (wall seconds, summed over folds; a
  TrainAndClassify.sh step counts as training), ``cpu_s``, ``peak_rss_mb``,
  ``steps_run``, ``steps_resumed``.
* Accuracies are the organizers' pooled "Overall Accuracy" and "Normalised
  Overall Accuracy" (:func:`~mirex.evaluation.scoring.score_folds`).
* **Backbone view**: when LPNKK1, LPNKK2 and LPNKK3 were scored on a task, the
  better single backbone, LPNKK3's gain over it, and the Tukey-Kramer verdicts
  of the Friedman test on the per-fold accuracies of every submission scored
  on the task (the test of the task's own report).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..fileio import atomic_write_text
from .report import _CSS, _e, _table
from .scoring import score_folds
from .significance import friedman_tukey

__all__ = ["COLUMNS", "overview_rows", "backbone_view", "write_overview"]

#: Columns of overview.csv.
COLUMNS = ("task", "submission", "status", "overall_accuracy", "normalised_accuracy",
           "extract_s", "train_s", "classify_s", "cpu_s", "peak_rss_mb",
           "steps_run", "steps_resumed", "reason", "log")
#: Lines of a failed step's log shown on the page.
LOG_TAIL = 15
_TRIO = ("LPNKK1", "LPNKK2", "LPNKK3")


def _cell(value) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def overview_rows(rows) -> list[dict]:
    """The rows with their accuracies filled in and only :data:`COLUMNS` kept."""
    out = []
    for row in rows:
        overall = score_folds(row["scores"]) if row.get("scores") else {}
        full = {**row, "overall_accuracy": overall.get("accuracy"),
                "normalised_accuracy": overall.get("normalised_accuracy")}
        out.append({c: full.get(c) for c in COLUMNS})
    return out


def backbone_view(scored: dict, alpha: float = 0.05) -> list[dict]:
    """Per task with the three systems scored: the winner, LPNKK3's gain, significance.

    ``scored`` maps task -> submission -> FoldScore list. Returns one dict per
    task: ``task``, ``accuracy`` (system -> overall accuracy), ``winner`` (the
    better of LPNKK1/LPNKK2), ``gain`` (LPNKK3 minus the winner),
    ``backbones_differ`` and ``gain_significant`` (bool, or None when the test
    was skipped), ``note``.
    """
    view = []
    for task, results in scored.items():
        if not all(name in results for name in _TRIO):
            continue
        acc = {name: score_folds(results[name])["accuracy"] for name in _TRIO}
        winner = "LPNKK1" if acc["LPNKK1"] >= acc["LPNKK2"] else "LPNKK2"
        names = list(results)
        n_folds = len(results[names[0]])
        table = [[results[n][k].accuracy for n in names] for k in range(n_folds)]
        test = friedman_tukey(table, names, alpha)
        verdict = {frozenset((c["a"], c["b"])): c["significant"] for c in test["comparisons"]}
        view.append({
            "task": task, "accuracy": acc, "winner": winner,
            "gain": acc["LPNKK3"] - acc[winner],
            "backbones_differ": verdict.get(frozenset(("LPNKK1", "LPNKK2"))),
            "gain_significant": verdict.get(frozenset(("LPNKK3", winner))),
            "note": test["note"] or (f"Friedman p = {test['pvalue']:.3g} over {len(names)} "
                                     f"submissions and {n_folds} folds"),
        })
    return view


def _csv_text(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows([[_cell(row[c]) for c in COLUMNS] for row in rows])
    return buffer.getvalue()


def _grid_html(rows: list[dict], scored: dict) -> str:
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    subs = list(dict.fromkeys(r["submission"] for r in rows))
    by = {(r["task"], r["submission"]): r for r in rows}
    links = [f'<a href="{_e(task)}/report/index.html">{_e(task)}</a>' if scored.get(task)
             else _e(task) for task in tasks]
    head = "<tr><th>Submission</th>" + "".join(f"<th>{link}</th>" for link in links) + "</tr>"
    body = []
    for sub in subs:
        cells = []
        for task in tasks:
            r = by.get((task, sub))
            if r is None:
                cells.append("<td></td>")
            elif r["overall_accuracy"] is None:
                cells.append(f'<td class="bad">{_e(r["status"])}</td>')
            else:
                flag = "" if r["status"] == "ok" else f' <span class="bad">({_e(r["status"])})</span>'
                cells.append(f'<td class="num">{r["overall_accuracy"]:.4f} / '
                             f'{r["normalised_accuracy"]:.4f}{flag}</td>')
        body.append(f"<tr><td>{_e(sub)}</td>{''.join(cells)}</tr>")
    return ("<h2>Overall accuracy / normalised accuracy</h2>\n<table>" + head + "".join(body)
            + "</table>")


def _figures_html(rows: list[dict]) -> str:
    header = ["Task", "Submission", "Status", "Extract (s)", "Train (s)", "Classify (s)",
              "CPU (s)", "Peak RSS (MB)", "Steps run / resumed"]
    table = [[r["task"], r["submission"], r["status"], _cell(r["extract_s"]), _cell(r["train_s"]),
              _cell(r["classify_s"]), _cell(r["cpu_s"]), _cell(r["peak_rss_mb"]),
              f"{r['steps_run']} / {r['steps_resumed']}"] for r in rows]
    return "<h2>Run times and memory</h2>\n" + _table(header, table)


def _tail(path: str, n: int = LOG_TAIL) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - 16384))
            text = handle.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(log unreadable: {exc})"
    return "\n".join(text.splitlines()[-n:])


def _failures_html(rows: list[dict]) -> str:
    bad = [r for r in rows if r["status"] != "ok"]
    if not bad:
        return "<h2>Failures</h2>\n<p class=\"ok\">Every submission ran and wrote valid output.</p>"
    items = [f"<details><summary>{_e(r['task'])} / {_e(r['submission'])}: {_e(r['status'])}"
             f" &mdash; {_e(r['reason'])}</summary><p>Log: <code>{_e(r['log'])}</code></p>"
             f"<pre>{_e(_tail(r['log']) if r['log'] else '')}</pre></details>" for r in bad]
    return "<h2>Failures</h2>\n" + "\n".join(items)


def _verdict(value) -> str:
    return "not tested" if value is None else ("significant" if value else "not significant")


def _backbones_html(view: list[dict], backbones: dict) -> str:
    if not view:
        return ""
    header = ["Task", "LPNKK1", "LPNKK2", "LPNKK3", "Better backbone", "Backbones differ?",
              "LPNKK3 gain", "Gain significant?", "Test"]
    rows = [[v["task"], *(f"{v['accuracy'][n]:.4f}" for n in _TRIO),
             f"{v['winner']} ({backbones.get(v['winner'], '?')})", _verdict(v["backbones_differ"]),
             f"{v['gain']:+.4f}", _verdict(v["gain_significant"]), v["note"]] for v in view]
    return ("<h2>Which backbone wins, and does combining them help?</h2>\n<p>Overall accuracy; "
            "significance by Friedman's test and Tukey-Kramer comparisons (alpha 0.05) on the "
            "per-fold accuracies of every submission scored on the task, as in its report.</p>\n"
            + _table(header, rows))


def write_overview(out_dir, rows, scored: dict, backbones: dict | None = None) -> dict:
    """Write ``overview.csv`` and the self-contained ``index.html``; their paths.

    ``rows`` as in the module docstring; ``scored``: task -> submission ->
    FoldScore list (for the backbone view); ``backbones``: system -> the name
    of its backbone, shown in the view.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = overview_rows(rows)
    page = "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>MIREX evaluation</title><style>{_CSS}</style></head><body>",
        "<h1>MIREX Train/Test evaluation</h1>",
        f'<p class="meta">{len({r["task"] for r in table})} task(s), '
        f'{len({r["submission"] for r in table})} submission(s); '
        'per-task reports (significance, per-class and per-fold tables, confusion matrices) '
        'behind the task names; figures in <a href="overview.csv">overview.csv</a>.</p>',
        _grid_html(table, scored), _backbones_html(backbone_view(scored), backbones or {}),
        _figures_html(table), _failures_html(table), "</body></html>"])
    return {"overview": atomic_write_text(out_dir / "overview.csv", _csv_text(table)),
            "html": atomic_write_text(out_dir / "index.html", page + "\n")}
