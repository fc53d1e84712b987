"""Deterministic synthetic music for classification demos and tests.

A small additive / FM / Karplus-Strong synthesiser renders short pieces in a
handful of *genres*.  The classes differ in musical content -- metre and rhythm
pattern, tempo range, mode and chord progression, instrumentation, texture and
note density -- and **not** in loudness or in any single frequency:

* every clip draws its own key (any of the 12 pitch classes), its tempo from
  the genre's range, its mode and progression from the genre's choices, a new
  melody and new instrument and drum parameters;
* every clip is normalised to the same RMS level (``target_dbfs``, -20 dBFS by
  default) with a small uniform random gain (+-``gain_jitter_db``), and a faint
  noise floor is added.

Everything is pure NumPy / SciPy and deterministic: a clip is a function of
``(genre, seed, duration, sr)`` only (the random generator is
:func:`numpy.random.default_rng` seeded from ``(genre index, seed)``).

Public API
----------
GENRES
    Names of the classes, in a fixed order (:func:`make_task` takes the first
    ``n_classes`` of them).
synthesize_clip
    Render one clip as a float32 mono array.
make_task
    Write a labelled classification task (WAV files and list files) to disk.

Examples
--------
>>> from mirex.synth import GENRES, synthesize_clip
>>> y = synthesize_clip("waltz", seed=3, duration=5.0)
>>> y.shape, y.dtype
((110250,), dtype('float32'))
"""

from __future__ import annotations

import io
import itertools
import json
import os
from dataclasses import dataclass

import numpy as np
import scipy.signal
import soundfile as sf

from mirex.constants import SAMPLE_RATE
from mirex.fileio import atomic_write_bytes, atomic_write_text

__all__ = ["GENRES", "synthesize_clip", "make_task"]

#: Version of the synthesis algorithm; recorded by :func:`make_task` so that a
#: task written by another version is regenerated rather than reused.
SYNTH_VERSION = 2

#: Length of one wavetable cycle, in samples (a power of two).
_TABLE = 2048

#: Name of the manifest :func:`make_task` keeps next to the list files.
_MANIFEST = "synth_manifest.json"

# Scales as semitone offsets from the tonic.
_MODES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
}


# --------------------------------------------------------------------------
# Recipes
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Instruments
# --------------------------------------------------------------------------

# Per-instrument parameter ranges; each clip draws one value per range.
# kind "table": wavetable oscillator with a bright-to-dull crossfade,
#   tilt = spectral slope (harmonic h has amplitude h**-tilt), even = weight of
#   even harmonics, bright = slope at the attack, bright_tau = seconds for the
#   attack brightness to fade, attack/decay/release in seconds, sustain level,
#   vib = vibrato depth in cents, vib_rate in Hz, detune = cents between two
#   voices (0: one voice).
# kind "pluck": Karplus-Strong string, decay = seconds to -60 dB,
#   smooth = width of the moving average applied to the excitation.
# kind "fm": two-operator FM, ratio = modulator / carrier, index = peak
#   modulation index, index_tau = seconds for the index to decay.
_INSTRUMENTS: dict[str, dict[str, object]] = {
    "drone": dict(kind="table", tilt=(1.1, 1.5), even=(0.4, 0.8), nh=30,
                  attack=(1.0, 3.0), decay=(1e9, 1e9), sustain=(1.0, 1.0),
                  release=(1.5, 2.5), vib=(0.0, 0.0), vib_rate=(5.0, 5.0),
                  detune=(3.0, 8.0), trem=(0.05, 0.15)),
    "reed": dict(kind="table", tilt=(0.8, 1.2), even=(0.1, 0.35), nh=20,
                 attack=(0.06, 0.15), decay=(1e9, 1e9), sustain=(1.0, 1.0),
                 release=(0.1, 0.25), vib=(8.0, 20.0), vib_rate=(4.5, 6.0),
                 detune=(0.0, 0.0)),
    "brass": dict(kind="table", tilt=(1.5, 1.9), even=(0.8, 1.0), nh=24,
                  bright=(0.6, 0.9), bright_tau=(0.08, 0.2),
                  attack=(0.02, 0.04), decay=(0.2, 0.5), sustain=(0.6, 0.8),
                  release=(0.05, 0.1), vib=(4.0, 10.0), vib_rate=(5.0, 6.0),
                  detune=(0.0, 0.0)),
    "tuba": dict(kind="table", tilt=(1.8, 2.3), even=(0.8, 1.0), nh=16,
                 bright=(1.0, 1.3), bright_tau=(0.05, 0.1),
                 attack=(0.03, 0.05), decay=(0.2, 0.4), sustain=(0.6, 0.8),
                 release=(0.05, 0.08), vib=(0.0, 0.0), vib_rate=(5.0, 5.0),
                 detune=(0.0, 0.0)),
    "strings": dict(kind="table", tilt=(1.0, 1.3), even=(0.7, 1.0), nh=30,
                    attack=(0.1, 0.25), decay=(1e9, 1e9), sustain=(1.0, 1.0),
                    release=(0.2, 0.4), vib=(15.0, 30.0), vib_rate=(5.0, 6.5),
                    detune=(4.0, 9.0)),
    "piano": dict(kind="table", tilt=(2.0, 2.6), even=(0.7, 1.0), nh=24,
                  bright=(0.9, 1.2), bright_tau=(0.05, 0.12),
                  attack=(0.002, 0.006), decay=(0.5, 1.2), sustain=(0.0, 0.0),
                  release=(0.08, 0.15), vib=(0.0, 0.0), vib_rate=(5.0, 5.0),
                  detune=(0.0, 2.0)),
    "epiano": dict(kind="fm", ratio=(1.0, 1.0), index=(1.0, 2.2),
                   index_tau=(0.1, 0.3), attack=(0.002, 0.005),
                   decay=(0.6, 1.2), release=(0.05, 0.1)),
    "vibes": dict(kind="fm", ratio=(4.0, 4.0), index=(0.8, 1.6),
                  index_tau=(0.05, 0.15), attack=(0.001, 0.003),
                  decay=(0.5, 1.0), release=(0.1, 0.2), trem=(0.1, 0.3)),
    "upright": dict(kind="pluck", decay=(0.8, 1.6), smooth=(3, 6),
                    release=(0.04, 0.08)),
    "guitar": dict(kind="pluck", decay=(1.0, 2.0), smooth=(1, 3),
                   release=(0.05, 0.1)),
    "acid": dict(kind="fm", ratio=(1.0, 2.0), index=(3.0, 7.0),
                 index_tau=(0.04, 0.12), attack=(0.002, 0.004),
                 decay=(0.15, 0.35), release=(0.02, 0.04)),
    "stab": dict(kind="fm", ratio=(1.0, 1.0), index=(2.0, 4.0),
                 index_tau=(0.05, 0.1), attack=(0.002, 0.005),
                 decay=(0.08, 0.2), release=(0.03, 0.06)),
    "pad": dict(kind="table", tilt=(1.0, 1.4), even=(0.8, 1.0), nh=24,
                attack=(0.5, 1.2), decay=(1e9, 1e9), sustain=(1.0, 1.0),
                release=(0.6, 1.0), vib=(0.0, 0.0), vib_rate=(5.0, 5.0),
                detune=(8.0, 14.0)),
    "organ": dict(kind="table", tilt=(0.9, 1.4), even=(0.9, 1.0), nh=16,
                  attack=(0.02, 0.05), decay=(1e9, 1e9), sustain=(1.0, 1.0),
                  release=(0.06, 0.12), vib=(0.0, 0.0), vib_rate=(5.0, 5.0),
                  detune=(0.0, 3.0)),
    "fiddle": dict(kind="table", tilt=(0.8, 1.1), even=(0.8, 1.0), nh=30,
                   attack=(0.02, 0.05), decay=(0.3, 0.6), sustain=(0.7, 0.85),
                   release=(0.04, 0.08), vib=(10.0, 25.0), vib_rate=(5.5, 7.0),
                   detune=(0.0, 0.0)),
    "sub": dict(kind="table", tilt=(2.5, 3.5), even=(1.0, 1.0), nh=3,
                attack=(0.005, 0.015), decay=(0.8, 1.5), sustain=(0.6, 0.8),
                release=(0.04, 0.08), vib=(0.0, 0.0), vib_rate=(5.0, 5.0),
                detune=(0.0, 0.0)),
    "skank": dict(kind="table", tilt=(0.9, 1.2), even=(0.6, 1.0), nh=30,
                  bright=(0.5, 0.7), bright_tau=(0.02, 0.04),
                  attack=(0.001, 0.003), decay=(0.05, 0.1), sustain=(0.0, 0.1),
                  release=(0.02, 0.04), vib=(0.0, 0.0), vib_rate=(5.0, 5.0),
                  detune=(0.0, 0.0)),
    "melodica": dict(kind="table", tilt=(1.1, 1.5), even=(0.3, 0.6), nh=24,
                     attack=(0.02, 0.05), decay=(1e9, 1e9), sustain=(1.0, 1.0),
                     release=(0.06, 0.1), vib=(0.0, 6.0), vib_rate=(4.0, 6.0),
                     detune=(3.0, 7.0)),
}


def _draw_params(name: str, rng: np.random.Generator) -> dict[str, float]:
    """Draw one clip's parameter values for instrument ``name``."""
    spec = _INSTRUMENTS[name]
    params: dict[str, float] = {}
    for key, value in spec.items():
        if isinstance(value, tuple):
            lo, hi = value
            params[key] = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
        else:
            params[key] = value  # type: ignore[assignment]
    return params


def _midi_to_hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def _wavetable(tilt: float, even: float, nh: int, f0: float, sr: int) -> np.ndarray:
    """One band-limited cycle, shape ``(_TABLE,)``, peak amplitude about 1.

    Harmonic ``h`` has amplitude ``h ** -tilt`` (times ``even`` when ``h`` is
    even); harmonics at or above 0.45 * ``sr`` are left out.
    """
    h = np.arange(1, nh + 1)
    h = h[h * f0 < 0.45 * sr]
    if h.size == 0:
        h = np.array([1])
    amps = h.astype(np.float64) ** -tilt
    amps[h % 2 == 0] *= even
    spec = np.zeros(_TABLE // 2 + 1, dtype=np.complex128)
    spec[h] = -0.5j * _TABLE * amps
    table = np.fft.irfft(spec, _TABLE)
    return (table / np.max(np.abs(table))).astype(np.float32)


def _envelope(m: int, length: int, sr: int, attack: float, decay: float,
              sustain: float, release: float, skip: int = 0) -> np.ndarray:
    """Amplitude envelope of a note, samples ``skip`` to ``skip + m``, shape ``(m,)``.

    Linear attack of ``attack`` s, exponential decay (time constant ``decay``
    s) towards ``sustain``, then a linear release of ``release`` s that starts
    at sample ``length`` (the end of the sounding note).
    """
    k = np.arange(skip, skip + m, dtype=np.float32)
    env = np.minimum(k / max(attack * sr, 1.0), 1.0)
    if sustain < 1.0:
        env *= sustain + (1.0 - sustain) * np.exp(-k / (decay * sr))
    first = max(length - skip, 0)
    if m > first:
        rel = 1.0 - (k[first:] - length) / max(release * sr, 1.0)
        env[first:] *= np.clip(rel, 0.0, 1.0)
    return env


def _karplus_strong(f0: float, m: int, sr: int, decay: float, smooth: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Karplus-Strong plucked string, shape ``(m,)``.

    ``y[n] = g/2 (y[n-N] + y[n-N-1])`` with a noise burst in the first period;
    computed a period at a time, so the cost is ``m / N`` vector operations.
    ``decay`` is the time for the fundamental to fall by 60 dB, in seconds.
    """
    period = max(2, int(round(sr / f0 - 0.5)))
    blocks = -(-m // period)
    z = np.zeros(1 + (blocks + 1) * period, dtype=np.float64)
    burst = rng.uniform(-1.0, 1.0, period)
    if smooth > 1:
        burst = np.convolve(burst, np.ones(smooth) / smooth, mode="same")
    z[1:1 + period] = burst - burst.mean()
    half_g = 0.5 * 10.0 ** (-3.0 / (decay * f0))
    for k in range(1, blocks + 1):
        a = 1 + k * period
        z[a:a + period] = half_g * (z[a - period:a] + z[a - period - 1:a - 1])
    out = z[1:1 + m]
    peak = np.max(np.abs(out[:period]))
    return (out / max(peak, 1e-9)).astype(np.float32)


def _render_note(name: str, p: dict, midi: float, length: int, m: int, sr: int,
                 rng: np.random.Generator, tables: dict, skip: int = 0) -> np.ndarray:
    """Render one note of instrument ``name``, shape ``(m,)``, peak about 1.

    ``length`` is the sounding length in samples; samples ``skip`` to
    ``skip + m`` of the note (counted from its onset) are rendered, so that
    the part of a note before the clip starts costs nothing.
    """
    f0 = _midi_to_hz(midi)
    kind = p["kind"]
    t = np.arange(skip, skip + m, dtype=np.float64) / sr
    if kind == "pluck":  # a recursion: render from the onset
        out = _karplus_strong(f0, skip + m, sr, p["decay"], int(p["smooth"]), rng)[skip:]
        return out * _envelope(m, length, sr, 0.0, 1.0, 1.0, p["release"], skip)
    if kind == "fm":
        index = p["index"] * np.exp(-t / p["index_tau"])
        ph = 2.0 * np.pi * f0 * t + rng.uniform(0, 2 * np.pi)
        out = np.sin(ph + index * np.sin(p["ratio"] * ph)).astype(np.float32)
        env = _envelope(m, length, sr, p["attack"], p["decay"], 0.0, p["release"], skip)
        if "trem" in p:
            env *= (1.0 - p["trem"] * (0.5 + 0.5 * np.sin(2 * np.pi * 5.0 * t))).astype(np.float32)
        return out * env
    # Wavetable instrument.
    key = (name, round(midi, 3))
    if key not in tables:
        dull = _wavetable(p["tilt"], p["even"], int(p["nh"]), f0, sr)
        bright = (_wavetable(p["bright"], p["even"], int(p["nh"]), f0, sr) - dull
                  if "bright" in p else None)
        tables[key] = (dull, bright)
    dull, bright = tables[key]
    detunes = (0.0,) if p["detune"] <= 0.0 else (-0.5 * p["detune"], 0.5 * p["detune"])
    out = np.zeros(m, dtype=np.float32)
    for cents in detunes:
        freq = f0 * 2.0 ** (cents / 1200.0)
        if p["vib"] > 0.0:
            depth = p["vib"] * np.log(2.0) / 1200.0
            onset = np.minimum(t / 0.3, 1.0)
            inst = freq * (1.0 + depth * onset * np.sin(2 * np.pi * p["vib_rate"] * t))
            phase = np.cumsum(inst) / sr + rng.random()
        else:
            phase = freq * t + rng.random()
        idx = (phase * _TABLE).astype(np.int64) & (_TABLE - 1)
        out += dull[idx]
        if bright is not None:
            out += bright[idx] * np.exp(-t / p["bright_tau"]).astype(np.float32)
    out *= 1.0 / len(detunes)
    env = _envelope(m, length, sr, p["attack"], p["decay"], p["sustain"], p["release"],
                    skip)
    if "trem" in p:
        rate = rng.uniform(0.1, 0.4)
        env *= (1.0 - p["trem"] * (0.5 + 0.5 * np.sin(2 * np.pi * rate * t))).astype(np.float32)
    return out * env


# --------------------------------------------------------------------------
# Drums
# --------------------------------------------------------------------------


def _filtered_noise(rng: np.random.Generator, n: int, sr: int, btype: str,
                    cutoff) -> np.ndarray:
    """White noise through a 2nd-order Butterworth filter, shape ``(n,)``."""
    nyq = 0.5 * sr
    wn = np.clip(np.asarray(cutoff, dtype=np.float64) / nyq, 1e-4, 0.95)
    sos = scipy.signal.butter(2, wn, btype=btype, output="sos")
    return scipy.signal.sosfilt(sos, rng.standard_normal(n))


def _drum(name: str, rng: np.random.Generator, sr: int) -> np.ndarray:
    """One drum hit with clip-specific tuning, shape ``(samples,)``, peak 1."""
    def time(seconds):
        return np.arange(int(seconds * sr)) / sr

    if name in ("kick", "frame_drum"):
        if name == "kick":
            f_hi, f_lo = rng.uniform(110, 170), rng.uniform(42, 60)
            tau_f, tau_a, dur = rng.uniform(0.025, 0.05), rng.uniform(0.1, 0.22), 0.45
        else:
            f_hi, f_lo = rng.uniform(120, 160), rng.uniform(70, 95)
            tau_f, tau_a, dur = rng.uniform(0.02, 0.04), rng.uniform(0.08, 0.16), 0.35
        t = time(dur)
        freq = f_lo + (f_hi - f_lo) * np.exp(-t / tau_f)
        y = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / tau_a)
        click = _filtered_noise(rng, t.size, sr, "lowpass", rng.uniform(2000, 5000))
        y += rng.uniform(0.1, 0.3) * click * np.exp(-t / 0.004)
    elif name == "snare":
        t = time(0.3)
        noise = _filtered_noise(rng, t.size, sr, "bandpass",
                                [rng.uniform(1000, 2500), rng.uniform(6000, 9000)])
        body = np.sin(2 * np.pi * rng.uniform(160, 240) * t)
        y = (noise * np.exp(-t / rng.uniform(0.06, 0.12))
             + rng.uniform(0.3, 0.7) * body * np.exp(-t / 0.04))
    elif name in ("hat", "open_hat", "crash"):
        tau, dur, lo = {"hat": ((0.02, 0.05), 0.15, (6000, 8500)),
                        "open_hat": ((0.12, 0.25), 0.6, (6000, 8500)),
                        "crash": ((0.6, 1.2), 2.5, (3000, 5000))}[name]
        t = time(dur)
        y = (_filtered_noise(rng, t.size, sr, "highpass", rng.uniform(*lo))
             * np.exp(-t / rng.uniform(*tau)))
    elif name == "ride":
        t = time(1.5)
        base = rng.uniform(300, 520)
        ratios = (1.0, 1.48, 1.97, 2.53, 3.11, 4.21)
        metal = sum(np.sign(np.sin(2 * np.pi * base * r * t + rng.uniform(0, 6.3)))
                    for r in ratios)
        sos = scipy.signal.butter(2, min(2500.0 / (0.5 * sr), 0.95), "highpass",
                                  output="sos")
        metal = scipy.signal.sosfilt(sos, metal)
        noise = _filtered_noise(rng, t.size, sr, "highpass", 5000.0)
        y = (0.4 * metal + noise) * np.exp(-t / rng.uniform(0.4, 0.8))
        y *= 0.3 + 0.7 * np.exp(-t / 0.03)  # stick attack
    elif name == "clap":
        t = time(0.35)
        noise = _filtered_noise(rng, t.size, sr, "bandpass",
                                [rng.uniform(800, 1200), rng.uniform(2500, 4000)])
        env = np.exp(-t / rng.uniform(0.08, 0.15))
        for delay in (0.0, 0.011, 0.022):
            env += np.where(t >= delay, np.exp(-np.maximum(t - delay, 0) / 0.004), 0.0)
        y = noise * env
    elif name == "rim":
        t = time(0.12)
        y = (_filtered_noise(rng, t.size, sr, "bandpass",
                             [rng.uniform(1200, 1800), rng.uniform(3000, 4500)])
             * np.exp(-t / 0.01)
             + 0.5 * np.sin(2 * np.pi * rng.uniform(700, 1000) * t) * np.exp(-t / 0.02))
    else:  # pragma: no cover - recipes only name the drums above
        raise ValueError(f"unknown drum {name!r}")
    return (y / np.max(np.abs(y))).astype(np.float32)


# --------------------------------------------------------------------------
# Composition
# --------------------------------------------------------------------------


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


def _pattern_hits(pattern: str):
    """Yield ``(step, length_in_steps, char)`` for each onset of ``pattern``."""
    for i, c in enumerate(pattern):
        if c in ".-":
            continue
        length = 1
        while i + length < len(pattern) and pattern[i + length] == "-":
            length += 1
        yield i, length, c


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
    tempo = rng.uniform(*recipe.tempo)
    step = 60.0 / tempo / recipe.steps_per_beat
    spb = recipe.steps_per_beat
    steps_per_bar = recipe.beats_per_bar * spb
    bar = steps_per_bar * step
    offset = rng.uniform(0.0, bar)  # the clip starts somewhere in bar 0
    n_bars = int(np.ceil((duration + offset) / bar)) + 1
    mode = _MODES[recipe.modes[rng.integers(len(recipe.modes))]]
    prog = recipe.progressions[rng.integers(len(recipe.progressions))]
    tonic = int(rng.integers(12))
    steps_per_chord = recipe.beats_per_chord * spb
    total_steps = n_bars * steps_per_bar

    def onset(s: int) -> float:
        t = -offset + s * step
        if recipe.swing and (s % spb) % 2 == 1:
            t += recipe.swing * step
        if recipe.timing_jitter:
            t += rng.normal(0.0, recipe.timing_jitter)
        return t

    def chord_at(s: int) -> tuple[int, list[int]]:
        idx = (s // steps_per_chord) % len(prog)
        offs = _chord(mode, prog[idx], recipe.chord)
        return prog[idx], offs

    notes: dict[str, list] = {}
    hits: dict[str, list] = {}

    # Drums.
    for name, pattern, level in recipe.drums:
        level += rng.uniform(-1.5, 1.5)
        out = hits.setdefault(name, [])
        for b in range(n_bars):
            for i, _, c in _pattern_hits(pattern):
                if c == "?" and rng.random() < 0.5:
                    continue
                if rng.random() < 0.03:  # an occasional dropped hit
                    continue
                vel = _VELOCITY[c] * rng.uniform(0.85, 1.0)
                out.append((onset(b * steps_per_bar + i), vel, level))

    # Bass.
    part = recipe.bass
    if part is not None:
        level = part.level_db + rng.uniform(-1.5, 1.5)
        base = 12 * (part.octave + 1)
        low, high = base - 2, base + 14
        out = notes.setdefault("bass:" + part.instrument, [])
        positions = [(b * steps_per_bar + i, n, c) for b in range(n_bars)
                     for i, n, c in _pattern_hits(part.pattern)]
        prev = base + tonic % 12
        for j, (s, n, c) in enumerate(positions):
            degree, offs = chord_at(s)
            root = base + (tonic + offs[0]) % 12
            if c == "R":
                pitch = root
            elif c == "F":
                pitch = root + 7
            elif c == "O":
                pitch = root + 12
            elif c == "T":
                pitch = root + offs[1] - offs[0]
            else:  # walking line
                nxt = positions[j + 1][0] if j + 1 < len(positions) else s + n
                _, next_offs = chord_at(nxt)
                if s % steps_per_chord == 0:
                    pitch = root
                elif nxt // steps_per_chord != s // steps_per_chord:
                    target = base + (tonic + next_offs[0]) % 12
                    pitch = target + (1 if rng.random() < 0.5 else -1)
                else:
                    pool = [base + (tonic + o) % 12 for o in offs]
                    pool += [base + (tonic + _semitone(mode, degree + d)) % 12
                             for d in (1, 3, 5)]
                    pool = [_fold(p, prev - 6, prev + 6) for p in pool]
                    pool = [p for p in pool if p != prev] or pool
                    pitch = pool[rng.integers(len(pool))]
                pitch = _fold(pitch, low, high)
            prev = pitch
            vel = rng.uniform(0.8, 1.0)
            out.append((onset(s), n * step * part.gate, pitch, vel, level))

    # Chord parts: comp (pattern hits) and pad (one note per chord).
    for role, part in (("comp", recipe.comp), ("pad", recipe.pad)):
        if part is None:
            continue
        level = part.level_db + rng.uniform(-1.5, 1.5)
        base = 12 * (part.octave + 1)
        low, high = base + part.span[0], base + part.span[1]
        out = notes.setdefault(role + ":" + part.instrument, [])
        voicings: dict[int, list[int]] = {}
        previous = None
        for c_idx in range(-(-total_steps // steps_per_chord)):
            _, offs = chord_at(c_idx * steps_per_chord)
            pcs = [(tonic + o) % 12 for o in offs]
            previous = _voice(pcs, part.voices, low, high, previous)
            if part.with_bass:
                bass = _fold(base - 24 + pcs[0], base - 20, base - 9)
                voicings[c_idx] = [bass] + previous
            else:
                voicings[c_idx] = previous
        if role == "pad":
            for c_idx, chord in voicings.items():
                t0 = -offset + c_idx * steps_per_chord * step
                length = min(steps_per_chord * step, duration + offset + bar)
                for pitch in chord:
                    out.append((t0, length + 0.05, pitch, 0.8, level))
            continue
        for b in range(n_bars):
            for i, n, c in _pattern_hits(part.pattern):
                s = b * steps_per_bar + i
                if c == "?" and rng.random() < 0.5:
                    continue
                t0 = onset(s)
                vel = _VELOCITY[c] * rng.uniform(0.8, 1.0)
                chord = voicings[s // steps_per_chord]
                if part.strum and rng.random() < 0.5:
                    chord = chord[::-1]
                for k, pitch in enumerate(chord):
                    out.append((t0 + k * part.strum, n * step * part.gate, pitch,
                                vel, level))

    # Melody: a rhythmic motif repeated (with small changes) over a random walk
    # on scale degrees that leans on chord tones at strong positions.
    mel = recipe.melody
    if mel is not None:
        level = mel.level_db + rng.uniform(-1.5, 1.5)
        base = 12 * (mel.octave + 1) + tonic
        out = notes.setdefault("melody:" + mel.instrument, [])
        slots_per_bar = steps_per_bar // mel.grid
        slots_per_beat = max(1, spb // mel.grid)
        motif_len = slots_per_bar * mel.motif_bars
        weights = np.where(np.arange(motif_len) % slots_per_bar == 0, 1.5,
                           np.where(np.arange(motif_len) % slots_per_beat == 0, 1.1, 0.8))
        motif = rng.random(motif_len) < mel.density * weights
        motif[0] = True
        degree = int(rng.integers(2, 7))
        moves = np.array([-3, -2, -1, 0, 1, 2, 3])
        move_p = np.array([0.05, 0.15, 0.27, 0.06, 0.27, 0.15, 0.05])
        n_slots = n_bars * slots_per_bar
        onsets = []
        for k in range(n_slots):
            on = motif[k % motif_len]
            if k % motif_len and rng.random() < 0.1:
                on = not on
            if on:
                onsets.append(k)
        for j, k in enumerate(onsets):
            s = k * mel.grid
            nxt = onsets[j + 1] if j + 1 < len(onsets) else k + mel.max_len
            slots = min(nxt - k, mel.max_len)
            degree = int(np.clip(degree + rng.choice(moves, p=move_p), -3, 9))
            if k % slots_per_beat == 0 and rng.random() < 0.6:
                chord_degree, _ = chord_at(s)
                tones = [chord_degree + d for d in (-7, -5, -3, 0, 2, 4, 7, 9)]
                degree = min(tones, key=lambda d: (abs(d - degree), d))
            pitch = base + _semitone(mode, degree)
            vel = rng.uniform(0.7, 1.0) * (1.0 if k % slots_per_beat == 0 else 0.85)
            out.append((onset(s), slots * mel.grid * step * mel.gate, pitch, vel, level))
    return notes, hits


# --------------------------------------------------------------------------
# Mixing and mastering
# --------------------------------------------------------------------------


def _add(buf: np.ndarray, sig: np.ndarray, start: int) -> None:
    """Add ``sig`` into ``buf`` at sample ``start``, clipping at both ends."""
    lo = max(start, 0)
    hi = min(start + sig.size, buf.size)
    if hi > lo:
        buf[lo:hi] += sig[lo - start:hi - start]


def _reverb(x: np.ndarray, rng: np.random.Generator, sr: int, wet: float,
            t60: float) -> np.ndarray:
    """Add a synthetic-hall reverb: exponentially decaying filtered noise."""
    n_ir = int(min(t60, 3.0) * sr)
    t = np.arange(n_ir) / sr
    ir = rng.standard_normal(n_ir) * np.exp(-6.9 * t / t60)
    a = np.exp(-2 * np.pi * rng.uniform(2500.0, 5000.0) / sr)
    ir = scipy.signal.lfilter([1.0 - a], [1.0, -a], ir)
    pre = int(rng.uniform(0.01, 0.03) * sr)
    ir = np.concatenate([np.zeros(pre), ir])
    ir *= wet / np.sqrt(np.sum(ir ** 2))
    return x + scipy.signal.oaconvolve(x, ir.astype(np.float32))[: x.size]


def _soft_clip(x: np.ndarray, knee: float, ceiling: float) -> np.ndarray:
    """Leave ``|x| <= knee`` alone and bend larger values smoothly below ``ceiling``."""
    big = np.abs(x) > knee
    if np.any(big):
        v = x[big]
        room = ceiling - knee
        x[big] = np.sign(v) * (knee + room * np.tanh((np.abs(v) - knee) / room))
    return x


def _normalise(x: np.ndarray, target_rms: float, ceiling: float = 0.99) -> np.ndarray:
    """Scale ``x`` to RMS ``target_rms``, taming peaks above ``ceiling``."""
    for _ in range(4):
        x *= target_rms / max(float(np.sqrt(np.mean(x ** 2))), 1e-12)
        if np.max(np.abs(x)) <= ceiling:
            return x
        x = _soft_clip(x, 0.7 * ceiling, ceiling)
    return np.clip(x, -ceiling, ceiling)


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def synthesize_clip(genre: str, seed: int, duration: float = 30.0,
                    sr: int = SAMPLE_RATE, *, target_dbfs: float = -20.0,
                    gain_jitter_db: float = 2.0,
                    noise_floor_db: float = -50.0) -> np.ndarray:
    """Render one clip of synthetic music.

    Parameters
    ----------
    genre : str
        One of :data:`GENRES`.
    seed : int >= 0
        Clip seed; with ``genre`` it seeds :func:`numpy.random.default_rng`,
        which draws key, tempo, mode, progression, melody, instrument and drum
        parameters and the gain.
    duration : float > 0
        Length in seconds.
    sr : int > 0
        Sample rate in Hz.
    target_dbfs : float
        RMS level of the clip in dB relative to full scale, before the random
        gain.
    gain_jitter_db : float >= 0
        Half-width in dB of the uniform random gain applied after
        normalisation.
    noise_floor_db : float
        Level of the added white noise floor relative to the music, in dB.

    Returns
    -------
    y : np.ndarray, shape ``(round(duration * sr),)``, dtype float32
        Mono signal at ``sr`` Hz in ``[-1, 1]``, RMS within
        ``target_dbfs +- gain_jitter_db`` dB (up to rounding).  Identical for
        identical ``(genre, seed, duration, sr)`` and keyword arguments.

    Raises
    ------
    ValueError
        Unknown ``genre``, negative ``seed``, non-positive ``duration`` or
        ``sr``.
    """
    if genre not in _RECIPES:
        raise ValueError(f"unknown genre {genre!r}; choose one of {', '.join(GENRES)}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not duration > 0:
        raise ValueError(f"duration must be positive, got {duration!r}")
    if int(sr) != sr or sr <= 0:
        raise ValueError(f"sr must be a positive integer, got {sr!r}")
    sr = int(sr)
    n = int(round(duration * sr))
    recipe = _RECIPES[genre]
    rng = np.random.default_rng([GENRES.index(genre), int(seed)])

    notes, hits = _compose(recipe, rng, n / sr)
    mix = np.zeros(n, dtype=np.float32)
    for key in sorted(notes):
        name = key.split(":", 1)[1]
        params = _draw_params(name, rng)
        tables: dict = {}  # per part: the wavetables depend on its parameters
        part = np.zeros(n, dtype=np.float32)
        for t0, length_s, midi, vel, level in notes[key]:
            start = int(round(t0 * sr))
            length = max(int(round(length_s * sr)), 1)
            skip = max(-start, 0)  # samples of the note before the clip starts
            m = min(length + int(params["release"] * sr) + 1, n - start) - skip
            if m <= 0:
                continue
            sig = _render_note(name, params, midi, length, m, sr, rng, tables, skip)
            _add(part, sig * np.float32(vel * 10.0 ** (level / 20.0)), start + skip)
        mix += part
    for name in sorted(hits):
        sample = _drum(name, rng, sr)
        for t0, vel, level in hits[name]:
            _add(mix, sample * np.float32(vel * 10.0 ** (level / 20.0)),
                 int(round(t0 * sr)))

    if recipe.reverb > 0:
        mix = _reverb(mix, rng, sr, recipe.reverb, recipe.reverb_time)
    rms = float(np.sqrt(np.mean(mix.astype(np.float64) ** 2)))
    noise_rms = max(rms, 1e-6) * 10.0 ** (noise_floor_db / 20.0)
    mix = mix + np.float32(noise_rms) * rng.standard_normal(n, dtype=np.float32)
    gain_db = target_dbfs + rng.uniform(-gain_jitter_db, gain_jitter_db)
    mix = _normalise(mix.astype(np.float32), 10.0 ** (gain_db / 20.0))
    return np.ascontiguousarray(mix, dtype=np.float32)


def _clip_seed(task_seed: int, index: int) -> int:
    """Seed of clip ``index`` of a task drawn with ``task_seed``."""
    return int(np.random.SeedSequence([task_seed, index]).generate_state(1)[0])


def _wav_ok(path: str, frames: int, sr: int) -> bool:
    """Whether ``path`` is a mono PCM-16 WAV with ``frames`` frames at ``sr`` Hz."""
    try:
        info = sf.info(path)
    except (RuntimeError, OSError, sf.LibsndfileError):
        return False
    return (info.frames == frames and info.samplerate == sr and info.channels == 1
            and info.subtype == "PCM_16")


def make_task(out_dir: str, n_classes: int = 5, clips_per_class: int = 20,
              duration: float = 30.0, sr: int = SAMPLE_RATE,
              seed: int = 0) -> list[tuple[str, str]]:
    """Write a labelled synthetic classification task to ``out_dir``.

    Layout::

        out_dir/audio/<genre>/<genre>_<nn>.wav   16-bit PCM mono WAV at sr Hz
        out_dir/all.txt                          "<abs path>\\t<genre>" per clip
        out_dir/extract.txt                      "<abs path>" per clip
        out_dir/synth_manifest.json              what each WAV was made from

    Clip ``k`` of every genre uses the seed derived from ``(seed, k)``.  A WAV
    is rendered only when it is missing, is not a mono PCM-16 file of the right
    length and sample rate, or was made (according to the manifest) from other
    parameters; so a second call with the same arguments rewrites no audio.
    Every file is written through a temporary file and :func:`os.replace`.

    Parameters
    ----------
    out_dir : str or path-like
        Output folder; created when missing.
    n_classes : int
        Number of classes, the first ``n_classes`` of :data:`GENRES`
        (``1 <= n_classes <= len(GENRES)``).
    clips_per_class : int >= 1
        Clips per class.
    duration : float > 0
        Clip length in seconds.
    sr : int > 0
        Sample rate in Hz.
    seed : int >= 0
        Task seed.

    Returns
    -------
    items : list of (str, str)
        ``(absolute WAV path, genre)`` per clip, grouped by genre in
        :data:`GENRES` order, clips in index order (the order of ``all.txt``).

    Raises
    ------
    ValueError
        ``n_classes`` outside ``[1, len(GENRES)]`` or other invalid arguments.
    """
    if not 1 <= n_classes <= len(GENRES):
        raise ValueError(f"n_classes must be between 1 and {len(GENRES)} "
                         f"(the number of synthetic genres), got {n_classes}")
    if clips_per_class < 1:
        raise ValueError(f"clips_per_class must be at least 1, got {clips_per_class}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not duration > 0:
        raise ValueError(f"duration must be positive, got {duration!r}")
    sr = int(sr)
    out_dir = os.path.abspath(os.fspath(out_dir))
    os.makedirs(out_dir, exist_ok=True)
    manifest_path = os.path.join(out_dir, _MANIFEST)
    try:
        with open(manifest_path, encoding="utf-8") as f:
            old = json.load(f)
        old = old if isinstance(old, dict) else {}
    except (OSError, ValueError):
        old = {}
    frames = int(round(duration * sr))
    width = max(2, len(str(clips_per_class - 1)))
    items: list[tuple[str, str]] = []
    todo: list[tuple[str, str, dict]] = []
    manifest = dict(old)
    for genre in GENRES[:n_classes]:
        os.makedirs(os.path.join(out_dir, "audio", genre), exist_ok=True)
        for k in range(clips_per_class):
            rel = f"audio/{genre}/{genre}_{k:0{width}d}.wav"
            path = os.path.join(out_dir, *rel.split("/"))
            spec = {"genre": genre, "seed": _clip_seed(int(seed), k),
                    "duration": float(duration), "sr": sr, "version": SYNTH_VERSION}
            if old.get(rel) != spec or not _wav_ok(path, frames, sr):
                todo.append((rel, path, spec))
                manifest.pop(rel, None)
            items.append((path, genre))
    if todo:
        # Forget the files about to be rewritten first, so that an interrupted
        # run never leaves a manifest entry describing other audio.
        atomic_write_text(manifest_path, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    for rel, path, spec in todo:
        y = synthesize_clip(spec["genre"], spec["seed"], duration, sr)
        wav = io.BytesIO()
        sf.write(wav, y, sr, subtype="PCM_16", format="WAV")
        atomic_write_bytes(path, wav.getvalue())
        manifest[rel] = spec
    atomic_write_text(manifest_path, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    atomic_write_text(os.path.join(out_dir, "all.txt"),
                      "".join(f"{p}\t{g}\n" for p, g in items))
    atomic_write_text(os.path.join(out_dir, "extract.txt"),
                      "".join(f"{p}\n" for p, _ in items))
    return items
