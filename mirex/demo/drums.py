"""Drum hits: noise through Butterworth filters and swept sines, tuned per clip.

A hit is float32 mono at ``sr`` Hz, shape ``(samples,)``, peak 1.
"""

from __future__ import annotations

import numpy as np
import scipy.signal


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
