"""SampleCNN multi-level features through TensorFlow Lite and its XNNPACK CPU kernels.

The backbone's tap graph is traced for a fixed batch shape, its variables
are frozen into constants and the graph is converted to a TFLite flatbuffer,
which the interpreter runs with XNNPACK, TFLite's optimised CPU backend, in
float32: features equal the Keras model's (:func:`mirex.engines.base.tap_model`)
within float32 rounding (relative error ~1e-6), so a cache made by either
engine serves the other. It is the fp32 engine of CPUs without AVX-512 and
the reference numerics of the others.

Reduced precisions measured here and deleted (issue 13): fixed-range int8
models, one per loudness band (5-10 % off fp32 with the trained backbones),
and dynamically quantized int8 ('dyn8': XNNPACK's QD8 kernels, blocks 1-2 in
float32, later weights split into two int8 terms; 1.6 % off fp32), which on
a 2-core Sapphire Rapids (AMX-INT8, AVX512-VNNI) took 0.30-0.38 CPU-s a
clip, no less than OpenVINO's exact fp32 (0.28-0.49, same runs): OpenVINO
(:mod:`.openvino`) runs fp32 on AVX-512 CPUs and bf16 where the CPU has it.

Converted models are kept on disk (``cache_dir``, one ``.tflite`` file per
weights, taps and batch, written atomically: :func:`model_file`),
so later calls
neither convert nor import TensorFlow: the interpreter comes from
``ai_edge_litert`` (LiteRT, TFLite's successor, a dependency on Linux), else
from ``tf.lite``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from .base import run_batched, tap_model

__all__ = ["PRECISIONS", "convert", "model_file", "flatbuffer", "TFLiteEngine"]

log = logging.getLogger(__name__)

PRECISIONS = ("fp32",)
#: Bumped whenever the conversion changes; part of the converted-model cache key.
ENGINE_VERSION = 2


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter


def convert(backbone, batch: int) -> bytes:
    """TFLite flatbuffer of the tap graph for inputs ``(batch, segment_samples)`` float32.

    The Keras tap graph (:func:`mirex.engines.base.tap_model`) as it is, its
    variables frozen into constants.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    spec = [tf.TensorSpec([batch, backbone.segment_samples], tf.float32)]
    keras_model = tap_model(backbone)
    fn = tf.function(lambda x: keras_model(tf.expand_dims(x, -1), training=False),
                     input_signature=spec)
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return converter.convert()


def model_file(backbone, batch: int, cache_dir) -> Path:
    """Where the converted model of ``backbone`` is kept under ``cache_dir``.

    The name is keyed by the weights' checksum, the taps, the segment length,
    the batch and :data:`ENGINE_VERSION`, so a changed model never hits an
    old file.
    """
    key = {"engine": ENGINE_VERSION, "weights": backbone.weights_sha256,
           "taps": backbone.feature_layers, "n_samples": backbone.segment_samples,
           "batch": int(batch), "precision": "fp32"}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return Path(cache_dir) / f"{backbone.name}-fp32-{digest}.tflite"


def flatbuffer(backbone, batch: int, cache_dir=None) -> bytes:
    """The converted model: read from ``cache_dir``, else converted (and cached, atomically).

    A file that cannot be written leaves the model uncached (logged at debug level).
    """
    path = model_file(backbone, batch, cache_dir) if cache_dir else None
    if path is not None and path.is_file():
        return path.read_bytes()
    content = convert(backbone, batch)
    if path is not None:
        from ..fileio import atomic_write_bytes

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, content)
        except OSError as exc:
            log.debug("%s: converted model not cached (%s)", path, exc)
    return content


class TFLiteEngine:
    """A backbone's tap graph run by TFLite/XNNPACK.

    Parameters
    ----------
    backbone : mirex.backbones.Backbone
    batch_segments : int
        Segments per interpreter call (fixed: the last batch is zero-padded).
    precision : {'fp32'}
        The one precision it runs (the parameter keeps every engine's signature alike).
    num_threads : int or None
        Interpreter threads (default: all cores).
    cache_dir : path or None
        Where converted models are kept (``None``: convert every time).
    """

    def __init__(self, backbone, batch_segments: int, precision: str = "fp32",
                 num_threads: int | None = None, cache_dir=None):
        if precision not in PRECISIONS:
            raise ValueError(f"the tflite engine runs {' or '.join(PRECISIONS)}, not {precision}")
        self.backbone = backbone
        self.batch_segments = int(batch_segments)
        self.precision = precision
        self.dim = int(backbone.embedding_dim)
        self._cache_dir = Path(cache_dir) if cache_dir else None
        threads = int(num_threads or os.cpu_count() or 1)
        try:
            interpreter = self._interpreter(self._flatbuffer(), threads)
        except (ValueError, RuntimeError) as exc:
            path = self._cache_path()
            if path is None or not path.exists():
                raise
            log.warning("%s: damaged converted model (%s); converting again", path, exc)
            path.unlink(missing_ok=True)
            interpreter = self._interpreter(self._flatbuffer(), threads)
        source = interpreter.get_input_details()[0]["index"]
        sink = interpreter.get_output_details()[0]["index"]

        def run(chunk: np.ndarray) -> np.ndarray:
            interpreter.set_tensor(source, chunk)
            interpreter.invoke()
            return interpreter.get_tensor(sink).copy()

        self._run = run

    def _cache_path(self) -> Path | None:
        if self._cache_dir is None:
            return None
        return model_file(self.backbone, self.batch_segments, self._cache_dir)

    def _flatbuffer(self) -> bytes:
        return flatbuffer(self.backbone, self.batch_segments, self._cache_dir)

    @staticmethod
    def _interpreter(content: bytes, threads: int):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            interpreter = _interpreter_class()(model_content=content, num_threads=threads)
        interpreter.allocate_tensors()
        return interpreter

    def segment_features(self, segments: np.ndarray) -> np.ndarray:
        """Per-segment multi-level features: ``(n_segments, n) -> (n_segments, dim)`` float32."""
        return run_batched(self._run, np.asarray(segments, np.float32), self.batch_segments,
                           self.dim, self.backbone.segment_samples)
