"""SampleCNN multi-level features through TensorFlow Lite and its XNNPACK CPU kernels.

The backbone's tap graph is traced for a fixed batch shape, its variables
are frozen into constants and the graph is converted to a TFLite flatbuffer,
which the interpreter runs with XNNPACK, TFLite's optimised CPU backend.
Two precisions:

``'fp32'``
    The Keras tap graph (:func:`mirex.engines.base.tap_model`) in float32:
    features equal the Keras model's within float32 rounding (relative
    error ~1e-6), so a cache made by either engine serves the other.
``'dyn8'``
    Dynamically quantized int8 (XNNPACK's QD8 kernels: each convolution's
    input is quantized to int8 at run time with a scale and zero point
    computed from that segment's own activations, so loudness needs no
    calibration and a segment's features do not depend on its batch
    company; weights int8 per output channel; int32 accumulation on
    AVX512-VNNI / AMX). Plain dynamic-range quantization of the trained
    backbones is 3.5 times as fast as fp32 but its clip features are 3-4 %
    off fp32 (max error over the largest feature): the int8 rounding of the
    weights causes most of it, the quantization of the input of block 2 (the
    first convolution over the waveform frontend's output, whose range is set
    by a few peaks) the rest. Hence (see :func:`dyn8_graph`): batch norm is
    folded into the convolutions, blocks ``1 .. DYN8_FLOAT_BLOCKS`` stay in
    float32, and every later convolution is the sum of two int8 convolutions,
    ``W = W_hi + W_lo``, ``W_hi`` on W's per-channel int8 grid and ``W_lo``
    the remainder quantized on its own finer grid, which makes the weights
    exact to about 16 bits. Measured with the trained backbones on generated
    music at -40 .. -6 dBFS: within 1.6 % of fp32, cosine >= 0.9999; about
    1.3 times as fast as fp32 (``benchmarks/bench_precision.py``). Its
    features are kept apart from the float ones (the extractor id names the
    precision and :data:`DYN8_VERSION`).
The fixed-range int8 models of earlier versions (one per loudness band,
5-10 % off fp32 with the trained backbones) were deleted in favour of dyn8
here and of OpenVINO's bf16 (:mod:`.openvino`) on CPUs that have bf16.

Converted models are kept on disk (``cache_dir``, one ``.tflite`` file per
weights, taps, batch and precision, written atomically: :func:`model_file`),
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

__all__ = ["PRECISIONS", "DYN8_VERSION", "DYN8_FLOAT_BLOCKS", "convert", "dyn8_graph",
           "model_file", "flatbuffer", "TFLiteEngine"]

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "dyn8")
#: Bumped whenever the conversion changes; part of the converted-model cache key.
ENGINE_VERSION = 2
#: Bumped whenever the dyn8 graph's making changes; part of the cache identity
#: of dyn8 features.
DYN8_VERSION = 1
#: Blocks ``1 .. DYN8_FLOAT_BLOCKS`` run in float32 in the dyn8 model.
DYN8_FLOAT_BLOCKS = 2


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter


def _folded_blocks(backbone) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each block's convolution with its batch norm folded in: ``[(kernel (k, in, out), bias)]``."""
    model = backbone.build()
    out = []
    for i in range(1, len(backbone.config["widths"]) + 1):
        conv, bn = model.get_layer(f"block{i}_conv"), model.get_layer(f"block{i}_bn")
        w, b = (np.asarray(v, np.float64) for v in conv.get_weights())
        gamma, beta, mean, var = (np.asarray(v, np.float64) for v in bn.get_weights())
        k = gamma / np.sqrt(var + bn.epsilon)
        out.append(((w * k).astype(np.float32), ((b - mean) * k + beta).astype(np.float32)))
    return out


def _int8_grid(w: np.ndarray) -> np.ndarray:
    """``w`` rounded to its symmetric per-output-channel int8 grid (the converter's), as float."""
    scale = np.abs(w).reshape(-1, w.shape[-1]).max(axis=0) / 127.0
    scale = np.where(scale > 0, scale, 1.0)
    return (np.round(w / scale) * scale).astype(np.float32)


def dyn8_graph(backbone):
    """The tap graph rewritten for dynamic int8: ``(batch, n_samples) -> (batch, dim)``.

    Batch norm folded into each convolution; blocks up to
    :data:`DYN8_FLOAT_BLOCKS` as they are (kept in float32 after conversion);
    every later convolution split into two, ``W_hi`` (W on its int8 grid) and
    ``W_lo = W - W_hi``, whose outputs are added before the ReLU. In float32
    it computes the same features as :func:`mirex.engines.base.tap_model`.
    """
    import tensorflow as tf

    from ..backbones.samplecnn import block_index

    blocks = _folded_blocks(backbone)
    n = len(blocks)
    taps = [block_index(name) for name in backbone.feature_layers]

    def features(x):
        h, outs = tf.expand_dims(x, -1), {}
        for i, (w, b) in enumerate(blocks, start=1):
            stride, padding = (3, "VALID") if i == 1 else (1, "VALID" if i == n else "SAME")
            if i <= DYN8_FLOAT_BLOCKS:
                y = tf.nn.conv1d(h, tf.constant(w), stride, padding)
            else:
                hi = _int8_grid(w)
                y = (tf.nn.conv1d(h, tf.constant(hi), stride, padding)
                     + tf.nn.conv1d(h, tf.constant(w - hi), stride, padding))
            h = tf.nn.relu(y + tf.constant(b))
            if 1 < i < n:
                h = tf.nn.max_pool1d(h, 3, 3, "VALID")
            if i in taps:
                outs[i] = tf.reduce_max(h, axis=1)
        return tf.concat([outs[i] for i in taps], axis=1)

    return features, [w for w, _ in blocks[:DYN8_FLOAT_BLOCKS]]


def _restore_float_filters(flatbuffer: bytes, kernels) -> bytes:
    """Put the float32 kernels back in place of their int8 quantization.

    Dynamic-range quantization quantizes every convolution with 1024 weights
    or more; each kernel in ``kernels`` (Keras layout ``(k, in, out)``) is
    found among the int8 filters by shape and value (within its rounding) and
    restored to float32, so that its convolution runs in float32.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    tensors = model.subgraphs[0].tensors
    for w in kernels:
        target = np.ascontiguousarray(np.transpose(w, (2, 0, 1))[:, None], np.float32)  # OHWI
        if w.size < 1024:
            continue  # never quantized
        matches = []
        for t in tensors:
            if t.type != 9 or t.quantization is None or t.quantization.scale is None \
                    or list(t.shape) != list(target.shape):   # 9: INT8
                continue
            q = np.frombuffer(bytes(model.buffers[t.buffer].data), np.int8).reshape(target.shape)
            scale = np.asarray(t.quantization.scale, np.float32).reshape(-1, 1, 1, 1)
            if np.abs(q * scale - target).max() <= 0.51 * scale.max():
                matches.append(t)
        if len(matches) != 1:
            raise RuntimeError(f"dyn8 conversion: {len(matches)} int8 filters match a float block")
        t = matches[0]
        model.buffers[t.buffer].data = np.frombuffer(target.tobytes(), np.uint8)
        t.type, t.quantization = 0, None  # 0: FLOAT32
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def convert(backbone, batch: int, precision: str = "fp32") -> bytes:
    """TFLite flatbuffer of the tap graph for inputs ``(batch, segment_samples)`` float32.

    ``precision='fp32'``: the Keras tap graph (:func:`mirex.engines.base.tap_model`)
    as it is. ``'dyn8'``: :func:`dyn8_graph` with dynamic-range quantization
    (no representative data: weights int8 per channel, activations quantized
    at run time) and its first blocks restored to float32.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {PRECISIONS}")
    spec = [tf.TensorSpec([batch, backbone.segment_samples], tf.float32)]
    if precision == "dyn8":
        graph, float_kernels = dyn8_graph(backbone)
        fn = tf.function(graph, input_signature=spec)
    else:
        keras_model = tap_model(backbone)
        fn = tf.function(lambda x: keras_model(tf.expand_dims(x, -1), training=False),
                         input_signature=spec)
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    if precision == "dyn8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flatbuffer = converter.convert()
    if precision == "dyn8":
        flatbuffer = _restore_float_filters(flatbuffer, float_kernels)
    return flatbuffer


def model_file(backbone, batch: int, precision: str, cache_dir) -> Path:
    """Where the converted model of ``backbone`` is kept under ``cache_dir``.

    The name is keyed by the weights' checksum, the taps, the segment length,
    the batch, the precision and :data:`ENGINE_VERSION` (and for dyn8 its
    version), so a changed model never hits an old file.
    """
    key = {"engine": ENGINE_VERSION, "weights": backbone.weights_sha256,
           "taps": backbone.feature_layers, "n_samples": backbone.segment_samples,
           "batch": int(batch), "precision": precision}
    if precision == "dyn8":
        key["dyn8"] = [DYN8_VERSION, DYN8_FLOAT_BLOCKS]
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return Path(cache_dir) / f"{backbone.name}-{precision}-{digest}.tflite"


def flatbuffer(backbone, batch: int, precision: str = "fp32", cache_dir=None) -> bytes:
    """The converted model: read from ``cache_dir``, else converted (and cached, atomically).

    A file that cannot be written leaves the model uncached (logged at debug level).
    """
    path = model_file(backbone, batch, precision, cache_dir) if cache_dir else None
    if path is not None and path.is_file():
        return path.read_bytes()
    content = convert(backbone, batch, precision)
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
    precision : {'fp32', 'dyn8'}
        See the module docstring.
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
        return model_file(self.backbone, self.batch_segments, self.precision, self._cache_dir)

    def _flatbuffer(self) -> bytes:
        return flatbuffer(self.backbone, self.batch_segments, self.precision, self._cache_dir)

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
