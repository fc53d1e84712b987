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
from typing import Sequence

import numpy as np

__all__ = ["configure_threads", "FeatureModel", "pool_segments", "embed_clips"]

#: Segments per inference batch.
BATCH_SEGMENTS = 16


def configure_threads(n_threads: int | None) -> None:
    """Bound the threads of TensorFlow, OpenMP and BLAS to ``n_threads``.

    Must be called before TensorFlow runs its first operation; ``None`` or 0
    leaves the libraries' defaults (all cores).
    """
    if not n_threads:
        return
    n = str(int(n_threads))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "TF_NUM_INTRAOP_THREADS"):
        os.environ[var] = n
    os.environ["TF_NUM_INTEROP_THREADS"] = "1" if int(n_threads) == 1 else "2"
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(n_threads))
        tf.config.threading.set_inter_op_parallelism_threads(1 if int(n_threads) == 1 else 2)
    except RuntimeError:  # already initialised: the environment settings stand
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
        segments = np.asarray(segments, dtype=np.float32)
        n_seg, n = segments.shape
        if n != self.backbone.segment_samples:
            raise ValueError(f"segments hold {n} samples, the backbone expects "
                             f"{self.backbone.segment_samples}")
        out = np.empty((n_seg, self.dim), np.float32)
        b = self.batch_segments
        for start in range(0, n_seg, b):
            chunk = segments[start : start + b]
            if len(chunk) < b:
                chunk = np.concatenate([chunk, np.zeros((b - len(chunk), n), np.float32)])
            result = self._run(chunk).numpy()
            out[start : start + b] = result[: min(b, n_seg - start)]
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
