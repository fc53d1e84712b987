"""Chord charts for MMA: progressions in jazz, popular, Latin and folk idioms, and a melody on top.

A chart is a list of bars, each a list of chords ``(root_pc, quality)``;
:func:`mma_text` writes it as an MMA song in a groove at a tempo, and
:func:`chart_melody` writes a lead line (chord tones on the beats, scale
steps between) that :mod:`.midi_ops` lays over MMA's accompaniment.
"""

from __future__ import annotations

import numpy as np

from .notes import Part, make_notes

__all__ = ["GROOVES", "LEADS", "QUALITIES", "PROGRESSIONS", "make_chart", "mma_text",
           "chart_melody", "chord_name"]

#: MMA grooves (file names of MMA's standard library) per domain, with a tempo range.
GROOVES: dict[str, tuple[tuple[str, int, int], ...]] = {
    "jazz": (("Swing", 110, 180), ("Bebop", 170, 230), ("JazzWaltz", 110, 160),
             ("BigBand", 120, 180), ("Dixie", 150, 200), ("JazzCombo", 110, 170),
             ("JazzGuitar", 100, 150), ("EasySwing", 90, 140), ("FastSwing", 180, 240),
             ("SlowJazz", 60, 90), ("ModernJazz", 120, 180), ("Blues", 80, 120),
             ("SlowBlues", 60, 80), ("BossaNova", 120, 150), ("GypsyJazz", 160, 220),
             ("NiteJazz", 80, 120), ("MellowJazz", 80, 110), ("Ragtime", 90, 120),
             ("68Swing", 100, 140), ("Charleston", 180, 220)),
    "popular": (("50sRock", 140, 180), ("60sRock", 120, 160), ("8Beat", 100, 130),
                ("BasicRock", 110, 140), ("Ballad", 60, 80), ("PopBallad", 65, 85),
                ("SoftRock", 90, 120), ("RockBallad", 60, 80), ("FolkRock", 110, 140),
                ("JazzRock", 110, 140), ("R&B", 90, 120), ("Ska", 140, 170), ("Twist", 150, 170),
                ("Trance", 125, 140), ("BvFunk", 95, 115), ("DSoul", 80, 100),
                ("CountrySwing", 140, 180), ("Salsa", 160, 200), ("Samba", 90, 110),
                ("Rhumba", 100, 130), ("Mambo", 160, 200), ("ChaCha", 110, 130),
                ("Tango", 110, 130), ("Merengue", 120, 150), ("Calypso", 100, 130),
                ("Bolero", 90, 110), ("Beguine", 100, 130), ("Son", 90, 120),
                ("Zydeco", 130, 160), ("Polka", 110, 130), ("Foxtrot", 110, 130),
                ("Showtune", 100, 130)),
    "folk": (("Folk", 90, 130), ("FolkBallad", 70, 100), ("BlueGrass", 130, 180),
             ("CountryWaltz", 100, 140), ("BlueFolk", 80, 110), ("HillCountry", 100, 130),
             ("Hymn", 70, 100), ("Spiritual", 80, 110), ("Waltz", 120, 150)),
    "world": (("Desert", 90, 120), ("Afro-Cuban", 100, 130)),
}
#: Lead instruments (GM programs) over the accompaniment, per domain.
LEADS = {
    "jazz": (66, 65, 56, 57, 11, 0, 26, 71, 73, 64),
    "popular": (80, 81, 30, 29, 4, 0, 22, 65, 53, 27, 5, 62),
    "folk": (110, 22, 105, 21, 73, 25),
    "world": (111, 104, 107, 110, 73),
}
#: Chord qualities: MMA suffix -> semitones above the root.
QUALITIES = {"": (0, 4, 7), "m": (0, 3, 7), "7": (0, 4, 7, 10), "m7": (0, 3, 7, 10),
             "M7": (0, 4, 7, 11), "m7b5": (0, 3, 6, 10), "6": (0, 4, 7, 9), "m6": (0, 3, 7, 9),
             "9": (0, 4, 7, 10, 14), "dim7": (0, 3, 6, 9), "sus4": (0, 5, 7)}
_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
#: Progressions per domain: bars of (semitones above the key, quality) chords.
PROGRESSIONS: dict[str, tuple[tuple[tuple[tuple[int, str], ...], ...], ...]] = {
    "jazz": (
        (((2, "m7"),), ((7, "7"),), ((0, "M7"),), ((0, "M7"),)),                     # ii-V-I
        (((0, "7"),), ((5, "7"),), ((0, "7"),), ((0, "7"),), ((5, "7"),), ((5, "7"),),
         ((0, "7"),), ((9, "7"),), ((2, "m7"),), ((7, "7"),), ((0, "7"), (9, "7")),
         ((2, "m7"), (7, "7"))),                                                      # jazz blues
        (((0, "6"), (9, "m7")), ((2, "m7"), (7, "7")), ((0, "6"), (9, "m7")), ((2, "m7"), (7, "7")),
         ((0, "7"),), ((5, "7"),), ((2, "m7"), (7, "7")), ((0, "6"),)),               # rhythm changes A
        (((2, "m7b5"),), ((7, "7"),), ((0, "m7"),), ((0, "m6"),)),                   # minor ii-V-i
        (((0, "M7"),), ((9, "m7"),), ((2, "m7"),), ((7, "7"),), ((4, "m7"),), ((9, "7"),),
         ((2, "m7"),), ((7, "7"),)),                                                  # I-vi-ii-V
    ),
    "popular": (
        (((0, ""),), ((7, ""),), ((9, "m"),), ((5, ""),)),                            # I-V-vi-IV
        (((9, "m"),), ((5, ""),), ((0, ""),), ((7, ""),)),                            # vi-IV-I-V
        (((0, ""),), ((9, "m"),), ((5, ""),), ((7, ""),)),                            # 50s
        (((0, ""),), ((5, ""),), ((7, ""),), ((5, ""),)),                             # I-IV-V-IV
        (((0, "7"),),) * 4 + (((5, "7"),),) * 2 + (((0, "7"),),) * 2 + (((7, "7"),), ((5, "7"),),
                                                                        ((0, "7"),), ((7, "7"),)),
        (((0, "m"),), ((5, "m"),), ((7, "7"),), ((0, "m"),)),                         # i-iv-V-i
        (((0, "m"),), ((10, ""),), ((8, ""),), ((7, "7"),)),                          # andalusian
    ),
    "folk": (
        (((0, ""),), ((5, ""),), ((0, ""),), ((7, ""),)),
        (((0, ""),), ((0, ""),), ((5, ""),), ((0, ""),), ((0, ""),), ((7, ""),), ((7, "7"),),
         ((0, ""),)),
        (((0, "m"),), ((10, ""),), ((0, "m"),), ((7, "m"),)),                         # dorian/aeolian
        (((0, ""),), ((10, ""),), ((0, ""),), ((0, ""),)),                            # mixolydian
    ),
    "world": (
        (((0, ""),), ((1, ""),), ((0, ""),), ((10, "m"),)),                           # hijaz-like
        (((0, "m"),), ((0, "m"),), ((5, "m"),), ((7, ""),)),
    ),
}


def chord_name(root_pc: int, quality: str) -> str:
    """MMA's name of a chord, e.g. ``(10, "m7") -> "Bbm7"``."""
    return _NAMES[root_pc % 12] + quality


def make_chart(rng: np.random.Generator, domain: str, bars: int, key_pc: int) -> list:
    """``bars`` bars of chords: progressions of ``domain`` strung together, ending on the key.

    Returns a list (length ``bars``) of lists of ``(root_pc, quality)``.
    """
    chart: list = []
    options = PROGRESSIONS[domain]
    while len(chart) < bars:
        prog = options[rng.integers(len(options))]
        for _ in range(int(rng.integers(1, 3))):             # play a progression once or twice
            chart.extend([[((key_pc + r) % 12, q) for r, q in bar] for bar in prog])
    chart = chart[:bars]
    chart[-1] = [(key_pc, chart[0][0][1])]
    return chart


def mma_text(chart: list, groove: str, bpm: float) -> str:
    """An MMA song: tempo, groove and one numbered line per bar."""
    lines = [f"Tempo {bpm:.1f}", f"Groove {groove}"]
    lines += [f"{i} " + " ".join(chord_name(r, q) for r, q in bar) for i, bar in enumerate(chart, 1)]
    return "\n".join(lines) + "\n"


def chart_melody(rng: np.random.Generator, chart: list, beats_per_bar: int, program: int,
                 swing: bool = False, lo: int = 62, hi: int = 84) -> Part:
    """A lead line over ``chart``: chord tones on the beats, neighbours between, rests at phrase ends.

    Returns a :class:`Part` whose notes start at beat 0 of bar 1 (times in beats).
    """
    cells = ((1, 1), (0.5, 0.5, 1), (0.5, 0.5, 0.5, 0.5), (2,), (1.5, 0.5), (1, 0.5, 0.5))
    starts, durs, pitches = [], [], []
    p = (lo + hi) // 2
    for b, bar in enumerate(chart):
        if b % 8 == 7 and rng.random() < 0.7:
            continue                                          # breathe at the end of a phrase
        per_chord = beats_per_bar / len(bar)
        for c, (root, quality) in enumerate(bar):
            tones = {(root + i) % 12 for i in QUALITIES[quality]}
            t = b * beats_per_bar + c * per_chord
            end = t + per_chord
            while t < end - 1e-9:
                for d in cells[rng.integers(len(cells))]:
                    if t >= end - 1e-9:
                        break
                    d = min(d, end - t)
                    on_beat = abs(t - round(t)) < 1e-9
                    cands = np.arange(lo, hi + 1)
                    if on_beat:
                        cands = cands[np.isin(cands % 12, list(tones))]
                    else:
                        cands = cands[np.abs(cands - p) <= 2]
                    p = int(cands[np.argmin(np.abs(cands - p) + rng.random(cands.size) * 5)])
                    swing_shift = 0.17 if swing and not on_beat and abs(t % 1 - 0.5) < 1e-9 else 0.0
                    starts.append(t + swing_shift)
                    durs.append(d * 0.9 - swing_shift)
                    pitches.append(p)
                    t += d
    vel = 88 + rng.integers(-10, 8, len(pitches))
    return Part("lead", program, make_notes(starts, durs, pitches, vel))
