"""Named systems: the LPNKK submissions as sets of feature extractors.

===========  ==============================================================
``LPNKK1``   SampleCNN trained on MSD-style tags (backbone ``samplecnn-msd``)
``LPNKK2``   SampleCNN from a second label source (backbone ``samplecnn-mtt``)
``LPNKK3``   both embeddings, concatenated (LPNKK1 first)
``mfcc-svm``     peer: MFCC + delta statistics (see :mod:`mirex.peers`)
``musicnn-svm``  peer: pooled musicnn MSD features (see :mod:`mirex.peers`)
===========  ==============================================================

Backbones are looked up by name in a models folder: ``--models-dir``, else
``$MIREX_MODELS_DIR``, else the project's ``models/``. Explicit backbone
folders (``--backbone DIR``, repeatable, or ``$MIREX_BACKBONES``) replace the
variant's list altogether, for users with networks of their own.
"""

from __future__ import annotations

import os
from pathlib import Path

from .backbones import BackboneError, load_backbone
from .constants import DEFAULT_VARIANT, ENV_MODELS_DIR
from .embedding import SampleCNNExtractor
from .peers import PEERS

__all__ = ["VARIANTS", "VariantError", "default_models_dir", "resolve_extractors",
           "system_name", "SYSTEMS"]

#: Backbone names of each variant, in feature order.
VARIANTS = {
    "LPNKK1": ("samplecnn-msd",),
    "LPNKK2": ("samplecnn-mtt",),
    "LPNKK3": ("samplecnn-msd", "samplecnn-mtt"),
}


#: Every system name that ``--variant`` accepts.
SYSTEMS = tuple(VARIANTS) + tuple(PEERS)


class VariantError(Exception):
    """A variant or backbone that cannot be resolved; the message says what to do."""


def default_models_dir() -> Path:
    """``$MIREX_MODELS_DIR`` if set, else the project's ``models/`` folder."""
    env = os.environ.get(ENV_MODELS_DIR)
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "models"


def system_name(variant: str | None, backbones=()) -> str:
    """Folder-safe name of a system: the variant, or 'custom-<names>'."""
    if backbones:
        names = [Path(b).name for b in backbones]
        return "custom-" + "+".join(names)
    name = variant or DEFAULT_VARIANT
    return name.lower() if name.lower() in PEERS else name.upper()


def resolve_extractors(variant: str | None = None, backbones=(), models_dir=None,
                       **extractor_options) -> list:
    """The feature extractors of a variant, or of explicit backbone folders.

    Parameters
    ----------
    variant : str or None
        ``LPNKK1``, ``LPNKK2``, ``LPNKK3`` (case-insensitive) or a peer
        system of :data:`mirex.peers.PEERS`; default
        :data:`mirex.constants.DEFAULT_VARIANT`.
    backbones : sequence of path
        Backbone folders that replace the variant's list when given.
    models_dir : path or None
        Where named backbones are looked up (see :func:`default_models_dir`).
    **extractor_options
        Passed to :class:`mirex.embedding.SampleCNNExtractor`.

    Raises
    ------
    VariantError
        Unknown variant, or a backbone that is missing or fails verification.
    """
    if backbones:
        folders = [Path(b) for b in backbones]
    else:
        key = system_name(variant)
        if key in PEERS:
            try:
                return PEERS[key](models_dir=models_dir, **extractor_options)
            except BackboneError as exc:
                raise VariantError(str(exc)) from None
        if key not in VARIANTS:
            raise VariantError(f"unknown variant {variant!r}; choose one of {', '.join(SYSTEMS)}")
        root = Path(models_dir) if models_dir else default_models_dir()
        folders = [root / name for name in VARIANTS[key]]
    extractors = []
    for folder in folders:
        try:
            backbone = load_backbone(folder)
        except BackboneError as exc:
            hint = ("" if backbones else
                    f" (variant {system_name(variant)} needs backbone '{folder.name}' in {folder.parent};"
                    " set --models-dir / MIREX_MODELS_DIR or --backbone / MIREX_BACKBONES)")
            raise VariantError(f"{exc}{hint}") from None
        extractors.append(SampleCNNExtractor(backbone, **extractor_options))
    return extractors
