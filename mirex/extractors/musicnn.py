"""Pooled musicnn features (peers ``musicnn-svm`` and ``musicnn-vgg-svm``).

The musicnn MSD model (Pons & Serra; Keras port of the ``musicnn`` 0.1.0
checkpoints, ``models/musicnn-msd``): per 3-s patch its max- and mean-pooled
mid-level features, averaged over the clip (1506-d). The same for the VGG
MSD tagger of the package (``models/musicnn-vgg-msd``): per patch the maximum
and the mean over time and frequency of each of its five pooled maps (1280-d).
"""

from __future__ import annotations

import numpy as np

from ..constants import MAX_DURATION
from . import cache_id

__all__ = ["MusicnnExtractor"]


class MusicnnExtractor:
    """Clip file -> pooled musicnn features (``[max_pool, mean_pool]``, 1506-d; VGG 1280-d).

    Parameters
    ----------
    folder : path
        A musicnn backbone folder (see :func:`mirex.backbones.musicnn.load_musicnn`);
        its manifest is read now, the network built on the first :meth:`embed`.
    max_duration : float
        Seconds decoded per file.
    """

    version = 1

    def __init__(self, folder, max_duration: float = MAX_DURATION):
        from ..backbones import BackboneError
        from ..backbones.musicnn import FORMAT, MANIFEST_NAME, SAMPLE_RATE
        from ..fileio import read_manifest

        self.folder = folder
        self.sr = SAMPLE_RATE
        self.max_duration = max_duration
        self.manifest = read_manifest(folder, MANIFEST_NAME, FORMAT, BackboneError,
                                      missing=f"not a musicnn backbone folder (no {MANIFEST_NAME})")
        #: 1506 for musicnn, 1280 for the VGG taggers (``outputs.embedding`` of the manifest)
        self.dim = int(self.manifest.get("outputs", {}).get("embedding", 1506))
        self._model = None

    def __getstate__(self) -> dict:
        """Pickled (e.g. sent to a cluster worker) without its built network."""
        return {**self.__dict__, "_model": None}

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def input_spec(self) -> tuple:
        return ("waveform", self.sr, self.max_duration)

    def info(self) -> dict:
        return {"extractor": "musicnn-pooled", "backbone": self.name,
                "weights_sha256": self.manifest["weights"]["sha256"],
                "max_duration": self.max_duration, "version": self.version, "dim": self.dim}

    @property
    def id(self) -> str:
        return cache_id(f"{self.name}-{self.manifest['weights']['sha256'][:12]}", self.info())

    def prepare(self, path) -> np.ndarray:
        from .. import audio

        return audio.load(path, sr=self.sr, max_duration=self.max_duration)

    def load(self) -> None:
        """Build the network now (else the first :meth:`embed` does)."""
        from ..backbones.musicnn import load_musicnn

        if self._model is None:
            self._model, _ = load_musicnn(self.folder)

    def embed(self, prepared) -> np.ndarray:
        from ..backbones.musicnn import musicnn_embed

        self.load()
        if not prepared:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([musicnn_embed(self._model, y)["embedding"] for y in prepared])
