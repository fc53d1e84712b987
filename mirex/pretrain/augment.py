"""Waveform augmentation of training crops: gain, EQ, mixing two clips, pitch and time shift.

Pure NumPy functions over a batch of crops ``x`` of shape ``(n, samples)``
(float32, mono, :data:`~mirex.constants.SAMPLE_RATE` = 22050 Hz), each with
explicit per-row parameters, each returning a new float32 array of the same
shape; :func:`augment_batch` draws the parameters and applies the chosen
ones to a training batch with its target rows.

What each does to the sound, and to the teacher's target row ``y``
------------------------------------------------------------------
``gain``  (:func:`apply_gain`)
    Multiplies by ``10 ** (gain_db / 20)``: RMS changes by exactly
    ``gain_db`` dB. Target unchanged (a tag does not depend on the level).
``eq``  (:func:`equalize`)
    A smooth equaliser: a gain in dB at each band centre
    (:data:`EQ_CENTRES_HZ`), linear in log-frequency between centres and
    constant beyond the outer ones, applied to the spectrum of the whole
    crop (zero phase). Target unchanged.
``mix``  (:func:`mix`)
    ``weight * x[i] + (1 - weight) * x[partner[i]]`` with another crop of the
    same batch; the target is mixed the same way,
    ``weight * y[i] + (1 - weight) * y[partner[i]]`` (mixup, Zhang et al.
    2018; for posteriors a soft target between the two clips' tags, for
    standardised features the same convex combination). ``weight >= 0.5``
    keeps the crop the main one.
``pitch``  (:func:`pitch_shift`)
    A tape-speed change by ``semitones``: every frequency is multiplied by
    ``2 ** (semitones / 12)`` and the tempo with it (linear interpolation,
    centred on the crop, reflected at its ends). Target unchanged for the
    small shifts drawn (a semitone: no tag of the MSD/MTT sets changes).
``shift``  (:func:`time_shift`)
    Delays the crop by ``shift`` samples (negative: advances), the emptied
    end filled with zeros. Target unchanged: a crop moved by up to 0.1 s
    stays inside the teacher's 3-s window it is trained towards.

Drawing (:func:`augment_batch`)
-------------------------------
Each named augmentation is applied to each crop with probability ``p``,
independently; parameters are uniform in their ranges (:data:`DEFAULTS`).
Order: mix, pitch, shift, eq, gain (so the level drawn is the level seen).
The generator is ``numpy.random.default_rng([seed, epoch, step, 1])``
(:func:`batch_rng`): the augmentation of batch ``step`` of an epoch is a
function of the run's seed and its position only, so a resumed run draws
exactly what an uninterrupted one would.

Options value (``Options.augment``, ``--augment``)
--------------------------------------------------
``None`` (off), ``"all"``, names separated by commas (``"gain,eq,mix"``), or
a dict ``{name: {param: value}}`` overriding :data:`DEFAULTS`.
:func:`augment_settings` turns any of these into the canonical dict recorded
in ``run.json`` and the backbone's manifest.
"""

from __future__ import annotations

import json
from typing import Mapping

import numpy as np

from ..constants import SAMPLE_RATE

__all__ = ["EQ_CENTRES_HZ", "DEFAULTS", "ORDER", "apply_gain", "equalize", "mix", "mix_targets",
           "pitch_shift", "time_shift", "augment_settings", "batch_rng", "augment_batch", "rms_db"]

#: Band centres of :func:`equalize`, in Hz.
EQ_CENTRES_HZ = (100.0, 300.0, 1000.0, 3000.0, 8000.0)

#: Each augmentation's probability per crop and parameter range.
DEFAULTS = {
    "gain": {"p": 0.5, "max_db": 6.0},            # gain uniform in [-max_db, max_db] dB
    "eq": {"p": 0.5, "max_db": 6.0},              # each band uniform in [-max_db, max_db] dB
    "mix": {"p": 0.5, "min_weight": 0.5},         # weight uniform in [min_weight, 1]
    "pitch": {"p": 0.5, "max_semitones": 1.0},    # uniform in [-max, max] semitones
    "shift": {"p": 0.5, "max_seconds": 0.1},      # uniform in [-max, max] s, whole samples
}

#: The order in which :func:`augment_batch` applies them.
ORDER = ("mix", "pitch", "shift", "eq", "gain")


def _rows(x) -> np.ndarray:
    x = np.asarray(x, np.float32)
    if x.ndim != 2:
        raise ValueError(f"expected crops of shape (n, samples), got {x.shape}")
    return x


def _per_row(value, n: int, name: str) -> np.ndarray:
    value = np.broadcast_to(np.asarray(value, np.float64), (n,) + np.shape(value)[1:])
    if value.shape[0] != n:
        raise ValueError(f"{name} must give one value per crop ({n}), got {value.shape}")
    return value


def rms_db(x) -> np.ndarray:
    """RMS level of each row in dB (re 1.0): ``(n,)`` float64; ``-inf`` for silence."""
    x = np.asarray(x, np.float64)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.mean(x * x, axis=-1))


def apply_gain(x, gain_db) -> np.ndarray:
    """Scale each row by ``gain_db[i]`` dB.

    Parameters
    ----------
    x : np.ndarray [shape=(n, samples)]
    gain_db : float or np.ndarray [shape=(n,)]

    Returns
    -------
    np.ndarray [shape=(n, samples), dtype=float32]
        ``x * 10 ** (gain_db / 20)``: each row's RMS changes by ``gain_db`` dB.
    """
    x = _rows(x)
    factor = (10.0 ** (_per_row(gain_db, len(x), "gain_db") / 20.0)).astype(np.float32)
    return x * factor[:, np.newaxis]


def eq_curve(freqs_hz, gains_db, centres_hz=EQ_CENTRES_HZ) -> np.ndarray:
    """Gains in dB at ``freqs_hz`` of EQs with ``gains_db`` ``(n, bands)`` at ``centres_hz``.

    Linear in log-frequency between the centres, constant below the first
    and above the last (0 Hz takes the first band's gain).

    Returns
    -------
    np.ndarray [shape=(n, len(freqs_hz)), dtype=float64]
    """
    gains_db = np.atleast_2d(np.asarray(gains_db, np.float64))
    centres = np.log(np.asarray(centres_hz, np.float64))
    if gains_db.shape[1] != centres.size:
        raise ValueError(f"gains_db must give {centres.size} bands, got {gains_db.shape[1]}")
    logf = np.log(np.maximum(np.asarray(freqs_hz, np.float64), np.exp(centres[0])))
    return np.stack([np.interp(logf, centres, g) for g in gains_db])


def equalize(x, gains_db, centres_hz=EQ_CENTRES_HZ, sr: int = SAMPLE_RATE) -> np.ndarray:
    """A smooth zero-phase equaliser per row (the curve of :func:`eq_curve`).

    Parameters
    ----------
    x : np.ndarray [shape=(n, samples)]
        Crops at ``sr`` Hz.
    gains_db : np.ndarray [shape=(n, len(centres_hz))]
        Each row's gain at each band centre, in dB.
    centres_hz : sequence of float
        Band centres, increasing, in Hz.
    sr : int
        Sample rate of ``x``.

    Returns
    -------
    np.ndarray [shape=(n, samples), dtype=float32]
        A sine of frequency ``f`` (whole cycles in the crop) comes out scaled
        by ``eq_curve(f)`` dB; rows whose gains are all 0 are returned as they are.
    """
    x = _rows(x)
    gains_db = np.asarray(gains_db, np.float64).reshape(len(x), -1)
    out = x.copy()
    active = np.flatnonzero(np.any(gains_db != 0.0, axis=1))
    if active.size:
        n = x.shape[1]
        spectrum = np.fft.rfft(x[active], axis=1)                     # complex64 (NumPy 2)
        curve = eq_curve(np.fft.rfftfreq(n, 1.0 / sr), gains_db[active], centres_hz)
        spectrum *= (10.0 ** (curve / 20.0)).astype(np.float32)
        out[active] = np.fft.irfft(spectrum, n, axis=1)
    return out


def mix(x, partner, weight) -> np.ndarray:
    """``weight[i] * x[i] + (1 - weight[i]) * x[partner[i]]`` for each row.

    Parameters
    ----------
    x : np.ndarray [shape=(n, samples)]
    partner : np.ndarray [shape=(n,), dtype=int]
        Row mixed into each row (``partner[i] == i`` or ``weight[i] == 1``: unchanged).
    weight : np.ndarray [shape=(n,)]
        Weight of the row itself, in [0, 1].

    Returns
    -------
    np.ndarray [shape=(n, samples), dtype=float32]
    """
    x = _rows(x)
    w = _per_row(weight, len(x), "weight").astype(np.float32)[:, np.newaxis]
    out = x.copy()
    rows = np.flatnonzero(w[:, 0] != 1.0)
    partner = np.asarray(partner, np.int64)
    out[rows] = w[rows] * x[rows] + (1.0 - w[rows]) * x[partner[rows]]
    return out


def mix_targets(y, partner, weight) -> np.ndarray:
    """The target rows of :func:`mix`'s output: the same combination of ``y`` ``(n, dim)``."""
    y = np.asarray(y, np.float32)
    w = _per_row(weight, len(y), "weight")[:, np.newaxis]
    return (w * y + (1.0 - w) * y[np.asarray(partner, np.int64)]).astype(np.float32)


def pitch_shift(x, semitones) -> np.ndarray:
    """Tape-speed change of each row by ``semitones[i]`` (pitch and tempo together).

    ``out[t] = x[c + (t - c) * r]`` with ``r = 2 ** (semitones / 12)`` and
    ``c`` the crop's centre, linearly interpolated; positions beyond the
    crop are reflected back into it (at most ``|r - 1| / 2`` of the crop at
    each end: 3 % for a semitone; shifts up to an octave, ``|r - 1| <= 1``).

    Parameters
    ----------
    x : np.ndarray [shape=(n, samples)]
    semitones : float or np.ndarray [shape=(n,)]
        Positive: higher and faster.

    Returns
    -------
    np.ndarray [shape=(n, samples), dtype=float32]
        A sine of frequency ``f`` comes out at ``f * 2 ** (semitones / 12)``.
    """
    x = _rows(x)
    n = x.shape[1]
    ratio = 2.0 ** (_per_row(semitones, len(x), "semitones") / 12.0)
    if np.any(np.abs(ratio - 1.0) > 1.0):
        raise ValueError("pitch_shift reflects at most one crop length: |semitones| <= 12")
    out = x.copy()
    rows = np.flatnonzero(ratio != 1.0)
    if rows.size == 0 or n < 2:
        return out
    centre = (n - 1) / 2.0
    pos = centre + (np.arange(n) - centre) * ratio[rows, np.newaxis]      # (rows, n) float64
    np.abs(pos, out=pos)                                                 # reflect at 0 ...
    over = pos > n - 1
    pos[over] = 2.0 * (n - 1) - pos[over]                                # ... and at n - 1
    left = np.minimum(pos.astype(np.int32), n - 2)
    frac = (pos - left).astype(np.float32)
    left += (np.arange(rows.size, dtype=np.int32) * n)[:, np.newaxis]   # flat indices
    src = x[rows].ravel()
    a = src[left]
    out[rows] = a + frac * (src[left + 1] - a)
    return out


def time_shift(x, shift) -> np.ndarray:
    """Delay each row by ``shift[i]`` whole samples (negative: advance), zeros shifted in.

    Returns
    -------
    np.ndarray [shape=(n, samples), dtype=float32]
        ``out[i, t] = x[i, t - shift[i]]`` where that index is in the row, else 0.
    """
    x = _rows(x)
    shift = _per_row(shift, len(x), "shift").astype(np.int64)
    n = x.shape[1]
    out = np.zeros_like(x)
    for i, k in enumerate(shift):
        k = int(np.clip(k, -n, n))
        if k >= 0:
            out[i, k:] = x[i, : n - k]
        else:
            out[i, : n + k] = x[i, -k:]
    return out


# ---------------------------------------------------------------------------
# Settings and drawing
# ---------------------------------------------------------------------------

def augment_settings(value) -> dict | None:
    """The canonical form of an ``augment`` option: ``{name: params}`` in :data:`ORDER`, or None.

    Parameters
    ----------
    value : None, str, sequence of str, or mapping
        ``None``, ``""`` or ``"none"``: off. ``"all"``: every augmentation.
        ``"gain,eq"`` or ``["gain", "eq"]``: those, with :data:`DEFAULTS`.
        Inline JSON or a mapping ``{"mix": {"p": 1.0}, "gain": {}}``: those,
        with the given parameters over the defaults.

    Raises
    ------
    ValueError
        On an unknown name or parameter, or a probability outside [0, 1].
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            value = json.loads(text)
        elif text.lower() in ("", "none", "off"):
            return None
        elif text.lower() == "all":
            value = list(ORDER)
        else:
            value = [v.strip() for v in text.split(",") if v.strip()]
    if not isinstance(value, Mapping):
        value = {name: {} for name in value}
    out = {}
    for name, params in value.items():
        if name not in DEFAULTS:
            raise ValueError(f"unknown augmentation {name!r}; choose from {list(ORDER)}")
        unknown = set(params or {}) - set(DEFAULTS[name])
        if unknown:
            raise ValueError(f"augmentation {name!r} has no parameter {sorted(unknown)}; "
                             f"it takes {sorted(DEFAULTS[name])}")
        out[name] = {k: float(v) for k, v in {**DEFAULTS[name], **(params or {})}.items()}
        if not 0.0 <= out[name]["p"] <= 1.0:
            raise ValueError(f"augmentation {name!r}: p must be in [0, 1]")
    return {name: out[name] for name in ORDER if name in out} or None


def batch_rng(seed: int, epoch: int, step: int) -> np.random.Generator:
    """The generator of the augmentation of batch ``step`` of ``epoch`` (see the module doc)."""
    return np.random.default_rng([int(seed), int(epoch), int(step), 1])


def augment_batch(x, y, settings: Mapping | None, rng: np.random.Generator,
                  sr: int = SAMPLE_RATE):
    """Augment a training batch and its targets (the rules of the module docstring).

    Parameters
    ----------
    x : np.ndarray [shape=(n, samples)] or [shape=(n, samples, 1)]
        Crops at ``sr`` Hz.
    y : np.ndarray [shape=(n, dim)]
        Their target rows.
    settings : mapping or None
        From :func:`augment_settings`; ``None``: ``x``, ``y`` returned as they are.
    rng : numpy.random.Generator
        From :func:`batch_rng`.

    Returns
    -------
    x, y : np.ndarray
        Same shapes, float32.
    """
    if not settings:
        return x, y
    x = np.asarray(x, np.float32)
    shape, rows = x.shape, x.reshape(len(x), -1)
    y = np.asarray(y, np.float32)
    n = len(rows)
    for name in ORDER:
        if name not in settings:
            continue
        params = settings[name]
        on = rng.random(n) < params["p"]
        if name == "mix":
            partner = (np.arange(n) + rng.integers(1, max(2, n), n)) % n   # another row
            weight = np.where(on, rng.uniform(params["min_weight"], 1.0, n), 1.0)
            rows, y = mix(rows, partner, weight), mix_targets(y, partner, weight)
        elif name == "pitch":
            m = params["max_semitones"]
            rows = pitch_shift(rows, np.where(on, rng.uniform(-m, m, n), 0.0))
        elif name == "shift":
            m = int(round(params["max_seconds"] * sr))
            rows = time_shift(rows, np.where(on, rng.integers(-m, m + 1, n), 0))
        elif name == "eq":
            m = params["max_db"]
            gains = rng.uniform(-m, m, (n, len(EQ_CENTRES_HZ))) * on[:, np.newaxis]
            rows = equalize(rows, gains, sr=sr)
        elif name == "gain":
            m = params["max_db"]
            rows = apply_gain(rows, np.where(on, rng.uniform(-m, m, n), 0.0))
    return rows.reshape(shape), y
