"""The options of a pre-training run, in one place (the doors fill them, the trainer reads them)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

from ..constants import MAX_DURATION, MAX_SEGMENTS
from .schedule import LRS, POLICIES, divided_by_five
from .sources import SOURCES
from .augment import augment_settings
from .teacher import DEFAULT_HOP_FRAMES, FEATURE_SETS, teacher_paths

__all__ = ["MODES", "DISTILL", "Options", "DISTIL_DEFAULTS", "check"]

MODES = ("tags", "genres", "teacher")
DISTILL = ("posteriors", "features")


@dataclass
class Options:
    """Everything one call of :func:`mirex.pretrain.api.train` needs.

    What the run trains on
        ``train_list`` (tags: ``path<TAB>tag1,tag2``; genres: ``path<TAB>genre``;
        teacher: one path per line), ``out_dir`` (the run folder; an
        existing run there is resumed), ``mode`` (``'tags'``, ``'genres'``,
        ``'teacher'``), ``labels`` (tags/genres: the output labels in order
        or a file of them; ``None``: every label of the list, sorted),
        ``teacher`` (a musicnn backbone folder, or several: a sequence or a
        comma-separated string, combined by
        :func:`~mirex.pretrain.targets.combine_teachers`), ``distill``
        (``'posteriors'`` or ``'features'``), ``teacher_features`` (features:
        ``'pool'`` = ``[max_pool, mean_pool]`` or ``'max_pool'``),
        ``hop_frames`` (16-ms frames between teacher windows).
    Validation
        ``valid_list`` (else ``valid_fraction`` of the training clips is held
        out, seeded), ``valid_segments`` (fixed segments, or teacher
        windows, per validation clip; ``None``: all).
    The network and recipe
        ``config`` (a SampleCNN config or a name of
        :data:`mirex.backbones.samplecnn.CONFIGS`, a JSON file, inline JSON),
        ``name`` (of the backbone; default: the run folder's name),
        ``init_from`` (a backbone folder or ``.weights.h5`` to start from),
        ``batch_size`` (global), ``lrs``, ``schedule`` (``'plateau'`` with
        ``patience`` and ``epochs_per_stage``, or ``'budget'`` over
        ``budget_minutes`` of training), ``steps_per_epoch`` (``None``: one
        pass), ``augment`` (waveform augmentation of the training crops:
        ``None`` (off, the default), names such as ``"gain,eq,mix"``, or
        ``"all"``; see :mod:`mirex.pretrain.augment`), ``seed`` (weights,
        split, every epoch's crops and augmentations), ``precision``
        (a Keras dtype policy such as ``'mixed_bfloat16'``; ``None``: float32).
    Data and machines
        ``source`` (``'disk'``: crops streamed from the decoded-audio cache;
        ``'memory'``: the clips held in memory), ``cache_dir`` (default
        ``out_dir/cache``), ``max_duration`` (seconds decoded per file),
        ``workers`` (decoding threads and batches read at once),
        ``strategy`` (``'default'``, ``'mirrored'``, ``'multiworker'`` or a
        ``tf.distribute.Strategy``; TensorFlow only).
    Stopping
        ``max_minutes`` (wall clock of this call, preparation included; a
        checkpoint is written first), ``max_epochs``, ``max_steps`` (in all),
        ``checkpoint_minutes`` (also checkpoint within an epoch this often),
        ``prepare_only`` (only fill the caches), ``resume`` (False: refuse a
        folder that already holds a checkpoint).
    Output
        ``verbose`` (0 silent, 1 a progress bar per epoch, 2 a line per
        epoch), ``command`` (recorded in the provenance).
    """

    train_list: str | os.PathLike
    out_dir: str | os.PathLike
    mode: str = "tags"
    labels: str | os.PathLike | Sequence[str] | None = None
    teacher: str | os.PathLike | Sequence[str | os.PathLike] | None = None
    distill: str = "posteriors"
    teacher_features: str = "pool"
    hop_frames: int = DEFAULT_HOP_FRAMES
    valid_list: str | os.PathLike | None = None
    valid_fraction: float = 0.1
    valid_segments: int | None = MAX_SEGMENTS
    config: dict | str = "paper"
    name: str | None = None
    init_from: str | os.PathLike | None = None
    batch_size: int = 23
    lrs: Sequence[float] = LRS
    schedule: str = "plateau"
    patience: int = 3
    epochs_per_stage: int | None = None
    budget_minutes: float | None = None
    steps_per_epoch: int | None = None
    augment: str | Sequence[str] | None = None
    seed: int = 0
    precision: str | None = None
    source: str = "disk"
    cache_dir: str | os.PathLike | None = None
    max_duration: float | None = MAX_DURATION
    workers: int = 2
    strategy: object = "default"
    max_minutes: float | None = None
    max_epochs: int | None = None
    max_steps: int | None = None
    checkpoint_minutes: float | None = 10.0
    prepare_only: bool = False
    resume: bool = True
    verbose: int = 1
    command: str | None = None


#: What ``mirex distil`` changes of :class:`Options`: the shipped students' recipe.
DISTIL_DEFAULTS = dict(mode="teacher", batch_size=64, lrs=divided_by_five(0.02),
                       schedule="budget", budget_minutes=8.0, steps_per_epoch=200,
                       precision="mixed_bfloat16", source="memory", workers=8, resume=False)


def check(opts: Options) -> None:
    """Raise ``ValueError`` naming the first bad option."""
    choices = {"mode": MODES, "distill": DISTILL, "teacher_features": tuple(FEATURE_SETS),
               "schedule": POLICIES, "source": SOURCES}
    for key, allowed in choices.items():
        if getattr(opts, key) not in allowed:
            raise ValueError(f"{key} must be one of {allowed}, got {getattr(opts, key)!r}")
    if opts.mode == "teacher" and not teacher_paths(opts.teacher):
        raise ValueError("mode='teacher' needs a teacher (e.g. models/musicnn-msd)")
    augment_settings(opts.augment)           # raises on an unknown name
    if not 0.0 < opts.valid_fraction < 1.0:
        raise ValueError("valid_fraction must be in (0, 1)")
    if opts.batch_size < 1 or opts.patience < 1 or not opts.lrs or opts.hop_frames < 1:
        raise ValueError("batch_size, patience and hop_frames must be >= 1, and lrs non-empty")
    if opts.schedule == "budget" and not (opts.budget_minutes or 0) > 0:
        raise ValueError("the 'budget' schedule needs budget_minutes > 0")
