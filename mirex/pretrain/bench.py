"""Training throughput of a SampleCNN on random data (``mirex pretrain --benchmark STEPS``)."""

from __future__ import annotations

import time

import numpy as np

from ..backbones.samplecnn import dtype_policy, resolve_config, validate_config
from ..constants import SEGMENT_SAMPLES
from .strategies import make_strategy
from .student import build_student
from .trainer import make_optimizer

__all__ = ["benchmark"]


def benchmark(config="paper", batch_size: int = 23, steps: int = 5, warmup: int = 2,
              strategy="default", seed: int = 0, precision: str | None = None) -> dict:
    """Seconds per ``train_on_batch`` step of the paper's recipe, no input pipeline cost.

    Returns ``segments_per_s``, ``seconds_per_step``, ``parameters``,
    ``batch_size``, ``steps``, ``backend`` and ``device`` ('GPU' or 'CPU').
    """
    import contextlib

    import keras

    strategy = make_strategy(strategy)
    config = validate_config(resolve_config(config))
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        with dtype_policy(precision):
            model = build_student(config, None, seed)[0]
        loss = ("categorical_crossentropy" if config["output_activation"] == "softmax"
                else "binary_crossentropy")
        model.compile(optimizer=make_optimizer(0.01), loss=loss, jit_compile="auto")
    rng = np.random.default_rng(seed)
    x = (0.1 * rng.standard_normal((batch_size, SEGMENT_SAMPLES, 1))).astype(np.float32)
    y = np.eye(config["n_outputs"], dtype=np.float32)[rng.integers(0, config["n_outputs"],
                                                                  batch_size)]
    for _ in range(warmup):
        model.train_on_batch(x, y)
    t0 = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    seconds = (time.perf_counter() - t0) / steps
    device = "GPU" if any(d.platform == "gpu" for d in _devices()) else "CPU"
    return {"segments_per_s": round(batch_size / seconds, 2),
            "seconds_per_step": round(seconds, 3), "parameters": int(model.count_params()),
            "batch_size": batch_size, "steps": steps, "backend": keras.backend.backend(),
            "device": device}


def _devices() -> list:
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return jax.devices()
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return [type("D", (), {"platform": d.device_type.lower()})
                for d in tf.config.list_physical_devices()]
    return []
