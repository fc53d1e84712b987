"""Cross-validation folds for a MIREX Train/Test task.

Conventions
-----------
* A fold assignment is a 1-D integer array with one entry per item, the index
  (``0 .. n_folds - 1``) of the fold whose *test* set holds the item.  For fold
  ``k`` the training set is every item not in fold ``k``.
* Folds are stratified by label: each fold gets about ``1 / n_folds`` of every
  class.  Labels are compared exactly as given (clean them first with
  :func:`mirex.evaluation.scoring.clean_label` if spellings vary).
* With ``groups`` (the "artist filter"), all items of one group land in the same
  fold, so no artist is both trained and tested on.  Stratification is then
  approximate (it is done by whole groups).  A group of ``None`` means that the
  item is a group of its own.
* The assignment depends only on the inputs and ``seed``.
* File names are 1-based (``fold1_train.txt`` ...), array values 0-based.
* List files are UTF-8, one record per line, ``path<TAB>label`` (training
  lists and ground truth) or ``path`` alone (test lists), in input order.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from ..lists import check_field, read_records, write_labelled, write_paths

__all__ = ["make_folds", "fold_lists", "write_fold_lists", "read_groups"]

#: Extra deterministic attempts when a group split leaves a fold empty.
_RETRIES = 20


def _as_list(values, what: str) -> list:
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{what} must be a sequence of items, not a single string")
    return list(values)


def make_folds(
    labels: Sequence[Hashable],
    groups: Sequence[Hashable | None] | None = None,
    n_folds: int = 3,
    seed: int = 0,
) -> np.ndarray:
    """Assign every item to a test fold, stratified by label.

    Parameters
    ----------
    labels : sequence of hashable
        Class label of every item.
    groups : sequence of hashable or None, optional
        Group (artist) of every item; items of one group are never split
        across folds.  ``None`` entries are groups of their own.  Without
        ``groups`` every item is its own group.
    n_folds : int, default 3
        Number of folds, at least 2.
    seed : int, default 0
        Seed of the shuffle; the same inputs and seed give the same folds.

    Returns
    -------
    folds : np.ndarray of int, shape (n_items,)
        Fold index (``0 .. n_folds - 1``) of every item.  Every fold is
        non-empty.

    Raises
    ------
    ValueError
        If there are fewer items (or groups) than folds, if ``groups`` does
        not match ``labels`` in length, or if no assignment leaves every fold
        non-empty.

    Warns
    -----
    UserWarning
        If a class has fewer items (or groups) than there are folds, so some
        folds cannot hold it.
    """
    labels = _as_list(labels, "labels")
    _check_fold_arguments(labels, n_folds, seed)
    n = len(labels)
    codes: dict = {}
    y = np.array([codes.setdefault(label, len(codes)) for label in labels], dtype=np.int64)
    if groups is None:
        group_ids, unit, member_count = None, "items", Counter(labels)
    else:
        group_ids = _group_ids(groups, n, n_folds)
        unit, member_count = "groups", _groups_per_class(labels, group_ids)
    rare = _warn_rare_classes(member_count, n_folds, unit)
    if len(rare) == len(member_count):
        # No class can be spread over all folds: stratifying is meaningless, and
        # scikit-learn refuses; fall back to a plain shuffled (group) split.
        y = np.zeros(n, dtype=np.int64)
    return _split(y, group_ids, n_folds, seed)


def _check_fold_arguments(labels: list, n_folds, seed) -> None:
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)):
        raise TypeError(f"n_folds must be an int, got {n_folds!r}")
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if not labels:
        raise ValueError("labels is empty: there is nothing to split into folds")
    if len(labels) < n_folds:
        raise ValueError(f"cannot make {n_folds} folds from {len(labels)} items: need at least one item per fold")


def _group_ids(groups, n: int, n_folds: int) -> np.ndarray:
    """Group index of every item, shape ``(n,)``; a ``None`` group is the item's own."""
    groups = _as_list(groups, "groups")
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} entries but labels has {n}")
    ids: dict = {}
    group_ids = np.empty(n, dtype=np.int64)
    for i, g in enumerate(groups):
        key = ("item", i) if g is None else ("group", g)
        group_ids[i] = ids.setdefault(key, len(ids))
    if len(ids) < n_folds:
        raise ValueError(
            f"cannot make {n_folds} folds from {len(ids)} group(s) without splitting a group: "
            "need at least one group per fold"
        )
    return group_ids


def _groups_per_class(labels: list, group_ids: np.ndarray) -> dict:
    per_class: dict = {}
    for label, gid in zip(labels, group_ids):
        per_class.setdefault(label, set()).add(int(gid))
    return {k: len(v) for k, v in per_class.items()}


def _warn_rare_classes(member_count: dict, n_folds: int, unit: str) -> list[str]:
    """Classes with fewer members (items or groups) than folds; warns (at make_folds' caller)."""
    rare = sorted(str(k) for k, c in member_count.items() if c < n_folds)
    if rare:
        warnings.warn(
            f"{len(rare)} class(es) have fewer than {n_folds} {unit} and cannot be in every fold: "
            + ", ".join(rare[:5])
            + (" ..." if len(rare) > 5 else ""),
            UserWarning,
            stacklevel=3,
        )
    return rare


def _split(y: np.ndarray, group_ids: np.ndarray | None, n_folds: int, seed: int) -> np.ndarray:
    """Fold of every item, shape ``(n,)``, every fold non-empty.

    StratifiedGroupKFold assigns groups greedily and can, rarely, leave a fold
    empty; then retry with seeds derived deterministically from ``seed``.
    """
    n = len(y)
    x = np.zeros((n, 1))
    states = np.random.SeedSequence(seed).generate_state(_RETRIES) if group_ids is not None else []
    for state in [seed, *(int(s) for s in states)]:
        if group_ids is None:
            splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=state)
        else:
            splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=state)
        folds = np.full(n, -1, dtype=np.int64)
        with warnings.catch_warnings():
            # Our own warning says the same thing in the caller's terms.
            warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
            for k, (_, test) in enumerate(splitter.split(x, y, group_ids)):
                folds[test] = k
        if folds.min() >= 0 and np.all(np.bincount(folds, minlength=n_folds) > 0):
            return folds
    raise ValueError(
        f"could not make {n_folds} non-empty folds without splitting a group; "
        "use fewer folds or more groups"
    )


def _check_folds(paths, labels, folds) -> tuple[list[str], list[str], np.ndarray, int]:
    paths = _as_list(paths, "paths")
    labels = _as_list(labels, "labels")
    folds = np.asarray(folds)
    if folds.ndim != 1:
        raise ValueError(f"folds must be 1-D, got shape {folds.shape}")
    if not (len(paths) == len(labels) == len(folds)):
        raise ValueError(
            f"paths, labels and folds differ in length: {len(paths)}, {len(labels)}, {len(folds)}"
        )
    if not len(paths):
        raise ValueError("paths is empty")
    if not np.issubdtype(folds.dtype, np.integer):
        raise ValueError(f"folds must hold integers, got dtype {folds.dtype}")
    if folds.min() < 0:
        raise ValueError(f"folds must be non-negative, got {folds.min()}")
    n_folds = int(folds.max()) + 1
    sizes = np.bincount(folds, minlength=n_folds)
    if np.any(sizes == 0):
        raise ValueError(f"fold(s) {[int(k) for k in np.flatnonzero(sizes == 0)]} are empty")
    for i, (p, l) in enumerate(zip(paths, labels)):
        check_field(p, f"path of item {i}")
        check_field(l, f"label of item {i} ({p})")
    return paths, labels, folds, n_folds


def fold_lists(
    paths: Sequence[str], labels: Sequence[str], folds: Sequence[int]
) -> list[tuple[list[tuple[str, str]], list[str]]]:
    """Split a labelled list into per-fold training and test lists.

    Parameters
    ----------
    paths : sequence of str
        Audio file path of every item.
    labels : sequence of str
        Label of every item.
    folds : sequence of int
        Fold of every item, as from :func:`make_folds`.

    Returns
    -------
    lists : list of (train, test)
        One entry per fold, in fold order: ``train`` is the list of
        ``(path, label)`` of the items in the other folds, ``test`` the list of
        paths in this fold; both keep the input order.
    """
    paths, labels, folds, n_folds = _check_folds(paths, labels, folds)
    out = []
    for k in range(n_folds):
        train = [(p, l) for p, l, f in zip(paths, labels, folds) if f != k]
        test = [p for p, f in zip(paths, folds) if f == k]
        out.append((train, test))
    return out


def write_fold_lists(
    out_dir: str | os.PathLike,
    paths: Sequence[str],
    labels: Sequence[str],
    folds: Sequence[int],
) -> list[Path]:
    """Write the training, test and ground-truth lists of every fold.

    For fold ``k`` (1-based) three files are written into ``out_dir``:
    ``fold{k}_train.txt`` (``path<TAB>label``), ``fold{k}_test.txt`` (one path
    per line) and ``fold{k}_groundtruth.txt`` (``path<TAB>label`` of the test
    items).  Each file is written atomically.

    Parameters
    ----------
    out_dir : str or path-like
        Destination directory, created if missing.
    paths, labels, folds : sequence
        As for :func:`fold_lists`.  Paths and labels must not hold tabs or
        line breaks.

    Returns
    -------
    written : list of pathlib.Path
        The files written, fold by fold, in the order train, test, ground truth.
    """
    lists = fold_lists(paths, labels, folds)
    folds = np.asarray(folds)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for k, (train, test) in enumerate(lists, start=1):
        test_labels = [l for p, l, f in zip(paths, labels, folds) if f == k - 1]
        written.append(write_labelled(out_dir / f"fold{k}_train.txt", train))
        written.append(write_paths(out_dir / f"fold{k}_test.txt", test))
        written.append(write_labelled(out_dir / f"fold{k}_groundtruth.txt", zip(test, test_labels)))
    return written


def read_groups(path: str | os.PathLike) -> dict[str, str]:
    """Read a ``path<TAB>group`` (artist) file.

    Parameters
    ----------
    path : str or path-like
        One ``path<TAB>artist`` per line, read in the tolerant mode of
        :mod:`mirex.lists` (split on the last tab, or on the last run of
        whitespace if the line has no tab).

    Returns
    -------
    groups : dict of str to str
        Artist of every path, in file order.

    Raises
    ------
    ValueError
        If a line has no artist, or a path is given two different artists.
    """
    groups: dict[str, str] = {}
    for number, item, group in read_records(path):
        if not group:
            raise ValueError(f"{path}:{number}: no artist after the path {item!r}")
        if item in groups and groups[item] != group:
            raise ValueError(
                f"{path}:{number}: {item!r} is given two artists, {groups[item]!r} and {group!r}"
            )
        groups[item] = group
    return groups
