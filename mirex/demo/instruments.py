"""The pitched instruments: wavetable, FM and Karplus-Strong voices, one note at a time.

Every function renders float32 mono samples at ``sr`` Hz; a note's shape is
``(m,)`` with a peak about 1 before its velocity and level are applied.
"""

from __future__ import annotations

import numpy as np

#: Length of one wavetable cycle, in samples (a power of two).
_TABLE = 2048

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
