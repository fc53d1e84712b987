import json
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY_CONFIG
from mirex.backbones import BackboneError, create_random_backbone, load_backbone
from mirex.backbones.samplecnn import (MSD_RELEASED_CONFIG, PAPER_CONFIG, build_samplecnn,
                                       validate_config)
from mirex.constants import SEGMENT_SAMPLES


def test_paper_model_has_the_published_size_and_shapes():
    model = build_samplecnn(PAPER_CONFIG, seed=0)
    assert 1.8e6 < model.count_params() < 2.0e6  # "about 1.9 M parameters"
    assert model.input_shape == (None, SEGMENT_SAMPLES, 1)
    assert model.output_shape == (None, 50)
    assert model.get_layer("block1_relu").output.shape[1:] == (19683, 128)
    assert model.get_layer("block9_pool").output.shape[1:] == (3, 256)
    assert model.get_layer("block10_pool").output.shape[1:] == (1, 512)
    assert model.get_layer("block11_relu").output.shape[1:] == (1, 512)


def test_released_msd_layout_is_256_wide_at_the_top():
    model = build_samplecnn(MSD_RELEASED_CONFIG)
    assert model.get_layer("block10_conv").kernel.shape == (3, 256, 256)
    assert model.get_layer("block11_conv").kernel.shape == (1, 256, 256)
    assert "dropout" not in [layer.name for layer in model.layers]


@pytest.mark.parametrize("change, message", [
    ({"widths": [8] * 10}, "reduce"),
    ({"widths": [8] * 10 + [0]}, "positive"),
    ({"output_activation": "tanh"}, "sigmoid"),
    ({"colour": "red"}, "unknown"),
])
def test_config_validation_names_the_problem(change, message):
    with pytest.raises(ValueError, match=message):
        validate_config({**TINY_CONFIG, **change})


def test_random_backbone_round_trips_with_manifest(tmp_path):
    bb = create_random_backbone(tmp_path / "b", name="b", config=TINY_CONFIG, seed=3)
    again = load_backbone(tmp_path / "b")
    assert again.name == "b" and again.trained is False
    assert again.feature_layers == ["block9_pool", "block10_pool", "block11_relu"]
    assert again.embedding_dim == 16 + 24 + 24
    x = np.random.default_rng(0).standard_normal((2, SEGMENT_SAMPLES, 1)).astype(np.float32)
    np.testing.assert_allclose(bb.build()(x).numpy(), again.build()(x).numpy(), atol=1e-6)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["provenance"]["seed"] == 3 and len(manifest["weights"]["sha256"]) == 64


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    a = create_random_backbone(tmp_path / "a", config=TINY_CONFIG, seed=5)
    b = create_random_backbone(tmp_path / "b", config=TINY_CONFIG, seed=5)
    c = create_random_backbone(tmp_path / "c", config=TINY_CONFIG, seed=6)
    wa, wb, wc = (m.build().get_layer("block4_conv").kernel.numpy() for m in (a, b, c))
    np.testing.assert_array_equal(wa, wb)
    assert not np.allclose(wa, wc)


def test_tampered_weights_are_refused(tmp_path):
    create_random_backbone(tmp_path / "b", config=TINY_CONFIG)
    weights = tmp_path / "b" / "model.weights.h5"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(BackboneError, match="sha256"):
        load_backbone(tmp_path / "b")


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.pop("labels"), "labels"),
    (lambda m: m.update(format="other"), "format"),
    (lambda m: m.update(feature_layers=["block3_conv"]), "feature_layers"),
    (lambda m: m["weights"].update(file="../evil.weights.h5"), "weights file"),
])
def test_malformed_manifests_are_refused(tmp_path, edit, message):
    create_random_backbone(tmp_path / "b", config=TINY_CONFIG)
    path = tmp_path / "b" / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))
    with pytest.raises(BackboneError, match=message):
        load_backbone(tmp_path / "b")


def test_missing_weights_are_refused_naming_the_file(tmp_path):
    create_random_backbone(tmp_path / "b", config=TINY_CONFIG)
    (tmp_path / "b" / "model.weights.h5").unlink()
    with pytest.raises(BackboneError, match=r"model\.weights\.h5: weights file missing"):
        load_backbone(tmp_path / "b", verify=False)


def test_missing_folder_is_a_backbone_error(tmp_path):
    with pytest.raises(BackboneError, match="not a backbone folder"):
        load_backbone(tmp_path / "nothing")


def test_paper_model_costs_the_published_multiply_adds():
    from mirex.backbones.samplecnn import multiply_adds

    assert multiply_adds(PAPER_CONFIG) == pytest.approx(1.73e9, rel=0.01)
    assert multiply_adds(MSD_RELEASED_CONFIG) < multiply_adds(PAPER_CONFIG)


@pytest.mark.parametrize("name, teacher", [("samplecnn-msd", "musicnn-msd"),
                                           ("samplecnn-mtt", "musicnn-mtt")])
def test_committed_default_backbones_are_trained_small_and_documented(name, teacher):
    """models/ holds the LPNKK1/LPNKK2 backbones: verified weights, < 10 MB, full provenance."""
    from mirex.config import PROJECT_MODELS_DIR
    from mirex.systems import VARIANTS

    folder = PROJECT_MODELS_DIR / name
    backbone = load_backbone(folder)                  # checks the weights' sha256
    assert backbone.trained and backbone.embedding_dim == 1280
    assert sum(f.stat().st_size for f in Path(folder).iterdir()) < 10e6
    prov = backbone.manifest["provenance"]
    assert prov["teacher"]["name"] == teacher
    teacher_manifest = PROJECT_MODELS_DIR / teacher / "manifest.json"
    assert prov["teacher"]["weights_sha256"] in teacher_manifest.read_text()
    for key in ("corpus", "epochs", "val", "command", "evaluation",
                "heldout_agreement_with_teacher", "training_seconds"):
        assert key in prov, key
    assert prov["corpus"]["hours"] > 1
    assert name in VARIANTS["LPNKK3"]


def test_weights_are_saved_atomically(tmp_path):
    """A save that fails half-way leaves the previous weights file whole and no temporary."""
    from mirex.fileio import atomic_save_weights

    model = build_samplecnn(TINY_CONFIG, seed=1)
    path = atomic_save_weights(model, tmp_path / "m.weights.h5")
    before = path.read_bytes()

    class Broken:
        def save_weights(self, target):
            Path(target).write_bytes(b"half a file")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_save_weights(Broken(), path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [path.name]
    other = build_samplecnn(TINY_CONFIG, seed=2)
    other.load_weights(path)
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
