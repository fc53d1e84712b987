"""Private text-file helpers shared by the evaluation modules.

Conventions
-----------
* List files are UTF-8 text, one record per line.  Reading is tolerant: an
  optional byte-order mark, CRLF or CR line ends, surrounding whitespace and
  blank lines are all accepted.
* A record is ``left<TAB>right``.  Because paths may contain spaces, a line is
  split on its **last** tab when it has one, otherwise on its last run of
  whitespace.  A line with neither gives ``(line, "")``: the caller decides
  whether an empty right-hand side is an error.
* Writing is atomic (:mod:`mirex.fileio`): a reader never sees a
  half-written file.
"""

from __future__ import annotations

import os
import re

from ..fileio import atomic_write_bytes, atomic_write_text

__all__ = [
    "split_record",
    "read_records",
    "check_field",
    "atomic_write_text",
    "atomic_write_bytes",
]

_LAST_WS = re.compile(r"^(.*\S)\s+(\S+)$")


def split_record(line: str) -> tuple[str, str]:
    """Split one list-file line into ``(left, right)``.

    Parameters
    ----------
    line : str
        The line, without or with its line end.

    Returns
    -------
    left, right : str
        Both stripped of surrounding whitespace.  ``right`` is ``""`` when the
        line has no separator.
    """
    line = line.strip()
    if "\t" in line:
        left, _, right = line.rpartition("\t")
        return left.strip(), right.strip()
    match = _LAST_WS.match(line)
    if match is None:
        return line, ""
    return match.group(1), match.group(2)


def read_records(path: str | os.PathLike) -> list[tuple[int, str, str]]:
    """Read a two-column list file.

    Parameters
    ----------
    path : str or path-like
        The file to read (UTF-8, optional BOM).

    Returns
    -------
    records : list of (int, str, str)
        ``(line_number, left, right)`` for every non-blank line, in file
        order; line numbers are 1-based.
    """
    with open(path, encoding="utf-8-sig", newline=None) as handle:
        text = handle.read()
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        left, right = split_record(line)
        records.append((number, left, right))
    return records


def check_field(value: str, what: str) -> str:
    """Return ``value`` if it can be written as one field of a list file.

    Raises
    ------
    ValueError
        If ``value`` is empty or holds a tab or a line break.
    """
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}: {value!r}")
    if not value.strip():
        raise ValueError(f"{what} is empty")
    if "\t" in value or "\n" in value or "\r" in value:
        raise ValueError(f"{what} contains a tab or line break: {value!r}")
    return value
