"""Pre-trained backbones: a network's weights plus a manifest that describes them.

A backbone lives in a folder::

    models/<name>/manifest.json        what the weights are and how they were made
    models/<name>/model.weights.h5     Keras 3 HDF5 weights (never a pickle)

The manifest (``format: "mirex-backbone/1"``) holds the architecture config,
sample rate, segment length, output labels, the layers tapped for the
multi-level embedding, the sha256 of the weights file, whether the network was
trained, and its provenance (data, recipe, command). :func:`load_backbone`
refuses a folder whose weights do not match the manifest's checksum.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..constants import SAMPLE_RATE, SEGMENT_SAMPLES
from ..fileio import atomic_save_weights, atomic_write_text, checked_file, read_manifest, sha256_file
from .samplecnn import block_index, block_output_name, build_samplecnn, validate_config

__all__ = [
    "BackboneError",
    "Backbone",
    "MANIFEST_NAME",
    "WEIGHTS_NAME",
    "load_backbone",
    "save_backbone",
    "create_random_backbone",
    "sha256_file",
]

MANIFEST_NAME = "manifest.json"
WEIGHTS_NAME = "model.weights.h5"
FORMAT = "mirex-backbone/1"

#: Number of top hidden blocks tapped for the multi-level embedding.
N_TAPS = 3


class BackboneError(Exception):
    """A backbone folder that cannot be used; the message names it and says why."""


@dataclass(frozen=True)
class Backbone:
    """A verified backbone folder.

    Attributes
    ----------
    path : Path
        The folder.
    manifest : dict
        Its parsed, validated manifest.
    """

    path: Path
    manifest: dict

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def config(self) -> dict:
        return self.manifest["config"]

    @property
    def sample_rate(self) -> int:
        return int(self.manifest["sample_rate"])

    @property
    def segment_samples(self) -> int:
        return int(self.manifest["segment_samples"])

    @property
    def feature_layers(self) -> list[str]:
        return list(self.manifest["feature_layers"])

    @property
    def weights_sha256(self) -> str:
        return self.manifest["weights"]["sha256"]

    @property
    def trained(self) -> bool:
        return bool(self.manifest.get("trained", False))

    @property
    def embedding_dim(self) -> int:
        """Length of the multi-level embedding (sum of the tapped widths)."""
        widths = self.config["widths"]
        return sum(widths[block_index(layer) - 1] for layer in self.feature_layers)

    @property
    def weights_path(self) -> Path:
        return self.path / self.manifest["weights"]["file"]

    def build(self):
        """The full Keras model with its weights loaded."""
        model = build_samplecnn(self.config, self.segment_samples)
        model.load_weights(self.weights_path)
        return model


def _default_taps(config: dict) -> list[str]:
    n_blocks = len(config["widths"])
    return [block_output_name(i, n_blocks) for i in range(n_blocks - N_TAPS + 1, n_blocks + 1)]


def _validate_manifest(folder: Path, manifest: dict) -> dict:
    def fail(reason):
        raise BackboneError(f"{folder / MANIFEST_NAME}: {reason}")

    for key in ("name", "architecture", "config", "sample_rate", "segment_samples",
                "labels", "feature_layers", "weights", "provenance"):
        if key not in manifest:
            fail(f"missing key {key!r}")
    if manifest["architecture"] != "samplecnn":
        fail(f"unknown architecture {manifest['architecture']!r}")
    try:
        manifest["config"] = validate_config(manifest["config"], int(manifest["segment_samples"]))
    except ValueError as exc:
        fail(str(exc))
    if len(manifest["labels"]) != manifest["config"]["n_outputs"]:
        fail(f"{len(manifest['labels'])} labels for {manifest['config']['n_outputs']} outputs")
    n_blocks = len(manifest["config"]["widths"])
    known = {block_output_name(i, n_blocks) for i in range(1, n_blocks + 1)}
    bad = [layer for layer in manifest["feature_layers"] if layer not in known]
    if bad or not manifest["feature_layers"]:
        fail(f"feature_layers must name block outputs ({sorted(known)}), got {bad}")
    weights = manifest["weights"]
    name = weights.get("file") if isinstance(weights, dict) else None
    if not str(name).endswith(".weights.h5"):
        fail(f"weights file {name!r} must be a '.weights.h5' file in the folder")
    return manifest


def load_backbone(path: str | os.PathLike, verify: bool = True) -> Backbone:
    """Read and verify a backbone folder.

    Parameters
    ----------
    path : str or path-like
        Folder holding ``manifest.json`` and the weights it names.
    verify : bool
        Check the weights' sha256 against the manifest.

    Raises
    ------
    BackboneError
        If the manifest is missing or malformed, or the weights are missing
        or differ from the checksum.
    """
    folder = Path(path)
    manifest = read_manifest(folder, MANIFEST_NAME, FORMAT, BackboneError,
                             missing=f"not a backbone folder (no {MANIFEST_NAME})")
    manifest = _validate_manifest(folder, manifest)
    checked_file(folder, manifest["weights"], BackboneError, verify, what="weights file")
    return Backbone(folder.resolve(), manifest)


def save_backbone(
    path: str | os.PathLike,
    model,
    name: str,
    config: dict,
    labels,
    provenance: dict,
    trained: bool,
    sample_rate: int = SAMPLE_RATE,
    segment_samples: int = SEGMENT_SAMPLES,
    feature_layers: list[str] | None = None,
) -> Backbone:
    """Write a Keras SampleCNN and its manifest into a backbone folder."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    config = validate_config(config, segment_samples)
    atomic_save_weights(model, folder / WEIGHTS_NAME)
    manifest = {
        "format": FORMAT,
        "name": name,
        "architecture": "samplecnn",
        "config": config,
        "sample_rate": int(sample_rate),
        "segment_samples": int(segment_samples),
        "labels": list(labels),
        "feature_layers": feature_layers or _default_taps(config),
        "trained": bool(trained),
        "weights": {"file": WEIGHTS_NAME, "sha256": sha256_file(folder / WEIGHTS_NAME)},
        "provenance": provenance,
    }
    atomic_write_text(folder / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
    return load_backbone(folder)


def create_random_backbone(
    path: str | os.PathLike,
    name: str = "samplecnn-random",
    config: dict | None = None,
    seed: int = 0,
) -> Backbone:
    """Write an *untrained*, seeded random SampleCNN as a backbone folder.

    Useful for tests, for the demo before pre-trained weights exist, and as
    the 'no pre-training' baseline. Its manifest says ``trained: false``.
    """
    from .samplecnn import PAPER_CONFIG

    config = validate_config(config or PAPER_CONFIG)
    model = build_samplecnn(config, seed=seed)
    labels = [f"output{i}" for i in range(config["n_outputs"])]
    provenance = {
        "description": "untrained SampleCNN, he-uniform random initialisation",
        "seed": seed,
        "command": f"mirex init-backbone DIR --name {name} --seed {seed}",
    }
    return save_backbone(path, model, name, config, labels, provenance, trained=False)
