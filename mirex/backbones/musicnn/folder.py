"""A musicnn backbone folder: its file names, format, the released models, and its loader.

A folder holds ``model.weights.h5`` (Keras 3) and ``manifest.json`` of format
``"musicnn-backbone/1"`` (written by :func:`mirex.backbones.musicnn.convert_musicnn`).
"""

from __future__ import annotations

import os

from ...constants import MSD_TAGS, MTT_LABELS
from ...fileio import checked_file, read_manifest
from .network import build_musicnn
from .vgg import build_musicnn_vgg

__all__ = ["FORMAT", "MANIFEST_NAME", "WEIGHTS_NAME", "MSD_LABELS", "MODELS", "SOURCE_PACKAGE",
           "ARCHITECTURES", "read_musicnn_manifest", "load_musicnn"]

FORMAT = "musicnn-backbone/1"
MANIFEST_NAME = "manifest.json"
WEIGHTS_NAME = "model.weights.h5"

#: Last.fm top-50 tags of the MSD models, in output order.
MSD_LABELS = tuple(MSD_TAGS)

_MSD_DATA = "Million Song Dataset audio, Last.fm top-50 tags"
_MTT_DATA = "MagnaTagATune, top-50 tags"

#: The checkpoints converted: folder in the package -> facts.
MODELS = {
    "MSD_musicnn": {"name": "musicnn-msd", "labels": MSD_LABELS, "data": _MSD_DATA,
                    "architecture": "musicnn"},
    "MTT_musicnn": {"name": "musicnn-mtt", "labels": MTT_LABELS, "data": _MTT_DATA,
                    "architecture": "musicnn"},
    "MSD_vgg": {"name": "musicnn-vgg-msd", "labels": MSD_LABELS, "data": _MSD_DATA,
                "architecture": "musicnn-vgg"},
    "MTT_vgg": {"name": "musicnn-vgg-mtt", "labels": MTT_LABELS, "data": _MTT_DATA,
                "architecture": "musicnn-vgg"},
}

#: Manifest ``architecture`` -> network builder (keyword arguments: the manifest's config).
ARCHITECTURES = {"musicnn": build_musicnn, "musicnn-vgg": build_musicnn_vgg}

SOURCE_PACKAGE = "musicnn==0.1.0"


def read_musicnn_manifest(path: str | os.PathLike) -> dict:
    """The manifest of a musicnn backbone folder (musicnn or VGG), without building the network.

    Raises
    ------
    mirex.backbones.BackboneError
        If the folder has no manifest or it is not a musicnn one.
    """
    from .. import BackboneError

    manifest = read_manifest(path, MANIFEST_NAME, FORMAT, BackboneError,
                             missing=f"not a backbone folder (no {MANIFEST_NAME})")
    if manifest.get("architecture") not in ARCHITECTURES:
        raise BackboneError(f"{os.path.join(path, MANIFEST_NAME)}: not a {FORMAT} musicnn manifest "
                            f"(architecture must be one of {sorted(ARCHITECTURES)})")
    return manifest


def load_musicnn(path: str | os.PathLike, verify: bool = True):
    """Build the model of a musicnn backbone folder, with its weights.

    Parameters
    ----------
    path : str or path-like
        Folder written by :func:`convert_musicnn`.
    verify : bool
        Check the weights file against the manifest's sha256.

    Returns
    -------
    model : keras.Model
        As :func:`build_musicnn` (architecture ``"musicnn"``) or
        :func:`~.vgg.build_musicnn_vgg` (``"musicnn-vgg"``), weights loaded.
    manifest : dict
        The parsed manifest.

    Raises
    ------
    mirex.backbones.BackboneError
        If the folder is not a musicnn backbone or its weights do not match
        (one line naming the file and the reason).
    """
    from .. import BackboneError

    manifest = read_musicnn_manifest(path)
    build = ARCHITECTURES[manifest["architecture"]]
    weights = checked_file(path, manifest.get("weights"), BackboneError, verify=verify,
                           what="weights file")
    model = build(**manifest["config"], name=manifest["name"].replace("-", "_"))
    model.load_weights(weights)
    return model, manifest
