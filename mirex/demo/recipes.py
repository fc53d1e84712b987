"""The genres of the synthesiser: what each composes, plays and how it is mixed.

A :class:`_Recipe` per genre gives the tempo range (BPM), metre, grid, swing,
modes and chord progressions, the drum patterns (level in dB) and the pitched
parts (:class:`_Part`, :class:`_Melody`), and the reverb (wet gain, T60 in
seconds). :data:`GENRES` lists them in the order tasks use.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GENRES", "MODES"]

#: The Western modes, as semitone offsets from the tonic (also the corpus
#: renderer's, tools/corpus/scales.py).
MODES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
}


@dataclass(frozen=True)
class _Part:
    """A pitched part driven by a one-bar pattern.

    Pattern characters, one per grid step: ``X`` / ``x`` / ``o`` hit at full /
    medium / ghost velocity, ``?`` a hit on half of the bars, ``-`` holds the
    previous note, ``.`` is a rest.  Bass patterns use pitch letters instead:
    ``R`` root, ``F`` fifth, ``O`` octave, ``T`` third, ``W`` walking line.
    """

    instrument: str
    pattern: str = ""
    level_db: float = 0.0
    octave: int = 3  # MIDI register: notes start at 12 * (octave + 1)
    gate: float = 0.9  # sounding fraction of the written length
    voices: int = 3  # chord tones per hit (comp / pad)
    with_bass: bool = False  # comp: add the chord root an octave below
    strum: float = 0.0  # seconds between successive chord tones
    span: tuple[int, int] = (3, 20)  # chord-tone range, semitones above the register


@dataclass(frozen=True)
class _Melody:
    """A melody: a repeated rhythmic motif over a scale-degree random walk."""

    instrument: str
    density: float  # probability of a note onset per slot
    grid: int  # grid steps per melody slot
    max_len: int  # longest note, in slots
    level_db: float = 0.0
    octave: int = 4
    gate: float = 0.9
    motif_bars: int = 2


@dataclass(frozen=True)
class _Recipe:
    """How one genre is composed, arranged and mixed."""

    tempo: tuple[float, float]  # beats per minute
    beats_per_bar: int
    steps_per_beat: int
    swing: float  # delay of odd grid steps, as a fraction of a step
    modes: tuple[str, ...]
    progressions: tuple[tuple[int, ...], ...]  # scale degrees, 0 = tonic
    beats_per_chord: int
    chord: str  # "power", "triad" or "seventh"
    drums: tuple[tuple[str, str, float], ...] = ()  # (drum, pattern, level dB)
    bass: _Part | None = None
    comp: _Part | None = None
    pad: _Part | None = None
    melody: _Melody | None = None
    reverb: float = 0.2  # wet gain
    reverb_time: float = 1.2  # seconds to decay by 60 dB
    timing_jitter: float = 0.005  # seconds (standard deviation)


_RECIPES: dict[str, _Recipe] = {
    # Static modal drone: one sustained open fifth for the whole clip, a slow
    # reed melody with long notes, no percussion, long reverb.
    "drone": _Recipe(
        tempo=(40.0, 60.0), beats_per_bar=4, steps_per_beat=1, swing=0.0,
        modes=("dorian", "mixolydian", "phrygian", "minor"),
        progressions=((0,),), beats_per_chord=1 << 16, chord="power",
        pad=_Part("drone", level_db=0.0, octave=2, voices=3),
        melody=_Melody("reed", density=0.35, grid=1, max_len=6, level_db=-5.0,
                       octave=4, gate=0.95, motif_bars=2),
        reverb=0.45, reverb_time=2.5, timing_jitter=0.02,
    ),
    # 2/4 military march: bass drum on the beats, snare cadence in 16ths,
    # tuba oom-pah, brass after-beats and a dotted brass melody, major key.
    "march": _Recipe(
        tempo=(104.0, 128.0), beats_per_bar=2, steps_per_beat=4, swing=0.0,
        modes=("major",),
        progressions=((0, 3, 4, 0), (0, 4, 4, 0), (0, 0, 3, 4)),
        beats_per_chord=2, chord="triad",
        drums=(("kick", "X...x...", -3.0), ("snare", "X.xxx.ox", -7.0),
               ("crash", "?.......", -16.0)),
        bass=_Part("tuba", "R-..F-..", level_db=-3.0, octave=2, gate=0.7),
        comp=_Part("brass", "..x-..x-", level_db=-10.0, octave=4, gate=0.6),
        melody=_Melody("brass", density=0.7, grid=2, max_len=3, level_db=-4.0,
                       octave=4, gate=0.85),
        reverb=0.15, reverb_time=1.0,
    ),
    # 3/4 waltz: bass note on one, piano chords on two and three, a bowed
    # string melody with vibrato; no percussion.
    "waltz": _Recipe(
        tempo=(140.0, 180.0), beats_per_bar=3, steps_per_beat=2, swing=0.0,
        modes=("major", "harmonic_minor"),
        progressions=((0, 0, 4, 4, 4, 4, 0, 0), (0, 3, 4, 0), (0, 5, 1, 4)),
        beats_per_chord=3, chord="triad",
        bass=_Part("piano", "R-----", level_db=-2.0, octave=2, gate=0.9),
        comp=_Part("piano", "..x-x-", level_db=-6.0, octave=4, gate=0.8),
        melody=_Melody("strings", density=0.5, grid=2, max_len=3, level_db=-2.0,
                       octave=4, gate=0.95),
        reverb=0.3, reverb_time=1.6,
    ),
    # Medium/up-tempo swing: ride cymbal "ding ding-a ding" with swung
    # eighths, hi-hat on two and four, walking plucked bass, Charleston piano
    # comping on seventh chords (ii-V-I), vibraphone melody.
    "swing": _Recipe(
        tempo=(130.0, 200.0), beats_per_bar=4, steps_per_beat=2, swing=1.0 / 3.0,
        modes=("major",),
        progressions=((1, 4, 0, 0), (0, 5, 1, 4), (2, 5, 1, 4)),
        beats_per_chord=4, chord="seventh",
        drums=(("ride", "x.Xox.Xo", -9.0), ("hat", "..x...x.", -12.0),
               ("kick", "o.o.o.o.", -20.0), ("snare", "...?..?.", -20.0)),
        bass=_Part("upright", "W-W-W-W-", level_db=-1.0, octave=2, gate=0.95),
        comp=_Part("epiano", "x-.x-...", level_db=-8.0, octave=3, gate=0.6, voices=4),
        melody=_Melody("vibes", density=0.45, grid=1, max_len=3, level_db=-6.0,
                       octave=4, gate=0.9),
        reverb=0.2, reverb_time=1.2,
    ),
    # Four-on-the-floor techno: kick every beat, clap on two and four, open
    # hat on the off-beats, 16th closed hats, a syncopated FM acid bass on one
    # minor chord, sparse FM stabs and a quiet pad; machine-tight timing.
    "techno": _Recipe(
        tempo=(124.0, 138.0), beats_per_bar=4, steps_per_beat=4, swing=0.0,
        modes=("minor", "phrygian", "dorian"),
        progressions=((0,), (0, 0, 5, 5), (0, 0, 0, 6)), beats_per_chord=16,
        chord="triad",
        drums=(("kick", "X...X...X...X...", 0.0), ("clap", "....x.......x...", -9.0),
               ("open_hat", "..x...x...x...x.", -14.0),
               ("hat", "xoxoxoxoxoxoxoxo", -16.0)),
        bass=_Part("acid", "..R...RO..R.R.R.", level_db=-3.0, octave=2, gate=0.5),
        comp=_Part("stab", "?.....?...?.....", level_db=-13.0, octave=4, gate=0.4),
        pad=_Part("pad", level_db=-16.0, octave=4),
        reverb=0.12, reverb_time=0.9, timing_jitter=0.0,
    ),
    # Four-part chorale: homophonic organ chords changing on every beat with
    # voice leading, cadential phrases, slow tempo, no percussion, big hall.
    "chorale": _Recipe(
        tempo=(56.0, 80.0), beats_per_bar=4, steps_per_beat=1, swing=0.0,
        modes=("major", "harmonic_minor"),
        progressions=((0, 3, 4, 0, 5, 1, 4, 0), (0, 5, 3, 4, 0, 3, 4, 4),
                      (0, 4, 5, 2, 3, 0, 4, 0)),
        beats_per_chord=1, chord="triad",
        comp=_Part("organ", "xxxx", level_db=0.0, octave=4, gate=0.97,
                   voices=3, with_bass=True, span=(-5, 14)),
        reverb=0.45, reverb_time=2.8, timing_jitter=0.01,
    ),
    # 6/8 jig: a continuous fiddle line in eighth notes, strummed plucked
    # chords and a frame drum; major / modal, lively.
    "jig": _Recipe(
        tempo=(105.0, 125.0), beats_per_bar=2, steps_per_beat=3, swing=0.0,
        modes=("major", "mixolydian", "dorian"),
        progressions=((0, 0, 6, 6), (0, 3, 0, 4), (0, 4, 0, 4)),
        beats_per_chord=2, chord="triad",
        drums=(("frame_drum", "X.ox.o", -8.0),),
        comp=_Part("guitar", "x.xx.x", level_db=-7.0, octave=3, gate=0.9,
                   voices=4, strum=0.012),
        melody=_Melody("fiddle", density=0.9, grid=1, max_len=2, level_db=-1.0,
                       octave=4, gate=0.9),
        reverb=0.15, reverb_time=1.0,
    ),
    # Slow one-drop reggae: kick and rim-shot together on beat three, off-beat
    # guitar skank, a heavy syncopated sub bass and a sparse melodica, minor.
    "reggae": _Recipe(
        tempo=(66.0, 82.0), beats_per_bar=4, steps_per_beat=4, swing=0.15,
        modes=("minor", "dorian"),
        progressions=((0, 3), (0, 6), (0, 5, 6, 0)), beats_per_chord=4,
        chord="triad",
        drums=(("kick", "........X.......", -2.0), ("rim", "........X.......", -9.0),
               ("hat", "x.x.x.x.x.x.x.x.", -17.0)),
        bass=_Part("sub", "R-.R..F-R---..O.", level_db=0.0, octave=2, gate=0.85),
        comp=_Part("skank", "....x.......x...", level_db=-7.0, octave=4, gate=0.5),
        melody=_Melody("melodica", density=0.2, grid=2, max_len=3, level_db=-8.0,
                       octave=4, gate=0.9),
        reverb=0.3, reverb_time=1.8,
    ),
}

#: Names of the synthetic classes, in the order :func:`make_task` uses them.
GENRES: tuple[str, ...] = tuple(_RECIPES)
