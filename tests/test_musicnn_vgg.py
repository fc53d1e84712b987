"""musicnn's VGG taggers: architecture, checkpoint mapping, agreement with the TF1 graphs.

``tests/data/musicnn_vgg_reference.json`` holds the outputs of musicnn 0.1.0's
own VGG graphs (the wheel's ``.meta`` files frozen to their checkpoints) on
the clips of ``test_musicnn.reference_clips``, made by
``tools/musicnn_vgg_reference.py``; the port is checked with the converted
weights committed in ``models/musicnn-vgg-msd`` and ``models/musicnn-vgg-mtt``
(no wheel needed). Converting again from the wheel is checked, with the other
conversions, by test_musicnn.py when ``MUSICNN_SOURCE`` names it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from test_musicnn import _top, _write_checkpoint, reference_clips

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "data" / "musicnn_vgg_reference.json"
MODELS_DIR = HERE.parent / "models"
BACKBONES = {"MSD_vgg": MODELS_DIR / "musicnn-vgg-msd", "MTT_vgg": MODELS_DIR / "musicnn-vgg-mtt"}

# The port reached 6e-7 on the taggrams and 2e-5 (pooled values up to ~70) on the features.
TAGGRAM_ATOL = 1e-4
FEATURE_ATOL = 2e-3


@pytest.fixture(scope="module")
def reference():
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def ports():
    """The port's musicnn_embed output for every (model, clip) from the committed weights."""
    from mirex.backbones.musicnn import load_musicnn, musicnn_embed

    clips = reference_clips()
    out = {}
    for which, folder in BACKBONES.items():
        model, _ = load_musicnn(folder)
        for name, samples in clips.items():
            out[which, name] = musicnn_embed(model, samples.astype(np.float32) / 32768)
    return out


@pytest.mark.parametrize("which, first_pool", [("MTT_vgg", (92, 48)), ("MSD_vgg", (46, 96))])
def test_architecture_has_the_published_size_and_names(which, first_pool):
    from mirex.backbones.musicnn import build_musicnn_vgg, feature_model, vgg_config

    model = build_musicnn_vgg(**vgg_config(which))
    # 5 convolutions (1 then 128 input channels), 6 batch norms, the dense layer
    assert model.count_params() == (9 * 128 + 128) + 4 * (9 * 128 * 128 + 128) + 4 * (1 + 5 * 128) \
        + 256 * 50 + 50
    assert model.input_shape == (None, 187, 96) and model.output_shape == (None, 50)
    assert model.get_layer("block1_pool").output.shape[1:3] == first_pool
    assert model.get_layer("block5_pool").output.shape[1:] == (2, 1, 128)
    assert model.get_layer("logits").kernel.shape == (256, 50)
    outputs = feature_model(model).output
    assert {k: tuple(v.shape[1:]) for k, v in outputs.items()} == {
        "taggram": (50,), "max_pool": (640,), "mean_pool": (640,), "penultimate": (256,)}


def test_checkpoint_loader_inverts_the_tf1_layout(tmp_path):
    """A random model written with the VGG graph's TF1 names loads back exactly."""
    from mirex.backbones.musicnn import build_musicnn_vgg, load_musicnn_checkpoint
    from mirex.backbones.musicnn.vgg import vgg_checkpoint_plan

    source = build_musicnn_vgg()
    rng = np.random.default_rng(0)
    for weight in source.weights:
        value = rng.normal(0.0, 0.1, tuple(weight.shape)).astype(np.float32)
        weight.assign(np.abs(value) + 0.5 if ("variance" in weight.path or "gamma" in weight.path)
                      else value)
    variables = {}
    for scope, layer_name in vgg_checkpoint_plan():
        layer = source.get_layer(layer_name)
        attrs = (("gamma", "beta", "moving_mean", "moving_variance")
                 if scope.startswith("batch_normalization") else ("kernel", "bias"))
        for attr in attrs:
            variables[f"{scope}/{attr}"] = np.asarray(getattr(layer, attr))
    variables["beta2_power"] = np.float32(0.999)          # training state, ignored
    _write_checkpoint(tmp_path / "ckpt" / "", variables)
    target = build_musicnn_vgg()
    mapping = load_musicnn_checkpoint(target, tmp_path / "ckpt")
    assert len(mapping) == len(target.weights) == 6 * 4 + 5 * 2 + 2
    assert mapping["block3_conv/kernel"] == "3CNN/kernel"
    x = rng.uniform(0, 4, (2, 187, 96)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(target(x)), np.asarray(source(x)), rtol=1e-5, atol=1e-6)

    del variables["5CNN/bias"]
    _write_checkpoint(tmp_path / "broken" / "", variables)
    with pytest.raises(ValueError, match="5CNN/bias"):
        load_musicnn_checkpoint(build_musicnn_vgg(), tmp_path / "broken" / "")


@pytest.mark.parametrize("which", sorted(BACKBONES))
def test_committed_backbone_manifest(which):
    from mirex.backbones import sha256_file
    from mirex.backbones.musicnn import MODELS, vgg_config

    folder = BACKBONES[which]
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["architecture"] == "musicnn-vgg" and manifest["name"] == MODELS[which]["name"]
    assert manifest["config"] == vgg_config(which)
    assert tuple(manifest["labels"]) == MODELS[which]["labels"]
    assert manifest["outputs"]["embedding"] == 1280
    assert manifest["weights"]["sha256"] == sha256_file(folder / manifest["weights"]["file"])
    assert manifest["provenance"]["checkpoint"] == f"musicnn/{which}/"


@pytest.mark.parametrize("which", sorted(BACKBONES))
def test_outputs_match_the_tf1_graph(which, reference, ports):
    for name, ref in reference["models"][which].items():
        out = ports[which, name]
        expected = np.asarray(ref["taggram"])
        assert out["taggram"].shape == expected.shape == (reference["clips"][name]["n_patches"], 50)
        np.testing.assert_allclose(out["taggram"], expected, atol=TAGGRAM_ATOL, err_msg=name)
        for patch, row in enumerate(expected):
            assert _top(out["taggram"][patch]) == _top(row), (name, patch)
        for key in ("max_pool", "mean_pool"):
            if f"{key}_mean" in ref:
                np.testing.assert_allclose(out[key], ref[f"{key}_mean"], atol=FEATURE_ATOL,
                                           err_msg=(name, key))
    out = ports[which, "chords_drums"]
    assert out["embedding"].shape == (1280,)
    np.testing.assert_array_equal(out["embedding"], np.concatenate([out["max_pool"],
                                                                    out["mean_pool"]]))


def test_vgg_peer_system_embeds_1280_pooled_features():
    from mirex.systems import resolve_extractors

    (vgg,) = resolve_extractors("musicnn-vgg-svm")
    (musicnn,) = resolve_extractors("musicnn-svm")
    assert vgg.name == "musicnn-vgg-msd" and vgg.dim == 1280 and musicnn.dim == 1506
    assert vgg.id != musicnn.id and vgg.manifest["weights"]["sha256"][:12] in vgg.id
    t = np.arange(16000 * 4) / 16000
    low = (0.3 * np.sin(2 * np.pi * 110 * t)).astype(np.float32)
    noise = (0.1 * np.random.default_rng(0).standard_normal(t.size)).astype(np.float32)
    vectors = vgg.embed([low, noise])
    assert vectors.shape == (2, 1280) and np.isfinite(vectors).all()
    assert np.linalg.norm(vectors[0] - vectors[1]) > 0.1 * np.linalg.norm(vectors[0])
