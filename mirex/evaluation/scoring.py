"""Scoring of Train/Test classification output, as the MIREX organizers do it.

This reproduces the semantics of the NEMA evaluator used for the MIREX
Train/Test classification tasks.

Conventions
-----------
* **Files.**  A prediction (output) list and a ground-truth list have one line
  per track, ``path<TAB>label``, read in the tolerant mode of
  :mod:`mirex.lists` (BOM, CRLF, blank lines accepted; a line is split on its
  last tab, or on its last run of whitespace if it has no tab).
* **Tracks** are matched by :func:`track_key`: the file name, without the
  directory and the last extension, lower-cased (``/a/b/Song One.WAV`` ->
  ``song one``).  Both ``/`` and ``\\`` count as directory separators.
* **Labels** are compared after :func:`clean_label`: lower-cased, whitespace
  turned into ``_`` and then every character outside ``[a-z0-9]`` dropped, the
  ``_`` included (``"Hip-Hop"`` -> ``"hiphop"``, ``"Country / Western"`` ->
  ``"countrywestern"``).  The first raw spelling met in the ground truth is
  kept as the display name of a class.
* **Confusion matrices** have true labels on rows and predicted labels on
  columns, over ``labels``: the valid classes, sorted, then the pseudo-labels
  :data:`UNKNOWN` (a predicted label that is not a class) and :data:`MISSING`
  (no prediction for the track) when they occur; their rows are all zero.
* **Accuracy** of a fold is correct / tracks in the fold's ground truth.  For a
  valid submission (one prediction per test track) that is correct / returned
  predictions, the organizers' definition; for an invalid one, scored in
  lenient mode, missing and unusable predictions count as wrong.
* **Normalised accuracy** is the mean, over the classes present in the ground
  truth, of the per-class accuracy (recall).
* **Overall** figures pool the folds: their confusion matrices are summed and
  the same two measures are taken from the sum.
* **Submission errors** (a track without a prediction, two predictions for one
  track, a prediction for a track that is not in the test set, a label that is
  not a class) are collected as :class:`Problem` records.  In strict mode they
  raise :class:`SubmissionError`; in lenient mode they are reported and the
  affected tracks count as wrong (the first of duplicated predictions is the
  one scored; predictions for unknown tracks are ignored).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..lists import read_records

__all__ = [
    "MISSING",
    "UNKNOWN",
    "FoldScore",
    "Problem",
    "SubmissionError",
    "clean_label",
    "track_key",
    "read_prediction_file",
    "read_ground_truth",
    "score_fold",
    "score_folds",
]

#: Confusion column of test tracks that got no prediction.
MISSING = "<missing>"
#: Confusion column of predictions whose label is not a class.
UNKNOWN = "<unknown>"
_EXTRAS = (UNKNOWN, MISSING)

#: Kinds of :class:`Problem`.
PROBLEM_KINDS = ("missing", "duplicate", "unknown-label", "unknown-track")

_WHITESPACE = re.compile(r"\s")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")
_SEPARATORS = re.compile(r"[\\/]")


def clean_label(label: str) -> str:
    """Normalise a class label the way the evaluator does.

    Lower-case, replace every whitespace character by ``_``, then drop every
    character outside ``[a-z0-9]`` -- which drops the ``_`` too, and any
    non-ASCII letter.

    Parameters
    ----------
    label : str
        Raw label.

    Returns
    -------
    cleaned : str
        E.g. ``"Hip-Hop"`` -> ``"hiphop"``, ``"R&B"`` -> ``"rb"``,
        ``"Country / Western"`` -> ``"countrywestern"``.  May be empty.
    """
    if not isinstance(label, str):
        raise TypeError(f"label must be a str, got {type(label).__name__}: {label!r}")
    return _NOT_ALNUM.sub("", _WHITESPACE.sub("_", label.lower()))


def track_key(path: str) -> str:
    """Key by which a track is matched: lower-cased file name, no extension.

    Parameters
    ----------
    path : str
        Path of the audio file, with ``/`` or ``\\`` separators.

    Returns
    -------
    key : str
        The base name without its last extension, lower-cased:
        ``"/a/b/Song One.WAV"`` -> ``"song one"``, ``"x/a.b.mp3"`` -> ``"a.b"``.
    """
    if not isinstance(path, str):
        raise TypeError(f"path must be a str, got {type(path).__name__}: {path!r}")
    name = _SEPARATORS.split(path.strip())[-1]
    stem, _ = os.path.splitext(name)
    return stem.lower()


def read_prediction_file(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``(path, raw label)`` of every non-blank line of a submission's output list, in order.

    Read in the tolerant mode of :mod:`mirex.lists`; a line without a label
    gives an empty label, which :func:`score_fold` reports.
    """
    return [(left, right) for _, left, right in read_records(path)]


def read_ground_truth(path: str | os.PathLike) -> dict[str, str]:
    """Raw label of every path of a ground-truth ``path<TAB>label`` list, in file order.

    Read in the tolerant mode of :mod:`mirex.lists`. Raises ``ValueError``
    (a :class:`mirex.lists.ListError` if the file cannot be read) when a line
    has no label or a path is listed twice.
    """
    truth: dict[str, str] = {}
    for number, item, label in read_records(path):
        if not label:
            raise ValueError(f"{path}:{number}: no label after the path {item!r}")
        if item in truth:
            raise ValueError(f"{path}:{number}: {item!r} is listed twice")
        truth[item] = label
    return truth


@dataclass(frozen=True)
class Problem:
    """One error of a submission.

    Attributes
    ----------
    kind : str
        ``"missing"``, ``"duplicate"``, ``"unknown-label"`` or
        ``"unknown-track"``.
    track : str
        Track key (see :func:`track_key`).
    path : str
        The path as written in the prediction list (in the ground truth for
        ``"missing"``).
    label : str or None
        The raw predicted label, or None for ``"missing"``.
    message : str
        One readable sentence.
    line : int or None
        1-based position of the prediction in the list, or None.
    fold : int or None
        0-based fold index, when known.
    """

    kind: str
    track: str
    path: str
    label: str | None
    message: str
    line: int | None = None
    fold: int | None = None

    def __str__(self) -> str:
        where = f"fold {self.fold + 1}: " if self.fold is not None else ""
        return where + self.message


class SubmissionError(ValueError):
    """A prediction list breaks the rules; ``problems`` lists every breach."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        shown = "; ".join(str(p) for p in self.problems[:5])
        more = f"; and {len(self.problems) - 5} more" if len(self.problems) > 5 else ""
        super().__init__(f"{len(self.problems)} problem(s) in the predictions: {shown}{more}")


@dataclass(frozen=True, eq=False)
class FoldScore:
    """Scores of one fold (see the module docstring for the definitions).

    Attributes
    ----------
    accuracy : float
        Correct / tracks in the ground truth.
    normalised_accuracy : float
        Mean per-class accuracy over the classes in the ground truth.
    per_class : dict of str to float
        Accuracy (recall) of every class in the ground truth, by cleaned label.
    confusion : np.ndarray of int, shape (n_labels, n_labels)
        Rows true, columns predicted, in the order of ``labels``.
    labels : tuple of str
        Cleaned labels of the confusion rows/columns: valid classes sorted,
        then :data:`UNKNOWN` and :data:`MISSING` if used.
    display : dict of str to str
        Display name of every label (first raw spelling in the ground truth).
    n_tracks : int
        Tracks in the ground truth.
    n_returned : int
        Predictions in the list, problems included.
    n_correct : int
        Correctly labelled tracks.
    problems : tuple of Problem
        Errors of the submission; empty for a valid one.
    fold : int or None
        0-based fold index, when known.
    truth : dict of str to str
        Cleaned true label of every test track, by track key.
    """

    accuracy: float
    normalised_accuracy: float
    per_class: dict
    confusion: np.ndarray
    labels: tuple
    display: dict
    n_tracks: int
    n_returned: int
    n_correct: int
    problems: tuple = field(default_factory=tuple)
    fold: int | None = None
    truth: dict = field(default_factory=dict)

    @property
    def classes(self) -> tuple:
        """Cleaned labels present in the ground truth, sorted."""
        return tuple(self.per_class)

    @property
    def support(self) -> dict:
        """Number of ground-truth tracks of every class in ``per_class``."""
        rows = self.confusion.sum(axis=1)
        index = {label: i for i, label in enumerate(self.labels)}
        return {c: int(rows[index[c]]) for c in self.per_class}


def _measures(confusion: np.ndarray, labels: Sequence[str]):
    """Accuracy, normalised accuracy, per-class accuracy and correct count."""
    rows = confusion.sum(axis=1)
    diag = np.diag(confusion)
    total = int(rows.sum())
    per_class = {
        label: float(diag[i] / rows[i])
        for i, label in enumerate(labels)
        if rows[i] > 0 and label not in _EXTRAS
    }
    correct = int(diag.sum())
    accuracy = correct / total if total else float("nan")
    normalised = float(np.mean(list(per_class.values()))) if per_class else float("nan")
    return accuracy, normalised, per_class, correct, total


def _order(classes: Iterable[str], extras: Iterable[str]) -> tuple[str, ...]:
    extras = set(extras)
    return tuple(sorted(set(classes))) + tuple(e for e in _EXTRAS if e in extras)


def score_fold(
    ground_truth: Mapping[str, str],
    predictions: Sequence[tuple[str, str]],
    strict: bool = False,
    *,
    classes: Iterable[str] | None = None,
    fold: int | None = None,
) -> FoldScore:
    """Score one fold's prediction list against its ground truth.

    Parameters
    ----------
    ground_truth : mapping of str to str
        Raw label of every test track, by path.
    predictions : sequence of (str, str)
        ``(path, raw label)`` as returned by the submission, in list order
        (see :func:`read_prediction_file`).
    strict : bool, default False
        Raise :class:`SubmissionError` on any problem instead of recording it.
    classes : iterable of str, optional
        Every valid label of the task (e.g. all labels of all folds), raw or
        cleaned.  A predicted class that is valid but absent from this fold's
        ground truth is then simply wrong, not an unknown label.  Defaults to
        the labels of ``ground_truth``.
    fold : int, optional
        0-based fold index, recorded in the result and its problems.

    Returns
    -------
    score : FoldScore

    Raises
    ------
    ValueError
        If the ground truth is empty, has a label that cleans to nothing, or
        two paths with the same track key.
    SubmissionError
        In strict mode, if the predictions have any problem.
    """
    truth_items, predictions = _checked_inputs(ground_truth, predictions)
    truth, display = _truth_by_track(truth_items)
    valid = _valid_classes(truth, classes, display)
    predicted, problems = _match_predictions(predictions, truth, valid, fold)
    problems += _missing_problems(truth, predicted, fold)
    if strict and problems:
        raise SubmissionError(problems)

    labels, confusion = _confusion(truth, predicted, valid)
    accuracy, normalised, per_class, correct, total = _measures(confusion, labels)
    return FoldScore(
        accuracy=accuracy,
        normalised_accuracy=normalised,
        per_class=per_class,
        confusion=confusion,
        labels=labels,
        display={label: display.get(label, label) for label in labels},
        n_tracks=total,
        n_returned=len(predictions),
        n_correct=correct,
        problems=tuple(problems),
        fold=fold,
        truth={key: label for key, (_, label) in truth.items()},
    )


def _checked_inputs(ground_truth, predictions) -> tuple[list, list]:
    """``(ground-truth items, predictions)`` as lists; TypeError/ValueError on bad shapes."""
    if not isinstance(ground_truth, Mapping):
        raise TypeError(f"ground_truth must be a mapping of path to label, got {type(ground_truth).__name__}")
    truth_items = list(ground_truth.items())
    if not truth_items:
        raise ValueError("ground truth is empty: there is nothing to score")
    if isinstance(predictions, (str, bytes)) or isinstance(predictions, Mapping):
        raise TypeError("predictions must be a sequence of (path, label) pairs")
    predictions = list(predictions)
    for i, pair in enumerate(predictions, start=1):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise TypeError(f"prediction {i} is not a (path, label) pair: {pair!r}")
    return truth_items, predictions


def _truth_by_track(truth_items) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """``({track key: (path, cleaned label)}, {cleaned label: first raw spelling})``."""
    display: dict[str, str] = {}
    truth: dict[str, tuple[str, str]] = {}
    for path, raw in truth_items:
        cleaned = clean_label(raw)
        if not cleaned:
            raise ValueError(f"ground-truth label {raw!r} of {path!r} has no letter or digit left after cleaning")
        key = track_key(path)
        if key in truth:
            raise ValueError(
                f"ground truth is ambiguous: {truth[key][0]!r} and {path!r} are both track {key!r}"
            )
        truth[key] = (path, cleaned)
        display.setdefault(cleaned, raw)
    return truth, display


def _valid_classes(truth, classes, display: dict) -> set[str]:
    """Cleaned labels of the ground truth plus ``classes``; adds display names of the latter."""
    valid = {c for _, c in truth.values()}
    if classes is None:
        return valid
    if isinstance(classes, str):
        raise TypeError("classes must be an iterable of labels, not a single string")
    for raw in classes:
        cleaned = clean_label(raw)
        if cleaned:
            valid.add(cleaned)
            display.setdefault(cleaned, raw)
    return valid


def _match_predictions(predictions, truth, valid, fold) -> tuple[dict[str, str], list[Problem]]:
    """``({track key: cleaned predicted label or UNKNOWN}, problems)``; the first prediction counts."""
    problems: list[Problem] = []
    predicted: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for line, (path, raw) in enumerate(predictions, start=1):
        key = track_key(path)
        if key not in truth:
            problems.append(Problem(
                "unknown-track", key, path, raw,
                f"line {line}: {path!r} is not in the test set (track {key!r})", line, fold))
            continue
        if key in predicted:
            problems.append(Problem(
                "duplicate", key, path, raw,
                f"line {line}: second prediction for track {key!r} ({path!r}, {raw!r}); "
                f"line {first_line[key]} is the one scored", line, fold))
            continue
        first_line[key] = line
        cleaned = clean_label(raw)
        if cleaned not in valid:
            reason = "an empty label" if not raw.strip() else f"label {raw!r} is not a class"
            problems.append(Problem(
                "unknown-label", key, path, raw,
                f"line {line}: {path!r} has {reason}", line, fold))
            cleaned = UNKNOWN
        predicted[key] = cleaned
    return predicted, problems


def _missing_problems(truth, predicted, fold) -> list[Problem]:
    return [Problem("missing", key, path, None, f"no prediction for {path!r} (track {key!r})", None, fold)
            for key, (path, _) in truth.items() if key not in predicted]


def _confusion(truth, predicted, valid) -> tuple[tuple[str, ...], np.ndarray]:
    """``(labels, confusion)``: int64 ``(n_labels, n_labels)``, rows true, columns predicted."""
    extras = set(predicted.values()) & {UNKNOWN}
    if len(predicted) < len(truth):
        extras.add(MISSING)
    labels = _order(valid, extras)
    index = {label: i for i, label in enumerate(labels)}
    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for key, (_, true) in truth.items():
        confusion[index[true], index[predicted.get(key, MISSING)]] += 1
    return labels, confusion


def score_folds(scores: Sequence[FoldScore]) -> dict:
    """Pool the folds of one system into its overall scores.

    Parameters
    ----------
    scores : sequence of FoldScore
        One per fold, in fold order.

    Returns
    -------
    overall : dict
        ``confusion`` (summed matrix over ``labels``), ``labels``,
        ``display``, ``accuracy`` ("Overall Accuracy": pooled diagonal /
        total), ``normalised_accuracy`` ("Normalised Overall Accuracy": mean
        per-class accuracy of the pooled matrix), ``per_class``, ``n_tracks``,
        ``n_correct``, ``n_folds``, and ``problems`` (every fold's, with its
        0-based fold index filled in).
    """
    if isinstance(scores, FoldScore):
        raise TypeError("score_folds takes a sequence of FoldScore, not a single one")
    scores = list(scores)
    if not scores:
        raise ValueError("no folds to pool")
    for i, s in enumerate(scores):
        if not isinstance(s, FoldScore):
            raise TypeError(f"fold {i + 1} is a {type(s).__name__}, not a FoldScore")

    classes = [c for s in scores for c in s.labels if c not in _EXTRAS]
    extras = [c for s in scores for c in s.labels if c in _EXTRAS]
    labels = _order(classes, extras)
    index = {label: i for i, label in enumerate(labels)}
    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    display: dict[str, str] = {}
    problems: list[Problem] = []
    for k, s in enumerate(scores):
        where = np.array([index[label] for label in s.labels])
        confusion[np.ix_(where, where)] += s.confusion
        for label in s.labels:
            display.setdefault(label, s.display.get(label, label))
        problems.extend(p if p.fold is not None else dataclasses.replace(p, fold=k) for p in s.problems)
    accuracy, normalised, per_class, correct, total = _measures(confusion, labels)
    return {
        "accuracy": accuracy,
        "normalised_accuracy": normalised,
        "per_class": per_class,
        "confusion": confusion,
        "labels": labels,
        "display": display,
        "n_tracks": total,
        "n_correct": correct,
        "n_folds": len(scores),
        "problems": problems,
    }
