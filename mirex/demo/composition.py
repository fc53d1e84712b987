"""Composition: one clip's score (notes and drum hits) drawn from a genre's recipe.

Times are in seconds from the clip start (negative: before it), pitches are
MIDI numbers, velocities in (0, 1], levels in dB. The random draws happen in
a fixed order (grid, drums, bass, comp, pad, melody), so that a clip is a
function of its seed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .recipes import MODES, _Melody, _Part, _Recipe


def _semitone(mode: tuple[int, ...], degree: int) -> int:
    """Semitones above the tonic of scale degree ``degree`` (any integer)."""
    octave, step = divmod(degree, 7)
    return 12 * octave + mode[step]


def _chord(mode: tuple[int, ...], degree: int, kind: str) -> list[int]:
    """Semitone offsets from the tonic of the chord on ``degree``."""
    if kind == "power":
        return [_semitone(mode, degree), _semitone(mode, degree + 4)]
    steps = (0, 2, 4, 6) if kind == "seventh" else (0, 2, 4)
    return [_semitone(mode, degree + s) for s in steps]


def _voice(pcs: list[int], n: int, low: int, high: int,
           previous: list[int] | None) -> list[int]:
    """Pick ``n`` MIDI notes in ``[low, high]`` with pitch classes ``pcs``.

    Prefers voicings that use as many different pitch classes as possible,
    have no gap above an octave, and move least from ``previous`` (or sit near
    the middle of the range when there is no previous voicing).
    """
    cands = [p for p in range(low, high + 1) if p % 12 in pcs]
    want = min(n, len(set(pcs)))
    best, best_cost = None, np.inf
    for combo in itertools.combinations(cands, n):
        if len({p % 12 for p in combo}) < want:
            continue
        if any(b - a > 12 for a, b in zip(combo, combo[1:])):
            continue
        if previous is not None and len(previous) == n:
            cost = sum(abs(a - b) for a, b in zip(combo, previous))
        else:
            cost = abs(sum(combo) / n - (low + high) / 2)
        if cost < best_cost:
            best, best_cost = list(combo), cost
    return best if best is not None else cands[:n]


def _fold(midi: int, low: int, high: int) -> int:
    """Move ``midi`` by octaves into ``[low, high]``."""
    while midi < low:
        midi += 12
    while midi > high:
        midi -= 12
    return midi


_VELOCITY = {"X": 1.0, "x": 0.75, "o": 0.4, "?": 0.7}

#: Bass pattern letters -> semitones above the chord root (``T``, the third, depends on the chord).
_BASS_STEPS = {"R": 0, "F": 7, "O": 12}


def _pattern_hits(pattern: str):
    """Yield ``(step, length_in_steps, char)`` for each onset of ``pattern``."""
    for i, c in enumerate(pattern):
        if c in ".-":
            continue
        length = 1
        while i + length < len(pattern) and pattern[i + length] == "-":
            length += 1
        yield i, length, c


@dataclass
class _Grid:
    """One clip's time grid and harmony: steps of ``step`` s, bars, key, mode, progression."""

    recipe: _Recipe
    rng: np.random.Generator
    duration: float  # seconds
    step: float  # seconds per grid step
    offset: float  # seconds of bar 0 before the clip starts
    n_bars: int
    mode: tuple[int, ...]
    prog: tuple[int, ...]
    tonic: int  # pitch class 0..11

    @property
    def spb(self) -> int:
        return self.recipe.steps_per_beat

    @property
    def steps_per_bar(self) -> int:
        return self.recipe.beats_per_bar * self.spb

    @property
    def bar(self) -> float:
        return self.steps_per_bar * self.step

    @property
    def steps_per_chord(self) -> int:
        return self.recipe.beats_per_chord * self.spb

    @property
    def total_steps(self) -> int:
        return self.n_bars * self.steps_per_bar

    def onset(self, s: int) -> float:
        """Onset in seconds of grid step ``s``, with swing and timing jitter."""
        t = -self.offset + s * self.step
        if self.recipe.swing and (s % self.spb) % 2 == 1:
            t += self.recipe.swing * self.step
        if self.recipe.timing_jitter:
            t += self.rng.normal(0.0, self.recipe.timing_jitter)
        return t

    def chord_at(self, s: int) -> tuple[int, list[int]]:
        """Scale degree and semitone offsets of the chord sounding at step ``s``."""
        idx = (s // self.steps_per_chord) % len(self.prog)
        return self.prog[idx], _chord(self.mode, self.prog[idx], self.recipe.chord)


def _draw_grid(recipe: _Recipe, rng: np.random.Generator, duration: float) -> _Grid:
    """Draw tempo, start offset, mode, progression and key for a clip of ``duration`` s."""
    tempo = rng.uniform(*recipe.tempo)
    step = 60.0 / tempo / recipe.steps_per_beat
    bar = recipe.beats_per_bar * recipe.steps_per_beat * step
    offset = rng.uniform(0.0, bar)  # the clip starts somewhere in bar 0
    n_bars = int(np.ceil((duration + offset) / bar)) + 1
    mode = MODES[recipe.modes[rng.integers(len(recipe.modes))]]
    prog = recipe.progressions[rng.integers(len(recipe.progressions))]
    tonic = int(rng.integers(12))
    return _Grid(recipe, rng, duration, step, offset, n_bars, mode, prog, tonic)


def _drum_hits(g: _Grid) -> dict[str, list]:
    """Per drum of the recipe: ``(onset s, velocity, level dB)`` of every hit."""
    hits: dict[str, list] = {}
    for name, pattern, level in g.recipe.drums:
        level += g.rng.uniform(-1.5, 1.5)
        out = hits.setdefault(name, [])
        for b in range(g.n_bars):
            for i, _, c in _pattern_hits(pattern):
                if c == "?" and g.rng.random() < 0.5:
                    continue
                if g.rng.random() < 0.03:  # an occasional dropped hit
                    continue
                vel = _VELOCITY[c] * g.rng.uniform(0.85, 1.0)
                out.append((g.onset(b * g.steps_per_bar + i), vel, level))
    return hits


def _walking_pitch(g: _Grid, base: int, prev: int, s: int, nxt: int) -> int:
    """Next note of a walking bass at step ``s`` (next onset at step ``nxt``), before folding."""
    degree, offs = g.chord_at(s)
    root = base + (g.tonic + offs[0]) % 12
    _, next_offs = g.chord_at(nxt)
    if s % g.steps_per_chord == 0:
        return root
    if nxt // g.steps_per_chord != s // g.steps_per_chord:
        target = base + (g.tonic + next_offs[0]) % 12
        return target + (1 if g.rng.random() < 0.5 else -1)
    pool = [base + (g.tonic + o) % 12 for o in offs]
    pool += [base + (g.tonic + _semitone(g.mode, degree + d)) % 12 for d in (1, 3, 5)]
    pool = [_fold(p, prev - 6, prev + 6) for p in pool]
    pool = [p for p in pool if p != prev] or pool
    return pool[g.rng.integers(len(pool))]


def _bass_line(g: _Grid, part: _Part) -> list:
    """Bass notes ``(onset s, length s, MIDI, velocity, level dB)`` from the pitch-letter pattern."""
    level = part.level_db + g.rng.uniform(-1.5, 1.5)
    base = 12 * (part.octave + 1)
    low, high = base - 2, base + 14
    out = []
    positions = [(b * g.steps_per_bar + i, n, c) for b in range(g.n_bars)
                 for i, n, c in _pattern_hits(part.pattern)]
    prev = base + g.tonic % 12
    for j, (s, n, c) in enumerate(positions):
        _, offs = g.chord_at(s)
        root = base + (g.tonic + offs[0]) % 12
        if c in _BASS_STEPS:
            pitch = root + _BASS_STEPS[c]
        elif c == "T":
            pitch = root + offs[1] - offs[0]
        else:  # walking line
            nxt = positions[j + 1][0] if j + 1 < len(positions) else s + n
            pitch = _fold(_walking_pitch(g, base, prev, s, nxt), low, high)
        prev = pitch
        vel = g.rng.uniform(0.8, 1.0)
        out.append((g.onset(s), n * g.step * part.gate, pitch, vel, level))
    return out


def _voicings(g: _Grid, part: _Part, base: int) -> dict[int, list[int]]:
    """MIDI notes of every chord of the clip (index of the chord -> notes), voice-led."""
    low, high = base + part.span[0], base + part.span[1]
    voicings: dict[int, list[int]] = {}
    previous = None
    for c_idx in range(-(-g.total_steps // g.steps_per_chord)):
        _, offs = g.chord_at(c_idx * g.steps_per_chord)
        pcs = [(g.tonic + o) % 12 for o in offs]
        previous = _voice(pcs, part.voices, low, high, previous)
        if part.with_bass:
            bass = _fold(base - 24 + pcs[0], base - 20, base - 9)
            voicings[c_idx] = [bass] + previous
        else:
            voicings[c_idx] = previous
    return voicings


def _chord_part(g: _Grid, role: str, part: _Part) -> list:
    """Notes of a ``comp`` (chords on the pattern's hits) or ``pad`` (one chord per change) part."""
    level = part.level_db + g.rng.uniform(-1.5, 1.5)
    base = 12 * (part.octave + 1)
    voicings = _voicings(g, part, base)
    out = []
    if role == "pad":
        for c_idx, chord in voicings.items():
            t0 = -g.offset + c_idx * g.steps_per_chord * g.step
            length = min(g.steps_per_chord * g.step, g.duration + g.offset + g.bar)
            for pitch in chord:
                out.append((t0, length + 0.05, pitch, 0.8, level))
        return out
    for b in range(g.n_bars):
        for i, n, c in _pattern_hits(part.pattern):
            s = b * g.steps_per_bar + i
            if c == "?" and g.rng.random() < 0.5:
                continue
            t0 = g.onset(s)
            vel = _VELOCITY[c] * g.rng.uniform(0.8, 1.0)
            chord = voicings[s // g.steps_per_chord]
            if part.strum and g.rng.random() < 0.5:
                chord = chord[::-1]
            for k, pitch in enumerate(chord):
                out.append((t0 + k * part.strum, n * g.step * part.gate, pitch, vel, level))
    return out


def _motif(g: _Grid, mel: _Melody, slots_per_bar: int,
           slots_per_beat: int) -> tuple[np.ndarray, int]:
    """A rhythmic motif of ``mel.motif_bars`` bars: onset flags per slot (bool), and its length.

    Onsets are likelier on downbeats (x 1.5) and beats (x 1.1); slot 0 always has one.
    """
    motif_len = slots_per_bar * mel.motif_bars
    weights = np.where(np.arange(motif_len) % slots_per_bar == 0, 1.5,
                       np.where(np.arange(motif_len) % slots_per_beat == 0, 1.1, 0.8))
    motif = g.rng.random(motif_len) < mel.density * weights
    motif[0] = True
    return motif, motif_len


def _melody(g: _Grid, mel: _Melody) -> list:
    """Melody notes: a motif over a scale-degree random walk leaning on chord tones on beats."""
    level = mel.level_db + g.rng.uniform(-1.5, 1.5)
    base = 12 * (mel.octave + 1) + g.tonic
    slots_per_bar = g.steps_per_bar // mel.grid
    slots_per_beat = max(1, g.spb // mel.grid)
    motif, motif_len = _motif(g, mel, slots_per_bar, slots_per_beat)
    degree = int(g.rng.integers(2, 7))
    moves = np.array([-3, -2, -1, 0, 1, 2, 3])
    move_p = np.array([0.05, 0.15, 0.27, 0.06, 0.27, 0.15, 0.05])
    onsets = []
    for k in range(g.n_bars * slots_per_bar):
        on = motif[k % motif_len]
        if k % motif_len and g.rng.random() < 0.1:
            on = not on
        if on:
            onsets.append(k)
    out = []
    for j, k in enumerate(onsets):
        s = k * mel.grid
        nxt = onsets[j + 1] if j + 1 < len(onsets) else k + mel.max_len
        slots = min(nxt - k, mel.max_len)
        degree = int(np.clip(degree + g.rng.choice(moves, p=move_p), -3, 9))
        if k % slots_per_beat == 0 and g.rng.random() < 0.6:
            chord_degree, _ = g.chord_at(s)
            tones = [chord_degree + d for d in (-7, -5, -3, 0, 2, 4, 7, 9)]
            degree = min(tones, key=lambda d: (abs(d - degree), d))
        pitch = base + _semitone(g.mode, degree)
        vel = g.rng.uniform(0.7, 1.0) * (1.0 if k % slots_per_beat == 0 else 0.85)
        out.append((g.onset(s), slots * mel.grid * g.step * mel.gate, pitch, vel, level))
    return out


def _compose(recipe: _Recipe, rng: np.random.Generator, duration: float):
    """Draw one clip's score.

    Returns
    -------
    notes : dict[str, list[tuple[float, float, float, float, float]]]
        Per instrument key ``"<part>:<instrument>"``: ``(onset s, sounding
        length s, MIDI pitch, velocity, level dB)`` tuples.
    hits : dict[str, list[tuple[float, float, float]]]
        Per drum: ``(onset s, velocity, level dB)`` tuples.
    """
    g = _draw_grid(recipe, rng, duration)
    hits = _drum_hits(g)
    notes: dict[str, list] = {}
    if recipe.bass is not None:
        notes["bass:" + recipe.bass.instrument] = _bass_line(g, recipe.bass)
    for role, part in (("comp", recipe.comp), ("pad", recipe.pad)):
        if part is not None:
            notes.setdefault(role + ":" + part.instrument, []).extend(_chord_part(g, role, part))
    if recipe.melody is not None:
        key = "melody:" + recipe.melody.instrument
        notes.setdefault(key, []).extend(_melody(g, recipe.melody))
    return notes, hits
