"""Functional harmony for the Western composers: chord progressions with cadences.

Chords are scale-degree roots 0-6 (I..vii) of a major or minor key; a triad is
the root, third and fifth above it in the key's scale (harmonic minor for
V and vii in minor, so the leading tone rises).
"""

from __future__ import annotations

import numpy as np

from ..scales import SCALES

__all__ = ["NEXT", "progression", "triad_pcs", "chord_scale"]

#: Where each chord may go next (a common-practice simplification), by root degree.
NEXT: dict[int, tuple[int, ...]] = {
    0: (3, 4, 5, 1, 3, 4),
    1: (4, 4, 6),
    2: (5, 3),
    3: (4, 0, 1, 4),
    4: (0, 0, 5),
    5: (1, 3, 3),
    6: (0,),
}
_CADENCES = {"authentic": (4, 0), "plagal": (3, 0), "half": (1, 4), "deceptive": (4, 5)}


def progression(rng: np.random.Generator, n: int, cadence: str = "authentic") -> np.ndarray:
    """``n`` chord roots (degrees 0-6) starting on I and ending with ``cadence``.

    Cadences: authentic (V-I), plagal (IV-I), half (ii-V), deceptive (V-vi).
    Returns shape (n,), n >= 3.
    """
    end = _CADENCES[cadence]
    chords = [0]
    while len(chords) < n - 2:
        chords.append(int(rng.choice(NEXT[chords[-1]])))
    return np.asarray((chords + list(end))[:n] if n >= 3 else list(end)[-n:])


def chord_scale(mode: str, root: int) -> str:
    """The scale that spells the triad on ``root`` in ``mode`` (major or minor)."""
    return "harmonic_minor" if mode == "minor" and root in (4, 6) else mode


def triad_pcs(root: int, mode: str, tonic_pc: int = 0) -> np.ndarray:
    """Pitch classes (root, third, fifth) of the triad on degree ``root``; shape (3,)."""
    steps = np.asarray(SCALES[chord_scale(mode, root)])
    return (tonic_pc + steps[(root + np.array([0, 2, 4])) % 7]) % 12
