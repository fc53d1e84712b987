"""Non-Western idioms: maqam, raga, Japanese, Chinese, gamelan and West African textures.

Each style is a modal melody (in 12-tone approximations of its scale, see
:mod:`..scales`) over what carries that music: a drone (maqam, raga), a
cyclic drum pattern (maqsum, teental, 12/8 bell pattern), a colotomic gong
cycle and interlocking elaborations (gamelan), ostinati (kalimba, koto).
General MIDI has no oud, tabla or gender, so the nearest patches stand in
(nylon guitar or koto for oud and qanun, bongos and congas for darbuka and
tabla, tinkle bell and kalimba for gamelan metallophones).  Generated music:
the manifest says ``generator: world`` and the style.
"""

from __future__ import annotations

import numpy as np

from ..notes import Part, Piece, make_notes
from ..scales import degrees_to_pitches
from .common import concat, drone, drum_cycle, melody, rhythm, scale_size, shift

__all__ = ["STYLES", "compose"]

#: style -> (scales, lead programs, bpm range, cycle (beats), drum pattern {key: steps}, step)
STYLES = {
    "maqam": (("hijaz", "bayati", "rast", "nahawand", "saba", "hijazkar"),
              (24, 107, 46, 110, 73), (80, 110), 4,
              {64: "x..x.x..", 60: "..x..x.x", 54: "o.o.o.o."}, 0.5),
    "raga": (("bhairav", "yaman", "kafi", "todi", "bhupali"),
             (104, 111, 15, 73), (60, 96), 16,
             {64: "x...x...x...x...", 60: "x.x.x.x.x.x.x.x.", 62: "..o...o...o...o."}, 1.0),
    "japanese": (("in_sen", "hirajoshi", "yo"), (107, 106, 77), (56, 84), 8,
                 {}, 1.0),
    "chinese": (("major_pentatonic", "yo"), (110, 111, 107, 72, 105), (70, 110), 8,
                {76: "x.o.x.o.", 52: "x.......", 77: "..x...x."}, 0.5),
    "gamelan": (("pelog", "slendro"), (108, 112, 13, 11), (60, 96), 16, {}, 1.0),
    "african": (("major_pentatonic", "minor_pentatonic", "mixolydian"), (108, 12, 13),
                (96, 132), 6, {67: "x.x.xx.x.x.x", 63: "x..o..x..o..", 64: "...x.....x..",
                               70: "oxoxoxoxoxox"}, 0.5),
}


def _phrase_melody(rng, t0, beats, cells, scale, tonic, density=1.0):
    """A phrase that is repeated with variation (motif, then answer), filling ``beats``."""
    half = beats / 2
    n = scale_size(scale)
    motif = melody(rng, 0.0, rhythm(rng, cells, half) * density, scale, tonic, -2, n + 3,
                   start=int(rng.integers(0, n)), end=None)
    answer = melody(rng, 0.0, rhythm(rng, cells, half) * density, scale, tonic, -2, n + 3,
                    start=int(motif["pitch"].size and 2), end=0)
    motif = motif[motif["start"] < half]
    answer = answer[answer["start"] < half]
    return concat(shift(motif, t0), shift(answer, t0 + half))


def _gamelan_layers(rng, scale, tonic, cycles, cycle):
    """Balungan (core melody, 1 note a beat), peking (4 a beat, ornamenting) and gongs."""
    n = scale_size(scale)
    core = rng.integers(0, n + 2, cycle)
    core[-1] = 0
    deg = np.tile(core, cycles)
    balungan = make_notes(np.arange(deg.size, dtype=float), 0.9,
                          degrees_to_pitches(deg, tonic, scale), 76)
    fast = np.repeat(deg, 4) + np.tile([0, 1, 0, 1], deg.size) * (rng.random(deg.size * 4) < 0.7)
    peking = make_notes(0.25 * np.arange(fast.size), 0.3, degrees_to_pitches(fast, tonic + 12, scale),
                        64 + rng.integers(-8, 9, fast.size))
    gong_t = np.arange(cycles) * cycle + cycle - 1
    gongs = concat(*[drone(t, 4.0, [tonic - 24], 90) for t in gong_t],
                   *[drone(t - cycle / 2, 2.0, [tonic - 12], 70) for t in gong_t])
    return balungan, peking, gongs


def compose(seed: int, seconds: float) -> Piece:
    """A piece of about ``seconds`` in one of :data:`STYLES` (chosen by ``seed``).

    Returns a :class:`Piece`: lead melody, drone or ostinato, and percussion
    where the style has it; ``meta`` names style, scale, tonic, lead, tempo.
    """
    rng = np.random.default_rng(seed)
    style = str(rng.choice(sorted(STYLES)))
    scales, leads, (lo_bpm, hi_bpm), cycle, drums, step = STYLES[style]
    scale = str(rng.choice(scales))
    lead = int(rng.choice(leads))
    tonic = int(rng.integers(57, 67))
    bpm = float(rng.uniform(lo_bpm, hi_bpm))
    beats = seconds * bpm / 60
    cycles = max(2, int(round(beats / cycle)))
    total = cycles * cycle
    parts: list[Part] = []
    if style == "gamelan":
        bal, pek, gong = _gamelan_layers(rng, scale, tonic, cycles, cycle)
        parts += [Part("balungan", int(rng.choice([11, 12, 13])), bal, pan=50),
                  Part("peking", lead, pek, pan=78),
                  Part("gong", 14, gong, pan=64)]
    else:
        cells = ((1, 1), (0.5, 0.5, 1), (2,), (1.5, 0.5), (0.5, 0.5, 0.5, 0.5))
        if style in ("japanese", "raga") and rng.random() < 0.5:
            cells = ((2, 1, 1), (3, 1), (4,), (1, 1, 2))          # slow, spacious (alap, honkyoku)
        phrase = 2 * cycle if cycle >= 8 else 4 * cycle
        lines = []
        for k in range(int(np.ceil(total / phrase))):
            if k % 4 == 1:
                lines.append(shift(lines[-1], phrase))            # repeat a phrase, as players do
            else:
                lines.append(_phrase_melody(rng, k * phrase, phrase, cells, scale, tonic))
        line = concat(*lines)
        line = line[line["start"] < total]
        parts.append(Part("lead", lead, line, pan=56))
        if style in ("maqam", "raga"):
            pitches = [tonic - 12, tonic - 5] if style == "raga" else [tonic - 12]
            parts.append(Part("drone", 104 if style == "raga" else 48,
                              drone(0, total, pitches, 44, every=cycle if style == "raga" else 2 * cycle)))
        if style in ("japanese", "chinese", "african"):
            ost = rng.integers(0, scale_size(scale) + 1, 4)
            durs = np.full(int(total / (cycle / 4)), cycle / 4)
            notes = melody(rng, 0, durs, scale, tonic - 12, 0, 0, end=None, vel=60)
            notes["pitch"] = degrees_to_pitches(np.tile(ost, durs.size // 4 + 1)[:durs.size],
                                                tonic - 12, scale)
            parts.append(Part("ostinato", {"japanese": 107, "chinese": 46, "african": 108}[style],
                              notes, pan=76))
        if style == "japanese" and rng.random() < 0.5:
            parts.append(Part("taiko", 116, drum_cycle({tonic - 24: "x......o"}, 1.0, 0, cycles, 96, rng)))
    if drums:
        n_cycles = int(round(total / (len(next(iter(drums.values()))) * step)))
        parts.append(Part("percussion", 0, drum_cycle(drums, step, 0, n_cycles, 84, rng), drums=True))
    meta = {"generator": "world", "seed": seed, "style": style, "scale": scale, "tonic": tonic,
            "lead_program": lead, "bpm": round(bpm, 2), "cycle_beats": cycle}
    return Piece(tuple(parts), bpm, meta)
