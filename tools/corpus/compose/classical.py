"""Classical-style instrumental pieces: a melody over functional harmony in periodic phrases.

Textures: Alberti bass (keyboard sonatas), waltz/minuet accompaniment,
string-quartet or wind-quintet writing (inner voices in repeated eighths or
held chords, bass on the root).  Form A A' B A' with B in the dominant (major)
or the relative major (minor).  Generated music: the manifest says
``generator: classical``.
"""

from __future__ import annotations

import numpy as np

from ..notes import Part, Piece, make_notes
from ..scales import SCALES
from .common import concat, shift
from .harmony import progression, triad_pcs

__all__ = ["ENSEMBLES", "compose"]

#: Ensembles: (melody programs, accompaniment programs, bass program, texture).
ENSEMBLES = {
    "piano_sonata": ((0,), (0,), 0, "alberti"),
    "harpsichord": ((6,), (6,), 6, "alberti"),
    "string_quartet": ((40,), (40, 41), 42, "repeated"),
    "wind_quintet": ((73, 68), (71, 60), 70, "held"),
    "violin_piano": ((40,), (0,), 0, "alberti"),
    "flute_harp": ((73,), (46,), 46, "arpeggio"),
    "string_orchestra": ((48, 40), (48, 48), 43, "repeated"),
    "piano_minuet": ((0,), (0,), 0, "waltz"),
}
_CELLS_4 = ((1, 1, 1, 1), (2, 1, 1), (0.5, 0.5, 1, 2), (1.5, 0.5, 1, 1), (0.5,) * 8,
            (1, 0.5, 0.5, 2), (0.25, 0.25, 0.5, 1, 2))
_CELLS_3 = ((1, 1, 1), (2, 1), (1.5, 0.5, 1), (0.5, 0.5, 1, 1), (3,), (1, 0.5, 0.5, 1))


def _bar_melody(rng, t0, cell, chord_pcs, mode, tonic, prev, lo, hi):
    """One bar of melody: chord tones on beats, scale steps between; returns (notes, last pitch)."""
    durs = np.asarray(cell, float)
    starts = t0 + np.concatenate([[0.0], np.cumsum(durs)[:-1]])
    pitches = []
    p = prev
    for s in starts:
        if np.isclose(s % 1.0, 0.0):
            cands = np.array([q for q in range(lo, hi + 1) if q % 12 in chord_pcs])
            near = cands[np.argsort(np.abs(cands - p) + rng.random(cands.size) * 4)][:3]
            p = int(rng.choice(near))
        else:
            scale = np.array([q for q in range(lo, hi + 1) if (q - tonic) % 12 in _steps(mode)])
            i = int(np.searchsorted(scale, p))
            p = int(scale[np.clip(i + rng.choice([-1, 1]), 0, scale.size - 1)])
        pitches.append(p)
    return make_notes(starts, durs * 0.92, pitches, 80 + rng.integers(-6, 7, durs.size)), p


def _steps(mode):
    """Scale steps of the melody: major, or harmonic minor (a leading tone in minor)."""
    return SCALES[mode if mode == "major" else "harmonic_minor"]


def _accompaniment(texture, t0, beats, pcs, root_pc, bass_oct=36, mid=55):
    """Accompaniment of one chord for ``beats`` beats: (upper notes, bass notes)."""
    chord = np.array(sorted(mid + ((pc - mid) % 12) for pc in pcs))        # close position above mid
    bass = bass_oct + (root_pc - bass_oct) % 12
    if texture == "alberti":
        order = np.tile(chord[[0, 2, 1, 2]], int(beats))
        return make_notes(t0 + 0.5 * np.arange(order.size), 0.45, order - 12, 58), \
            make_notes([t0], [beats], [bass], 62)
    if texture == "arpeggio":
        order = np.tile(np.concatenate([chord, chord[::-1][1:2]]) - 12, int(beats))
        return make_notes(t0 + 0.5 * np.arange(order.size), 1.0, order, 56), \
            make_notes([t0], [beats], [bass], 60)
    if texture == "waltz":
        after = t0 + np.arange(1, int(beats))
        return make_notes(np.repeat(after, 3), 0.8, np.tile(chord - 12, after.size), 52), \
            make_notes([t0], [0.95], [bass], 66)
    if texture == "repeated":
        times = t0 + 0.5 * np.arange(int(2 * beats))
        return make_notes(np.repeat(times, 2), 0.45, np.tile(chord[:2], times.size), 50), \
            make_notes(t0 + np.arange(int(beats)), 0.9, bass, 64)
    return make_notes(np.full(3, t0), beats * 0.98, chord, 52), make_notes([t0], [beats], [bass], 60)


def _section(rng, t0, bars, meter, mode, tonic, ens, final):
    """An 8-bar period (antecedent on a half cadence, consequent on an authentic one)."""
    mel, acc, bass = [], [], []
    cells = _CELLS_3 if meter == 3 else _CELLS_4
    prev = tonic + 12
    t = t0
    for phrase in range(bars // 4):
        cad = "authentic" if phrase % 2 or final else "half"
        chords = progression(rng, 4 * (2 if meter == 4 else 1), cad)
        per_bar = 2 if meter == 4 else 1
        for bar in range(4):
            bar_chords = chords[bar * per_bar:(bar + 1) * per_bar]
            cell = cells[rng.integers(len(cells))] if bar < 3 else ((2, 2) if meter == 4 else (3,))
            pcs_bar = triad_pcs(int(bar_chords[0]), mode, tonic % 12)
            m, prev = _bar_melody(rng, t, cell, set(pcs_bar.tolist()), mode, tonic, prev,
                                  tonic + 2, tonic + 21)
            mel.append(m)
            for k, root in enumerate(bar_chords):
                span = meter / per_bar
                pcs = triad_pcs(int(root), mode, tonic % 12)
                a, b = _accompaniment(ens[3], t + k * span, span, pcs, int(pcs[0]))
                acc.append(a)
                bass.append(b)
            t += meter
    return concat(*mel), concat(*acc), concat(*bass), t


def compose(seed: int, seconds: float) -> Piece:
    """A classical-style piece of about ``seconds``: A A' B A' sections of 8-bar periods.

    Returns a :class:`Piece` with melody, accompaniment and bass parts (one
    per instrument of the ensemble); ``meta`` names ensemble, key, meter, tempo.
    """
    rng = np.random.default_rng(seed)
    name = str(rng.choice(sorted(ENSEMBLES)))
    ens = ENSEMBLES[name]
    meter = 3 if ens[3] == "waltz" or rng.random() < 0.25 else 4
    mode = "minor" if rng.random() < 0.35 else "major"
    tonic = 60 + int(rng.integers(-5, 7))
    bpm = float(rng.uniform(96, 132) if meter == 3 else rng.uniform(72, 126))
    bar_s = meter * 60 / bpm
    n_sections = max(2, int(round(seconds / (8 * bar_s))))
    plan = ["A", "A", "B", "A"] * (n_sections // 4 + 1)
    mel, acc, bass = [], [], []
    t = 0.0
    for k, sec in enumerate(plan[:n_sections]):
        key = tonic + (7 if mode == "major" else 3) * (sec == "B")
        key_mode = "major" if sec == "B" else mode
        m, a, b, t = _section(np.random.default_rng([seed, k if sec == "B" else k % 2]), t, 8,
                              meter, key_mode, key, ens, k == n_sections - 1)
        mel.append(m)
        acc.append(a)
        bass.append(b)
    mel, acc, bass = concat(*mel), concat(*acc), concat(*bass)
    parts = [Part("melody", ens[0][0], mel, pan=50)]
    if len(ens[0]) > 1:
        parts.append(Part("melody2", ens[0][1], shift(mel, 0, -12), pan=78))
    parts.append(Part("accompaniment", ens[1][0], acc, pan=70))
    if len(ens[1]) > 1:
        parts.append(Part("accompaniment2", ens[1][1], shift(acc, 0, -12), pan=60))
    parts.append(Part("bass", ens[2], bass, pan=80))
    meta = {"generator": "classical", "seed": seed, "ensemble": name, "texture": ens[3],
            "tonic": tonic, "mode": mode, "meter": meter, "bpm": round(bpm, 2)}
    return Piece(tuple(parts), bpm, meta)
