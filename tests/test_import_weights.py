"""Importing the SampleCNN authors' Keras 1 / Theano weights (mirex.backbones.keras1).

The released ``weight_msdTag.hdf5`` is not used (tests never read ../shared
or the network): a fixture writes a file in the same Keras 1 layout with
seeded random weights, calibrated so that every block's activations stay of
order one. The converted Keras 3 model is checked against an independent
NumPy forward pass of what that layout means under Keras 1.1 / Theano: true
convolution (kernel reversed), batch norm with the stored running mean and
'running_std' read as a running variance, epsilon 1e-5, relu, max-pool by 3,
dense sigmoid.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from mirex.backbones import BackboneError, load_backbone
from mirex.backbones.keras1 import (Keras1WeightsError, convert_keras1_weights,
                                    import_keras1_weights, read_keras1_weights)
from mirex.backbones.samplecnn import MSD_RELEASED_CONFIG
from mirex.constants import MSD_TAGS, SEGMENT_SAMPLES

WIDTHS = MSD_RELEASED_CONFIG["widths"]
N_BLOCKS = len(WIDTHS)
EPSILON = 1e-5


# --- an independent reference of the Keras 1.1 / Theano forward pass -------------------

def theano_conv1d(x, w, stride, border):
    """Keras 1 Convolution1D on Theano: a TRUE convolution of ``x`` (steps, in).

    ``w`` is Keras 1.1's ``(filter_length, 1, input_dim, nb_filter)``; 'same'
    is Theano's 'half' (filter_length // 2 zeros each side).
    """
    k = w.shape[0]
    if border == "same":
        x = np.pad(x, ((k // 2, k // 2), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(x, k, axis=0)[::stride]  # (T, in, k)
    # y[t] = sum_j w[j] . x[t + k - 1 - j]: the window read backwards
    flipped = windows[:, :, ::-1].reshape(len(windows), -1)  # (T, in * k), index (c, j)
    return flipped @ w[:, 0].transpose(1, 0, 2).reshape(-1, w.shape[-1])


def batchnorm(y, gamma, beta, mean, running_std):
    return (y - mean) / np.sqrt(running_std + EPSILON) * gamma + beta


def conv_geometry(i):
    if i == 1:
        return 3, "valid"
    return 1, "same"


def reference_forward(layers, x):
    """Keras 1 semantics from the file's arrays: returns block 1 and 11 outputs and the tags."""
    h = x.astype(np.float64)[:, None]
    taps = {}
    for i in range(1, N_BLOCKS + 1):
        w, b = layers[f"convolution1d_{i}"]
        stride, border = conv_geometry(i)
        h = theano_conv1d(h, w.astype(np.float64), stride, border) + b
        bn = [a.astype(np.float64) for a in layers[f"batchnormalization_{i}"]]
        h = np.maximum(batchnorm(h, *bn), 0)
        if 1 < i < N_BLOCKS:
            h = h.reshape(len(h) // 3, 3, -1).max(axis=1)
        taps[i] = h
    w, b = layers["dense_1"]
    logits = h.reshape(-1) @ w + b
    return taps[1], taps[N_BLOCKS], 1 / (1 + np.exp(-logits))


# --- a file in the Keras 1 layout ---------------------------------------------------

def layer_sequence():
    """Layer names of the released architecture JSON, in order."""
    names = ["input_1"]
    for i in range(1, N_BLOCKS + 1):
        names += [f"convolution1d_{i}", f"batchnormalization_{i}", f"activation_{i}"]
        if 1 < i < N_BLOCKS:
            names.append(f"maxpooling1d_{i - 1}")
    return names + ["flatten_1", "dense_1"]


def make_weights(seed=0):
    """Seeded weights {layer: [(weight_name, array)]}, BN stats calibrated on a random signal."""
    rng = np.random.default_rng(seed)
    h = rng.standard_normal(SEGMENT_SAMPLES)[:, None] * 0.1
    weights = {}
    n_in = 1
    for i, width in enumerate(WIDTHS, start=1):
        k = 1 if i == N_BLOCKS else 3
        w = rng.standard_normal((k, 1, n_in, width)) * np.sqrt(2.0 / (k * n_in))
        b = rng.standard_normal(width) * 0.1
        stride, border = conv_geometry(i)
        y = theano_conv1d(h, w, stride, border) + b
        if len(y) >= 9:
            mean, var = y.mean(axis=0), y.var(axis=0)
        else:  # too few steps at the top for per-channel statistics
            mean, var = np.full(width, y.mean()), np.full(width, y.var())
        mean = mean + rng.standard_normal(width) * 0.1 * np.sqrt(var)
        var = var * rng.uniform(0.5, 2.0, width)
        gamma, beta = rng.uniform(0.5, 1.5, width), rng.standard_normal(width) * 0.2
        h = np.maximum(batchnorm(y, gamma, beta, mean, var), 0)
        if 1 < i < N_BLOCKS:
            h = h.reshape(len(h) // 3, 3, -1).max(axis=1)
        conv, bn = f"convolution1d_{i}", f"batchnormalization_{i}"
        weights[conv] = [(f"{conv}_W", w), (f"{conv}_b", b)]
        suffixes = ("gamma", "beta", "running_mean", "running_std")
        weights[bn] = [(f"{bn}_{s}", a) for s, a in zip(suffixes, (gamma, beta, mean, var))]
        n_in = width
    w = rng.standard_normal((n_in, 50)) / np.sqrt(n_in * np.mean(h ** 2))
    weights["dense_1"] = [("dense_1_W", w), ("dense_1_b", rng.standard_normal(50) * 0.5)]
    return {layer: [(n, a.astype(np.float32)) for n, a in ws] for layer, ws in weights.items()}


def write_keras1_file(path, weights, layer_names=None, legacy_conv=False, root_attrs=None):
    """Write ``weights`` as Keras 1 ``save_weights`` did (Theano float32 arrays)."""
    layer_names = layer_sequence() if layer_names is None else layer_names
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [n.encode("utf8") for n in layer_names]
        for key, value in (root_attrs or {}).items():
            f.attrs[key] = value.encode("utf8")
        for layer in layer_names:
            g = f.create_group(layer)
            pairs = weights.get(layer, [])
            g.attrs["weight_names"] = [n.encode("utf8") for n, _ in pairs]
            for name, value in pairs:
                if legacy_conv and name.startswith("convolution1d") and name.endswith("_W"):
                    value = np.transpose(value, (3, 2, 0, 1))  # (nb_filter, input_dim, length, 1)
                dset = g.create_dataset(name, value.shape, dtype=value.dtype)
                dset[:] = value
    return path


@pytest.fixture(scope="module")
def keras1_weights():
    return make_weights(seed=0)


@pytest.fixture(scope="module")
def keras1_file(tmp_path_factory, keras1_weights):
    folder = tmp_path_factory.mktemp("keras1")
    return write_keras1_file(folder / "weight_msdTag.hdf5", keras1_weights)


def taps_model(backbone):
    import keras

    model = backbone.build()
    outputs = [model.get_layer(n).output for n in ("block1_relu", f"block{N_BLOCKS}_relu")]
    return keras.Model(model.input, outputs + [model.output])


# --- tests --------------------------------------------------------------------------

def test_reader_returns_every_layer_in_file_order(keras1_file, keras1_weights):
    layers = read_keras1_weights(keras1_file)
    assert list(layers) == layer_sequence()
    assert layers["activation_3"] == [] and layers["maxpooling1d_9"] == []
    assert layers["convolution1d_2"][0].shape == (3, 1, 128, 128)
    np.testing.assert_array_equal(layers["batchnormalization_5"][3],
                                  keras1_weights["batchnormalization_5"][3][1])


def test_converted_model_computes_what_the_keras1_theano_file_defines(keras1_file, tmp_path):
    backbone = import_keras1_weights(keras1_file, tmp_path / "msd")
    assert backbone.name == "samplecnn-msd-authors" and backbone.trained
    assert backbone.config["widths"] == WIDTHS
    manifest = json.loads((tmp_path / "msd" / "manifest.json").read_text())
    assert manifest["labels"] == list(MSD_TAGS)
    provenance = manifest["provenance"]
    assert provenance["source_file"] == "weight_msdTag.hdf5"
    assert len(provenance["source_sha256"]) == 64 and provenance["flip_kernels"] is True
    assert "Keras 1.1 / Theano" in provenance["description"]
    assert "variance" in provenance["batchnorm"]

    # The reference reads the HDF5 arrays itself, not through the importer.
    with h5py.File(keras1_file, "r") as f:
        layers = {name: [f[name][w][()] for w in f[name].attrs["weight_names"]]
                  for name in f if len(f[name].attrs["weight_names"])}
    x = np.random.default_rng(42).standard_normal(SEGMENT_SAMPLES).astype(np.float32) * 0.1
    ref_block1, ref_block11, ref_tags = reference_forward(layers, x)
    assert 0.05 < ref_block11.std() < 20 and 0.02 < ref_tags.std()  # a non-degenerate check

    got_block1, got_block11, got_tags = (o[0] for o in taps_model(backbone)(x[None, :, None]))
    np.testing.assert_allclose(np.asarray(got_block1), ref_block1, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(got_block11)[0], ref_block11[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(got_tags), ref_tags, atol=1e-4)

    # Without the flip the model computes something else: a missing flip is caught.
    unflipped = import_keras1_weights(keras1_file, tmp_path / "noflip", flip_kernels=False)
    bad_block1, bad_block11, _ = (np.asarray(o[0])
                                  for o in taps_model(unflipped)(x[None, :, None]))
    assert np.abs(bad_block1 - ref_block1).max() > 0.1
    assert np.abs(bad_block11[0] - ref_block11[0]).max() > 0.1
    assert load_backbone(tmp_path / "noflip").manifest["provenance"]["flip_kernels"] is False


def test_legacy_kernel_layout_converts_to_the_same_weights(tmp_path, keras1_file, keras1_weights):
    legacy = write_keras1_file(tmp_path / "legacy.hdf5", keras1_weights, legacy_conv=True)
    assert read_keras1_weights(legacy)["convolution1d_2"][0].shape == (128, 128, 3, 1)
    new, old = convert_keras1_weights(keras1_file), convert_keras1_weights(legacy)
    assert new.keys() == old.keys()
    for name in new:
        for a, b in zip(new[name], old[name]):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(  # and the kernel is reversed along its length
        new["block4_conv"][0], keras1_weights["convolution1d_4"][0][1][::-1, 0])


def _drop(weights, layer):
    return {k: v for k, v in weights.items() if k != layer}


def _replace(weights, layer, index, shape):
    changed = dict(weights)
    pairs = list(changed[layer])
    pairs[index] = (pairs[index][0], np.zeros(shape, np.float32))
    changed[layer] = pairs
    return changed


@pytest.mark.parametrize("case, message", [
    ("missing_layer", "no layer 'batchnormalization_7'"),
    ("conv_shape", "'convolution1d_4' W has shape (3, 1, 64, 256), expected (3, 1, 128, 256)"),
    ("bn_shape", "'batchnormalization_2' beta has shape (64,), expected (128,)"),
    ("dense_shape", "'dense_1' W has shape (256, 10), expected (256, 50)"),
    ("weight_count", "'batchnormalization_3' has 3 weights, expected 4"),
    ("tensorflow_backend", "flip_kernels=False"),
    ("no_layer_names", "not a Keras weights file"),
    ("not_hdf5", "not an HDF5 file"),
])
def test_malformed_files_raise_one_clear_line(tmp_path, keras1_weights, case, message):
    path = tmp_path / "weights.hdf5"
    names, attrs, weights = None, None, keras1_weights
    if case == "missing_layer":
        names = [n for n in layer_sequence() if n != "batchnormalization_7"]
        weights = _drop(weights, "batchnormalization_7")
    elif case == "conv_shape":
        weights = _replace(weights, "convolution1d_4", 0, (3, 1, 64, 256))
    elif case == "bn_shape":
        weights = _replace(weights, "batchnormalization_2", 1, (64,))
    elif case == "dense_shape":
        weights = _replace(weights, "dense_1", 0, (256, 10))
    elif case == "weight_count":
        weights = dict(weights, batchnormalization_3=weights["batchnormalization_3"][:3])
    elif case == "tensorflow_backend":
        attrs = {"backend": "tensorflow"}
    if case == "not_hdf5":
        path.write_text("this is not HDF5\n")
    elif case == "no_layer_names":
        with h5py.File(path, "w") as f:
            f.create_group("convolution1d_1")
    else:
        write_keras1_file(path, weights, layer_names=names, root_attrs=attrs)
    with pytest.raises(Keras1WeightsError) as info:
        import_keras1_weights(path, tmp_path / "out")
    text = str(info.value)
    assert message in text and str(path) in text and "\n" not in text
    assert isinstance(info.value, BackboneError)  # the command line reports it as one line
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_refuses_to_replace_an_existing_backbone_unless_asked(keras1_file, tmp_path):
    import_keras1_weights(keras1_file, tmp_path / "b", name="first")
    with pytest.raises(Keras1WeightsError, match="already holds a backbone"):
        import_keras1_weights(keras1_file, tmp_path / "b", name="second")
    again = import_keras1_weights(keras1_file, tmp_path / "b", name="second", overwrite=True)
    assert again.name == "second"


def test_import_weights_command(keras1_file, tmp_path):
    from click.testing import CliRunner

    from mirex.cli import main

    runner = CliRunner()
    result = runner.invoke(main, ["import-weights", str(keras1_file), str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert load_backbone(tmp_path / "b").name == "samplecnn-msd-authors"
    again = runner.invoke(main, ["import-weights", str(keras1_file), str(tmp_path / "b")])
    assert again.exit_code == 1 and "Error:" in again.output
