"""musicnn's front end in NumPy: Slaney mel filterbank, log-mel spectrogram, 3-s patches.

Audio is mono at :data:`SAMPLE_RATE` = 16000 Hz. A log-mel spectrogram is
``(n_frames, 96)`` float32 with frame ``t`` centred on sample ``256 t``;
patches are ``(n_patches, 187, 96)`` (see the package docstring).
"""

from __future__ import annotations

import numpy as np

__all__ = ["SAMPLE_RATE", "N_FFT", "HOP_LENGTH", "N_MELS", "PATCH_FRAMES",
           "mel_filterbank", "power_spectrogram", "melspectrogram", "log_compress", "logmel",
           "patch_frames", "make_patches"]

#: Sample rate of the musicnn input, in Hz.
SAMPLE_RATE = 16000
#: STFT size and hop, in samples (32 ms and 16 ms at 16 kHz).
N_FFT = 512
HOP_LENGTH = 256
#: Mel bands.
N_MELS = 96
#: Frames per 3-s patch: ``floor((3 * 16000 - 512 // 2) / 256) + 1``.
PATCH_FRAMES = 187


def _hz_to_mel(freqs: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above."""
    freqs = np.asarray(freqs, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    mels = freqs / f_sp
    high = freqs >= min_log_hz
    return np.where(high, min_log_mel + np.log(np.maximum(freqs, 1e-10) / min_log_hz) / logstep,
                    mels)


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_hz_to_mel`."""
    mels = np.asarray(mels, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(mels >= min_log_mel, min_log_hz * np.exp(logstep * (mels - min_log_mel)),
                    f_sp * mels)


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS,
                   fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Slaney-style mel filterbank, as ``librosa.filters.mel`` (htk=False, norm='slaney').

    Triangles between ``n_mels + 2`` band edges equally spaced on the Slaney
    mel scale from ``fmin`` to ``fmax``, each scaled by
    ``2 / (upper_edge_hz - lower_edge_hz)`` (about constant energy per band).

    Parameters
    ----------
    sr : int > 0
        Sample rate in Hz.
    n_fft : int > 0
        FFT size in samples.
    n_mels : int > 0
        Number of bands.
    fmin, fmax : float
        Lowest and highest edge in Hz; ``fmax`` defaults to ``sr / 2``.

    Returns
    -------
    weights : np.ndarray [shape=(n_mels, 1 + n_fft // 2), dtype=float32]
    """
    fmax = sr / 2.0 if fmax is None else float(fmax)
    fft_freqs = np.linspace(0.0, sr / 2.0, 1 + n_fft // 2)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, np.newaxis] - fft_freqs[np.newaxis, :]
    lower = -ramps[:-2] / widths[:-1, np.newaxis]
    upper = ramps[2:] / widths[1:, np.newaxis]
    weights = np.maximum(0.0, np.minimum(lower, upper)).astype(np.float32)
    enorm = 2.0 / (edges[2:] - edges[:-2])
    return (weights * enorm[:, np.newaxis]).astype(np.float32)


def _periodic_hann(n: int) -> np.ndarray:
    """``scipy.signal.get_window('hann', n, fftbins=True)``, float64."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def power_spectrogram(y: np.ndarray, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH) -> np.ndarray:
    """``|STFT|**2`` with centred frames, as librosa 0.9.2's defaults.

    The signal is zero-padded by ``n_fft // 2`` samples at both ends, cut
    into frames of ``n_fft`` samples every ``hop_length``, multiplied by a
    periodic Hann window and transformed in float64; the magnitude is taken
    in complex64 / float32, as librosa does.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono samples (any rate).

    Returns
    -------
    power : np.ndarray [shape=(1 + n // hop_length, 1 + n_fft // 2), dtype=float32]
        Frame ``t`` is centred on sample ``t * hop_length``.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected mono samples of shape (n,), got {y.shape}")
    padded = np.pad(y, n_fft // 2, mode="constant")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]
    spectrum = np.fft.rfft(frames * _periodic_hann(n_fft), axis=-1).astype(np.complex64)
    return np.abs(spectrum) ** 2


def melspectrogram(y: np.ndarray, sr: int = SAMPLE_RATE, n_fft: int = N_FFT,
                   hop_length: int = HOP_LENGTH, n_mels: int = N_MELS) -> np.ndarray:
    """Mel power spectrogram, as ``librosa.feature.melspectrogram(...).T`` (librosa 0.9.2).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono samples at ``sr`` Hz.

    Returns
    -------
    mel : np.ndarray [shape=(1 + n // hop_length, n_mels), dtype=float32]
        Power (squared magnitude) per mel band, time first.
    """
    return power_spectrogram(y, n_fft, hop_length) @ mel_filterbank(sr, n_fft, n_mels).T


def log_compress(mel: np.ndarray) -> np.ndarray:
    """musicnn's compression: round to float16, then ``log10(10000 x + 1)`` in float32.

    musicnn 0.1.0 stores the mel spectrogram as ``float16`` and applies the
    logarithm to it; under NumPy < 2 that arithmetic promotes to float32,
    which is what is done here explicitly (NumPy 2 would keep float16).

    Parameters
    ----------
    mel : np.ndarray [shape=(n_frames, n_mels)]
        Mel power spectrogram.

    Returns
    -------
    logmel : np.ndarray [shape=(n_frames, n_mels), dtype=float32]
    """
    rounded = np.asarray(mel).astype(np.float16).astype(np.float32)
    return np.log10(np.float32(10000.0) * rounded + np.float32(1.0))


def logmel(y: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The network's input representation of a 16-kHz clip.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono samples at 16000 Hz.
    sr : int
        Must be 16000: the models were trained at that rate.

    Returns
    -------
    logmel : np.ndarray [shape=(1 + n // 256, 96), dtype=float32]
    """
    if sr != SAMPLE_RATE:
        raise ValueError(f"musicnn needs {SAMPLE_RATE} Hz audio, got {sr} Hz; resample first")
    return log_compress(melspectrogram(y, sr))


def patch_frames(seconds: float = 3.0, sr: int = SAMPLE_RATE, n_fft: int = N_FFT,
                 hop_length: int = HOP_LENGTH) -> int:
    """Frames in a patch of ``seconds``, as musicnn computes it (3 s -> 187).

    ``librosa.time_to_frames(seconds, sr, hop_length, n_fft) + 1``, i.e.
    ``floor((seconds * sr - n_fft // 2) / hop_length) + 1``.
    """
    return int(np.floor((int(seconds * sr) - n_fft // 2) / hop_length)) + 1


def make_patches(logmel_: np.ndarray, n_frames: int = PATCH_FRAMES,
                 hop_frames: int | None = None) -> np.ndarray:
    """Cut a log-mel spectrogram into patches, as ``musicnn.extractor.batch_data``.

    Parameters
    ----------
    logmel_ : np.ndarray [shape=(T, n_mels)]
        Spectrogram, time first.
    n_frames : int > 0
        Frames per patch (187 = 3 s).
    hop_frames : int > 0 or None
        Frames between patch starts; ``None`` means ``n_frames`` (no overlap).

    Returns
    -------
    patches : np.ndarray [shape=(n_patches, n_frames, n_mels), dtype=float32]
        Patches starting at frames ``0, hop, 2 hop, ...`` while a whole patch
        fits; a spectrogram shorter than one patch is repeated (tiled) up to
        one patch.
    """
    logmel_ = np.asarray(logmel_, dtype=np.float32)
    if logmel_.ndim != 2 or logmel_.shape[0] == 0:
        raise ValueError(f"expected a non-empty (T, n_mels) spectrogram, got {logmel_.shape}")
    hop_frames = n_frames if hop_frames is None else int(hop_frames)
    if logmel_.shape[0] < n_frames:
        reps = -(-n_frames // logmel_.shape[0])
        return np.tile(logmel_, (reps, 1))[np.newaxis, :n_frames]
    starts = range(0, logmel_.shape[0] - n_frames + 1, hop_frames)
    return np.stack([logmel_[s : s + n_frames] for s in starts])
