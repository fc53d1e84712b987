"""Engines: run a backbone's tap graph fast, on whatever the machine has.

=========  =========================================================  ===============
engine     runtime                                                    precisions
=========  =========================================================  ===============
``keras``  TensorFlow's kernels, CPU or GPU (:mod:`.keras`)           fp32, bf16
``tflite`` TensorFlow Lite + XNNPACK, CPU (:mod:`.tflite`)            fp32, dyn8, int8
``auto``   keras in bf16 when TensorFlow sees a GPU; else tflite in dyn8
           where the CPU has fast int8 dot products (:func:`fast_int8_cpu`),
           else tflite fp32
=========  =========================================================  ===============

In float32 both engines give the same features within float32 rounding, so
a cache made with one serves the other; bf16 stays within about 1 % and
shares the cache too; dyn8 (dynamically quantized int8, within 2 % of fp32)
and int8 (opt-in: fixed-range int8 in 5 loudness bands, fastest, 5-10 % off)
each have their own (see the extractor's cache id).
:func:`make_engine` is the one factory; each engine brings its own batch size.
"""

from __future__ import annotations

import os

from .base import Engine, embed_clips, pool_segments, run_batched, tap_model

__all__ = ["ENGINES", "PRECISIONS", "Engine", "make_engine", "resolve_engine",
           "gpu_available", "fast_int8_cpu", "FAST_INT8_FLAGS", "default_batch", "embed_clips",
           "pool_segments", "run_batched", "tap_model"]

#: Engine names; 'auto' picks per machine (see :func:`resolve_engine`).
ENGINES = ("auto", "keras", "tflite")
#: Precision names; 'auto': bf16 on a GPU, dyn8 on a CPU with fast int8, else fp32.
PRECISIONS = ("auto", "fp32", "bf16", "dyn8", "int8")
#: What each engine runs.
_ALLOWED = {"keras": ("fp32", "bf16"), "tflite": ("fp32", "dyn8", "int8")}
#: Segments per batch, by (engine, precision, gpu). TFLite fp32: 4 is as fast
#: as 16 on 2 cores with a quarter of the activation arena (peak RSS 1.09 GB
#: against 1.40 GB); dyn8 quantizes each segment on its own, so the batch
#: size changes no result; int8: its segments are split among loudness bands,
#: each band's last batch zero-padded, and 2 wastes less (47.5 segments/s
#: against 43.7 with 4); on a GPU large batches keep it busy.
_BATCH = {("tflite", "fp32"): 4, ("tflite", "dyn8"): 4, ("tflite", "int8"): 2,
          ("keras", "cpu"): 16, ("keras", "gpu"): 256}
#: /proc/cpuinfo flags (x86) of int8 dot-product instructions that XNNPACK's
#: dynamically quantized (QD8) kernels use: AVX512-VNNI (Intel Cascade Lake
#: and later Xeons, AMD Zen 4/5) or AMX-INT8 (Intel Sapphire Rapids and
#: later). Without them (AVX2-only CPUs, AVX-VNNI without AVX-512, ARM) dyn8
#: is not known to be faster than fp32, so 'auto' stays with fp32 there.
FAST_INT8_FLAGS = ("avx512_vnni", "amx_int8")
#: Where the CPU's flags are read (a test may point it elsewhere).
CPUINFO_PATH = "/proc/cpuinfo"


def fast_int8_cpu(cpuinfo: str | None = None) -> bool:
    """Whether the CPU has int8 dot-product instructions that make dyn8 faster than fp32.

    Reads the ``flags`` line of ``/proc/cpuinfo`` (or the text ``cpuinfo``),
    without importing TensorFlow: true when it names AVX512-VNNI and AVX-512
    Foundation, or AMX-INT8 (see :data:`FAST_INT8_FLAGS`). False where the
    file cannot be read (not Linux) or has no flags line (not x86).
    """
    if cpuinfo is None:
        try:
            with open(CPUINFO_PATH, encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags = set(value.split())
            return ("avx512_vnni" in flags and "avx512f" in flags) or "amx_int8" in flags
    return False


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
                   gpu: bool | None = None, int8: bool | None = None) -> tuple[str, str]:
    """The concrete ``(engine, precision)`` for the requested ones.

    ``gpu`` (default: ask TensorFlow) and ``int8`` (default:
    :func:`fast_int8_cpu`) decide what 'auto' means: on a GPU keras in bf16;
    else tflite in dyn8 where the CPU has fast int8, else tflite in fp32.
    Raises ``ValueError`` (one line) for unknown names and for pairs no
    engine runs.
    """
    engine, precision = (engine or "auto").lower(), (precision or "auto").lower()
    if engine not in ENGINES:
        raise ValueError(f"unknown inference engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if "auto" in (engine, precision) and gpu is None:
        gpu = gpu_available()
    if engine == "auto":
        engine = "tflite" if precision in ("dyn8", "int8") else \
            "keras" if gpu or precision == "bf16" \
            else "tflite"
    if precision == "auto":
        if gpu and engine == "keras":
            precision = "bf16"
        elif engine == "tflite" and (fast_int8_cpu() if int8 is None else int8):
            precision = "dyn8"
        else:
            precision = "fp32"
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
