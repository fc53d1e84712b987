"""Building blocks of the composers: melodies on scale degrees, rhythms, drones, drum cycles.

Times are in beats (quarter notes), pitches in MIDI numbers; every function
takes a ``numpy.random.Generator`` when it chooses anything, so a composer
called twice with the same seed writes the same piece.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..notes import NOTE_DTYPE, make_notes
from ..scales import SCALES, degrees_to_pitches

__all__ = ["concat", "shift", "rhythm", "walk", "melody", "drone", "drum_cycle", "fit_range"]


def concat(*arrays: np.ndarray) -> np.ndarray:
    """Note arrays joined and sorted by onset."""
    out = np.concatenate([a for a in arrays if a.size] or [np.empty(0, NOTE_DTYPE)])
    return out[np.argsort(out["start"], kind="stable")]


def shift(notes: np.ndarray, beats: float = 0.0, semitones: int = 0) -> np.ndarray:
    """A copy of ``notes`` moved later by ``beats`` and up by ``semitones``."""
    out = notes.copy()
    out["start"] += beats
    out["pitch"] += semitones
    return out


def rhythm(rng: np.random.Generator, cells: Sequence[Sequence[float]], beats: float) -> np.ndarray:
    """Durations (beats) that fill exactly ``beats``, made of rhythmic cells drawn at random.

    Each cell (e.g. ``(0.5, 0.5, 1)``) should last a whole number of beats; a
    cell that would overshoot the end is cut.  Returns shape (n,).
    """
    out: list[float] = []
    total = 0.0
    while total < beats - 1e-9:
        for d in cells[rng.integers(len(cells))]:
            d = min(d, beats - total)
            if d <= 1e-9:
                break
            out.append(d)
            total += d
    return np.asarray(out)


def walk(rng: np.random.Generator, n: int, start: int, lo: int, hi: int,
         steps: Sequence[int] = (-2, -1, -1, 0, 1, 1, 2), pull: float = 0.1,
         home: int = 0) -> np.ndarray:
    """A random walk of ``n`` scale degrees in ``[lo, hi]``, drawn towards ``home``.

    Mostly steps, now and then a leap of a third; ``pull`` is the chance per
    note of stepping towards ``home`` instead of at random.
    """
    out = np.empty(n, dtype=int)
    d = int(np.clip(start, lo, hi))
    for i in range(n):
        out[i] = d
        step = int(np.sign(home - d)) if rng.random() < pull else int(rng.choice(steps))
        if not lo <= d + step <= hi:
            step = -step
        d = int(np.clip(d + step, lo, hi))
    return out


def melody(rng: np.random.Generator, t0: float, durations: np.ndarray, scale: str, tonic: int,
           lo: int, hi: int, start: int = 0, end: int | None = 0, vel: int = 84,
           accent: float = 1.0) -> np.ndarray:
    """Notes of a scale-degree random walk played in ``durations`` from beat ``t0``.

    ``end`` (a degree) is forced on the last note (a cadence) unless None;
    notes on whole beats are accented by ``accent`` velocity units x 10.
    """
    deg = walk(rng, durations.size, start, lo, hi)
    if end is not None and deg.size:
        deg[-1] = end
    starts = t0 + np.concatenate([[0.0], np.cumsum(durations)[:-1]])
    on_beat = np.isclose(starts % 1.0, 0.0)
    v = vel + np.where(on_beat, 10 * accent, 0) + rng.integers(-6, 7, durations.size)
    return make_notes(starts, durations * 0.95, degrees_to_pitches(deg, tonic, scale), v)


def drone(t0: float, beats: float, pitches: Sequence[int], vel: int = 55,
          every: float | None = None) -> np.ndarray:
    """Held ``pitches`` from ``t0`` for ``beats``, restruck every ``every`` beats if given."""
    every = every or beats
    starts = t0 + np.arange(0.0, beats, every)
    n = starts.size
    return make_notes(np.repeat(starts, len(pitches)),
                      np.repeat(np.minimum(every, t0 + beats - starts), len(pitches)),
                      np.tile(np.asarray(pitches), n), vel)


def drum_cycle(pattern: Mapping[int, str], step: float, t0: float, cycles: int,
               vel: int = 90, rng: np.random.Generator | None = None) -> np.ndarray:
    """Drum hits of a cyclic pattern: ``{gm_drum_key: "x..o.x.."}`` (x loud, o soft, . rest).

    Every pattern string is one cycle of ``len(s)`` steps of ``step`` beats,
    repeated ``cycles`` times from ``t0``; ``rng`` humanises velocities.
    """
    starts, keys, vels = [], [], []
    for key, s in pattern.items():
        for i, c in enumerate(s):
            if c in "xo":
                for k in range(cycles):
                    starts.append(t0 + (k * len(s) + i) * step)
                    keys.append(key)
                    vels.append(vel if c == "x" else vel - 30)
    v = np.asarray(vels) + (rng.integers(-8, 9, len(vels)) if rng is not None else 0)
    return make_notes(starts, np.full(len(starts), step), keys, v)


def fit_range(tonic: int, lo: int, hi: int) -> int:
    """``tonic`` moved by octaves into ``[lo, hi - 12]`` (so that an octave above it fits)."""
    while tonic < lo:
        tonic += 12
    while tonic > hi - 12:
        tonic -= 12
    return tonic


def scale_size(scale: str) -> int:
    """Number of notes per octave of ``scale``."""
    return len(SCALES[scale])
