"""SampleCNN multi-level features through OpenVINO's CPU plugin (oneDNN kernels).

OpenVINO reads the fp32 TFLite flatbuffer of the tflite engine
(:func:`mirex.engines.tflite.flatbuffer`, the same converted-model cache) and
compiles it for this CPU. Two precisions:

``'bf16'``
    Convolutions take bfloat16 inputs and weights and accumulate in float32,
    on AMX-BF16 tiles (Intel Sapphire Rapids and later) or AVX512-BF16 dot
    products (Intel Cooper Lake, AMD Zen 4/5); activations are stored as
    bfloat16 between fused layers. Nothing is calibrated and each segment
    is computed on its own, so loudness and batch company change nothing
    beyond bf16 rounding. Measured with the trained backbones on generated
    music at -40 .. -6 dBFS: clip features within 1.6 % of fp32 (largest
    absolute difference over the clip's largest feature), cosine >= 0.9999;
    4.5 times fewer CPU-seconds than TFLite fp32 on a 2-core Sapphire Rapids
    (``benchmarks/bench_precision.py``). 'auto' picks it where the CPU has
    bf16 (:func:`mirex.engines.fast_bf16_cpu`); its features have their own
    cache namespace (:data:`BF16_VERSION` in the extractor id).
``'fp32'``
    float32 throughout: the same features as the tflite engine within
    float32 rounding.

The model runs as one single-threaded stream per thread, each stream on
its own batch (OpenVINO's throughput mode): on 2 cores that took 0.075 s
of wall time a clip against 0.161 for one stream of two threads (latency
mode, whose threads meet after every layer), bf16, batches of 4 segments.
Compiled models are kept by OpenVINO itself under ``cache_dir/openvino``
(its ``CACHE_DIR``), so a later start compiles nothing (~0.2 s).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from .tflite import flatbuffer, model_file

__all__ = ["PRECISIONS", "BF16_VERSION", "OpenVINOEngine", "available"]

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16")
#: Bumped whenever the bf16 path changes (conversion, OpenVINO settings);
#: part of the cache identity of its features.
BF16_VERSION = 1
#: OpenVINO's names of the two precisions.
_OV_PRECISION = {"fp32": "f32", "bf16": "bf16"}


def available() -> bool:
    """Whether the ``openvino`` package can be imported (checked without importing it)."""
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


class OpenVINOEngine:
    """A backbone's tap graph compiled by OpenVINO for this CPU.

    Parameters
    ----------
    backbone : mirex.backbones.Backbone
    batch_segments : int
        Segments per inference call (fixed: the last batch is zero-padded).
    precision : {'fp32', 'bf16'}
        See the module docstring. bf16 on a CPU without bf16 instructions is
        refused (OpenVINO would silently run fp32).
    num_threads : int or None
        Inference threads (default: all cores).
    cache_dir : path or None
        Where converted (and compiled) models are kept (``None``: none kept).
    """

    def __init__(self, backbone, batch_segments: int, precision: str = "bf16",
                 num_threads: int | None = None, cache_dir=None):
        if precision not in PRECISIONS:
            raise ValueError(f"the openvino engine runs {' or '.join(PRECISIONS)}, "
                             f"not {precision}")
        import openvino as ov

        self.backbone = backbone
        self.batch_segments = int(batch_segments)
        self.precision = precision
        self.dim = int(backbone.embedding_dim)
        core = ov.Core()
        if precision == "bf16" and "BF16" not in core.get_property("CPU",
                                                                  "OPTIMIZATION_CAPABILITIES"):
            raise ValueError("the openvino engine runs bf16 only on a CPU with AMX-BF16 or "
                             "AVX512-BF16; use --precision fp32")
        threads = int(num_threads or os.cpu_count() or 1)
        config = {"INFERENCE_PRECISION_HINT": _OV_PRECISION[precision],
                  "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "THROUGHPUT",
                  "NUM_STREAMS": threads}
        if cache_dir:
            core.set_property({"CACHE_DIR": str(Path(cache_dir) / "openvino")})
        compiled = self._compile(core, config, cache_dir)
        self._queue = ov.AsyncInferQueue(compiled, threads)

    def _compile(self, core, config: dict, cache_dir):
        """The compiled model, from the fp32 flatbuffer (a file: OpenVINO reads TFLite from disk).

        With ``cache_dir`` the cached file is compiled where it lies (converted
        first when missing, converted again when OpenVINO cannot read it);
        without, the converted model goes through a temporary file.
        """
        batch = self.batch_segments
        if cache_dir:
            path = model_file(self.backbone, batch, "fp32", cache_dir)
            if not path.is_file():
                flatbuffer(self.backbone, batch, "fp32", cache_dir)   # converts and caches
            if path.is_file():
                try:
                    return core.compile_model(str(path), "CPU", config)
                except RuntimeError as exc:
                    text = str(exc).strip()
                    log.warning("%s: damaged converted model (%s); converting again", path,
                                text.splitlines()[-1] if text else "unreadable")
                    path.unlink(missing_ok=True)
        content = flatbuffer(self.backbone, batch, "fp32", cache_dir)
        with tempfile.TemporaryDirectory(prefix="mirex-openvino-") as tmp:
            temporary = Path(tmp) / "model.tflite"
            temporary.write_bytes(content)
            return core.compile_model(str(temporary), "CPU", config)

    def segment_features(self, segments: np.ndarray) -> np.ndarray:
        """Per-segment multi-level features: ``(n_segments, n) -> (n_segments, dim)`` float32.

        Batches of ``batch_segments`` (the last zero-padded) run concurrently,
        one per stream; each segment's features depend on it alone.
        """
        segments = np.asarray(segments, np.float32)
        n, b = self.backbone.segment_samples, self.batch_segments
        if segments.ndim != 2 or segments.shape[1] != n:
            raise ValueError(f"expected segments of shape (n, {n}), got {segments.shape}")
        count = len(segments)
        out = np.empty((-(-count // b) * b, self.dim), np.float32)

        def store(request, index):
            out[index * b:(index + 1) * b] = request.get_output_tensor(0).data

        self._queue.set_callback(store)
        for index, start in enumerate(range(0, count, b)):
            batch = segments[start:start + b]   # the request copies its input
            if len(batch) < b:
                batch = np.concatenate([batch, np.zeros((b - len(batch), n), np.float32)])
            self._queue.start_async({0: batch}, index)
        self._queue.wait_all()
        return out[:count]
