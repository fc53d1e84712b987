"""SampleCNN multi-level features through TensorFlow Lite and its XNNPACK CPU kernels.

The backbone's tap graph (:func:`mirex.engines.base.tap_model`) is traced
for a fixed batch shape, its variables are frozen into constants and the
graph is converted to a TFLite flatbuffer, which the interpreter runs with
XNNPACK, TFLite's optimised CPU backend. Two precisions:

``'fp32'``
    The same arithmetic in float32: features equal the Keras model's within
    float32 rounding (relative error ~1e-6), so a cache made by either
    engine serves the other. On this project's 2-core AVX2 CPU it ran the
    paper model about 1.6 times as fast as TensorFlow's own kernels.
``'int8'``
    Full-integer post-training quantization: int8 weights (per channel)
    and activations. A raw-waveform network's activations scale with the
    loudness of its input, so one set of quantization ranges cannot serve
    quiet and loud recordings alike (measured with the trained samplecnn-msd:
    ranges set on mastered-level music gave errors of 40-50 % of the largest
    feature for segments at -20 to -40 dBFS). There is therefore a bank of
    int8 models, one per loudness band (:data:`INT8_BAND_DBFS`), each
    calibrated on music at its band's levels (:func:`band_levels`), and each
    segment runs in the model of the band nearest its RMS level. A band's
    model is built when a segment first needs it. The calibration music is
    passed in (a callable ``levels -> segments``): the engine knows nothing
    of where it comes from. The features differ from float32 by a few
    percent, so the feature cache keeps them apart (the extractor id names
    the precision and :data:`INT8_VERSION`).

Converted models are kept on disk (``cache_dir``, one ``.tflite`` file per
weights, taps, batch, precision and band, written atomically), so later
calls neither convert nor import TensorFlow: the interpreter comes from
``ai_edge_litert`` (LiteRT, TFLite's successor, a dependency on Linux),
else from ``tf.lite``.
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

__all__ = ["PRECISIONS", "INT8_VERSION", "convert", "TFLiteEngine", "loudness_band",
           "band_levels"]

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "int8")
#: Bumped whenever the conversion changes; part of the converted-model cache key.
ENGINE_VERSION = 1
#: Bumped whenever the int8 models' making (bands, calibration) changes; part
#: of the cache identity of int8 features.
INT8_VERSION = 3
#: Centre RMS levels (dBFS) of the int8 loudness bands, 8 dB apart; a segment
#: runs in the band whose centre is nearest its level.
INT8_BAND_DBFS = (-42.0, -34.0, -26.0, -18.0, -10.0)
#: A band's model is calibrated at its centre and this many dB either side.
INT8_BAND_SPREAD_DB = 3.0


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter


def loudness_band(segments: np.ndarray, centres=INT8_BAND_DBFS) -> np.ndarray:
    """Index of the band of ``centres`` (dBFS) nearest each segment's RMS level: ``(n,)`` int."""
    from ..audio import rms_dbfs

    level = np.maximum(rms_dbfs(segments, axis=1), min(centres) - 100.0)  # silence: quietest
    return np.abs(level[:, None] - np.asarray(centres, np.float64)[None, :]).argmin(axis=1)


def band_levels(band: int) -> tuple[float, ...]:
    """Calibration levels (dBFS) of the int8 model of band ``band``."""
    centre = INT8_BAND_DBFS[band]
    return (centre - INT8_BAND_SPREAD_DB, centre, centre + INT8_BAND_SPREAD_DB)


def convert(keras_model, batch: int, n_samples: int, precision: str = "fp32",
            calibration: np.ndarray | None = None) -> bytes:
    """TFLite flatbuffer of ``keras_model`` for inputs ``(batch, n_samples)`` float32.

    ``keras_model`` maps ``(batch, n_samples, 1)`` to ``(batch, dim)``. For
    ``precision='int8'``, ``calibration`` holds segments ``(n, n_samples)``
    whose activations set the quantization ranges (inputs and outputs stay
    float32).
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {PRECISIONS}")
    fn = tf.function(lambda x: keras_model(tf.expand_dims(x, -1), training=False),
                     input_signature=[tf.TensorSpec([batch, n_samples], tf.float32)])
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    if precision == "int8":
        if calibration is None or len(calibration) == 0:
            raise ValueError("int8 conversion needs calibration segments")
        calibration = np.asarray(calibration, np.float32)

        def representative():
            for start in range(0, len(calibration), batch):
                # wrap around: every batch is full whatever its size
                yield [calibration[np.arange(start, start + batch) % len(calibration)]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return converter.convert()


class TFLiteEngine:
    """A backbone's tap graph run by TFLite/XNNPACK.

    Parameters
    ----------
    backbone : mirex.backbones.Backbone
    batch_segments : int
        Segments per interpreter call (fixed: the last batch is zero-padded).
    precision : {'fp32', 'int8'}
        For int8, one quantized model per loudness band, built on first use.
    num_threads : int or None
        Interpreter threads (default: all cores).
    calibration : callable or None
        int8 only: ``levels (dBFS) -> segments (n, segment_samples)`` float32,
        the music whose activations set a band's quantization ranges.
    cache_dir : path or None
        Where converted models are kept (``None``: convert every time).
    """

    def __init__(self, backbone, batch_segments: int, precision: str = "fp32",
                 num_threads: int | None = None, calibration=None, cache_dir=None):
        if precision not in PRECISIONS:
            raise ValueError(f"the tflite engine runs {' or '.join(PRECISIONS)}, not {precision}")
        if precision == "int8" and calibration is None:
            raise ValueError("the int8 tflite engine needs calibration music (levels -> segments)")
        self.backbone = backbone
        self.batch_segments = int(batch_segments)
        self.precision = precision
        self._calibration = calibration
        self._cache_dir = Path(cache_dir) if cache_dir else None
        self._keras = None  # the tap graph, built only to convert
        self.dim = int(backbone.embedding_dim)
        self._threads = int(num_threads or os.cpu_count() or 1)
        self._runners = {}
        if precision == "fp32":
            self._runner(None)  # built now: the fp32 model is always needed

    def _cache_path(self, band: int | None) -> Path | None:
        """Where the converted model of ``band`` is kept, or ``None`` without a cache."""
        if self._cache_dir is None:
            return None
        b = self.backbone
        key = {"engine": ENGINE_VERSION, "weights": b.weights_sha256, "taps": b.feature_layers,
               "n_samples": b.segment_samples, "batch": self.batch_segments,
               "precision": self.precision, "band": band,
               "int8": INT8_VERSION if self.precision == "int8" else None}
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        return self._cache_dir / f"{b.name}-{self.precision}-{digest}.tflite"

    def _flatbuffer(self, band: int | None) -> bytes:
        """The converted model of ``band``: from the cache, else converted (and cached)."""
        path = self._cache_path(band)
        if path is not None and path.is_file():
            return path.read_bytes()
        if self._keras is None:
            self._keras = tap_model(self.backbone)
        n = self.backbone.segment_samples
        calibration = None if band is None else self._calibration(band_levels(band))
        flatbuffer = convert(self._keras, self.batch_segments, n, self.precision, calibration)
        if path is not None:
            from ..fileio import atomic_write_bytes

            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(path, flatbuffer)
            except OSError as exc:
                log.debug("%s: converted model not cached (%s)", path, exc)
        return flatbuffer

    def _interpreter(self, flatbuffer: bytes):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            interpreter = _interpreter_class()(model_content=flatbuffer, num_threads=self._threads)
        interpreter.allocate_tensors()
        return interpreter

    def _runner(self, band: int | None):
        """The interpreter call of the fp32 model (``band=None``) or of an int8 band."""
        if band not in self._runners:
            try:
                interpreter = self._interpreter(self._flatbuffer(band))
            except (ValueError, RuntimeError) as exc:
                path = self._cache_path(band)
                if path is None or not path.exists():
                    raise
                log.warning("%s: damaged converted model (%s); converting again", path, exc)
                path.unlink(missing_ok=True)
                interpreter = self._interpreter(self._flatbuffer(band))
            source = interpreter.get_input_details()[0]["index"]
            sink = interpreter.get_output_details()[0]["index"]

            def run(chunk: np.ndarray) -> np.ndarray:
                interpreter.set_tensor(source, chunk)
                interpreter.invoke()
                return interpreter.get_tensor(sink).copy()

            self._runners[band] = run
        return self._runners[band]

    def segment_features(self, segments: np.ndarray) -> np.ndarray:
        """Per-segment multi-level features: ``(n_segments, n) -> (n_segments, dim)`` float32."""
        segments = np.asarray(segments, np.float32)
        n = self.backbone.segment_samples
        if self.precision == "fp32":
            return run_batched(self._runner(None), segments, self.batch_segments, self.dim, n)
        if segments.ndim != 2:
            raise ValueError(f"expected segments of shape (n, {n}), got {segments.shape}")
        bands = loudness_band(segments)
        out = np.empty((len(segments), self.dim), np.float32)
        for band in np.unique(bands):
            rows = np.flatnonzero(bands == band)
            out[rows] = run_batched(self._runner(int(band)), segments[rows],
                                    self.batch_segments, self.dim, n)
        return out
