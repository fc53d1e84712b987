"""Mixing and mastering: notes and hits into one buffer, reverb, noise floor, level.

Buffers are float32 mono at ``sr`` Hz; levels are in dB (``10 ** (dB / 20)``).
"""

from __future__ import annotations

import numpy as np
import scipy.signal

from .drums import _drum
from .instruments import _draw_params, _render_note


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


def _gain(vel: float, level_db: float) -> np.float32:
    """Linear gain of a note or hit: velocity times ``level_db`` in dB."""
    return np.float32(vel * 10.0 ** (level_db / 20.0))


def _render_parts(notes: dict, rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Sum of the pitched parts of a score, shape ``(n,)`` float32.

    ``notes`` maps ``"<part>:<instrument>"`` to ``(onset s, length s, MIDI,
    velocity, level dB)`` tuples (see :func:`mirex.demo.composition._compose`);
    parts are rendered in sorted key order, each with freshly drawn
    instrument parameters.
    """
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
            _add(part, sig * _gain(vel, level), start + skip)
        mix += part
    return mix


def _render_drums(mix: np.ndarray, hits: dict, rng: np.random.Generator, sr: int) -> None:
    """Add the drum ``hits`` (per drum: ``(onset s, velocity, level dB)``) into ``mix``."""
    for name in sorted(hits):
        sample = _drum(name, rng, sr)
        for t0, vel, level in hits[name]:
            _add(mix, sample * _gain(vel, level), int(round(t0 * sr)))


def _master(mix: np.ndarray, rng: np.random.Generator, sr: int, reverb: float,
            reverb_time: float, target_dbfs: float, gain_jitter_db: float,
            noise_floor_db: float) -> np.ndarray:
    """Reverb (wet gain, T60 s), noise floor (dB below the music), level (dBFS +- jitter)."""
    n = mix.size
    if reverb > 0:
        mix = _reverb(mix, rng, sr, reverb, reverb_time)
    rms = float(np.sqrt(np.mean(mix.astype(np.float64) ** 2)))
    noise_rms = max(rms, 1e-6) * 10.0 ** (noise_floor_db / 20.0)
    mix = mix + np.float32(noise_rms) * rng.standard_normal(n, dtype=np.float32)
    gain_db = target_dbfs + rng.uniform(-gain_jitter_db, gain_jitter_db)
    mix = _normalise(mix.astype(np.float32), 10.0 ** (gain_db / 20.0))
    return np.ascontiguousarray(mix, dtype=np.float32)
