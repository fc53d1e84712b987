"""Scales and modes as semitone offsets from the tonic, and degree-to-pitch mapping.

Maqamat and ragas are given in their nearest 12-tone form (the quarter tones
of rast, bayati or saba fall on a neighbouring semitone): General MIDI
instruments play equal temperament.
"""

from __future__ import annotations

import numpy as np

from mirex.demo.recipes import MODES

__all__ = ["SCALES", "degrees_to_pitches", "in_scale"]

SCALES: dict[str, tuple[int, ...]] = {
    **MODES,   # the Western modes of the demo synthesiser
    "freygish": (0, 1, 4, 5, 7, 8, 10),          # klezmer / maqam hijaz on the tonic
    # Arabic / Turkish maqamat (12-tone approximations)
    "hijaz": (0, 1, 4, 5, 7, 8, 10),
    "hijazkar": (0, 1, 4, 5, 7, 8, 11),
    "nahawand": (0, 2, 3, 5, 7, 8, 11),
    "bayati": (0, 1, 3, 5, 7, 8, 10),            # 2nd degree a quarter tone higher
    "rast": (0, 2, 4, 5, 7, 9, 10),              # 3rd and 7th a quarter tone lower
    "saba": (0, 1, 3, 4, 7, 8, 10),
    # Hindustani ragas (thaat of each)
    "bhairav": (0, 1, 4, 5, 7, 8, 11),
    "yaman": (0, 2, 4, 6, 7, 9, 11),
    "kafi": (0, 2, 3, 5, 7, 9, 10),
    "todi": (0, 1, 3, 6, 7, 8, 11),
    "bhupali": (0, 2, 4, 7, 9),
    # East Asian and Indonesian
    "major_pentatonic": (0, 2, 4, 7, 9),
    "minor_pentatonic": (0, 3, 5, 7, 10),
    "in_sen": (0, 1, 5, 7, 10),
    "hirajoshi": (0, 2, 3, 7, 8),
    "yo": (0, 2, 5, 7, 9),
    "slendro": (0, 2, 5, 7, 10),
    "pelog": (0, 1, 3, 7, 8),
}

def degrees_to_pitches(degrees, tonic: int, scale: str) -> np.ndarray:
    """MIDI pitches of scale ``degrees`` (any integers; 0 = tonic, 7 = octave in a 7-note scale).

    Parameters
    ----------
    degrees : array-like of int
    tonic : int
        MIDI pitch of degree 0.
    scale : str
        A key of :data:`SCALES`.

    Returns
    -------
    numpy.ndarray of int, same shape as ``degrees``
    """
    steps = np.asarray(SCALES[scale])
    d = np.asarray(degrees, dtype=int)
    octave, idx = np.divmod(d, steps.size)
    return tonic + 12 * octave + steps[idx]


def in_scale(pitches, tonic: int, scale: str) -> np.ndarray:
    """Whether each pitch's pitch class belongs to ``scale`` on ``tonic``; bool array."""
    return np.isin((np.asarray(pitches) - tonic) % 12, SCALES[scale])
