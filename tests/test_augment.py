"""mirex.pretrain.augment: each waveform augmentation's contract, drawing and its settings."""

from __future__ import annotations

import numpy as np
import pytest

from mirex.constants import SAMPLE_RATE, SEGMENT_SAMPLES
from mirex.pretrain import augment as A

N = 8192        # samples per test crop (the functions do not care about the length)


def sines(freqs, n=N, sr=SAMPLE_RATE, amplitude=0.5) -> np.ndarray:
    """Rows of sines at ``freqs`` Hz rounded to whole cycles in ``n`` samples: (len(freqs), n)."""
    t = np.arange(n) / sr
    bins = np.round(np.asarray(freqs, float) * n / sr)
    return (amplitude * np.sin(2 * np.pi * bins[:, None] * sr / n * t)).astype(np.float32)


def peak_hz(row, sr=SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(row * np.hanning(row.size)))
    return float(np.fft.rfftfreq(row.size, 1 / sr)[np.argmax(spectrum)])


def test_gain_changes_rms_by_the_stated_decibels():
    x = np.random.default_rng(0).standard_normal((3, N)).astype(np.float32) * 0.1
    gains = np.array([-6.0, 0.0, 4.5])
    y = A.apply_gain(x, gains)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(A.rms_db(y) - A.rms_db(x), gains, atol=1e-4)
    np.testing.assert_array_equal(y[1], x[1])


def test_eq_scales_each_sine_by_its_curve_and_flat_is_identity():
    freqs = [100.0, 550.0, 1000.0, 6000.0, 10000.0]
    x = sines(freqs)
    gains = np.tile([6.0, -3.0, 2.0, 0.0, -6.0], (len(freqs), 1))
    y = A.equalize(x, gains)
    assert y.shape == x.shape and y.dtype == np.float32
    exact = np.round(np.asarray(freqs) * N / SAMPLE_RATE) * SAMPLE_RATE / N
    expected = np.diag(A.eq_curve(exact, gains))
    # 100 Hz: the first band; 10 kHz: beyond the last; between: log-linear
    assert expected[0] == pytest.approx(6.0, abs=0.2) and expected[-1] == pytest.approx(-6.0)
    np.testing.assert_allclose(A.rms_db(y) - A.rms_db(x), expected, atol=0.01)
    np.testing.assert_array_equal(A.equalize(x, np.zeros_like(gains)), x)


def test_mix_and_its_targets_use_the_same_weights():
    x = np.stack([np.full(N, 1.0), np.full(N, -1.0), np.full(N, 0.5)]).astype(np.float32)
    y = np.array([[1, 0], [0, 1], [0.5, 0.5]], np.float32)
    partner, weight = np.array([1, 0, 2]), np.array([0.75, 0.5, 0.9])
    xm, ym = A.mix(x, partner, weight), A.mix_targets(y, partner, weight)
    np.testing.assert_allclose(xm[:, 0], [0.5, 0.0, 0.5], atol=1e-7)
    np.testing.assert_allclose(ym, [[0.75, 0.25], [0.5, 0.5], [0.5, 0.5]], atol=1e-7)
    assert xm.shape == x.shape and ym.dtype == np.float32


def test_pitch_shift_moves_a_sine_by_the_semitones():
    x = sines([440.0, 1000.0, 2000.0])
    for semitones in (-1.0, 0.5, 2.0):
        y = A.pitch_shift(x, semitones)
        assert y.shape == x.shape and y.dtype == np.float32
        resolution = SAMPLE_RATE / N
        for row_in, row_out in zip(x, y):
            assert peak_hz(row_out) == pytest.approx(peak_hz(row_in) * 2 ** (semitones / 12),
                                                     abs=1.5 * resolution)
        # the level stays (reflection keeps the waveform continuous)
        np.testing.assert_allclose(A.rms_db(y), A.rms_db(x), atol=0.3)
    np.testing.assert_array_equal(A.pitch_shift(x, 0.0), x)


def test_time_shift_delays_and_advances_with_zeros():
    x = np.arange(1, 11, dtype=np.float32)[None].repeat(3, axis=0)
    y = A.time_shift(x, [3, -2, 0])
    np.testing.assert_array_equal(y[0], [0, 0, 0, 1, 2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(y[1], [3, 4, 5, 6, 7, 8, 9, 10, 0, 0])
    np.testing.assert_array_equal(y[2], x[2])


def test_settings_are_canonical_and_refuse_unknown_names():
    assert A.augment_settings(None) is None and A.augment_settings("none") is None
    assert list(A.augment_settings("all")) == list(A.ORDER)
    s = A.augment_settings("gain, mix")
    assert list(s) == ["mix", "gain"] and s["gain"] == {"p": 0.5, "max_db": 6.0}
    assert A.augment_settings('{"eq": {"p": 1}}') == {"eq": {"p": 1.0, "max_db": 6.0}}
    with pytest.raises(ValueError, match="reverb"):
        A.augment_settings("gain,reverb")
    with pytest.raises(ValueError, match="no parameter"):
        A.augment_settings({"gain": {"max_semitones": 1}})


def test_augment_batch_is_deterministic_and_keeps_shapes_and_targets():
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((16, SEGMENT_SAMPLES, 1))).astype(np.float32)
    y = rng.random((16, 50)).astype(np.float32)
    settings = A.augment_settings("all")
    xa, ya = A.augment_batch(x, y, settings, A.batch_rng(0, 3, 7))
    xb, yb = A.augment_batch(x, y, settings, A.batch_rng(0, 3, 7))
    assert xa.shape == x.shape and ya.shape == y.shape and xa.dtype == np.float32
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)
    xc, _ = A.augment_batch(x, y, settings, A.batch_rng(0, 3, 8))
    assert not np.array_equal(xa, xc)
    # targets: only mixing changes them, and keeps posteriors in [0, 1]
    changed = np.any(ya != y, axis=1)
    assert 0 < changed.sum() < len(y) and ya.min() >= 0 and ya.max() <= 1
    _, y_nomix = A.augment_batch(x, y, A.augment_settings("gain,eq,pitch,shift"),
                                 A.batch_rng(0, 3, 7))
    np.testing.assert_array_equal(y_nomix, y)
    assert A.augment_batch(x, y, None, None) == (x, y)
