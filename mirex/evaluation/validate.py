"""Check a labelled task before any work: what the organizers' scorer would trip over.

The scorer matches tracks by file name (lower-cased, no extension: see
:func:`mirex.evaluation.scoring.track_key`) and classes by cleaned label
(:func:`mirex.evaluation.scoring.clean_label`). A task whose names or labels
collide under those rules cannot be scored; finding that after hours of
extraction and training loses the hours, so :func:`check_task` runs first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from .scoring import clean_label, track_key

__all__ = ["TaskError", "check_task"]

#: Problems named in full in the error before "and N more".
SHOWN = 5


class TaskError(ValueError):
    """A labelled task the organizers' scorer could not score; one line says why."""


def _collisions(items: Sequence[tuple[str, str]], key) -> list[list[int]]:
    """Groups of item indices whose ``key`` collides while the items differ."""
    seen: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        seen[key(item)].append(i)
    return [idx for idx in seen.values() if len(idx) > 1]


def check_task(items: Sequence[tuple[str, str]], source: str = "list") -> None:
    """Refuse a labelled list that cannot be scored, naming the lines.

    Parameters
    ----------
    items : sequence of (path, label)
        In list order (line ``i + 1`` of ``source`` holds ``items[i]``).
    source : str
        Name of the list, for messages.

    Raises
    ------
    TaskError
        A path listed twice; two paths that are the same track to the scorer
        (e.g. ``a/01.mp3`` and ``b/01.ogg``); a label with no letter or digit;
        two labels that are the same class to the scorer (``Hip Hop`` and
        ``Hip-Hop``).
    """
    problems = []
    for idx in _collisions(items, lambda it: it[0]):
        problems.append(f"{items[idx[0]][0]!r} is listed {len(idx)} times "
                        f"(lines {', '.join(str(i + 1) for i in idx)})")
    distinct = list(dict.fromkeys(p for p, _ in items))
    line = {p: i + 1 for i, (p, _) in reversed(list(enumerate(items)))}
    for idx in _collisions([(p, "") for p in distinct], lambda it: track_key(it[0])):
        names = " and ".join(f"{distinct[i]!r} (line {line[distinct[i]]})" for i in idx[:3])
        problems.append(f"{names} are the same track {track_key(distinct[idx[0]])!r} to the "
                        f"scorer, which matches files by name without folder or extension")
    labels = list(dict.fromkeys(label for _, label in items))
    for label in labels:
        if not clean_label(label):
            problems.append(f"label {label!r} has no letter or digit, which the scorer keeps")
    for idx in _collisions([(lab, "") for lab in labels if clean_label(lab)],
                           lambda it: clean_label(it[0])):
        same = [lab for lab in labels if clean_label(lab)]
        names = " and ".join(repr(same[i]) for i in idx)
        problems.append(f"labels {names} are the same class {clean_label(same[idx[0]])!r} "
                        f"to the scorer")
    if problems:
        more = f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
        raise TaskError(f"{source}: cannot be scored as the organizers do: "
                        f"{'; '.join(problems[:SHOWN])}{more}")
