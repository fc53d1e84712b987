"""Tests for mirex.demo.synth: determinism, levels, musical (not loudness) classes, make_task."""

import os
import time

import numpy as np
import pytest
import soundfile as sf

from mirex.demo import synth
from mirex.constants import SAMPLE_RATE

SR = SAMPLE_RATE


# ---------------------------------------------------------------- helpers


def _rms_db(y):
    return 20.0 * np.log10(np.sqrt(np.mean(np.asarray(y, dtype=np.float64) ** 2)))


def _stft_power(y, n_fft=1024, hop=512):
    """Power spectrogram, shape (frames, n_fft // 2 + 1)."""
    y = np.asarray(y, dtype=np.float64)
    frames = 1 + (len(y) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    return np.abs(np.fft.rfft(y[idx] * np.hanning(n_fft), axis=1)) ** 2


def _chroma(power, sr, n_fft):
    """12-bin pitch-class energy profile (sums to 1) of 60 Hz - 4 kHz."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    band = (freqs > 60) & (freqs < 4000)
    pc = np.round(12 * np.log2(freqs[band] / 440.0)).astype(int) % 12
    chroma = np.bincount(pc, weights=power[..., band].reshape(-1, band.sum()).sum(0),
                         minlength=12)
    return chroma / chroma.sum()


def _onset_rate(y, sr):
    """Onsets per second: peaks of the spectral flux above 1.5 x its median."""
    mag = np.sqrt(_stft_power(y))
    flux = np.maximum(np.diff(np.log1p(100 * mag), axis=0), 0).sum(1)
    mid = flux[1:-1]
    peaks = (mid > flux[:-2]) & (mid >= flux[2:]) & (mid > 1.5 * np.median(flux))
    return peaks.sum() / (len(y) / sr)


def _features(y, sr=SR):
    """Cheap musical statistics: log centroid, onset rate, chroma entropy,
    flatness, centroid variability."""
    power = _stft_power(y)
    freqs = np.fft.rfftfreq(1024, 1.0 / sr)
    centroid = (power @ freqs) / (power.sum(1) + 1e-12)
    chroma = _chroma(power, sr, 1024)
    entropy = -(chroma * np.log2(chroma + 1e-12)).sum()
    flat = (np.exp(np.mean(np.log(power[:, 1:] + 1e-12), 1))
            / (np.mean(power[:, 1:], 1) + 1e-12))
    return np.array([np.log(centroid.mean()), _onset_rate(y, sr), entropy,
                     flat.mean(), np.std(np.log(centroid + 1e-12))])


def _nearest_centroid_cv(X, labels, folds=4):
    """Accuracy of a z-scored nearest-centroid classifier, ``folds``-fold CV."""
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels)
    fold = np.arange(len(labels)) % folds
    correct = 0
    for f in range(folds):
        tr, te = fold != f, fold == f
        mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-12
        Xtr, Xte = (X[tr] - mu) / sd, (X[te] - mu) / sd
        classes = np.unique(labels[tr])
        cents = np.array([Xtr[labels[tr] == c].mean(0) for c in classes])
        dist = ((Xte[:, None, :] - cents[None]) ** 2).sum(-1)
        correct += (classes[dist.argmin(1)] == labels[te]).sum()
    return correct / len(labels)


@pytest.fixture(scope="module")
def corpus():
    """8 clips of 4 s for each of the first 5 genres: (clips, labels)."""
    clips, labels = [], []
    for g in synth.GENRES[:5]:
        for seed in range(8):
            clips.append(synth.synthesize_clip(g, seed, duration=4.0))
            labels.append(g)
    return clips, labels


# ---------------------------------------------------------------- API


def test_genres_are_distinct_lowercase_names():
    assert isinstance(synth.GENRES, tuple)
    assert len(synth.GENRES) >= 6
    assert len(set(synth.GENRES)) == len(synth.GENRES)
    for g in synth.GENRES:
        assert g == g.lower() and g.isidentifier()


@pytest.mark.parametrize("genre", synth.GENRES)
def test_shape_dtype_range(genre):
    y = synth.synthesize_clip(genre, 7, duration=2.0)
    assert y.shape == (2 * SR,)
    assert y.dtype == np.float32
    assert np.all(np.isfinite(y))
    assert np.max(np.abs(y)) <= 1.0
    assert np.std(y) > 0.01  # not silent


def test_other_duration_and_sample_rate():
    y = synth.synthesize_clip("swing", 1, duration=1.2345, sr=16000)
    assert y.shape == (round(1.2345 * 16000),)
    assert y.dtype == np.float32 and np.max(np.abs(y)) <= 1.0


def test_deterministic_for_same_arguments():
    a = synth.synthesize_clip("jig", 3, duration=3.0)
    b = synth.synthesize_clip("jig", 3, duration=3.0)
    np.testing.assert_array_equal(a, b)


def test_different_seed_or_genre_gives_different_audio():
    a = synth.synthesize_clip("waltz", 3, duration=3.0)
    b = synth.synthesize_clip("waltz", 4, duration=3.0)
    c = synth.synthesize_clip("march", 3, duration=3.0)
    assert not np.allclose(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("kwargs", [dict(genre="polka", seed=0), dict(genre="waltz", seed=-1),
                                    dict(genre="waltz", seed=0, duration=0.0)])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        synth.synthesize_clip(**kwargs)


# ---------------------------------------------------------------- levels


def test_rms_normalised_with_small_random_gain():
    levels = [_rms_db(synth.synthesize_clip(g, s, duration=3.0))
              for g in synth.GENRES for s in range(3)]
    assert all(abs(level + 20.0) <= 2.5 for level in levels), levels
    # The +-2 dB gain is really random (not a constant offset).
    assert np.ptp(levels) > 1.0


def test_rms_exact_without_gain_jitter():
    for g in synth.GENRES:
        y = synth.synthesize_clip(g, 5, duration=2.0, target_dbfs=-26.0, gain_jitter_db=0.0)
        assert abs(_rms_db(y) + 26.0) < 0.2, g


# ---------------------------------------------------------------- musical content


@pytest.fixture(scope="module")
def dominant_pitch_classes():
    """Per genre: the strongest chroma bin of 12 clips (seeds 0-11) of 3 s."""
    out = {}
    for g in synth.GENRES:
        out[g] = [int(np.argmax(_chroma(_stft_power(synth.synthesize_clip(g, s, 3.0), 4096, 2048)
                                        .sum(0), SR, 4096)))
                  for s in range(12)]
    return out


@pytest.mark.parametrize("genre", synth.GENRES)
def test_key_varies_within_class(genre, dominant_pitch_classes):
    """No pitch class identifies a class: the dominant one moves with the seed.

    With a random key, 12 clips put at most 4 on one pitch class; a key fixed
    per class puts 4-11 there (and 6 or more for all genres but chorale).
    """
    counts = np.bincount(dominant_pitch_classes[genre], minlength=12)
    assert counts.max() <= 5, (genre, counts)
    assert (counts > 0).sum() >= 5, (genre, counts)


def test_key_varies_over_all_genres(dominant_pitch_classes):
    """Pooled over genres, the most common pitch class per genre stays rare
    (random keys: sum about 21; one key per genre: about 55)."""
    total = sum(np.bincount(v).max() for v in dominant_pitch_classes.values())
    assert total <= 32, total


def test_rhythmic_texture_differs_between_genres(corpus):
    clips, labels = corpus
    rate = {g: np.mean([_onset_rate(y, SR) for y, l in zip(clips, labels) if l == g])
            for g in synth.GENRES[:5]}
    assert rate["drone"] < 0.5  # sustained, no attacks
    assert rate["techno"] > 4.0  # four-on-the-floor plus hats
    assert rate["march"] > rate["waltz"]  # 16th snare cadence vs three beats a bar


def test_classes_separable_by_music_not_by_loudness(corpus):
    clips, labels = corpus
    X = np.array([_features(y) for y in clips])
    loud = np.array([[_rms_db(y)] for y in clips])
    # Fold = index % 4, so every fold holds two clips of each class.
    acc_music = _nearest_centroid_cv(X, labels)
    acc_loud = _nearest_centroid_cv(loud, labels)
    assert acc_music >= 0.8, acc_music
    assert acc_loud <= 0.45, acc_loud


def test_thirty_second_clip_is_fast():
    """Guard against a slow (per-sample Python) path: a 30-s clip takes ~0.1 s."""
    start = time.perf_counter()
    synth.synthesize_clip("swing", 0, duration=30.0)
    assert time.perf_counter() - start < 3.0


# ---------------------------------------------------------------- make_task


def test_make_task_writes_audio_and_lists(tmp_path):
    items = synth.make_task(tmp_path / "task", n_classes=3, clips_per_class=2,
                            duration=1.0, seed=4)
    out = tmp_path / "task"
    assert [label for _, label in items] == [g for g in synth.GENRES[:3] for _ in range(2)]
    basenames = [os.path.basename(p) for p, _ in items]
    assert len({b.lower() for b in basenames}) == len(basenames)
    for path, label in items:
        assert os.path.isabs(path)
        assert os.path.dirname(path) == str(out / "audio" / label)
        assert os.path.basename(path).startswith(label + "_")
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.frames, info.subtype) == \
            (SR, 1, SR, "PCM_16")
    assert (out / "all.txt").read_text() == "".join(f"{p}\t{l}\n" for p, l in items)
    assert (out / "extract.txt").read_text() == "".join(f"{p}\n" for p, _ in items)
    # The WAV holds the clip make_task promised (up to 16-bit rounding).
    path, label = items[1]
    seed = synth._clip_seed(4, 1)
    y, _ = sf.read(path, dtype="float32")
    np.testing.assert_allclose(y, synth.synthesize_clip(label, seed, 1.0), atol=1.0 / 32768 + 1e-7)
    # A second clip of the class differs from the first.
    assert not np.allclose(sf.read(items[0][0])[0], sf.read(items[1][0])[0])


def test_make_task_rerun_rewrites_nothing_and_repairs_missing(tmp_path):
    kwargs = dict(n_classes=2, clips_per_class=2, duration=0.5)
    first = synth.make_task(tmp_path, **kwargs)
    mtimes = {p: os.stat(p).st_mtime_ns for p, _ in first}
    time.sleep(0.02)
    second = synth.make_task(tmp_path, **kwargs)
    assert second == first
    assert {p: os.stat(p).st_mtime_ns for p, _ in second} == mtimes

    # A missing file is regenerated, identically; the others are left alone.
    gone = first[1][0]
    before = sf.read(gone)[0]
    os.remove(gone)
    synth.make_task(tmp_path, **kwargs)
    np.testing.assert_array_equal(sf.read(gone)[0], before)
    for p, _ in first:
        if p != gone:
            assert os.stat(p).st_mtime_ns == mtimes[p]

    # Different parameters (another task seed) do rewrite the audio.
    synth.make_task(tmp_path, seed=1, **kwargs)
    assert not np.array_equal(sf.read(gone)[0], before)
    assert not any(name.endswith(".tmp") for _, _, files in os.walk(tmp_path) for name in files)


@pytest.mark.parametrize("n_classes", [0, len(synth.GENRES) + 1])
def test_make_task_rejects_bad_class_count(tmp_path, n_classes):
    with pytest.raises(ValueError):
        synth.make_task(tmp_path, n_classes=n_classes, clips_per_class=1, duration=0.5)
