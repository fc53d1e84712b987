"""Folk dance tunes in the modes: reels, jigs, hornpipes, polkas, waltzes and slow airs.

A tune has two 8-bar strains (A low, B higher), each two 4-bar phrases ending
on the tonic, played AABB several times with a small variation each round,
by a lead (fiddle, accordion, pipes, whistle, banjo, ...) over guitar chords,
a bass and, for the pipes, a drone.  Generated music: the manifest says
``generator: folk``.
"""

from __future__ import annotations

import numpy as np

from ..notes import Part, Piece, make_notes
from ..scales import SCALES, degrees_to_pitches
from .common import concat, drone, drum_cycle, melody, rhythm, shift

__all__ = ["TUNE_TYPES", "LEADS", "compose"]

#: Tune types: (beats per bar, quarter-note bpm range, rhythmic cells).
TUNE_TYPES = {
    "reel": (4, (180, 230), ((0.5,) * 4, (0.5, 0.5, 1), (1, 0.5, 0.5), (0.25, 0.25, 0.5, 1))),
    "jig": (3, (170, 220), ((0.5, 0.5, 0.5), (1, 0.5), (1.5,), (0.5, 1))),
    "hornpipe": (4, (140, 170), ((0.75, 0.25) * 2, (0.75, 0.25, 1), (1, 1))),
    "polka": (2, (200, 250), ((0.5, 0.5), (1,), (0.25, 0.25, 0.5))),
    "waltz": (3, (130, 170), ((1, 1, 1), (2, 1), (1.5, 0.5, 1), (3,))),
    "air": (4, (60, 80), ((1, 1, 2), (1.5, 0.5, 2), (2, 1, 1), (4,))),
}
MODES = ("major", "dorian", "mixolydian", "minor")
#: Lead instruments (GM programs) and whether they want a drone.
LEADS = {"fiddle": (110, False), "accordion": (21, False), "bagpipe": (109, True),
         "whistle": (72, False), "flute": (73, False), "banjo": (105, False),
         "harmonica": (22, False), "bandoneon": (23, False), "violin": (40, False)}
#: Chord roots (scale degrees) a bar may take in each mode.
_CHORDS = {"major": (0, 3, 4), "dorian": (0, 6, 3), "mixolydian": (0, 6, 3), "minor": (0, 5, 6)}


def _strain(rng, beats_per_bar, cells, mode, tonic, lo, hi, start):
    """One 8-bar strain: two phrases, the first ending off the tonic, the second on it."""
    notes, t = [], 0.0
    for phrase in range(2):
        durs = rhythm(rng, cells, 4 * beats_per_bar)
        end = 0 if phrase else int(rng.choice([1, 2, 4]))
        notes.append(melody(rng, t, durs, mode, tonic, lo, hi, start=start, end=end, vel=86))
        t += 4 * beats_per_bar
    return concat(*notes)


def compose(seed: int, seconds: float) -> Piece:
    """A folk dance tune of about ``seconds`` (whole AABB rounds).

    Returns a :class:`Piece` with lead, chords, bass and optional drone and
    bodhran parts; ``meta`` names tune type, mode, tonic, lead, tempo.
    """
    rng = np.random.default_rng(seed)
    kind = str(rng.choice(sorted(TUNE_TYPES)))
    bpb, (lo_bpm, hi_bpm), cells = TUNE_TYPES[kind]
    mode = str(rng.choice(MODES))
    lead = str(rng.choice(sorted(LEADS)))
    program, wants_drone = LEADS[lead]
    tonic = int(rng.choice([62, 67, 69, 64, 60]))      # D G A E C
    bpm = float(rng.uniform(lo_bpm, hi_bpm))
    a = _strain(rng, bpb, cells, mode, tonic, -3, 7, 0)
    b = _strain(rng, bpb, cells, mode, tonic, 2, 11, 4)
    strain_beats = 8 * bpb
    tune = concat(a, shift(a, strain_beats), shift(b, 2 * strain_beats), shift(b, 3 * strain_beats))
    round_beats = 4 * strain_beats
    rounds = max(1, int(round(seconds * bpm / 60 / round_beats)))
    lead_notes = []
    for r in range(rounds):
        v = tune.copy()
        if r % 2:                                   # a variation: some notes an octave-neighbour
            flip = rng.random(v.size) < 0.08
            v["pitch"][flip] = degrees_to_pitches(rng.integers(-1, 8, flip.sum()), tonic, mode)
        lead_notes.append(shift(v, r * round_beats))
    lead_notes = concat(*lead_notes)
    total = rounds * round_beats
    roots = np.asarray(_CHORDS[mode])[rng.integers(0, 3, int(total // bpb))]
    roots[::8] = 0
    steps = np.asarray(SCALES[mode])
    chord_t = np.arange(roots.size) * bpb
    triads = tonic - 12 + steps[(roots[:, None] + [0, 2, 4]) % 7] + 12 * ((roots[:, None] + [0, 2, 4]) // 7)
    strum_t = (chord_t[:, None] + np.arange(0, bpb, 1 if bpb != 3 else 1.5)).ravel()
    strum_p = np.repeat(triads, len(np.arange(0, bpb, 1 if bpb != 3 else 1.5)), axis=0)
    chords = make_notes(np.repeat(strum_t, 3) + np.tile([0, 0.02, 0.04], strum_t.size), 0.9,
                        strum_p.ravel(), 50)
    bass = make_notes(chord_t, bpb * 0.9, tonic - 24 + steps[roots], 66)
    parts = [Part(lead, program, lead_notes, pan=54),
             Part("guitar", int(rng.choice([24, 25])), chords, pan=80),
             Part("bass", int(rng.choice([32, 33, 43])), bass, pan=64)]
    if wants_drone or rng.random() < 0.2:
        parts.append(Part("drone", program if wants_drone else 21,
                          drone(0, total, [tonic - 12, tonic - 5], 48, every=strain_beats)))
    if kind != "air" and rng.random() < 0.6:      # bodhran: frame drum on the beat
        parts.append(Part("bodhran", 0, drum_cycle({41: "x" + "o" * (bpb - 1)}, 1, 0,
                                                   int(total // bpb), 80, rng), drums=True))
    meta = {"generator": "folk", "seed": seed, "tune_type": kind, "mode": mode, "tonic": tonic,
            "lead": lead, "bpm": round(bpm, 2), "rounds": rounds}
    return Piece(tuple(parts), bpm, meta)
