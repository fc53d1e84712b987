"""Peer systems run through the same MIREX interface as the LPNKK variants.

``mfcc-svm``
    The classic MIREX baseline: 20 MFCCs and their deltas over the whole clip
    (librosa, 22050 Hz, 2048-sample frames, 512-sample hop), summarised by
    their means and standard deviations (80-d), then the same SVM.
``musicnn-svm``
    The musicnn MSD model (Pons & Serra; Keras port of the ``musicnn`` 0.1.0
    checkpoints, ``models/musicnn-msd``): per 3-s patch its max- and
    mean-pooled mid-level features, averaged over the clip (1506-d), then the
    same SVM.

An extractor offers ``id`` (cache namespace), ``dim``, ``input_spec`` (clips
sharing a spec are decoded once), ``prepare(path)`` (decode, thread-safe)
and ``embed(prepared) -> (n_clips, dim)``, like
:class:`mirex.embedding.SampleCNNExtractor`.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from .constants import MAX_DURATION, SAMPLE_RATE

__all__ = ["MfccExtractor", "MusicnnExtractor", "PEERS"]


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
        digest = hashlib.sha256(json.dumps(self.info(), sort_keys=True).encode()).hexdigest()
        return f"mfcc-{digest[:12]}"

    def prepare(self, path) -> np.ndarray:
        from . import audio

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

    def embed(self, prepared) -> np.ndarray:
        return np.stack([self.features(y) for y in prepared]) if prepared else \
            np.zeros((0, self.dim), np.float32)


class MusicnnExtractor:
    """Clip file -> pooled musicnn features (``[max_pool, mean_pool]``, 1506-d).

    Parameters
    ----------
    folder : path
        A musicnn backbone folder (see :func:`mirex.backbones.musicnn.load_musicnn`).
    max_duration : float
        Seconds decoded per file.
    """

    version = 1

    def __init__(self, folder, max_duration: float = MAX_DURATION):
        from .backbones import BackboneError
        from .backbones.musicnn import MANIFEST_NAME, SAMPLE_RATE as MUSICNN_SR

        self.folder = folder
        self.sr = MUSICNN_SR
        self.max_duration = max_duration
        try:
            with open(f"{folder}/{MANIFEST_NAME}", encoding="utf-8") as handle:
                self.manifest = json.load(handle)
        except (OSError, ValueError) as exc:
            raise BackboneError(f"{folder}: not a musicnn backbone folder ({exc})") from None
        self._model = None

    @property
    def name(self) -> str:
        return self.manifest["name"]

    dim = 1506

    @property
    def input_spec(self) -> tuple:
        return ("waveform", self.sr, self.max_duration)

    def info(self) -> dict:
        return {"extractor": "musicnn-pooled", "backbone": self.name,
                "weights_sha256": self.manifest["weights"]["sha256"],
                "max_duration": self.max_duration, "version": self.version, "dim": self.dim}

    @property
    def id(self) -> str:
        digest = hashlib.sha256(json.dumps(self.info(), sort_keys=True).encode()).hexdigest()
        return f"{self.name}-{self.manifest['weights']['sha256'][:12]}-{digest[:8]}"

    def prepare(self, path) -> np.ndarray:
        from . import audio

        return audio.load(path, sr=self.sr, max_duration=self.max_duration)

    def embed(self, prepared) -> np.ndarray:
        from .backbones.musicnn import load_musicnn, musicnn_embed

        if self._model is None:
            self._model, _ = load_musicnn(self.folder)
        if not prepared:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([musicnn_embed(self._model, y)["embedding"] for y in prepared])


def _musicnn_peer(models_dir=None, **options):
    from .variants import default_models_dir

    return [MusicnnExtractor(f"{models_dir or default_models_dir()}/musicnn-msd", **options)]


#: Peer systems by name: a factory of their extractors.
PEERS = {
    "mfcc-svm": lambda models_dir=None, **options: [MfccExtractor(**options)],
    "musicnn-svm": _musicnn_peer,
}
