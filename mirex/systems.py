"""Named systems: the LPNKK submissions and their peers as sets of feature extractors.

===================  =====================================================
``LPNKK1``           SampleCNN trained on MSD-style tags (backbone ``samplecnn-msd``)
``LPNKK2``           SampleCNN from a second label source (backbone ``samplecnn-mtt``)
``LPNKK3``           both embeddings, concatenated (LPNKK1 first)
``mfcc-svm``         peer: MFCC + delta statistics (:mod:`mirex.extractors.mfcc`)
``musicnn-svm``      peer: pooled musicnn MSD features (:mod:`mirex.extractors.musicnn`)
``musicnn-vgg-svm``  peer: pooled features of musicnn's VGG MSD tagger (the same extractor)
===================  =====================================================

Backbones are looked up by name in a models folder (:class:`mirex.config.Config`
``models_dir``). Explicit backbone folders replace the variant's list
altogether, for users with networks of their own.
"""

from __future__ import annotations

from pathlib import Path

from .backbones import BackboneError, load_backbone
from .config import PROJECT_MODELS_DIR, Config
from .constants import DEFAULT_VARIANT
from .extractors.mfcc import MfccExtractor
from .extractors.musicnn import MusicnnExtractor
from .extractors.samplecnn import SampleCNNExtractor

__all__ = ["VARIANTS", "PEERS", "SYSTEMS", "VariantError", "system_name",
           "resolve_extractors", "extractors_for"]

#: Backbone names of each variant, in feature order.
VARIANTS = {
    "LPNKK1": ("samplecnn-msd",),
    "LPNKK2": ("samplecnn-mtt",),
    "LPNKK3": ("samplecnn-msd", "samplecnn-mtt"),
}

#: Peer systems: a factory of their extractors from a models folder.
PEERS = {
    "mfcc-svm": lambda models_dir: [MfccExtractor()],
    "musicnn-svm": lambda models_dir: [MusicnnExtractor(Path(models_dir) / "musicnn-msd")],
    "musicnn-vgg-svm": lambda models_dir: [MusicnnExtractor(Path(models_dir) / "musicnn-vgg-msd")],
}

#: Every system name that ``--variant`` accepts.
SYSTEMS = tuple(VARIANTS) + tuple(PEERS)


class VariantError(Exception):
    """A system or backbone that cannot be resolved; the message says what to do."""


def system_name(variant: str | None, backbones=()) -> str:
    """Folder-safe name of a system: the variant, or 'custom-<names>'."""
    if backbones:
        return "custom-" + "+".join(Path(b).name for b in backbones)
    name = variant or DEFAULT_VARIANT
    return name.lower() if name.lower() in PEERS else name.upper()


def resolve_extractors(variant: str | None = None, backbones=(), models_dir=None,
                       **engine_options) -> list:
    """The feature extractors of a system, or of explicit backbone folders.

    Parameters
    ----------
    variant : str or None
        A name of :data:`SYSTEMS` (case-insensitive); default
        :data:`mirex.constants.DEFAULT_VARIANT`.
    backbones : sequence of path
        Backbone folders that replace the variant's list when given.
    models_dir : path or None
        Where named backbones are looked up (default: the project's ``models/``).
    **engine_options
        ``engine``, ``precision``, ``num_threads``... of
        :class:`mirex.extractors.samplecnn.SampleCNNExtractor`.

    Raises
    ------
    VariantError
        Unknown system, or a backbone that is missing or fails verification.
    """
    root = Path(models_dir) if models_dir else PROJECT_MODELS_DIR
    key = system_name(variant)
    if not backbones and key in PEERS:
        try:
            return PEERS[key](root)
        except BackboneError as exc:
            raise VariantError(str(exc)) from None
    if not backbones and key not in VARIANTS:
        raise VariantError(f"unknown variant {variant!r}; choose one of {', '.join(SYSTEMS)}")
    folders = [Path(b) for b in backbones] or [root / name for name in VARIANTS[key]]
    extractors = []
    for folder in folders:
        try:
            backbone = load_backbone(folder)
        except BackboneError as exc:
            hint = ("" if backbones else
                    f" (system {key} needs backbone '{folder.name}' in {folder.parent};"
                    " set --models-dir / MIREX_MODELS_DIR or --backbone / MIREX_BACKBONES)")
            raise VariantError(f"{exc}{hint}") from None
        extractors.append(SampleCNNExtractor(backbone, **engine_options))
    return extractors


def extractors_for(config: Config) -> list:
    """The extractors of a resolved :class:`mirex.config.Config`."""
    return resolve_extractors(config.variant, config.backbones, config.models_dir,
                              **config.engine_options)
