"""Engines: run a backbone's tap graph fast, on whatever the machine has.

============  ======================================================  ===============
engine        runtime                                                 precisions
============  ======================================================  ===============
``keras``     TensorFlow's kernels, CPU or GPU (:mod:`.keras`)        fp32, bf16
``tflite``    TensorFlow Lite + XNNPACK, CPU (:mod:`.tflite`)         fp32
``openvino``  OpenVINO's CPU plugin, oneDNN (:mod:`.openvino`)        fp32, bf16
``auto``      see :func:`resolve_engine`
============  ======================================================  ===============

'auto' picks, in this order: keras in bf16 when TensorFlow sees a GPU;
openvino in bf16 where the CPU has bf16 instructions (:func:`fast_bf16_cpu`:
AMX-BF16 or AVX512-BF16) and the ``openvino`` package is installed; else
fp32, run by openvino where the CPU has AVX-512 (:func:`fast_fp32_cpu`) and
by tflite elsewhere. Asked for fp32 ('auto' engine), the same last rule.
:func:`describe_choice` says which and why, once, at startup.

In float32 every engine gives the same features within float32 rounding, so
a cache made with one serves the others; keras bf16 (GPU) stays within about
1 % and shares that cache too; openvino bf16 (within 2 % of fp32) has its
own (see the extractor's cache id).
:func:`make_engine` is the one factory; each engine brings its own batch size.
"""

from __future__ import annotations

import os

from .base import Engine, embed_clips, pool_segments, run_batched, tap_model

__all__ = ["ENGINES", "PRECISIONS", "Engine", "make_engine", "resolve_engine",
           "describe_choice", "gpu_available", "cpu_flags", "fast_bf16_cpu", "fast_fp32_cpu",
           "FAST_BF16_FLAGS", "FAST_FP32_FLAGS", "default_batch", "embed_clips",
           "pool_segments", "run_batched", "tap_model"]

#: Engine names; 'auto' picks per machine (see :func:`resolve_engine`).
ENGINES = ("auto", "keras", "tflite", "openvino")
#: Precision names; 'auto' picks per machine (see :func:`resolve_engine`).
PRECISIONS = ("auto", "fp32", "bf16")
#: What each engine runs.
_ALLOWED = {"keras": ("fp32", "bf16"), "tflite": ("fp32",),
            "openvino": ("fp32", "bf16")}
#: Segments per batch, by (engine, precision, gpu). TFLite fp32: 4 is as fast
#: as 16 on 2 cores with a quarter of the activation arena (peak RSS 1.09 GB
#: against 1.40 GB); openvino: 4 measured as fast as 8 and 16 in CPU
#: time (0.108 against 0.114 and 0.128 CPU-s a clip, bf16) and starts
#: fastest; on a GPU large batches keep it busy.
_BATCH = {("tflite", "fp32"): 4, ("openvino", "fp32"): 4,
          ("openvino", "bf16"): 4, ("keras", "cpu"): 16, ("keras", "gpu"): 256}
#: /proc/cpuinfo flags of bfloat16 instructions that OpenVINO's oneDNN
#: kernels use: AMX-BF16 tiles (Intel Sapphire Rapids and later) or
#: AVX512-BF16 dot products (Intel Cooper Lake, AMD Zen 4/5).
FAST_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
#: /proc/cpuinfo flags of the AVX-512 fp32 convolutions of oneDNN (openvino) that
#: beat XNNPACK's (tflite) in fp32: 0.30-0.38 against 0.40-0.57 CPU-s a clip on a
#: 2-core Sapphire Rapids, the same features within float32 rounding, and no
#: TensorFlow at a first start. With only AVX2 kernels (ONEDNN_MAX_CPU_ISA=AVX2)
#: openvino took 0.53-0.63, so AVX2 CPUs keep tflite.
FAST_FP32_FLAGS = ("avx512f",)
#: Where the CPU's flags are read (a test may point it elsewhere).
CPUINFO_PATH = "/proc/cpuinfo"


def cpu_flags(cpuinfo: str | None = None) -> frozenset:
    """The instruction-set flags of the CPU: the ``flags`` line of ``/proc/cpuinfo``.

    ``cpuinfo`` (the file's text) defaults to reading :data:`CPUINFO_PATH`;
    empty where it cannot be read (not Linux) or has no flags line (not x86).
    """
    if cpuinfo is None:
        try:
            with open(CPUINFO_PATH, encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def fast_bf16_cpu(cpuinfo: str | None = None) -> bool:
    """Whether the CPU has bfloat16 instructions (:data:`FAST_BF16_FLAGS`) for openvino bf16."""
    return bool(cpu_flags(cpuinfo) & set(FAST_BF16_FLAGS))


def fast_fp32_cpu(cpuinfo: str | None = None) -> bool:
    """Whether openvino runs fp32 faster than tflite on this CPU (:data:`FAST_FP32_FLAGS`)."""
    return bool(cpu_flags(cpuinfo) & set(FAST_FP32_FLAGS))


def _openvino_available() -> bool:
    from .openvino import available

    return available()


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


def resolve_engine(engine: str = "auto", precision: str = "auto", gpu: bool | None = None,
                   bf16: bool | None = None, fp32: bool | None = None) -> tuple[str, str]:
    """The concrete ``(engine, precision)`` for the requested ones.

    What 'auto' means depends on the machine: ``gpu`` (default: ask
    TensorFlow, :func:`gpu_available`) and ``bf16`` (default: the CPU has
    bf16, :func:`fast_bf16_cpu`, and openvino is installed), in that order
    of preference, then fp32 by openvino where ``fp32`` (default:
    :func:`fast_fp32_cpu` and openvino installed), else by tflite (see the
    module docstring). Never slower than tflite fp32: a CPU with none of
    these instructions gets tflite fp32.
    Raises ``ValueError`` (one line) for unknown names and for pairs no
    engine runs.
    """
    engine, precision = (engine or "auto").lower(), (precision or "auto").lower()
    if engine not in ENGINES:
        raise ValueError(f"unknown inference engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if engine == "openvino" and not _openvino_available():
        raise ValueError("the openvino engine needs the openvino package (pip install openvino)")
    if engine == "auto" or (engine == "keras" and precision == "auto"):
        gpu = gpu_available() if gpu is None else gpu
    if engine in ("auto", "openvino") and precision in ("auto", "bf16") and not gpu:
        bf16 = (fast_bf16_cpu() and _openvino_available()) if bf16 is None else bf16
    if engine == "auto":
        if gpu and precision in ("auto", "fp32", "bf16"):
            engine = "keras"
        elif bf16 and precision in ("auto", "bf16"):
            engine = "openvino"
        elif precision == "bf16":
            engine = "keras"
        else:
            fp32 = (fast_fp32_cpu() and _openvino_available()) if fp32 is None else fp32
            engine, precision = ("openvino" if fp32 else "tflite"), "fp32"
    if precision == "auto":
        if engine == "keras":
            precision = "bf16" if gpu else "fp32"
        elif engine == "openvino":
            precision = "bf16" if bf16 else "fp32"
        else:
            precision = "fp32"
    if precision not in _ALLOWED[engine]:
        raise ValueError(f"the {engine} engine runs {' or '.join(_ALLOWED[engine])}, "
                         f"not {precision}")
    return engine, precision


def describe_choice(engine: str, precision: str, requested: tuple[str, str]) -> str:
    """One line that says what runs and, for 'auto', why: e.g. ``openvino bf16 (auto: ...)``."""
    text = f"{engine} engine, {precision}"
    if "auto" not in requested:
        return text
    if requested[1] != "auto":   # the precision was asked for; only the engine was chosen
        return f"{text} ({precision} requested, engine auto)"
    flags = cpu_flags()
    why = {("keras", "bf16"): "a GPU",
           ("openvino", "bf16"): "CPU has " + "/".join(f for f in FAST_BF16_FLAGS if f in flags),
           ("openvino", "fp32"): "no GPU, no bf16; CPU has "
                                 + "/".join(f for f in FAST_FP32_FLAGS if f in flags),
           }.get((engine, precision), "no GPU, no bf16 or AVX-512 on this CPU"
                 if precision == "fp32" else "requested")
    return f"{text} (auto: {why})"


def default_batch(engine: str, precision: str, gpu: bool = False) -> int:
    """Segments per inference batch of a concrete engine and precision."""
    key = (engine, "gpu" if gpu else "cpu") if engine == "keras" else (engine, precision)
    return _BATCH[key]


def make_engine(backbone, engine: str = "auto", precision: str = "auto",
                batch_segments: int | None = None, num_threads: int | None = None,
                cache_dir=None) -> Engine:
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
    cache_dir : path or None
        Where the tflite engine keeps converted models and openvino compiled
        ones (``None``: none kept).
    """
    engine, precision = resolve_engine(engine, precision)
    if engine == "tflite":
        from .tflite import TFLiteEngine

        return TFLiteEngine(backbone, batch_segments or default_batch(engine, precision),
                            precision, num_threads, cache_dir)
    if engine == "openvino":
        from .openvino import OpenVINOEngine

        return OpenVINOEngine(backbone, batch_segments or default_batch(engine, precision),
                              precision, num_threads, cache_dir)
    from .keras import KerasEngine

    batch = batch_segments or default_batch(engine, precision, gpu_available())
    return KerasEngine(backbone, batch, precision, num_threads)
