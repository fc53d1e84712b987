"""Reading and writing the MIREX list formats.

Conventions
-----------
All lists are plain UTF-8 text without a header line.

- *Feature-extraction list* and *test list*: one audio path per line.
- *Training list*: ``path<TAB>label`` per line.
- *Output (prediction) list*: the training format, one line per test line,
  in the test list's order, with the path exactly as it was given.

Readers are tolerant of what real lists contain: a UTF-8 byte-order mark,
CRLF line ends, blank lines, a trailing tab after a test path (as in the
organizers' public examples), surrounding spaces around the tab.  Paths and
labels may contain spaces; a training line is split on its *last* tab.

Every malformed list raises :class:`ListError` with the file, the line number
and the reason, before any audio is touched.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

from .fileio import atomic_write_text

__all__ = [
    "ListError",
    "read_paths",
    "read_labelled",
    "write_labelled",
    "write_paths",
    "atomic_write_text",
]


class ListError(ValueError):
    """A list file that cannot be used; the message names the file and line."""


def _lines(path: str | os.PathLike) -> list[tuple[int, str]]:
    """Non-blank lines of a list file as ``(line_number, text)`` pairs."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ListError(f"{path}: cannot read list file ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Latin-1 never fails; a list written by an older tool keeps its paths.
        text = raw.decode("latin-1")
    lines = []
    # Split on LF only (CR stripped): str.splitlines would also break paths
    # at form feeds, U+2028 and other characters a file name may contain.
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if line.strip():
            lines.append((number, line))
    if not lines:
        raise ListError(f"{path}: list file is empty")
    return lines


def read_paths(path: str | os.PathLike) -> list[str]:
    """Read a feature-extraction or test list.

    Parameters
    ----------
    path : str or path-like
        The list file.

    Returns
    -------
    paths : list of str
        The audio paths in file order, as written (surrounding whitespace and
        anything after a tab removed). Duplicates are kept: every line gets
        a prediction.
    """
    paths = []
    for number, line in _lines(path):
        item = line.split("\t", 1)[0].strip()
        if not item:
            raise ListError(f"{path}:{number}: line has no path before its tab")
        paths.append(item)
    return paths


def read_labelled(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Read a training (or ground-truth, or output) list.

    Parameters
    ----------
    path : str or path-like
        The list file, ``path<TAB>label`` per line.

    Returns
    -------
    items : list of (str, str)
        ``(audio path, label)`` pairs in file order. Labels keep their inner
        spaces and their case; surrounding whitespace is removed.
    """
    items = []
    for number, line in _lines(path):
        stripped = line.strip(" \r\n")
        head, tab, label = stripped.rpartition("\t")
        if not tab:
            raise ListError(f"{path}:{number}: expected 'path<TAB>label', found no tab")
        head, label = head.strip(), label.strip()
        if not head:
            raise ListError(f"{path}:{number}: line has no path")
        if not label:
            raise ListError(f"{path}:{number}: line has no label")
        items.append((head.rstrip("\t").strip(), label))
    return items


def _check_label(label: str) -> str:
    if not label or "\t" in label or "\n" in label or "\r" in label:
        raise ValueError(f"label {label!r} cannot be written to a MIREX list")
    return label


def write_labelled(path: str | os.PathLike, items: Iterable[tuple[str, str]]) -> None:
    """Write ``path<TAB>label`` lines atomically (the output-list format)."""
    text = "".join(f"{p}\t{_check_label(lab)}\n" for p, lab in items)
    atomic_write_text(path, text)


def write_paths(path: str | os.PathLike, paths: Sequence[str]) -> None:
    """Write one path per line atomically (extraction and test lists)."""
    atomic_write_text(path, "".join(f"{p}\n" for p in paths))
