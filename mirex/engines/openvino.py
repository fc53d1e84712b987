"""SampleCNN multi-level features through OpenVINO's CPU plugin (oneDNN kernels).

The tap graph is built directly in OpenVINO's operation set from the
backbone's weights file (:func:`mirex.backbones.samplecnn.folded_blocks`:
batch-norm folded into each convolution), so neither TensorFlow nor a
converter runs: a first start takes about a second (TensorFlow's import
alone takes 6 s). Two precisions:

``'bf16'``
    Convolutions take bfloat16 inputs and weights and accumulate in float32,
    on AMX-BF16 tiles (Intel Sapphire Rapids and later) or AVX512-BF16 dot
    products (Intel Cooper Lake, AMD Zen 4/5); activations are stored as
    bfloat16 between fused layers. Nothing is calibrated and each segment
    is computed on its own, so loudness and batch company change nothing
    beyond bf16 rounding. Measured with the trained backbones on generated
    music at -40 .. -6 dBFS: clip features within 1.8 % of fp32 (largest
    absolute difference over the clip's largest feature), cosine >= 0.9999;
    3.5 times fewer CPU-seconds than TFLite fp32 on a 2-core Sapphire Rapids
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
from pathlib import Path

import numpy as np

from ..backbones.samplecnn import block_index, folded_blocks

__all__ = ["PRECISIONS", "BF16_VERSION", "OpenVINOEngine", "tap_graph", "available"]

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16")
#: Bumped whenever the bf16 path changes (conversion, OpenVINO settings);
#: part of the cache identity of its features.
BF16_VERSION = 2
#: OpenVINO's names of the two precisions.
_OV_PRECISION = {"fp32": "f32", "bf16": "bf16"}


def tap_graph(backbone, batch: int):
    """The backbone's tap graph as an OpenVINO model: ``(batch, segment_samples)`` -> ``(batch, dim)``.

    Block 1 is a kernel-3 stride-3 convolution, blocks 2 .. N-1 kernel-3
    'same' convolutions each followed by max-pooling by 3, block N a kernel-1
    convolution (as :func:`mirex.backbones.samplecnn.build_samplecnn`), each
    with its batch-norm folded in and a ReLU. A tapped block's output is
    max-pooled over time; the taps are concatenated in order.
    """
    import openvino as ov
    import openvino.opset13 as ops

    blocks = folded_blocks(backbone.weights_path, backbone.config)
    taps = {block_index(layer): k for k, layer in enumerate(backbone.feature_layers)}
    source = ops.parameter([batch, backbone.segment_samples], np.float32, name="waveform")
    x = ops.unsqueeze(source, ops.constant(np.int64(1)))           # (batch, 1, time): NCW
    outputs = [None] * len(taps)
    for number, (kernel, bias) in enumerate(blocks, start=1):
        size = kernel.shape[0]
        stride, pad = (3, 0) if number == 1 else (1, size // 2)
        weights = ops.constant(np.ascontiguousarray(kernel.transpose(2, 1, 0)))  # (out, in, k)
        x = ops.convolution(x, weights, strides=[stride], pads_begin=[pad], pads_end=[pad],
                            dilations=[1])
        x = ops.relu(ops.add(x, ops.constant(bias.reshape(1, -1, 1))))
        if 1 < number < len(blocks):
            x = ops.max_pool(x, strides=[3], dilations=[1], pads_begin=[0], pads_end=[0],
                             kernel_shape=[3]).output(0)
        if number in taps:
            outputs[taps[number]] = ops.reduce_max(x, ops.constant(np.int64(2)), keep_dims=False)
    merged = ops.concat(outputs, 1) if len(outputs) > 1 else outputs[0]
    return ov.Model([merged.output(0)], [source], f"{backbone.name}_features")


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
        Where OpenVINO keeps compiled models (``cache_dir/openvino``; ``None``:
        none kept). A damaged one is compiled again (OpenVINO's own recovery, tested).
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
        model = tap_graph(backbone, self.batch_segments)
        self._queue = ov.AsyncInferQueue(core.compile_model(model, "CPU", config), threads)

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
