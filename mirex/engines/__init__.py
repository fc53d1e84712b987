"""Engines: run a backbone's tap graph fast, on whatever the machine has.

=========  =========================================================  ===============
engine     runtime                                                    precisions
=========  =========================================================  ===============
``keras``  TensorFlow's kernels, CPU or GPU (:mod:`.keras`)           fp32, bf16
``tflite`` TensorFlow Lite + XNNPACK, CPU (:mod:`.tflite`)            fp32, int8
``auto``   keras in bf16 when TensorFlow sees a GPU, else tflite fp32
=========  =========================================================  ===============

In float32 both engines give the same features within float32 rounding, so
a cache made with one serves the other; bf16 stays within about 1 % and
shares the cache too; int8 is kept apart (see the extractor's cache id).
:func:`make_engine` is the one factory; each engine brings its own batch size.
"""

from __future__ import annotations

import os

from .base import Engine, embed_clips, pool_segments, run_batched, tap_model

__all__ = ["ENGINES", "PRECISIONS", "Engine", "make_engine", "resolve_engine",
           "gpu_available", "default_batch", "embed_clips", "pool_segments", "run_batched",
           "tap_model"]

#: Engine names; 'auto' picks per machine (see :func:`resolve_engine`).
ENGINES = ("auto", "keras", "tflite")
#: Precision names; 'auto': bf16 on a GPU, else fp32.
PRECISIONS = ("auto", "fp32", "bf16", "int8")
#: What each engine runs.
_ALLOWED = {"keras": ("fp32", "bf16"), "tflite": ("fp32", "int8")}
#: Segments per batch, by (engine, precision, gpu). TFLite fp32: 4 is as fast
#: as 16 on 2 cores with a quarter of the activation arena (peak RSS 1.09 GB
#: against 1.40 GB); int8: its segments are split among loudness bands, each
#: band's last batch zero-padded, and 2 wastes less (47.5 segments/s against
#: 43.7 with 4); on a GPU large batches keep it busy.
_BATCH = {("tflite", "fp32"): 4, ("tflite", "int8"): 2, ("keras", "cpu"): 16,
          ("keras", "gpu"): 256}


def gpu_available() -> bool:
    """Whether TensorFlow sees a GPU.

    Without an NVIDIA driver on the machine (no ``/proc/driver/nvidia`` and no
    ``/dev/nvidia0``) the answer is no without importing TensorFlow, which
    costs seconds that a run served by the TFLite runtime never pays.
    """
    if not any(os.path.exists(p) for p in ("/proc/driver/nvidia", "/dev/nvidia0")):
        return False
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def resolve_engine(engine: str = "auto", precision: str = "auto",
                   gpu: bool | None = None) -> tuple[str, str]:
    """The concrete ``(engine, precision)`` for the requested ones.

    ``gpu`` (default: ask TensorFlow) decides what 'auto' means. Raises
    ``ValueError`` (one line) for unknown names and for pairs no engine runs.
    """
    engine, precision = (engine or "auto").lower(), (precision or "auto").lower()
    if engine not in ENGINES:
        raise ValueError(f"unknown inference engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if "auto" in (engine, precision) and gpu is None:
        gpu = gpu_available()
    if engine == "auto":
        engine = "tflite" if precision == "int8" else "keras" if gpu or precision == "bf16" \
            else "tflite"
    if precision == "auto":
        precision = "bf16" if gpu and engine == "keras" else "fp32"
    if precision not in _ALLOWED[engine]:
        raise ValueError(f"the {engine} engine runs {' or '.join(_ALLOWED[engine])}, "
                         f"not {precision}")
    return engine, precision


def default_batch(engine: str, precision: str, gpu: bool = False) -> int:
    """Segments per inference batch of a concrete engine and precision."""
    key = (engine, precision) if engine == "tflite" else (engine, "gpu" if gpu else "cpu")
    return _BATCH[key]


def make_engine(backbone, engine: str = "auto", precision: str = "auto",
                batch_segments: int | None = None, num_threads: int | None = None,
                calibration=None, cache_dir=None) -> Engine:
    """The engine that computes ``backbone``'s multi-level features.

    Parameters
    ----------
    backbone : mirex.backbones.Backbone
    engine, precision : str
        See :data:`ENGINES`, :data:`PRECISIONS`.
    batch_segments : int or None
        Segments per inference call (default: the engine's own).
    num_threads : int or None
        CPU threads (``None``: all cores).
    calibration : callable or None
        For int8: ``levels (dBFS) -> segments (n, segment_samples)``, the
        music that sets a loudness band's quantization ranges.
    cache_dir : path or None
        Where the tflite engine keeps converted models (``None``: none kept).
    """
    engine, precision = resolve_engine(engine, precision)
    if engine == "tflite":
        from .tflite import TFLiteEngine

        return TFLiteEngine(backbone, batch_segments or default_batch(engine, precision),
                            precision, num_threads, calibration, cache_dir)
    from .keras import KerasEngine

    batch = batch_segments or default_batch(engine, precision, gpu_available())
    return KerasEngine(backbone, batch, precision, num_threads)
