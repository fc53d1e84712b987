"""The Keras engine: TensorFlow's own kernels, on a GPU when TensorFlow sees one."""

from __future__ import annotations

import numpy as np

from .base import apply_thread_settings, run_batched, tap_model

__all__ = ["KerasEngine", "PRECISIONS"]

#: Arithmetic this engine runs: float32, or mixed bfloat16 (the GPU default).
PRECISIONS = ("fp32", "bf16")


class KerasEngine:
    """A backbone's tap graph traced once by TensorFlow.

    Parameters
    ----------
    backbone : mirex.backbones.Backbone
        A verified backbone folder.
    batch_segments : int
        Segments per inference batch.
    precision : {'fp32', 'bf16'}
        Arithmetic (see :func:`mirex.engines.base.tap_model`).
    num_threads : int or None
        CPU threads of TensorFlow (``None``: all cores).
    """

    def __init__(self, backbone, batch_segments: int, precision: str = "fp32",
                 num_threads: int | None = None):
        import tensorflow as tf

        if precision not in PRECISIONS:
            raise ValueError(f"the keras engine runs {' or '.join(PRECISIONS)}, not {precision}")
        apply_thread_settings(num_threads)
        self.backbone = backbone
        self.batch_segments = int(batch_segments)
        self.precision = precision
        self.model = tap_model(backbone, precision)
        self.dim = int(self.model.output.shape[-1])
        self._run = tf.function(
            lambda x: self.model(tf.expand_dims(x, -1), training=False),
            input_signature=[tf.TensorSpec([self.batch_segments, backbone.segment_samples],
                                           tf.float32)],
            reduce_retracing=True,
        )

    def segment_features(self, segments: np.ndarray) -> np.ndarray:
        """Per-segment multi-level features: ``(n_segments, n) -> (n_segments, dim)`` float32."""
        return run_batched(self._run, segments, self.batch_segments, self.dim,
                           self.backbone.segment_samples)
