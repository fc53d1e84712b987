import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirex import audio
from mirex.constants import SAMPLE_RATE, SEGMENT_SAMPLES


def sine(freq, seconds, sr, amp=0.5, channels=1):
    t = np.arange(int(seconds * sr)) / sr
    y = amp * np.sin(2 * np.pi * freq * t)
    return np.repeat(y[:, None], channels, axis=1) if channels > 1 else y


def peak_frequency(y, sr):
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return np.fft.rfftfreq(len(y), 1 / sr)[np.argmax(spectrum)]


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_wav_of_every_bit_depth_decodes_to_float32_at_22050(tmp_path, subtype):
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, sine(1000, 2.0, 44100), 44100, subtype=subtype)
    y = audio.load(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 2 * SAMPLE_RATE) <= 1
    assert abs(peak_frequency(y, SAMPLE_RATE) - 1000) < 2
    assert 0.45 < np.abs(y[1000:-1000]).max() < 0.55


@pytest.mark.parametrize("fmt, ext", [("FLAC", "flac"), ("OGG", "ogg"), ("MP3", "mp3")])
def test_compressed_formats_decode(tmp_path, fmt, ext):
    path = tmp_path / f"clip.{ext}"
    sf.write(path, sine(440, 3.0, 44100, channels=2), 44100, format=fmt)
    y = audio.load(path)
    assert abs(len(y) / SAMPLE_RATE - 3.0) < 0.1
    assert abs(peak_frequency(y, SAMPLE_RATE) - 440) < 3


def test_channels_are_averaged(tmp_path):
    left = sine(300, 1.0, SAMPLE_RATE)
    stereo = np.stack([left, -left * 0 + 0.2], axis=1)
    path = tmp_path / "st.wav"
    sf.write(path, stereo, SAMPLE_RATE, subtype="FLOAT")
    np.testing.assert_allclose(audio.load(path), (left + 0.2) / 2, atol=1e-6)


@pytest.mark.parametrize("channels", [1, 2, 3, 6])
@pytest.mark.parametrize("subtype, sr_in", [("PCM_16", 44100), ("PCM_16", SAMPLE_RATE),
                                            ("PCM_24", 44100), ("FLOAT", 48000)])
def test_mixdown_equals_float_mean_to_the_bit(tmp_path, channels, subtype, sr_in):
    """Whatever the fast path (int16 read, channels added in order), the decoded clip is
    the float32 mean of libsndfile's float samples, resampled: cached features stay valid."""
    rng = np.random.default_rng(channels)
    path = tmp_path / "m.wav"
    sf.write(path, np.clip(rng.standard_normal((3 * sr_in, channels)) * 0.3, -1, 1), sr_in,
             subtype=subtype)
    ref = sf.read(path, dtype="float32", always_2d=True)[0].mean(axis=1)
    if sr_in != SAMPLE_RATE:
        import soxr

        stream = soxr.ResampleStream(sr_in, SAMPLE_RATE, 1, dtype="float32")
        ref = np.concatenate([stream.resample_chunk(ref[i:i + audio.BLOCK_FRAMES])
                              for i in range(0, len(ref), audio.BLOCK_FRAMES)]
                             + [stream.resample_chunk(np.zeros(0, np.float32), last=True)])
    np.testing.assert_array_equal(audio.load(path), ref)


@pytest.mark.parametrize("sr_in", [8000, 11025, 16000, 32000, 48000, 96000])
def test_resampling_keeps_pitch_and_duration(tmp_path, sr_in):
    path = tmp_path / "r.wav"
    sf.write(path, sine(440, 2.0, sr_in), sr_in, subtype="FLOAT")
    y = audio.load(path)
    assert abs(len(y) - 2 * SAMPLE_RATE) <= 2
    assert abs(peak_frequency(y, SAMPLE_RATE) - 440) < 2


def test_resampler_is_band_limited(tmp_path):
    """A 15 kHz tone at 44.1 kHz is above the new Nyquist: it must vanish, not alias."""
    path = tmp_path / "hf.wav"
    sf.write(path, sine(15000, 1.0, 44100), 44100, subtype="FLOAT")
    y = audio.load(path)
    assert np.sqrt(np.mean(y[2000:-2000] ** 2)) < 1e-3  # a naive decimation keeps ~0.35


def test_non_finite_samples_become_zero(tmp_path):
    y = sine(200, 1.0, SAMPLE_RATE)
    y[100:200] = np.nan
    y[300] = np.inf
    path = tmp_path / "nan.wav"
    sf.write(path, y, SAMPLE_RATE, subtype="FLOAT")
    out = audio.load(path)
    assert np.isfinite(out).all() and np.all(out[100:200] == 0)


def test_max_duration_bounds_what_is_decoded(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, sine(200, 20.0, 44100), 44100)
    assert len(audio.load(path, max_duration=5.0)) == 5 * SAMPLE_RATE
    assert len(audio.load(path, max_duration=None)) == pytest.approx(20 * SAMPLE_RATE, abs=2)


@pytest.mark.parametrize("make, reason", [
    (lambda p: None, "file not found"),
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_bytes(b"this is not audio at all" * 20), "not a readable audio file"),
    (lambda p: p.mkdir(), "folder"),
])
def test_bad_files_raise_audio_error_naming_the_file(tmp_path, make, reason):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(audio.AudioError) as err:
        audio.load(path)
    assert str(err.value).startswith(str(path)) and reason in str(err.value)


def test_truncated_wav_gives_what_is_there(tmp_path):
    path = tmp_path / "t.wav"
    sf.write(path, sine(200, 4.0, SAMPLE_RATE), SAMPLE_RATE)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    y = audio.load(path)
    assert 1.5 * SAMPLE_RATE < len(y) < 2.5 * SAMPLE_RATE


def test_segment_takes_evenly_spaced_segments_up_to_the_cap():
    y = np.arange(30 * SAMPLE_RATE, dtype=np.float32)
    segs = audio.segment(y, max_segments=10)
    assert segs.shape == (10, SEGMENT_SAMPLES)
    assert segs[0, 0] == 0 and segs[-1, -1] == y[-1]  # first and last samples covered
    starts = segs[:, 0]
    assert np.all(np.diff(starts) > 0) and np.ptp(np.diff(starts)) <= 1


def test_segment_without_cap_takes_whole_centred_segments():
    y = np.arange(3 * SEGMENT_SAMPLES + 100, dtype=np.float32)
    segs = audio.segment(y, max_segments=None)
    assert segs.shape == (3, SEGMENT_SAMPLES)
    assert segs[0, 0] == 50 and segs[1, 0] == 50 + SEGMENT_SAMPLES


@pytest.mark.parametrize("n", [1, 5, 1000, SEGMENT_SAMPLES - 1])
def test_short_clips_are_tiled_not_stretched(n):
    y = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    segs = audio.segment(y)
    assert segs.shape == (1, SEGMENT_SAMPLES)
    np.testing.assert_array_equal(segs[0, :n], y)
    np.testing.assert_array_equal(segs[0, n : 2 * n][: SEGMENT_SAMPLES - n], y[: SEGMENT_SAMPLES - n])


def test_segment_rejects_empty():
    with pytest.raises(ValueError):
        audio.segment(np.zeros(0))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=1, max_size=600))
def test_loader_on_random_bytes_returns_audio_or_audio_error(tmp_path, data):
    path = tmp_path / "random.wav"
    path.write_bytes(data)
    try:
        y = audio.load(path)
    except audio.AudioError as exc:
        assert str(exc).startswith(str(path))
    else:
        assert y.dtype == np.float32 and y.size > 0 and np.isfinite(y).all()


def test_scale_to_dbfs_sets_the_rms_level_per_row_or_as_a_whole():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 1000)) * np.array([[0.001], [0.01], [0.1]])
    rows = audio.scale_to_dbfs(x, -30.0, axis=1)
    assert rows.dtype == np.float32
    np.testing.assert_allclose(audio.rms_dbfs(rows, axis=1), -30.0, atol=0.01)
    whole = audio.scale_to_dbfs(x, -30.0)
    np.testing.assert_allclose(audio.rms_dbfs(whole, axis=None), -30.0, atol=0.01)
    assert audio.rms_dbfs(whole[0]) < audio.rms_dbfs(whole[2]) - 30  # relative levels kept
    loud = audio.scale_to_dbfs(x, 0.0)
    assert np.abs(loud).max() == 1.0                                 # clipped to full scale
    silence = audio.scale_to_dbfs(np.zeros((2, 10)), -20.0, axis=1)
    assert not silence.any() and np.isneginf(audio.rms_dbfs(silence, axis=1)).all()
