"""Result files and report of a MIREX Train/Test classification evaluation.

Conventions
-----------
* ``results`` maps a system ("job") name to its list of
  :class:`~mirex.evaluation.scoring.FoldScore`, one per fold, in fold order.
  Every system must have been scored on the same folds (same number of folds,
  same ground truth); systems appear in the order of the mapping.
* Accuracies are fractions in ``[0, 1]``, written with 4 decimals.  Folds are
  numbered from 1 in every file.
* The organizers' files keep their names and columns: ``summaryResults.csv``
  (Job, Overall Accuracy, Normalised Overall Accuracy), ``PerClassResults.csv``
  (Class, then one column per system) and ``PerFoldResults.csv`` (Fold,
  Measure -- accuracy and normalised accuracy -- then one column per system).
* Significance (see :mod:`~mirex.evaluation.significance`) is tested on the
  per-fold accuracy table (rows = folds) and the per-class accuracy table of
  the pooled folds (rows = classes).
* Confusion matrices are drawn by :mod:`~mirex.evaluation.figures`.
* Every file is written atomically; ``index.html`` is self-contained (inline
  CSS, images as ``data:image/png;base64`` URIs, no external resource).
"""

from __future__ import annotations

import base64
import csv
import datetime
import html
import io
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..fileio import atomic_write_bytes, atomic_write_text
from .figures import plot_confusion
from .scoring import FoldScore, score_folds
from .significance import describe, friedman_tukey

__all__ = ["write_report", "format_summary", "plot_confusion"]

_PROBLEMS_SHOWN = 50
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


# --------------------------------------------------------------------------- checks


def _check_results(results: Mapping[str, Sequence[FoldScore]]) -> dict[str, list[FoldScore]]:
    if not isinstance(results, Mapping):
        raise TypeError(f"results must map system names to lists of FoldScore, got {type(results).__name__}")
    if not results:
        raise ValueError("results is empty: there is no system to report")
    checked: dict[str, list[FoldScore]] = {}
    for name, folds in results.items():
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"system names must be non-empty strings, got {name!r}")
        if isinstance(folds, FoldScore):
            raise TypeError(f"system {name!r}: give a list of FoldScore (one per fold), not a single one")
        folds = list(folds)
        if not folds:
            raise ValueError(f"system {name!r} has no folds")
        for k, fold in enumerate(folds, start=1):
            if not isinstance(fold, FoldScore):
                raise TypeError(f"system {name!r}, fold {k}: expected a FoldScore, got {type(fold).__name__}")
        checked[name] = folds
    names = list(checked)
    first = names[0]
    for name in names[1:]:
        if len(checked[name]) != len(checked[first]):
            raise ValueError(
                f"system {name!r} has {len(checked[name])} folds but {first!r} has {len(checked[first])}"
            )
        for k, (a, b) in enumerate(zip(checked[first], checked[name]), start=1):
            if a.truth != b.truth or a.support != b.support:
                raise ValueError(
                    f"fold {k}: systems {first!r} and {name!r} were scored on different ground truth"
                )
    return checked


def _safe_names(names: Sequence[str]) -> dict[str, str]:
    """File-name-safe, unique stem for every system name."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "system"
        stem, i = base, 2
        while stem.lower() in used:
            stem, i = f"{base}_{i}", i + 1
        used.add(stem.lower())
        out[name] = stem
    return out


# --------------------------------------------------------------------------- tables


def _tables(results: dict[str, list[FoldScore]], alpha: float) -> dict:
    """Everything the files are made of, computed once."""
    names = list(results)
    overall = {name: score_folds(folds) for name, folds in results.items()}
    n_folds = len(results[names[0]])
    fold_acc = np.array([[results[n][k].accuracy for n in names] for k in range(n_folds)])
    fold_norm = np.array([[results[n][k].normalised_accuracy for n in names] for k in range(n_folds)])
    reference = overall[names[0]]
    classes = list(reference["per_class"])
    display = {c: reference["display"].get(c, c) for c in classes}
    support = {}
    rows = reference["confusion"].sum(axis=1)
    for i, label in enumerate(reference["labels"]):
        if label in display:
            support[label] = int(rows[i])
    class_acc = np.array([[overall[n]["per_class"][c] for n in names] for c in classes]).reshape(
        len(classes), len(names)
    )
    return {
        "names": names,
        "overall": overall,
        "n_folds": n_folds,
        "fold_acc": fold_acc,
        "fold_norm": fold_norm,
        "classes": classes,
        "display": display,
        "support": support,
        "class_acc": class_acc,
        "sig_fold": friedman_tukey(fold_acc, names, alpha),
        "sig_class": friedman_tukey(class_acc, names, alpha),
    }


def _best(values: Sequence[float]) -> set[int]:
    values = np.asarray(values, dtype=float)
    if values.size == 0 or np.all(np.isnan(values)):
        return set()
    top = np.nanmax(values)
    return {i for i, v in enumerate(values) if np.isclose(v, top, rtol=0, atol=1e-12)}


def _f(x: float | None) -> str:
    return "" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.4f}"


def _csv(rows: Sequence[Sequence]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue()


def format_summary(results: Mapping[str, Sequence[FoldScore]]) -> str:
    """Plain-text summary table for the terminal.

    Parameters
    ----------
    results : mapping of str to sequence of FoldScore
        System name -> its fold scores, as for :func:`write_report`.

    Returns
    -------
    text : str
        One line per system: overall accuracy, normalised overall accuracy,
        accuracy of every fold and the number of submission problems; the
        best overall accuracy is marked with ``*``.
    """
    checked = _check_results(results)
    names = list(checked)
    overall = {n: score_folds(f) for n, f in checked.items()}
    n_folds = len(checked[names[0]])
    header = ["Job", "Overall Acc.", "Norm. Overall Acc."] + [f"Fold {k}" for k in range(1, n_folds + 1)]
    header.append("Problems")
    best = _best([overall[n]["accuracy"] for n in names])
    rows = []
    for i, n in enumerate(names):
        mark = "*" if i in best else " "
        rows.append(
            [f"{mark}{n}", _f(overall[n]["accuracy"]), _f(overall[n]["normalised_accuracy"])]
            + [_f(s.accuracy) for s in checked[n]]
            + [str(len(overall[n]["problems"]))]
        )
    header[0] = " " + header[0]
    widths = [max(len(r[j]) for r in [header, *rows]) for j in range(len(header))]

    def line(cells):
        return "  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(cells, widths)))

    out = [line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]
    out.append("* best overall accuracy")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- text report


def _system_report(name: str, folds: list[FoldScore], overall: dict) -> str:
    lines = [f"MIREX Train/Test classification report: {name}", "=" * 60, ""]
    lines.append(f"Overall Accuracy:            {_f(overall['accuracy'])}")
    lines.append(f"Normalised Overall Accuracy: {_f(overall['normalised_accuracy'])}")
    lines.append(f"Tracks: {overall['n_tracks']} in {overall['n_folds']} fold(s); "
                 f"correct: {overall['n_correct']}")
    lines += ["", "Per fold", "--------", f"{'Fold':>4}  {'Tracks':>6}  {'Returned':>8}  "
              f"{'Accuracy':>8}  {'Normalised':>10}  Problems"]
    for k, s in enumerate(folds, start=1):
        lines.append(f"{k:>4}  {s.n_tracks:>6}  {s.n_returned:>8}  {_f(s.accuracy):>8}  "
                     f"{_f(s.normalised_accuracy):>10}  {len(s.problems)}")
    lines += ["", "Per class (pooled folds)", "------------------------"]
    rows = overall["confusion"].sum(axis=1)
    index = {label: i for i, label in enumerate(overall["labels"])}
    width = max([len("Class")] + [len(overall["display"].get(c, c)) for c in overall["per_class"]])
    lines.append(f"{'Class':<{width}}  {'Tracks':>6}  {'Accuracy':>8}")
    for c, acc in overall["per_class"].items():
        lines.append(f"{overall['display'].get(c, c):<{width}}  {int(rows[index[c]]):>6}  {_f(acc):>8}")
    lines += ["", "Submission problems", "-------------------"]
    if overall["problems"]:
        lines += [str(p) for p in overall["problems"]]
    else:
        lines.append("None: one valid prediction for every test track in every fold.")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;
color:#222;padding:0 1em;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #ccd;padding-bottom:.2em;margin-top:1.6em}
.meta{color:#666;margin-top:0}
table{border-collapse:collapse;margin:.6em 0 1em}th,td{border:1px solid #ccd;padding:.3em .7em}
th{background:#eef0f6;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.best td{background:#fff4c2;font-weight:bold}td.top{font-weight:bold;color:#0b5394}
ul.sig li.yes{color:#0b5394}ul.sig li.no{color:#555}
.ok{color:#2e7d32}.bad{color:#b71c1c}
figure{display:inline-block;margin:.5em 1em 1em 0;vertical-align:top}
figure img{max-width:100%;border:1px solid #dde}figcaption{font-size:.9em;color:#555}
details{margin:.4em 0}summary{cursor:pointer;font-weight:bold}
"""


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], row_classes=None, cell_classes=None) -> str:
    out = ["<table>", "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>"]
    for i, row in enumerate(rows):
        attr = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = []
        for j, cell in enumerate(row):
            classes = []
            if j > 0 and _NUMBER.match(str(cell)):
                classes.append("num")
            if cell_classes and (i, j) in cell_classes:
                classes.append(cell_classes[(i, j)])
            cls = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{cls}>{_e(cell)}</td>")
        out.append(f"<tr{attr}>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _sig_html(result: dict, measure: str) -> str:
    lines = describe(result, measure)
    items = []
    for line in lines:
        cls = "yes" if "significantly better" in line else "no"
        items.append(f'<li class="{cls}">{_e(line)}</li>')
    out = [f'<ul class="sig">{"".join(items)}</ul>']
    if not result["skipped"]:
        names = result["names"]
        ranks = [result["mean_ranks"][n] for n in names]
        out.append(_table(["System", "Mean rank (higher is better)"], [[n, f"{r:.3f}"] for n, r in zip(names, ranks)]))
        rows = [[c["a"], c["b"], f"{c['difference']:+.3f}", f"{c['lower']:+.3f}", f"{c['upper']:+.3f}",
                 "yes" if c["significant"] else "no"] for c in result["comparisons"]]
        out.append(
            "<details><summary>Pairwise Tukey-Kramer comparisons</summary>"
            + _table(["System A", "System B", "Rank difference", "Lower", "Upper", "Significant"], rows)
            + "</details>"
        )
    return "\n".join(out)


def _html(t: dict, images: dict, title: str, alpha: float) -> str:
    """The self-contained HTML report; ``images[system][key]`` are PNG bytes."""
    sections = [_html_head(t, title), _summary_html(t), _significance_html(t, alpha),
                _per_fold_html(t), _per_class_html(t), _problems_html(t), _confusion_html(t, images)]
    return "\n".join([*sections, "</body></html>"]) + "\n"


def _html_head(t: dict, title: str) -> str:
    names, overall = t["names"], t["overall"]
    n_tracks = overall[names[0]]["n_tracks"]
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">{len(names)} system(s), {t["n_folds"]} fold(s), {n_tracks} test tracks, '
        f"{len(t['classes'])} classes. Generated {_e(stamp)}.</p>",
    ])


def _overall_columns(t: dict) -> tuple[list[float], list[float]]:
    """Overall accuracy and normalised accuracy of every system, in system order."""
    overall = t["overall"]
    return ([overall[n]["accuracy"] for n in t["names"]],
            [overall[n]["normalised_accuracy"] for n in t["names"]])


def _summary_html(t: dict) -> str:
    names, overall = t["names"], t["overall"]
    acc, norm = _overall_columns(t)
    best = _best(acc)
    best_norm = _best(norm)
    rows, row_classes, cells = [], [], {}
    for i, n in enumerate(names):
        rows.append([n, _f(acc[i]), _f(norm[i]), str(len(overall[n]["problems"]))])
        row_classes.append("best" if i in best else "")
        if i in best_norm:
            cells[(i, 2)] = "top"
    winners = ", ".join(names[i] for i in sorted(best))
    return "\n".join([
        "<h2>Summary</h2>",
        f"<p>Best overall accuracy: <strong>{_e(winners)}</strong> (highlighted). "
        "Normalised accuracy is the mean of the per-class accuracies.</p>",
        _table(["Job", "Overall Accuracy", "Normalised Overall Accuracy", "Problems"], rows, row_classes, cells),
    ])


def _significance_html(t: dict, alpha: float) -> str:
    return "\n".join([
        "<h2>Significance</h2>",
        f"<p>Friedman's test, then Tukey-Kramer comparison of mean ranks (alpha = {alpha:g}).</p>",
        "<h3>Per-fold accuracy</h3>", _sig_html(t["sig_fold"], "per-fold accuracy"),
        "<h3>Per-class accuracy</h3>", _sig_html(t["sig_class"], "per-class accuracy"),
    ])


def _per_fold_html(t: dict) -> str:
    names = t["names"]
    header = ["Fold"] + [f"{n} accuracy" for n in names] + [f"{n} normalised" for n in names]
    rows, cells = [], {}
    for k in range(t["n_folds"]):
        rows.append([str(k + 1)] + [_f(v) for v in t["fold_acc"][k]] + [_f(v) for v in t["fold_norm"][k]])
        for j in _best(t["fold_acc"][k]):
            cells[(k, 1 + j)] = "top"
        for j in _best(t["fold_norm"][k]):
            cells[(k, 1 + len(names) + j)] = "top"
    acc, norm = _overall_columns(t)
    rows.append(["Overall"] + [_f(v) for v in acc] + [_f(v) for v in norm])
    return "\n".join(["<h2>Per-fold results</h2>", _table(header, rows, None, cells)])


def _per_class_html(t: dict) -> str:
    rows, cells = [], {}
    for i, c in enumerate(t["classes"]):
        rows.append([t["display"][c], str(t["support"].get(c, ""))] + [_f(v) for v in t["class_acc"][i]])
        for j in _best(t["class_acc"][i]):
            cells[(i, 2 + j)] = "top"
    return "\n".join(["<h2>Per-class results (pooled folds)</h2>",
                      _table(["Class", "Tracks"] + t["names"], rows, None, cells)])


def _problems_html(t: dict) -> str:
    names, overall = t["names"], t["overall"]
    parts = ["<h2>Submission problems</h2>"]
    total = sum(len(overall[n]["problems"]) for n in names)
    if not total:
        parts.append('<p class="ok">None: every system returned one valid prediction for every test track.</p>')
        return "\n".join(parts)
    parts.append(f'<p class="bad">{total} problem(s). Test tracks without a usable prediction are '
                 "counted as wrong; predictions for unknown tracks and repeated predictions are ignored. "
                 "Full list in Problems.csv.</p>")
    for n in names:
        problems = overall[n]["problems"]
        if not problems:
            continue
        items = "".join(f"<li>{_e(p)}</li>" for p in problems[:_PROBLEMS_SHOWN])
        more = (f"<li>... and {len(problems) - _PROBLEMS_SHOWN} more</li>"
                if len(problems) > _PROBLEMS_SHOWN else "")
        parts.append(f"<h3>{_e(n)}: {len(problems)} problem(s)</h3><ul>{items}{more}</ul>")
    return "\n".join(parts)


def _confusion_html(t: dict, images: dict) -> str:
    parts = ["<h2>Confusion matrices</h2>"]
    for n in t["names"]:
        parts.append(f"<h3>{_e(n)}</h3>")
        for key, caption in _figure_keys(t["n_folds"]):
            data = base64.b64encode(images[n][key]).decode("ascii")
            parts.append(
                f'<figure><img alt="{_e(n)} confusion matrix, {_e(caption)}" '
                f'src="data:image/png;base64,{data}"><figcaption>{_e(caption)}</figcaption></figure>'
            )
    return "\n".join(parts)


def _figure_keys(n_folds: int) -> list[tuple[str, str]]:
    """``(key, caption)`` of every confusion figure of a system: overall, then each fold."""
    return [("overall", "All folds")] + [(f"fold{k}", f"Fold {k}") for k in range(1, n_folds + 1)]


# --------------------------------------------------------------------------- entry point


def write_report(
    out_dir: str | os.PathLike,
    results: Mapping[str, Sequence[FoldScore]],
    *,
    alpha: float = 0.05,
    title: str = "MIREX Train/Test classification results",
) -> dict:
    """Write the organizers' result files, figures and an HTML report.

    Parameters
    ----------
    out_dir : str or path-like
        Destination directory, created if missing.
    results : mapping of str to sequence of FoldScore
        System name -> its fold scores, in fold order.
    alpha : float, default 0.05
        Significance level of the Friedman / Tukey-Kramer tests.
    title : str, optional
        Title of the HTML report.

    Returns
    -------
    paths : dict
        ``summary``, ``per_class``, ``per_fold``, ``friedman``,
        ``significance_per_fold``, ``significance_per_class``, ``problems``,
        ``html`` (each a :class:`pathlib.Path`); ``reports`` (system ->
        text report) and ``confusion`` (system -> {``"overall"``,
        ``"fold1"``, ...} -> PNG).

    Raises
    ------
    ValueError
        If ``results`` is empty or the systems were not scored on the same
        folds.
    """
    checked = _check_results(results)
    t = _tables(checked, alpha)
    out = Path(out_dir)
    (out / "confusion").mkdir(parents=True, exist_ok=True)
    (out / "reports").mkdir(parents=True, exist_ok=True)
    paths: dict = {key: atomic_write_text(out / name, text) for key, (name, text) in _csv_files(t).items()}
    stems = _safe_names(t["names"])
    images: dict = {}
    paths["confusion"] = {}
    paths["reports"] = {}
    for n in t["names"]:
        images[n] = _confusion_images(n, checked[n], t["overall"][n])
        paths["confusion"][n] = {key: atomic_write_bytes(out / "confusion" / f"{stems[n]}_{key}.png", png)
                                 for key, png in images[n].items()}
        paths["reports"][n] = atomic_write_text(
            out / "reports" / f"{stems[n]}.txt", _system_report(n, checked[n], t["overall"][n]))
    paths["html"] = atomic_write_text(out / "index.html", _html(t, images, title, alpha))
    return paths


def _csv_files(t: dict) -> dict[str, tuple[str, str]]:
    """``{paths key: (file name, CSV text)}`` of the tables, in the order they are written."""
    names, overall = t["names"], t["overall"]
    fold_rows = [["Fold", "Measure"] + names]
    for k in range(t["n_folds"]):
        fold_rows.append([k + 1, "Accuracy"] + [_f(v) for v in t["fold_acc"][k]])
        fold_rows.append([k + 1, "Normalised Accuracy"] + [_f(v) for v in t["fold_norm"][k]])
    files = {
        "summary": ("summaryResults.csv", _csv(
            [["Job", "Overall Accuracy", "Normalised Overall Accuracy"]]
            + [[n, _f(overall[n]["accuracy"]), _f(overall[n]["normalised_accuracy"])] for n in names])),
        "per_class": ("PerClassResults.csv", _csv(
            [["Class"] + names]
            + [[t["display"][c]] + [_f(v) for v in t["class_acc"][i]] for i, c in enumerate(t["classes"])])),
        "per_fold": ("PerFoldResults.csv", _csv(fold_rows)),
    }
    files.update(_significance_files(t))
    files["problems"] = ("Problems.csv", _problems_csv(t))
    return files


def _significance_files(t: dict) -> dict[str, tuple[str, str]]:
    """The two Tukey-Kramer comparison tables, then ``FriedmanTests.csv``."""
    tests = [["Table", "Systems", "Rows", "Chi-square", "df", "p-value", "Alpha", "Half-width", "Note"]]
    files = {}
    for label, key, suffix, result in [
            ("per-fold accuracy", "significance_per_fold", "PerFold", t["sig_fold"]),
            ("per-class accuracy", "significance_per_class", "PerClass", t["sig_class"])]:
        tests.append([label, result["n_systems"], result["n_blocks"], _f(result["statistic"]),
                      "" if result["df"] is None else result["df"], _f(result["pvalue"]), result["alpha"],
                      _f(result["half_width"]), result["note"] or ""])
        rows = [["System A", "System B", "Mean rank A", "Mean rank B", "Difference", "Lower", "Upper",
                 "Significant"]]
        for c in result["comparisons"]:
            rows.append([c["a"], c["b"], _f(result["mean_ranks"][c["a"]]), _f(result["mean_ranks"][c["b"]]),
                         _f(c["difference"]), _f(c["lower"]), _f(c["upper"]), int(c["significant"])])
        files[key] = (f"FriedmanTukey_{suffix}.csv", _csv(rows))
    files["friedman"] = ("FriedmanTests.csv", _csv(tests))
    return files


def _problems_csv(t: dict) -> str:
    rows = [["Job", "Fold", "Kind", "Track", "Path", "Label", "Line", "Message"]]
    for n in t["names"]:
        for p in t["overall"][n]["problems"]:
            rows.append([n, "" if p.fold is None else p.fold + 1, p.kind, p.track, p.path,
                         "" if p.label is None else p.label, "" if p.line is None else p.line, p.message])
    return _csv(rows)


def _confusion_images(name: str, folds: list[FoldScore], overall: dict) -> dict[str, bytes]:
    """PNG of every confusion figure of one system, by key (see :func:`_figure_keys`)."""
    matrices = [(overall["confusion"], overall["labels"], overall["display"],
                 f"{name}: all folds (accuracy {_f(overall['accuracy'])})")]
    matrices += [(s.confusion, s.labels, s.display, f"{name}: fold {k} (accuracy {_f(s.accuracy)})")
                 for k, s in enumerate(folds, start=1)]
    return {key: plot_confusion(*matrix)
            for (key, _), matrix in zip(_figure_keys(len(folds)), matrices)}
