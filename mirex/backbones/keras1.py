"""Import the SampleCNN authors' Keras 1 / Theano weights as a backbone folder.

The authors of SampleCNN released an MSD-trained model
(``weight_msdTag.hdf5``, jongpillee/musicTagging_MSD, MIT licence), written
by Keras 1.1.0 with the Theano backend. Its layer graph (the released
architecture JSON) is, layer for layer::

    input (59049, 1)
    convolution1d_1   128 filters, length 3, subsample 3, 'valid'
    batchnormalization_1 (epsilon 1e-5, mode 0, axis -1), relu
    convolution1d_2 .. _10  length 3, 'same' (128, 128, 256 x 7 filters),
        each + batchnormalization_i + relu + maxpooling1d (3, stride 3)
    convolution1d_11  256 filters, length 1
    batchnormalization_11, relu, flatten, dense_1 (50, sigmoid)

which is :data:`~mirex.backbones.samplecnn.MSD_RELEASED_CONFIG` in this
project's Keras 3 SampleCNN (``block{i}_conv`` / ``block{i}_bn`` / ``output``);
there is no dropout. :func:`import_keras1_weights` maps it by layer name.

The file
--------
Keras 1 ``save_weights`` wrote one HDF5 group per layer, named in the root
attribute ``layer_names`` (weightless layers -- activation, pooling, flatten
-- included, with an empty list); each group's attribute ``weight_names``
lists its datasets in the order trainable + non-trainable weights:
``convolution1d_i_W``, ``convolution1d_i_b``; ``batchnormalization_i_gamma``,
``_beta``, ``_running_mean``, ``_running_std``; ``dense_1_W``, ``dense_1_b``.
A whole-model file (``model.save``) keeps the same layout under a
``model_weights`` group; both are read. Only h5py is used, never a pickle.

Convolution kernels: layout and flip
------------------------------------
Keras 1's ``Convolution1D`` is a ``conv2d`` over a dummy width-1 axis. In
Keras 1.1 (and the later 1.0.x releases) ``build`` makes
``W_shape = (filter_length, 1, input_dim, nb_filter)`` and ``call`` runs
``K.conv2d(..., dim_ordering='tf')``; earlier 1.0.x releases used
``(nb_filter, input_dim, filter_length, 1)`` with ``dim_ordering='th'``
(Keras' own 1.x/2.x loaders still accept that "legacy shape" and transpose it
with ``(2, 3, 1, 0)``). Both layouts are recognised here by shape -- they
cannot be confused for this network's widths -- and become Keras 3's
``Conv1D`` kernel ``(filter_length, input_dim, nb_filter)``.

The Theano backend's ``conv2d`` calls ``T.nnet.conv2d`` with its default
``filter_flip=True``: a true convolution, ``y[t] = sum_k W[k] x[t + c - k]``.
TensorFlow (and Keras 3 on any backend) computes a cross-correlation,
``y[t] = sum_k W[k] x[t - c + k]``. Reversing each kernel along
``filter_length`` makes the two equal -- this is what Keras' own
``convert_kernel`` / ``_need_convert_kernel`` did for Theano-to-TensorFlow
loading. The padding agrees too: Theano's 'same' is ``border_mode='half'``
(``filter_length // 2`` zeros each side), TensorFlow's 'same' for length 3,
stride 1 pads one zero each side; block 1 is 'valid' with stride 3, where
both take every third position of the valid output. Block 11's length-1
kernel and the dense layer (``W`` is ``(input_dim, output_dim)`` in both)
are unaffected. ``flip_kernels=False`` skips the flip, for files written
with the TensorFlow backend.

Batch normalisation: 'running_std' is a variance
------------------------------------------------
Keras 1.1's ``BatchNormalization`` (mode 0) keeps two non-trainable weights
named ``running_mean`` and ``running_std``. Training updates them with
``K.moving_average_update(self.running_std, std, momentum)`` where ``std`` is
the third value returned by ``K.normalize_batch_in_training`` -- which, in
both backends, is the batch *variance* (Theano: ``var = x.var(axes)``;
``return normed, mean, var``). Inference calls ``K.batch_normalization(x,
running_mean, running_std, beta, gamma, epsilon)``, whose parameter is a
variance: Theano divides by ``sqrt(var + epsilon)``. So the stored
``running_std`` is a running variance (keras-team/keras issue #3484, Aug.
2016, says the same; Keras 2 renamed it ``moving_variance`` and its Keras 1
loader copies it across unchanged). It goes, unchanged, into Keras 3's
``moving_variance``, with the file's epsilon 1e-5 (``bn_epsilon`` of
``MSD_RELEASED_CONFIG``). (Only early 1.0.x releases stored a true
standard deviation and divided by ``std + epsilon``; files from those are not
what this importer reads.)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..constants import MSD_TAGS
from ..fileio import sha256_file
from . import MANIFEST_NAME, Backbone, BackboneError, save_backbone
from .samplecnn import MSD_RELEASED_CONFIG, build_samplecnn

__all__ = [
    "Keras1WeightsError",
    "read_keras1_weights",
    "keras1_layer_names",
    "convert_keras1_weights",
    "import_keras1_weights",
]


class Keras1WeightsError(BackboneError):
    """A Keras 1 weights file that cannot be imported; the message names it and says why."""


#: Weight suffixes of each Keras 1 layer kind, in Keras 1's stored order.
_CONV_SUFFIXES = ("W", "b")
_BN_SUFFIXES = ("gamma", "beta", "running_mean", "running_std")
_DENSE_SUFFIXES = ("W", "b")


def keras1_layer_names(n_blocks: int) -> dict:
    """Keras 1 layer name of each converted layer: ``{keras3_name: keras1_name}``.

    The names are those of the released architecture JSON
    (``convolution1d_i``, ``batchnormalization_i``, ``dense_1``).
    """
    names = {}
    for i in range(1, n_blocks + 1):
        names[f"block{i}_conv"] = f"convolution1d_{i}"
        names[f"block{i}_bn"] = f"batchnormalization_{i}"
    names["output"] = "dense_1"
    return names


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _as_str(value) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _attr_list(attrs, key):
    if key not in attrs:
        return None
    value = attrs[key]
    if isinstance(value, (bytes, str)):
        return [_as_str(value)]
    return [_as_str(v) for v in np.asarray(value).ravel()]


def _open_hdf5(path: Path):
    import h5py

    if not path.is_file():
        raise Keras1WeightsError(f"{path}: no such file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise Keras1WeightsError(f"{path}: not an HDF5 file ({_one_line(exc)})") from None


def _weights_root(path: Path, handle):
    """The group holding ``layer_names`` (the file, or a whole-model file's ``model_weights``)."""
    if "layer_names" in handle.attrs:
        return handle
    if "model_weights" in handle and "layer_names" in handle["model_weights"].attrs:
        return handle["model_weights"]
    raise Keras1WeightsError(
        f"{path}: not a Keras weights file (no 'layer_names' attribute at the root "
        "or under 'model_weights')"
    )


def _file_attrs(root) -> dict:
    """The root's ``keras_version`` / ``backend`` attributes, where the writer set them."""
    found = {}
    for key in ("keras_version", "backend"):
        if key in root.attrs:
            found[key] = _as_str(root.attrs[key])
    return found


def _read_named(path: Path) -> dict[str, list[tuple[str, np.ndarray]]]:
    """``{layer_name: [(weight_name, array), ...]}`` in file order."""
    with _open_hdf5(path) as handle:
        root = _weights_root(path, handle)
        layers = {}
        for name in _attr_list(root.attrs, "layer_names"):
            if name not in root:
                raise Keras1WeightsError(f"{path}: layer {name!r} is listed in layer_names "
                                         "but has no group")
            group = root[name]
            weights = []
            for weight in _attr_list(group.attrs, "weight_names") or []:
                if weight not in group:
                    raise Keras1WeightsError(f"{path}: layer {name!r} lists weight {weight!r} "
                                             "but the file has no such dataset")
                weights.append((weight, np.asarray(group[weight][()])))
            layers[name] = weights
        return layers


def read_keras1_weights(path: str | os.PathLike) -> dict[str, list[np.ndarray]]:
    """Read a Keras 1 HDF5 weights file into ``{layer_name: [arrays]}``.

    Parameters
    ----------
    path : str or path-like
        A file written by Keras 1 ``save_weights`` (or ``model.save``: its
        ``model_weights`` group is read).

    Returns
    -------
    dict
        Every layer named in the root attribute ``layer_names``, in file
        order, with its arrays in the order of its ``weight_names`` attribute
        (an empty list for weightless layers such as activations). Arrays
        keep their stored shape and dtype.

    Raises
    ------
    Keras1WeightsError
        If the file is missing, not HDF5, or not in the Keras layout (no
        ``layer_names``, a listed layer or weight dataset absent).
    """
    return {layer: [array for _, array in weights]
            for layer, weights in _read_named(Path(path)).items()}


def _ordered(path: Path, layer: str, weights: list[tuple[str, np.ndarray]], suffixes) -> list:
    """A layer's arrays in the order of ``suffixes``: by weight-name suffix, else as stored."""
    names = [name for name, _ in weights]
    arrays = [array for _, array in weights]
    if len(arrays) != len(suffixes):
        raise Keras1WeightsError(
            f"{path}: layer {layer!r} has {len(arrays)} weights, expected {len(suffixes)} "
            f"({', '.join(suffixes)})"
        )
    by_suffix = {}
    for name, array in zip(names, arrays):
        for suffix in suffixes:
            if name.split("/")[-1].split(":")[0].endswith("_" + suffix):
                by_suffix.setdefault(suffix, array)
    if set(by_suffix) == set(suffixes):
        return [by_suffix[s] for s in suffixes]
    return list(arrays)  # unnamed ('param_0', ...): Keras 1 stored them in this order


def _check_shape(path: Path, layer: str, what: str, array: np.ndarray, shape: tuple):
    if tuple(array.shape) != tuple(shape):
        raise Keras1WeightsError(
            f"{path}: layer {layer!r} {what} has shape {tuple(array.shape)}, "
            f"expected {tuple(shape)}"
        )


def _conv_kernel(path: Path, layer: str, w: np.ndarray, length: int, n_in: int, n_out: int,
                 flip: bool) -> np.ndarray:
    """A Keras 1 ``Convolution1D`` ``W`` as a Keras 3 ``Conv1D`` kernel ``(length, in, out)``."""
    if w.shape == (length, 1, n_in, n_out):  # Keras >= 1.0.x 'tf'-ordered conv2d kernel
        kernel = w[:, 0, :, :]
    elif w.shape == (n_out, n_in, length, 1):  # earliest Keras 1.0 ('th'-ordered) kernel
        kernel = np.transpose(w[:, :, :, 0], (2, 1, 0))
    else:
        raise Keras1WeightsError(
            f"{path}: layer {layer!r} W has shape {tuple(w.shape)}, expected "
            f"{(length, 1, n_in, n_out)} (or the legacy {(n_out, n_in, length, 1)})"
        )
    if flip:
        kernel = kernel[::-1]  # Theano convolves, TensorFlow/Keras 3 cross-correlate
    return np.ascontiguousarray(kernel, dtype=np.float32)


def convert_keras1_weights(path: str | os.PathLike, config: dict = MSD_RELEASED_CONFIG,
                           flip_kernels: bool = True) -> dict[str, list[np.ndarray]]:
    """Convert a Keras 1 SampleCNN weights file to Keras 3 layer weights.

    Parameters
    ----------
    path : str or path-like
        The Keras 1 HDF5 weights file.
    config : dict
        The SampleCNN architecture the file holds (its widths fix every
        expected shape).
    flip_kernels : bool
        Reverse convolution kernels along their length (Theano to
        TensorFlow/Keras 3; see the module docstring).

    Returns
    -------
    dict
        ``{keras3_layer_name: [arrays]}`` for ``block{i}_conv`` (kernel,
        bias), ``block{i}_bn`` (gamma, beta, moving mean, moving variance)
        and ``output`` (kernel, bias), all float32, ready for
        ``layer.set_weights``.

    Raises
    ------
    Keras1WeightsError
        One line naming the file and the reason: not HDF5, not the Keras
        layout, a missing layer, a wrong count or shape of weights, a
        negative running variance.
    """
    path = Path(path)
    layers = _read_named(path)
    widths = list(config["widths"])
    n_blocks = len(widths)
    n_outputs = int(config["n_outputs"])
    names = keras1_layer_names(n_blocks)

    def fetch(keras3_name, suffixes):
        layer = names[keras3_name]
        if layer not in layers:
            raise Keras1WeightsError(
                f"{path}: no layer {layer!r} (for {keras3_name}) in the file's layer_names"
            )
        return layer, _ordered(path, layer, layers[layer], suffixes)

    converted = {}
    n_in = 1
    for i, width in enumerate(widths, start=1):
        length = 1 if i == n_blocks else 3
        layer, (w, b) = fetch(f"block{i}_conv", _CONV_SUFFIXES)
        kernel = _conv_kernel(path, layer, w, length, n_in, width, flip_kernels)
        _check_shape(path, layer, "b", b, (width,))
        converted[f"block{i}_conv"] = [kernel, b.astype(np.float32)]

        layer, bn = fetch(f"block{i}_bn", _BN_SUFFIXES)
        for suffix, array in zip(_BN_SUFFIXES, bn):
            _check_shape(path, layer, suffix, array, (width,))
        if not np.all(np.isfinite(bn[3])) or np.any(bn[3] < 0):
            raise Keras1WeightsError(f"{path}: layer {layer!r} running_std (a running variance) "
                                     "has negative or non-finite values")
        converted[f"block{i}_bn"] = [a.astype(np.float32) for a in bn]
        n_in = width

    layer, (w, b) = fetch("output", _DENSE_SUFFIXES)
    _check_shape(path, layer, "W", w, (n_in, n_outputs))
    _check_shape(path, layer, "b", b, (n_outputs,))
    converted["output"] = [w.astype(np.float32), b.astype(np.float32)]
    return converted


def import_keras1_weights(
    hdf5_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    name: str = "samplecnn-msd-authors",
    flip_kernels: bool = True,
    labels=MSD_TAGS,
    overwrite: bool = False,
) -> Backbone:
    """Convert the authors' Keras 1 / Theano SampleCNN weights into a backbone folder.

    Parameters
    ----------
    hdf5_path : str or path-like
        The Keras 1.1 HDF5 weights file (``weight_msdTag.hdf5`` or one in its
        layout: layers ``convolution1d_1..11``, ``batchnormalization_1..11``,
        ``dense_1``).
    out_dir : str or path-like
        Backbone folder to write (``manifest.json`` + ``model.weights.h5``);
        created if missing.
    name : str
        The backbone's name in its manifest.
    flip_kernels : bool
        Reverse each convolution kernel along its length, because Theano
        convolves and Keras 3 cross-correlates. Leave True for Theano files;
        False only for a file written with the TensorFlow backend.
    labels : sequence of str
        Names of the 50 outputs, in order (default: the MSD top-50 tags).
    overwrite : bool
        Replace a backbone already in ``out_dir``; otherwise that is an error.

    Returns
    -------
    Backbone
        The written folder, loaded and checksum-verified
        (``trained: true``; ``config`` = ``MSD_RELEASED_CONFIG``).

    Raises
    ------
    Keras1WeightsError
        (a :class:`BackboneError`) one line naming the file and the reason:
        not HDF5, not the Keras 1 layout, a missing layer, a wrong shape, a
        file that says it was written by another Keras or backend than
        assumed, or an existing backbone in ``out_dir``.
    """
    hdf5_path = Path(hdf5_path)
    out_dir = Path(out_dir)
    labels = list(labels)
    config = dict(MSD_RELEASED_CONFIG)
    if len(labels) != int(config["n_outputs"]):
        raise Keras1WeightsError(
            f"{hdf5_path}: {len(labels)} labels given for {config['n_outputs']} outputs"
        )
    if (out_dir / MANIFEST_NAME).exists() and not overwrite:
        raise Keras1WeightsError(f"{out_dir}: already holds a backbone (pass --overwrite, "
                                 "or overwrite=True in Python, to replace it)")
    attrs = _checked_source(hdf5_path, flip_kernels)
    converted = convert_keras1_weights(hdf5_path, config, flip_kernels=flip_kernels)
    model = build_samplecnn(config)
    for layer_name, arrays in converted.items():
        model.get_layer(layer_name).set_weights(arrays)
    provenance = _provenance(hdf5_path, attrs, config, flip_kernels)
    return save_backbone(out_dir, model, name, config, labels, provenance, trained=True)


def _checked_source(hdf5_path: Path, flip_kernels: bool) -> dict:
    """The file's Keras attributes, once they say Keras 1 and a backend that fits ``flip_kernels``."""
    with _open_hdf5(hdf5_path) as handle:
        attrs = _file_attrs(_weights_root(hdf5_path, handle))
    version = attrs.get("keras_version")
    if version is not None and not version.startswith("1"):
        raise Keras1WeightsError(f"{hdf5_path}: written by Keras {version}, not Keras 1")
    backend = attrs.get("backend")
    if backend is not None and backend != "theano" and flip_kernels:
        raise Keras1WeightsError(f"{hdf5_path}: written with the {backend} backend, whose kernels "
                                 "need no flip; convert with flip_kernels=False")
    return attrs


def _provenance(hdf5_path: Path, attrs: dict, config: dict, flip_kernels: bool) -> dict:
    """The manifest's provenance of an imported backbone: source, checksum, conversion rules."""
    return {
        "description": (
            "SampleCNN trained on the Million Song Dataset top-50 tags by the SampleCNN "
            "authors, converted from Keras 1.1 / Theano HDF5 by mirex import-weights"
        ),
        "source_file": hdf5_path.name,
        "source_sha256": sha256_file(hdf5_path),
        "source_attributes": attrs,
        "expected_source": ("weight_msdTag.hdf5 of jongpillee/musicTagging_MSD (MIT licence); "
                            "the file's identity is its sha256 above"),
        "converter": "mirex.backbones.keras1.import_keras1_weights",
        "layer_map": keras1_layer_names(len(config["widths"])),
        "kernel_flip": (
            "convolution kernels reversed along filter_length: Theano's conv2d convolves "
            "(filter_flip=True), Keras 3 cross-correlates"
            if flip_kernels else
            "convolution kernels NOT reversed (flip_kernels=False): the file is taken to hold "
            "cross-correlation kernels (TensorFlow backend)"
        ),
        "kernel_layout": ("Keras 1 Convolution1D W (filter_length, 1, input_dim, nb_filter), or "
                          "legacy (nb_filter, input_dim, filter_length, 1), to Keras 3 Conv1D "
                          "(filter_length, input_dim, nb_filter)"),
        "batchnorm": ("Keras 1.1 BatchNormalization 'running_std' holds the running variance "
                      "(moving_average_update of the batch variance; inference divides by "
                      "sqrt(running_std + epsilon)); copied unchanged to moving_variance, "
                      f"epsilon {config['bn_epsilon']}"),
        "flip_kernels": bool(flip_kernels),
    }
