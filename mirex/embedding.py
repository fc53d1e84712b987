"""Multi-level embeddings: taps of a backbone's top hidden blocks -> one vector per clip.

Conventions
-----------
- Segments: ``float32`` arrays of shape ``(n_segments, segment_samples)``.
- Per-segment features: for each tapped block, the maximum over time of its
  output, concatenated in tap order: shape ``(n_segments, dim)``.
- Clip embedding: the mean of its segments' features: shape ``(dim,)``.

Inference runs in fixed-size batches (the last one zero-padded), so the graph
is traced once and a segment's features do not depend on which other
segments share its batch. TensorFlow places the work on a GPU when it sees
one; :func:`configure_threads` bounds the CPU threads.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

import numpy as np

__all__ = ["configure_threads", "FeatureModel", "pool_segments", "embed_clips",
           "SampleCNNExtractor", "EMBEDDING_VERSION", "apply_thread_settings", "run_batched",
           "ENGINES", "make_feature_model"]

#: Segments per inference batch.
BATCH_SEGMENTS = 16


def configure_threads(n_threads: int | None) -> None:
    """Bound the threads of TensorFlow, OpenMP and BLAS to ``n_threads``.

    Sets the environment variables these libraries read when they start (so
    TensorFlow is not imported here), and TensorFlow's own settings if it is
    already loaded. ``None`` or 0 leaves the defaults (all cores).
    """
    if not n_threads:
        return
    n, inter = int(n_threads), 1 if int(n_threads) == 1 else 2
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "TF_NUM_INTRAOP_THREADS"):
        os.environ[var] = str(n)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(inter)
    if "tensorflow" in sys.modules:
        apply_thread_settings()


def apply_thread_settings() -> None:
    """Hand the thread bounds of :func:`configure_threads` to TensorFlow.

    Called right after TensorFlow is imported, before its first operation.
    """
    import tensorflow as tf

    intra = int(os.environ.get("TF_NUM_INTRAOP_THREADS", "0") or 0)
    inter = int(os.environ.get("TF_NUM_INTEROP_THREADS", "0") or 0)
    try:
        if intra:
            tf.config.threading.set_intra_op_parallelism_threads(intra)
        if inter:
            tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:  # TensorFlow already running: its settings stand
        pass


class FeatureModel:
    """A backbone cut at its tapped blocks, max-pooled over time, traced once.

    Parameters
    ----------
    backbone : mirex.backbones.Backbone
        A verified backbone folder.
    batch_segments : int
        Segments per inference batch.
    """

    def __init__(self, backbone, batch_segments: int = BATCH_SEGMENTS):
        import keras
        import tensorflow as tf

        apply_thread_settings()
        self.backbone = backbone
        self.batch_segments = int(batch_segments)
        model = backbone.build()
        taps = [keras.layers.GlobalMaxPooling1D(name=f"{name}_tmax")(model.get_layer(name).output)
                for name in backbone.feature_layers]
        merged = keras.layers.Concatenate(name="multilevel")(taps) if len(taps) > 1 else taps[0]
        self.model = keras.Model(model.input, merged, name=f"{backbone.name}_features")
        self.dim = int(merged.shape[-1])
        n = backbone.segment_samples
        self._run = tf.function(
            lambda x: self.model(tf.expand_dims(x, -1), training=False),
            input_signature=[tf.TensorSpec([self.batch_segments, n], tf.float32)],
            reduce_retracing=True,
        )

    def segment_features(self, segments: np.ndarray) -> np.ndarray:
        """Per-segment multi-level features.

        Parameters
        ----------
        segments : np.ndarray [shape=(n_segments, segment_samples)]

        Returns
        -------
        features : np.ndarray [shape=(n_segments, dim), dtype=float32]
        """
        return run_batched(self._run, segments, self.batch_segments, self.dim,
                           self.backbone.segment_samples)


def run_batched(run, segments: np.ndarray, batch: int, dim: int, n_samples: int) -> np.ndarray:
    """Apply a traced ``(batch, n_samples) -> (batch, dim)`` function to any number of segments.

    Every call has the same shape (the last batch is zero-padded), so the
    function is traced once and a segment's result does not depend on its
    batch company.
    """
    segments = np.asarray(segments, dtype=np.float32)
    n_seg, n = segments.shape
    if n != n_samples:
        raise ValueError(f"segments hold {n} samples, the backbone expects {n_samples}")
    out = np.empty((n_seg, dim), np.float32)
    for start in range(0, n_seg, batch):
        chunk = segments[start : start + batch]
        if len(chunk) < batch:
            chunk = np.concatenate([chunk, np.zeros((batch - len(chunk), n), np.float32)])
        out[start : start + batch] = np.asarray(run(chunk))[: min(batch, n_seg - start)]
    return out


def pool_segments(features: np.ndarray) -> np.ndarray:
    """Mean over a clip's segments: ``(n_segments, dim) -> (dim,)``."""
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2 or len(features) == 0:
        raise ValueError(f"expected (n_segments >= 1, dim) features, got shape {features.shape}")
    return features.mean(axis=0, dtype=np.float64).astype(np.float32)


def embed_clips(model: FeatureModel, clips: Sequence[np.ndarray]) -> np.ndarray:
    """Embed several clips in shared batches.

    Parameters
    ----------
    model : FeatureModel
    clips : sequence of np.ndarray [shape=(n_segments_i, segment_samples)]
        The segments of each clip.

    Returns
    -------
    embeddings : np.ndarray [shape=(n_clips, dim), dtype=float32]
    """
    if not clips:
        return np.zeros((0, model.dim), np.float32)
    counts = [len(c) for c in clips]
    features = model.segment_features(np.concatenate(clips))
    bounds = np.cumsum([0] + counts)
    return np.stack([pool_segments(features[a:b]) for a, b in zip(bounds[:-1], bounds[1:])])


#: Inference engines: 'keras' (TensorFlow, CPU or GPU) and 'blas' (NumPy /
#: OpenBLAS matrix products, CPU only, opt-in: on the 2-core development
#: machine it was not reliably faster than 'keras' under load). 'auto' is keras.
ENGINES = ("auto", "keras", "blas")


def make_feature_model(backbone, engine: str = "auto", batch_segments: int = BATCH_SEGMENTS):
    """The feature model of ``backbone`` for an inference engine (see :data:`ENGINES`).

    Both engines give the same features within float32 rounding, so a cache
    made with one is valid for the other.
    """
    if engine == "blas":
        from .blas_inference import BlasFeatureModel

        return BlasFeatureModel(backbone, batch_segments)
    return FeatureModel(backbone, batch_segments)


#: Bumped whenever the way a clip becomes a vector changes, so old cache
#: entries stop matching.
EMBEDDING_VERSION = 1


class SampleCNNExtractor:
    """Clip file -> multi-level SampleCNN embedding, with a cache identity.

    The network is built lazily, on the first :meth:`embed`, so that a run
    served entirely from the cache never starts TensorFlow.

    Parameters
    ----------
    backbone : mirex.backbones.Backbone
    max_segments : int or None
        Segments taken per clip (see :func:`mirex.audio.segment`).
    max_duration : float or None
        Seconds decoded per file (see :func:`mirex.audio.load`).
    batch_segments : int
        Segments per inference batch.
    """

    def __init__(self, backbone, max_segments=None, max_duration=None,
                 batch_segments: int = BATCH_SEGMENTS, engine: str | None = None):
        from .constants import ENV_ENGINE, MAX_DURATION, MAX_SEGMENTS

        self.engine = (engine or os.environ.get(ENV_ENGINE) or "auto").lower()
        if self.engine not in ENGINES:
            raise ValueError(f"unknown inference engine {self.engine!r}; choose from {ENGINES}")
        self.backbone = backbone
        self.max_segments = MAX_SEGMENTS if max_segments is None else max_segments
        self.max_duration = MAX_DURATION if max_duration is None else max_duration
        self.batch_segments = batch_segments
        self._model = None

    @property
    def name(self) -> str:
        return self.backbone.name

    @property
    def dim(self) -> int:
        return self.backbone.embedding_dim

    @property
    def input_spec(self) -> tuple:
        """Clips are decoded once for all extractors sharing this spec."""
        return ("segments", self.backbone.sample_rate, self.backbone.segment_samples,
                self.max_segments, self.max_duration)

    @property
    def id(self) -> str:
        """Cache namespace: backbone name, weights checksum, extraction parameters."""
        import hashlib
        import json

        params = json.dumps({"spec": self.input_spec, "taps": self.backbone.feature_layers,
                             "version": EMBEDDING_VERSION}, sort_keys=True)
        digest = hashlib.sha256(params.encode()).hexdigest()[:8]
        return f"{self.name}-{self.backbone.weights_sha256[:12]}-{digest}"

    def info(self) -> dict:
        return {"extractor": "samplecnn-multilevel", "backbone": self.name,
                "backbone_path": str(self.backbone.path),
                "weights_sha256": self.backbone.weights_sha256,
                "trained": self.backbone.trained, "dim": self.dim,
                "feature_layers": self.backbone.feature_layers,
                "max_segments": self.max_segments, "max_duration": self.max_duration,
                "embedding_version": EMBEDDING_VERSION}

    def prepare(self, path) -> np.ndarray:
        """Decode and segment one file: ``(n_segments, segment_samples)``.

        Thread-safe; raises :class:`mirex.audio.AudioError`.
        """
        from . import audio

        return audio.load_segments(path, sr=self.backbone.sample_rate,
                                   n_samples=self.backbone.segment_samples,
                                   max_segments=self.max_segments,
                                   max_duration=self.max_duration)

    def embed(self, prepared: Sequence[np.ndarray]) -> np.ndarray:
        """Embeddings of prepared clips: ``(n_clips, dim)``."""
        if self._model is None:
            self._model = make_feature_model(self.backbone, self.engine, self.batch_segments)
        return embed_clips(self._model, prepared)
