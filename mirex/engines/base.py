"""What every engine shares: the tap graph, fixed-shape batching, pooling, threads.

Conventions
-----------
- Segments: ``float32`` arrays of shape ``(n_segments, segment_samples)``.
- Per-segment features: for each tapped block, the maximum over time of its
  output, concatenated in tap order: shape ``(n_segments, dim)``.
- Clip embedding: the mean of its segments' features: shape ``(dim,)``.

An engine offers ``dim`` and ``segment_features(segments) -> (n_segments,
dim)``. It runs in fixed-size batches (the last one zero-padded), so a graph
is traced once and a segment's features do not depend on which other
segments share its batch.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

__all__ = ["Engine", "tap_model", "run_batched", "pool_segments", "embed_clips",
           "apply_thread_settings"]


class Engine(Protocol):
    """A backbone's multi-level features, computed by some runtime."""

    dim: int

    def segment_features(self, segments: np.ndarray) -> np.ndarray:
        """``(n_segments, segment_samples)`` float32 -> ``(n_segments, dim)`` float32."""


def apply_thread_settings(n_threads: int | None) -> None:
    """Hand a thread bound to TensorFlow, right after it is imported (``None``: all cores)."""
    import tensorflow as tf

    if not n_threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(n_threads))
        tf.config.threading.set_inter_op_parallelism_threads(1 if int(n_threads) == 1 else 2)
    except RuntimeError:  # TensorFlow already running: its settings stand
        pass


def tap_model(backbone, precision: str = "fp32"):
    """The backbone cut at its tapped blocks, each max-pooled over time, concatenated.

    Input ``(batch, segment_samples, 1)`` float32, output ``(batch, dim)``
    float32. ``precision='bf16'`` computes in bfloat16 (Keras'
    ``mixed_bfloat16`` policy: weights stay float32, the output is cast back).
    """
    import keras

    from ..backbones.samplecnn import dtype_policy

    with dtype_policy({"fp32": "float32", "bf16": "mixed_bfloat16"}[precision]):
        model = backbone.build()
        taps = [keras.layers.GlobalMaxPooling1D(name=f"{name}_tmax")(model.get_layer(name).output)
                for name in backbone.feature_layers]
        merged = keras.layers.Concatenate(name="multilevel")(taps) if len(taps) > 1 else taps[0]
        merged = keras.layers.Activation("linear", dtype="float32", name="to_float32")(merged)
    return keras.Model(model.input, merged, name=f"{backbone.name}_features")


def run_batched(run, segments: np.ndarray, batch: int, dim: int, n_samples: int) -> np.ndarray:
    """Apply a traced ``(batch, n_samples) -> (batch, dim)`` function to any number of segments.

    Every call has the same shape (the last batch is zero-padded), so the
    function is traced once and a segment's result does not depend on its
    batch company.
    """
    segments = np.asarray(segments, dtype=np.float32)
    if segments.ndim != 2 or segments.shape[1] != n_samples:
        raise ValueError(f"expected segments of shape (n, {n_samples}), got {segments.shape}")
    n_seg = len(segments)
    out = np.empty((n_seg, dim), np.float32)
    for start in range(0, n_seg, batch):
        chunk = segments[start : start + batch]
        if len(chunk) < batch:
            chunk = np.concatenate([chunk, np.zeros((batch - len(chunk), n_samples), np.float32)])
        out[start : start + batch] = np.asarray(run(chunk))[: min(batch, n_seg - start)]
    return out


def pool_segments(features: np.ndarray) -> np.ndarray:
    """Mean over a clip's segments: ``(n_segments, dim) -> (dim,)``."""
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2 or len(features) == 0:
        raise ValueError(f"expected (n_segments >= 1, dim) features, got shape {features.shape}")
    return features.mean(axis=0, dtype=np.float64).astype(np.float32)


def embed_clips(engine: Engine, clips: Sequence[np.ndarray]) -> np.ndarray:
    """Embed several clips in shared batches.

    Parameters
    ----------
    engine : Engine
    clips : sequence of np.ndarray [shape=(n_segments_i, segment_samples)]
        The segments of each clip.

    Returns
    -------
    embeddings : np.ndarray [shape=(n_clips, dim), dtype=float32]
    """
    if not clips:
        return np.zeros((0, engine.dim), np.float32)
    features = engine.segment_features(np.concatenate(clips))
    bounds = np.cumsum([0] + [len(c) for c in clips])
    return np.stack([pool_segments(features[a:b]) for a, b in zip(bounds[:-1], bounds[1:])])
