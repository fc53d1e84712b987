"""musicnn 0.1.0 TF1 checkpoints -> Keras weights -> a backbone folder.

Four checkpoints of the wheel are converted: ``MSD_musicnn`` and
``MTT_musicnn`` (the table below), and the VGG baselines ``MSD_vgg`` and
``MTT_vgg`` (their table is in :mod:`.vgg`; kernels copied as they are).

The musicnn TF1 graph names its variables by creation order (``conv2d``,
``conv2d_1``, ...; ``batch_normalization``, ``_1``, ...):

==========================  =====================  ===========================
TF1 variables               shape (MSD/MTT)        Keras layer (weights)
==========================  =====================  ===========================
batch_normalization/*       (1,)                   input_bn
conv2d/kernel, bias         (7, 38, 1, 204)        timbral_40_conv
batch_normalization_1/*     (204,)                 timbral_40_bn
conv2d_1                    (7, 67, 1, 204)        timbral_70_conv
batch_normalization_2/*     (204,)                 timbral_70_bn
conv2d_2                    (128, 1, 1, 51)        temporal_128_conv
batch_normalization_3/*     (51,)                  temporal_128_bn
conv2d_3 / _4               (64|32, 1, 1, 51)      temporal_64_conv / temporal_32_conv
batch_normalization_4 / _5  (51,)                  temporal_64_bn / temporal_32_bn
conv2d_5                    (7, 561, 1, 64)        midend1_conv (Conv1D: kernel[:, :, 0, :])
batch_normalization_6/*     (64,)                  midend1_bn
conv2d_6 / _7               (7, 64, 1, 64)         midend2_conv / midend3_conv (idem)
batch_normalization_7 / _8  (64,)                  midend2_bn / midend3_bn
batch_normalization_9/*     (1506,)                pool_bn (entries permuted, see below)
dense/kernel, bias          (1506, 200)            penultimate_dense (rows permuted)
batch_normalization_10/*    (200,)                 penultimate_bn
dense_1/kernel, bias        (200, 50)              logits
==========================  =====================  ===========================

Batch norm ``gamma, beta, moving_mean, moving_variance`` go to the Keras
weights of the same names. The 2-d mid-end convolutions span the whole
feature axis, so they are 1-d convolutions over time with the features as
input channels. musicnn's flattened pool interleaves max and mean
(``[max_0, mean_0, max_1, ...]``) where the Keras ``pool`` layer
concatenates them, so ``pool_bn``'s vectors and ``penultimate_dense``'s
kernel rows are taken in the order ``[0, 2, 4, ..., 1, 3, 5, ...]``.
Adam slots, ``beta1_power`` and ``beta2_power`` are training state and
are ignored.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ...fileio import atomic_save_weights, atomic_write_text, sha256_file
from .folder import FORMAT, MANIFEST_NAME, MODELS, SOURCE_PACKAGE, WEIGHTS_NAME
from .frontend import HOP_LENGTH, N_FFT, N_MELS, PATCH_FRAMES, SAMPLE_RATE
from .folder import ARCHITECTURES
from .network import DEFAULT_CONFIG
from .vgg import N_BLOCKS, VGG_CONFIG, is_vgg, vgg_checkpoint_plan, vgg_config

__all__ = ["load_musicnn_checkpoint", "convert_musicnn"]

#: TF1 variables that are training state, not weights.
_TRAINING_STATE = ("beta1_power", "beta2_power", "global_step")


def _checkpoint_plan(model) -> list[tuple[str, str]]:
    """``(tf1_scope, keras_layer)`` pairs in TF1 variable-creation order."""
    bn_layers = ["input_bn"]
    conv_layers = []
    for prefix in ("timbral_40", "timbral_70", "temporal_128", "temporal_64", "temporal_32"):
        conv_layers.append(f"{prefix}_conv")
        bn_layers.append(f"{prefix}_bn")
    for i in (1, 2, 3):
        conv_layers.append(f"midend{i}_conv")
        bn_layers.append(f"midend{i}_bn")
    bn_layers += ["pool_bn", "penultimate_bn"]
    plan = [(f"batch_normalization{'_' + str(i) if i else ''}", name)
            for i, name in enumerate(bn_layers)]
    plan += [(f"conv2d{'_' + str(i) if i else ''}", name) for i, name in enumerate(conv_layers)]
    plan += [("dense", "penultimate_dense"), ("dense_1", "logits")]
    return plan


def _pool_permutation(n_features: int) -> np.ndarray:
    """Keras ``pool`` index -> TF1 flattened-pool index.

    musicnn concatenates ``max_pool`` and ``mean_pool`` on a new last axis
    and flattens, so its 1506 inputs interleave ``[max_0, mean_0, max_1,
    mean_1, ...]``; the Keras ``pool`` layer is ``[max_0 .. max_752,
    mean_0 .. mean_752]``.
    """
    return np.concatenate([2 * np.arange(n_features), 2 * np.arange(n_features) + 1])


class _CheckpointCopy:
    """Reads a TF1 checkpoint's variables and assigns them to Keras weights, recording both."""

    def __init__(self, checkpoint_prefix: str | os.PathLike):
        from tensorflow.python.training import py_checkpoint_reader

        prefix = os.fspath(checkpoint_prefix)
        if os.path.isdir(prefix) and not prefix.endswith(os.sep):
            prefix += os.sep
        self.prefix = prefix
        self.reader = py_checkpoint_reader.NewCheckpointReader(prefix)
        self.shapes = self.reader.get_variable_to_shape_map()
        self.used: set[str] = set()
        self.mapping: dict[str, str] = {}

    def tensor(self, name: str) -> np.ndarray:
        """The value of TF1 variable ``name``; marks it used."""
        if name not in self.shapes:
            raise ValueError(f"{self.prefix}: checkpoint has no variable {name!r}")
        self.used.add(name)
        return self.reader.get_tensor(name)

    def assign(self, variable, value, tf_name: str) -> None:
        """``variable.assign(value)`` after checking the shape."""
        value = np.asarray(value, dtype=np.float32)
        if tuple(variable.shape) != value.shape:
            raise ValueError(f"{tf_name} has shape {value.shape}, Keras "
                             f"{variable.path} expects {tuple(variable.shape)}")
        variable.assign(value)
        self.mapping[variable.path] = tf_name

    def check_complete(self, model) -> None:
        """Raise unless every weight was set and every non-training variable used."""
        wanted = {k for k in self.shapes if "Adam" not in k and k not in _TRAINING_STATE}
        unused = sorted(wanted - self.used)
        if unused:
            raise ValueError(f"{self.prefix}: checkpoint variables not mapped: {unused}")
        unset = [w.path for w in model.weights if w.path not in self.mapping]
        if unset:
            raise ValueError(f"model weights not found in the checkpoint: {unset}")


def _copy_batch_norm(copy: _CheckpointCopy, layer, scope: str, perm: np.ndarray) -> None:
    """The four batch-norm vectors of ``scope`` into ``layer`` (``pool_bn``: permuted)."""
    for attr in ("gamma", "beta", "moving_mean", "moving_variance"):
        value = copy.tensor(f"{scope}/{attr}")
        if layer.name == "pool_bn":
            value = value[perm]
        copy.assign(getattr(layer, attr), value, f"{scope}/{attr}")


def _copy_kernel_bias(copy: _CheckpointCopy, layer, scope: str, perm: np.ndarray) -> None:
    """A conv / dense ``kernel`` and ``bias`` (mid-end: 2-d -> 1-d; penultimate: rows permuted)."""
    kernel, bias = copy.tensor(f"{scope}/kernel"), copy.tensor(f"{scope}/bias")
    if layer.name.startswith("midend"):
        if kernel.ndim != 4 or kernel.shape[2] != 1:
            raise ValueError(f"{scope}/kernel: expected (7, C, 1, F), got {kernel.shape}")
        kernel = kernel[:, :, 0, :]
    if layer.name == "penultimate_dense":
        kernel = kernel[perm]
    copy.assign(layer.kernel, kernel, f"{scope}/kernel")
    copy.assign(layer.bias, bias, f"{scope}/bias")


def load_musicnn_checkpoint(model, checkpoint_prefix: str | os.PathLike) -> dict:
    """Copy a musicnn TF1 checkpoint into a model from :func:`build_musicnn`.

    Variables map onto layers as the table in this module's docstring says.

    Parameters
    ----------
    model : keras.Model
        From :func:`build_musicnn` (or :func:`~.vgg.build_musicnn_vgg` for a
        VGG checkpoint) with the checkpoint's sizes.
    checkpoint_prefix : str or path-like
        The checkpoint prefix: the model folder followed by ``/``, e.g.
        ``.../musicnn/MSD_musicnn/`` (its files are ``.index`` and
        ``.data-00000-of-00001``). A folder path without the slash is accepted.

    Returns
    -------
    mapping : dict
        Keras ``layer/weight`` -> TF1 variable name, for every weight set.

    Raises
    ------
    ValueError
        If a variable is missing, has the wrong shape, or a model weight or
        a checkpoint variable is left over.
    """
    copy = _CheckpointCopy(checkpoint_prefix)
    if is_vgg(model):
        plan, perm = vgg_checkpoint_plan(), None
    else:
        plan = _checkpoint_plan(model)
        perm = _pool_permutation(model.get_layer("max_pool").output.shape[-1])
    for scope, layer_name in plan:
        layer = model.get_layer(layer_name)
        if scope.startswith("batch_normalization"):
            _copy_batch_norm(copy, layer, scope, perm)
        else:
            _copy_kernel_bias(copy, layer, scope, perm)
    copy.check_complete(model)
    return copy.mapping


def _find_checkpoint(source: Path, which: str, workdir: Path) -> Path:
    """Checkpoint folder (holding ``.index``) for ``which`` under ``source``."""
    if source.is_file() and source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            members = [m for m in wheel.namelist() if m.startswith(f"musicnn/{which}/")]
            if not members:
                raise FileNotFoundError(f"{source}: no musicnn/{which}/ in the wheel")
            wheel.extractall(workdir, members)
        return workdir / "musicnn" / which
    for candidate in (source, source / which, source / "musicnn" / which):
        if (candidate / ".index").is_file():
            return candidate
    raise FileNotFoundError(f"{source}: no {which} checkpoint (a folder with '.index') found; "
                            "give the musicnn package folder, its wheel or the checkpoint folder")


def _manifest(which: str, weights_sha: str, data_sha: str, command: str | None) -> dict:
    """The ``musicnn-backbone/1`` manifest of a converted ``which`` model."""
    facts = MODELS[which]
    vgg = facts["architecture"] == "musicnn-vgg"
    if vgg:
        width = N_BLOCKS * VGG_CONFIG["n_filters"]
        outputs = {"taggram": len(facts["labels"]), "max_pool": width, "mean_pool": width,
                   "penultimate": 2 * VGG_CONFIG["n_filters"], "embedding": 2 * width}
    else:
        outputs = {"taggram": len(facts["labels"]), "max_pool": 753, "mean_pool": 753,
                   "penultimate": DEFAULT_CONFIG["n_units_backend"], "embedding": 1506}
    return {
        "format": FORMAT,
        "name": facts["name"],
        "architecture": facts["architecture"],
        "config": vgg_config(which) if vgg else dict(DEFAULT_CONFIG),
        "sample_rate": SAMPLE_RATE,
        "frontend": {
            "n_fft": N_FFT, "hop_length": HOP_LENGTH, "window": "hann (periodic)",
            "center": "zero-padded by n_fft // 2", "n_mels": N_MELS, "fmin": 0.0,
            "fmax": SAMPLE_RATE / 2, "mel_scale": "slaney", "mel_norm": "slaney",
            "power": 2.0, "compression": "log10(10000 * float16(mel) + 1)",
            "patch_frames": PATCH_FRAMES, "patch_hop_frames": PATCH_FRAMES,
        },
        "labels": list(facts["labels"]),
        "outputs": outputs,
        "trained": True,
        "weights": {"file": WEIGHTS_NAME, "sha256": weights_sha},
        "provenance": {
            "source": f"PyPI package {SOURCE_PACKAGE}",
            "licence": "ISC",
            "copyright": "Music Technology Group, Universitat Pompeu Fabra 2019; "
                         "code by Jordi Pons",
            "paper": "Pons & Serra, musicnn: pre-trained convolutional neural networks "
                     "for music audio tagging, ISMIR 2019 late-breaking/demo",
            "checkpoint": f"musicnn/{which}/",
            "checkpoint_data_sha256": data_sha,
            "training_data": facts["data"],
            "converter": "mirex.backbones.musicnn.convert_musicnn",
            "command": command or " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        },
    }


def convert_musicnn(package_dir_or_ckpt: str | os.PathLike, out_dir: str | os.PathLike,
                    which: str = "MSD_musicnn", command: str | None = None) -> dict:
    """Convert a musicnn 0.1.0 checkpoint into a backbone folder.

    Parameters
    ----------
    package_dir_or_ckpt : str or path-like
        The installed ``musicnn`` package folder (holding ``MSD_musicnn/``
        ...), a folder above it (site-packages), the downloaded wheel
        ``musicnn-0.1.0-py3-none-any.whl``, or the checkpoint folder itself.
    out_dir : str or path-like
        Backbone folder to write (created): ``model.weights.h5`` (Keras 3)
        and ``manifest.json``.
    which : {'MSD_musicnn', 'MTT_musicnn', 'MSD_vgg', 'MTT_vgg'}
        Which model.
    command : str or None
        Command line recorded in the provenance (default: this process's).

    Returns
    -------
    manifest : dict
        The manifest written (format ``"musicnn-backbone/1"``).
    """
    if which not in MODELS:
        raise ValueError(f"which must be one of {sorted(MODELS)}, got {which!r}")
    out = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="musicnn-") as tmp:
        ckpt = _find_checkpoint(Path(package_dir_or_ckpt), which, Path(tmp))
        facts = MODELS[which]
        config = vgg_config(which) if facts["architecture"] == "musicnn-vgg" else DEFAULT_CONFIG
        model = ARCHITECTURES[facts["architecture"]](**config,
                                                     name=facts["name"].replace("-", "_"))
        load_musicnn_checkpoint(model, ckpt)
        data_sha = sha256_file(ckpt / ".data-00000-of-00001")
    out.mkdir(parents=True, exist_ok=True)
    atomic_save_weights(model, out / WEIGHTS_NAME)
    manifest = _manifest(which, sha256_file(out / WEIGHTS_NAME), data_sha, command)
    atomic_write_text(out / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
    return manifest
