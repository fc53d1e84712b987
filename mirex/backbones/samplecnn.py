"""The sample-level deep CNN (SampleCNN) of Lee, Park, Kim and Nam (SMC 2017).

Conventions
-----------
- Input: raw waveform segments, shape ``(batch, segment_samples, 1)``,
  ``float32`` at 22050 Hz, no amplitude normalisation.
- Blocks are named ``block1`` ... ``blockN`` (``block{i}_conv``, ``_bn``,
  ``_relu``, ``_pool``) so that weight import and multi-level taps address
  them by name. The output of block ``i`` is its pool, or its ReLU where the
  block has no pool.

The architecture is a small configuration dictionary:

``widths``
    Filters of each block. Block 1 is a strided convolution (kernel =
    stride = 3); blocks 2 .. N-1 are kernel-3 'same' convolutions followed
    by max-pooling by 3; block N is a kernel-1 convolution without pooling.
``n_outputs``, ``output_activation``
    The tagging/classification head (sigmoid for tags, softmax for genres).
``bn_epsilon``, ``bn_momentum``, ``dropout``
    Batch-norm and dropout settings (dropout acts in training only).
"""

from __future__ import annotations

import contextlib
import copy

import numpy as np

from ..constants import SEGMENT_SAMPLES

__all__ = [
    "PAPER_CONFIG",
    "MSD_RELEASED_CONFIG",
    "CONFIGS",
    "CONFIG_ALIASES",
    "named_config",
    "resolve_config",
    "validate_config",
    "build_samplecnn",
    "block_output_name",
    "block_index",
    "dtype_policy",
    "multiply_adds",
    "folded_blocks",
]

#: The 3^9 model of the SMC 2017 paper: about 1.9 M parameters, 1.73 G
#: multiply-adds per 59049-sample segment.
PAPER_CONFIG = {
    "widths": [128, 128, 128, 256, 256, 256, 256, 256, 256, 512, 512],
    "n_outputs": 50,
    "output_activation": "sigmoid",
    "bn_epsilon": 1e-5,
    "bn_momentum": 0.99,
    "dropout": 0.5,
}

#: The MSD model released with the authors' MIREX-derived code
#: (jongpillee/musicTagging_MSD): blocks 10 and 11 are 256 wide, no dropout.
MSD_RELEASED_CONFIG = {
    "widths": [128, 128, 128, 256, 256, 256, 256, 256, 256, 256, 256],
    "n_outputs": 50,
    "output_activation": "sigmoid",
    "bn_epsilon": 1e-5,
    "bn_momentum": 0.99,
    "dropout": 0.0,
}


#: THE table of named architectures: canonical name -> config.
CONFIGS = {"paper": PAPER_CONFIG, "msd-released": MSD_RELEASED_CONFIG}

#: Older spellings of the names above, accepted here and only here.
CONFIG_ALIASES = {"released": "msd-released", "msd": "msd-released"}


def named_config(name: str) -> dict:
    """A copy of the config called ``name`` (canonical name or alias); ``KeyError`` if unknown."""
    canonical = CONFIG_ALIASES.get(name, name)
    if canonical not in CONFIGS:
        known = sorted(CONFIGS) + sorted(CONFIG_ALIASES)
        raise KeyError(f"unknown SampleCNN config {name!r}; known: {', '.join(known)}")
    return copy.deepcopy(CONFIGS[canonical])


def resolve_config(spec) -> dict:
    """A config from a dict, a name of :data:`CONFIGS` (or an alias), inline JSON or a JSON file.

    The result is not validated (see :func:`validate_config`).
    """
    import json
    from pathlib import Path

    if isinstance(spec, dict):
        return copy.deepcopy(spec)
    text = str(spec)
    if CONFIG_ALIASES.get(text, text) in CONFIGS:
        return named_config(text)
    if text.lstrip().startswith("{"):
        return json.loads(text)
    try:
        return json.loads(Path(text).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"config {text!r} is not a known name ({', '.join(sorted(CONFIGS))}), "
                         "inline JSON or a JSON file") from None


def validate_config(config: dict, segment_samples: int = SEGMENT_SAMPLES) -> dict:
    """Check an architecture config and return a normalised copy.

    Raises ``ValueError`` naming the offending key. The segment must reduce
    to exactly one time step: ``3 ** (len(widths) - 1) == segment_samples``.
    """
    config = {**PAPER_CONFIG, **copy.deepcopy(config)}
    unknown = set(config) - set(PAPER_CONFIG)
    if unknown:
        raise ValueError(f"unknown SampleCNN config keys: {sorted(unknown)}")
    widths = config["widths"]
    if not isinstance(widths, (list, tuple)) or len(widths) < 3:
        raise ValueError("config 'widths' must list at least 3 block widths")
    if any(int(w) != w or w <= 0 for w in widths):
        raise ValueError(f"config 'widths' must be positive integers, got {widths}")
    config["widths"] = [int(w) for w in widths]
    if 3 ** (len(widths) - 1) != segment_samples:
        raise ValueError(
            f"{len(widths)} blocks reduce 3**{len(widths) - 1} samples, "
            f"not the segment length {segment_samples}"
        )
    if int(config["n_outputs"]) < 1:
        raise ValueError("config 'n_outputs' must be >= 1")
    if config["output_activation"] not in ("sigmoid", "softmax"):
        raise ValueError("config 'output_activation' must be 'sigmoid' or 'softmax'")
    if not 0.0 <= float(config["dropout"]) < 1.0:
        raise ValueError("config 'dropout' must be in [0, 1)")
    return config


@contextlib.contextmanager
def dtype_policy(policy: str | None):
    """Build Keras layers under ``policy`` (e.g. ``'mixed_bfloat16'``), then restore the old one.

    Mixed policies keep variables in float32, so weights saved from such a
    model load into a float32 one. ``None`` changes nothing.
    """
    import keras

    previous = keras.mixed_precision.global_policy()
    if policy:
        keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def block_index(layer_name: str) -> int:
    """Block number (1-based) of a layer name such as ``'block9_pool'``."""
    if not layer_name.startswith("block"):
        raise ValueError(f"{layer_name!r} is not a block layer")
    return int(layer_name[5:].split("_")[0])


def block_output_name(index: int, n_blocks: int) -> str:
    """Layer name of the output of block ``index`` (1-based)."""
    return f"block{index}_relu" if index in (1, n_blocks) else f"block{index}_pool"


def build_samplecnn(
    config: dict = PAPER_CONFIG,
    segment_samples: int = SEGMENT_SAMPLES,
    seed: int | None = None,
):
    """Build the SampleCNN as a Keras 3 functional model.

    Parameters
    ----------
    config : dict
        Architecture configuration (see module docstring).
    segment_samples : int
        Input length in samples; must equal ``3 ** (len(widths) - 1)``.
    seed : int or None
        Seed of the he-uniform initialisers, for reproducible random models.

    Returns
    -------
    model : keras.Model
        Input ``(batch, segment_samples, 1)``, output ``(batch, n_outputs)``.
    """
    import keras
    from keras import layers

    config = validate_config(config, segment_samples)
    widths = config["widths"]
    n_blocks = len(widths)

    def init(i):
        return keras.initializers.HeUniform(seed=None if seed is None else seed * 1000 + i)

    inputs = keras.Input(shape=(segment_samples, 1), name="waveform")
    x = inputs
    for i, width in enumerate(widths, start=1):
        if i == 1:
            kernel, stride, padding = 3, 3, "valid"
        elif i == n_blocks:
            kernel, stride, padding = 1, 1, "valid"
        else:
            kernel, stride, padding = 3, 1, "same"
        x = layers.Conv1D(width, kernel, strides=stride, padding=padding,
                          kernel_initializer=init(i), name=f"block{i}_conv")(x)
        x = layers.BatchNormalization(epsilon=config["bn_epsilon"],
                                      momentum=config["bn_momentum"], name=f"block{i}_bn")(x)
        x = layers.Activation("relu", name=f"block{i}_relu")(x)
        if 1 < i < n_blocks:
            x = layers.MaxPooling1D(3, name=f"block{i}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    if config["dropout"] > 0:
        x = layers.Dropout(config["dropout"], seed=seed, name="dropout")(x)
    outputs = layers.Dense(int(config["n_outputs"]), activation=config["output_activation"],
                           kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
                           name="output")(x)
    return keras.Model(inputs, outputs, name="samplecnn")


def multiply_adds(config: dict, segment_samples: int = SEGMENT_SAMPLES) -> int:
    """Multiply-adds of one forward pass over one segment (convolutions + head).

    Batch-norm, ReLU and pooling are not counted. The paper model costs
    about 1.73 G multiply-adds per 59049-sample segment.
    """
    config = validate_config(config, segment_samples)
    widths = config["widths"]
    steps, channels, total = segment_samples, 1, 0
    for i, width in enumerate(widths, start=1):
        kernel = 1 if i == len(widths) else 3
        if i == 1:
            steps //= 3
        total += steps * kernel * channels * width
        if 1 < i < len(widths):
            steps //= 3
        channels = width
    return total + channels * int(config["n_outputs"])


def folded_blocks(weights_path, config: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each block's convolution with its batch-norm folded in, read without Keras.

    Reads the Keras 3 weights file of a :func:`build_samplecnn` model with
    h5py (Keras stores each layer under its class name and running number,
    in the order the model creates them: ``conv1d``, ``conv1d_1``, ... and
    ``batch_normalization``, ... with variables ``0, 1, ...`` in the order
    kernel, bias and gamma, beta, moving mean, moving variance). The
    inference-time batch-norm ``gamma * (x - mean) / sqrt(var + eps) + beta``
    is folded into the convolution, in float64.

    Returns
    -------
    blocks : list of ``(kernel, bias)``
        ``kernel``: float32 ``(kernel_size, c_in, c_out)``; ``bias``: float32
        ``(c_out,)``, one pair per block.

    Raises
    ------
    ValueError
        If the file does not hold the blocks ``config`` describes.
    """
    import h5py

    config = validate_config(config, 3 ** (len(config["widths"]) - 1))
    widths, eps = config["widths"], float(config["bn_epsilon"])
    blocks = []
    with h5py.File(weights_path, "r") as f:
        for i, width in enumerate(widths):
            suffix = f"_{i}" if i else ""
            try:
                kernel, bias = (f[f"layers/conv1d{suffix}/vars/{j}"][()] for j in range(2))
                gamma, beta, mean, var = (f[f"layers/batch_normalization{suffix}/vars/{j}"][()]
                                          for j in range(4))
            except KeyError as exc:
                raise ValueError(f"{weights_path}: no weights of block {i + 1} ({exc})") from None
            size = 1 if i == len(widths) - 1 else 3
            expected = (size, widths[i - 1] if i else 1, width)
            if kernel.shape != expected or {bias.shape, gamma.shape, var.shape} != {(width,)}:
                raise ValueError(f"{weights_path}: block {i + 1} holds a {kernel.shape} kernel, "
                                 f"the config says {expected}")
            scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
            blocks.append(((kernel * scale).astype(np.float32),
                           ((bias - mean) * scale + beta).astype(np.float32)))
    return blocks
