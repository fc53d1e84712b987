"""MFCC + delta statistics: the classic MIREX baseline (peer ``mfcc-svm``).

20 MFCCs and their deltas over the whole clip (librosa, 22050 Hz,
2048-sample frames, 512-sample hop), summarised by their means and standard
deviations (80-d).
"""

from __future__ import annotations

import numpy as np

from ..constants import MAX_DURATION, SAMPLE_RATE
from . import cache_id

__all__ = ["MfccExtractor"]


class MfccExtractor:
    """Clip file -> MFCC + delta statistics (mean and std over frames).

    Parameters
    ----------
    n_mfcc : int
        Cepstral coefficients per frame.
    sr : int
        Analysis sample rate in Hz.
    n_fft, hop_length : int
        Frame and hop lengths in samples.
    max_duration : float
        Seconds decoded per file.
    """

    name = "mfcc"
    version = 1

    def __init__(self, n_mfcc: int = 20, sr: int = SAMPLE_RATE, n_fft: int = 2048,
                 hop_length: int = 512, max_duration: float = MAX_DURATION):
        self.n_mfcc, self.sr, self.n_fft, self.hop_length = n_mfcc, sr, n_fft, hop_length
        self.max_duration = max_duration

    @property
    def dim(self) -> int:
        return 4 * self.n_mfcc

    @property
    def input_spec(self) -> tuple:
        return ("waveform", self.sr, self.max_duration)

    def info(self) -> dict:
        return {"extractor": "mfcc-delta-stats", "n_mfcc": self.n_mfcc, "sr": self.sr,
                "n_fft": self.n_fft, "hop_length": self.hop_length,
                "max_duration": self.max_duration, "version": self.version, "dim": self.dim}

    @property
    def id(self) -> str:
        return cache_id("mfcc", self.info(), 12)

    def prepare(self, path) -> np.ndarray:
        from .. import audio

        return audio.load(path, sr=self.sr, max_duration=self.max_duration)

    def features(self, y: np.ndarray) -> np.ndarray:
        """MFCC + delta means and standard deviations of one clip: ``(4 * n_mfcc,)``."""
        import librosa

        y = np.asarray(y, dtype=np.float32)
        if y.size < self.n_fft:
            y = np.resize(y, self.n_fft)
        mfcc = librosa.feature.mfcc(y=y, sr=self.sr, n_mfcc=self.n_mfcc, n_fft=self.n_fft,
                                    hop_length=self.hop_length)
        width = min(9, mfcc.shape[1] - (1 - mfcc.shape[1] % 2))
        delta = (librosa.feature.delta(mfcc, width=width) if width >= 3
                 else np.zeros_like(mfcc))
        stats = [mfcc.mean(axis=1), mfcc.std(axis=1), delta.mean(axis=1), delta.std(axis=1)]
        return np.concatenate(stats).astype(np.float32)

    def load(self) -> None:
        """Import librosa now (else the first :meth:`embed` does)."""
        import librosa  # noqa: F401

    def embed(self, prepared) -> np.ndarray:
        return np.stack([self.features(y) for y in prepared]) if prepared else \
            np.zeros((0, self.dim), np.float32)
