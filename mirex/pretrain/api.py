"""Pre-train or distil a SampleCNN backbone: one trainer, two doors.

:func:`pretrain` (``mirex pretrain``) and :func:`distil` (``mirex distil``)
fill :class:`~mirex.pretrain.options.Options` with their own defaults and call
:func:`train`, which

1. reads the lists and decodes every file once into the decoded-audio cache
   (:mod:`~mirex.pretrain.audiocache`), freezing the run's clips in
   ``run.json`` (:mod:`~mirex.pretrain.runs`);
2. teacher mode: runs the musicnn teacher once per file on its 3-s windows
   (:mod:`~mirex.pretrain.teacher`, cached);
3. turns labels or teacher windows into target units
   (:mod:`~mirex.pretrain.targets`) and the clips into a crop source, on
   disk or in memory (:mod:`~mirex.pretrain.sources`);
4. trains with the schedule (:mod:`~mirex.pretrain.schedule`) in the loop of
   :mod:`~mirex.pretrain.trainer`, checkpointing (:mod:`~mirex.pretrain.checkpoints`)
   so that a call again with the same ``out_dir`` resumes exactly;
5. writes the best weights as the backbone folder ``out_dir/backbone``
   (:mod:`~mirex.pretrain.output`).

Output folder: ``run.json``, ``checkpoint.json`` + ``checkpoints/``,
``log.csv`` (one row per epoch), ``summary.json``, ``backbone/``, ``cache/``
(unless ``cache_dir``).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..backbones.samplecnn import resolve_config, validate_config
from ..constants import SAMPLE_RATE, SEGMENT_SAMPLES
from . import runs
from .audiocache import AudioCache, KeyIndex
from .checkpoints import CHECKPOINT_NAME
from .options import DISTIL_DEFAULTS, Options, check
from .output import summarize, write_backbone
from .plans import validation_plan
from .schedule import LRS, Schedule, divided_by_five
from .sources import make_source
from .strategies import is_chief, make_strategy
from .student import loss_name
from .augment import augment_settings
from .targets import combine_teachers, encode_labels, label_units, standardiser, teacher_units
from .trainer import Data, Trainer, stop_on_signals

__all__ = ["LRS", "DISTIL_DEFAULTS", "Options", "train", "pretrain", "distil", "command_line"]

log = logging.getLogger("mirex.pretrain")


@dataclass
class _Prepared:
    """The caches of a run and its frozen clips (``run`` is None until they are complete)."""

    cache: AudioCache
    index: KeyIndex
    teachers: list
    tcaches: list
    run: object = None
    fresh: bool = True


def _settings(opts: Options, teachers: list, base: dict) -> dict:
    """What defines a run: a later call in the same folder must give the same."""
    distill = opts.distill if opts.mode == "teacher" else None
    shas = [t.weights_sha256 for t in teachers]
    return {"mode": opts.mode, "distill": distill,
            # one teacher: its checksum (as runs before several teachers); several: the list
            "teacher": None if not shas else shas[0] if len(shas) == 1 else shas,
            "hop_frames": None if not teachers else int(opts.hop_frames),
            "augment": augment_settings(opts.augment),
            "teacher_features": opts.teacher_features if distill == "features" else None,
            "config": base, "batch_size": int(opts.batch_size), "seed": int(opts.seed),
            "lrs": [float(lr) for lr in opts.lrs], "schedule": opts.schedule,
            "steps_per_epoch": opts.steps_per_epoch, "valid_segments": opts.valid_segments,
            "max_duration": opts.max_duration, "precision": opts.precision,
            "sample_rate": SAMPLE_RATE, "segment_samples": SEGMENT_SAMPLES,
            "valid_list": None if opts.valid_list is None else os.path.abspath(opts.valid_list),
            "valid_fraction": None if opts.valid_list is not None else float(opts.valid_fraction)}


def _prepare(opts: Options, settings: dict, prep: _Prepared, deadline) -> str | None:
    """Fill the caches and freeze the run; the status to return early, or ``None`` to train."""
    out_dir = Path(opts.out_dir)
    prep.run = None if opts.prepare_only else runs.load_run(out_dir, settings)
    prep.fresh = prep.run is None
    if prep.fresh:
        run = runs.new_run(settings, opts.train_list, opts.valid_list, opts.valid_fraction,
                           opts.labels, prep.teachers[0].labels if prep.teachers else None,
                           prep.cache, prep.index, opts.workers, deadline)
        if run is None:
            return "preparing"
    else:
        run = prep.run
        runs.warn_unlisted(run, opts.train_list, opts.mode)
    for tcache in prep.tcaches:
        failed, complete = tcache.prepare([(r["path"], r["key"]) for r in run.train + run.valid],
                                          deadline=deadline, progress=True, workers=opts.workers)
        if not complete:
            return "preparing"
        if failed:
            raise ValueError(f"teacher could not decode {sorted(failed)}")
    prep.run = run
    return "prepared" if opts.prepare_only else None


def _teacher_outputs(records, prep: _Prepared, settings: dict) -> list:
    """Each clip's target rows: its teachers' rows, combined (:func:`combine_teachers`)."""
    from .teacher import feature_targets

    features = settings["distill"] == "features"
    fields = ("max_pool", "mean_pool") if features else ("taggram",)
    out = []
    for rec in records:
        rows = []
        for tcache in prep.tcaches:
            entry = tcache.load(rec["key"], fields)
            if entry is None:
                raise ValueError(f"{rec['path']}: no teacher targets in {tcache.folder}")
            rows.append(feature_targets(entry, settings["teacher_features"]) if features
                        else entry["taggram"])
        out.append(combine_teachers(rows, settings["distill"]))
    return out


def _units(prep: _Prepared, base: dict):
    """Training and validation units, the final config, the output labels, the head's size."""
    run, settings = prep.run, prep.run.settings
    lengths = [[r["n_samples"] for r in recs] for recs in (run.train, run.valid)]
    if settings["mode"] in ("tags", "genres"):
        units = [label_units(n, encode_labels([r["labels"] for r in recs], run.labels))
                 for n, recs in zip(lengths, (run.train, run.valid))]
        activation = "sigmoid" if settings["mode"] == "tags" else "softmax"
        config = {**base, "n_outputs": len(run.labels), "output_activation": activation}
        return units, validate_config(config), run.labels, None
    units = [teacher_units(n, _teacher_outputs(recs, prep, settings), settings["hop_frames"])
             for n, recs in zip(lengths, (run.train, run.valid))]
    if settings["distill"] == "posteriors":
        config = {**base, "n_outputs": units[0].dim, "output_activation": "sigmoid"}
        return units, validate_config(config), run.labels, None
    mean, std = standardiser(units[0].y)
    for u in units:
        u.y = ((u.y - mean) / std).astype(np.float32)
    return units, base, [f"output{i}" for i in range(base["n_outputs"])], units[0].dim


def _data(opts: Options, prep: _Prepared, base: dict):
    """The :class:`Data` of a run, with its final config, labels and head size."""
    run = prep.run
    (units, valid_units), config, labels, distill_dim = _units(prep, base)
    clips = [runs.cached_clips(recs, prep.cache, prep.index) for recs in (run.train, run.valid)]
    settings = run.settings
    kind = settings["distill"] if settings["mode"] == "teacher" else settings["mode"]
    plan = validation_plan(valid_units, [c.n_samples for c in clips[1]],
                           settings["valid_segments"], windows=settings["mode"] == "teacher")
    data = Data(kind=kind, loss=loss_name(settings["mode"], settings["distill"]),
                train=make_source(opts.source, clips[0]), valid=make_source(opts.source, clips[1]),
                units=units, valid_units=valid_units, valid_plan=plan,
                augment=settings.get("augment"))
    return data, config, labels, distill_dim


def _schedule(opts: Options) -> Schedule:
    budget = None if opts.budget_minutes is None else float(opts.budget_minutes) * 60.0
    return Schedule(lrs=opts.lrs, policy=opts.schedule, patience=opts.patience,
                    epochs_per_stage=opts.epochs_per_stage, budget_seconds=budget)


def _init_weights(path):
    if path is None or not Path(path).is_dir():
        return path
    from ..backbones import load_backbone

    return load_backbone(path).weights_path


def train(opts: Options) -> dict:
    """Pre-train a SampleCNN backbone, or continue a run stopped earlier (see the module doc).

    Returns the result: ``status`` ('prepared', 'preparing' (time ran out
    while caching), 'paused' or 'finished'), ``out_dir``, ``backbone``
    (folder or ``None``), ``decoded`` and ``teacher_computed`` (files this
    call decoded / ran the teacher on) and, once training started, the
    figures of :func:`mirex.pretrain.output.summarize`.
    """
    deadline = None if opts.max_minutes is None else time.monotonic() + opts.max_minutes * 60
    check(opts)
    out_dir = Path(opts.out_dir)
    cache_dir = Path(opts.cache_dir) if opts.cache_dir is not None else out_dir / "cache"
    # MultiWorkerMirroredStrategy must exist before any other TensorFlow work.
    strategy = None if opts.prepare_only else make_strategy(opts.strategy)
    chief = is_chief(strategy)
    if not opts.resume and (out_dir / CHECKPOINT_NAME).exists():
        raise ValueError(f"{out_dir} already holds a run: resume it (--resume) or use another "
                         "output folder")
    if chief:
        out_dir.mkdir(parents=True, exist_ok=True)
    base = validate_config(resolve_config(opts.config))
    prep = _Prepared(AudioCache(cache_dir, SAMPLE_RATE, opts.max_duration),
                     KeyIndex(cache_dir / "index.json"), [], [])
    if opts.mode == "teacher":
        from .teacher import TeacherCache, load_teachers

        prep.teachers = load_teachers(opts.teacher, opts.distill)
        prep.tcaches = [TeacherCache(cache_dir, t, opts.hop_frames, opts.max_duration)
                        for t in prep.teachers]
    result = {"out_dir": str(out_dir), "backbone": None, "status": None}

    def counts(status):
        result.update(status=status, decoded=prep.cache.n_decoded,
                      teacher_computed=sum(t.n_computed for t in prep.tcaches))
        return result

    early = _prepare(opts, _settings(opts, prep.teachers, base), prep, deadline)
    if early is not None:
        return counts(early)
    if prep.fresh and chief:   # the clips are frozen once training starts
        runs.save_run(out_dir, prep.run)
    data, config, labels, distill_dim = _data(opts, prep, base)
    trainer = Trainer(out_dir, data, config, _schedule(opts), distill_dim=distill_dim,
                      batch_size=opts.batch_size, steps_per_epoch=opts.steps_per_epoch,
                      seed=opts.seed, precision=opts.precision, strategy=strategy, chief=chief,
                      checkpoint_minutes=opts.checkpoint_minutes, verbose=opts.verbose,
                      workers=opts.workers, init_from=_init_weights(opts.init_from))
    with stop_on_signals(trainer):
        status = ("finished" if trainer.state["finished"]
                  else trainer.train(deadline, opts.max_epochs, opts.max_steps))
    if chief:
        result["backbone"] = write_backbone(trainer, prep.run, opts, prep.teachers,
                                            status == "finished", config, labels)
    counts(status)
    result["stopped_by_signal"] = bool(trainer.stop_requested)
    return summarize(result, trainer, opts)


# ---------------------------------------------------------------------------
# The two doors
# ---------------------------------------------------------------------------

#: Options whose command-line flag is not ``--`` + the name with dashes.
FLAGS = {"out_dir": "--out", "budget_minutes": "--minutes"}


def command_line(door: str, opts: Options, defaults: Options) -> str:
    """The ``mirex pretrain|distil`` line equivalent to ``opts`` (defaults left out)."""
    first = ["train_list", "out_dir"] if door == "pretrain" else ["teacher", "out_dir"]
    args = ["mirex", door] + ([os.fspath(opts.train_list)] if door == "distil" else [])
    skip = {"command", "verbose", "prepare_only", "resume", "train_list"}
    for key in first + [k for k in vars(opts) if k not in first]:
        value = getattr(opts, key)
        if value is None or value is False or (key in skip and key not in first) or (
                key not in first and value == getattr(defaults, key)):
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
        elif isinstance(value, dict):
            value = json.dumps(value, sort_keys=True)
        flag = FLAGS.get(key, "--" + key.replace("_", "-"))
        args += [flag] if value is True else [flag, os.fspath(value)
                                              if isinstance(value, os.PathLike) else str(value)]
    return shlex.join(args)


def pretrain(train_list, out_dir, *, teacher_hop: float | None = None, **options) -> dict:
    """``mirex pretrain``: the paper's recipe (batch 23, lr 0.01, patience stages), crops from disk.

    Keyword arguments are the fields of :class:`~mirex.pretrain.options.Options`;
    ``teacher_hop`` gives the hop between teacher windows in seconds instead
    of ``hop_frames`` (rounded to 16-ms frames).
    """
    if teacher_hop is not None:
        from .teacher import hop_frames

        options["hop_frames"] = hop_frames(teacher_hop)
    opts = Options(train_list=train_list, out_dir=out_dir, **options)
    if opts.command is None:
        opts.command = command_line("pretrain", opts, Options(train_list, out_dir))
    return train(opts)


def distil(list_path, teacher, out_dir, *, lr: float | None = None,
           minutes: float | None = None, **options) -> dict:
    """``mirex distil``: the shipped students' recipe (batch 64, lr 0.02, stages over ``minutes``).

    The corpus is held in memory and mixed bfloat16 precision is on
    (:data:`DISTIL_DEFAULTS`); ``lr`` is the first stage's rate (each later
    one a fifth of it), ``minutes`` the training-time budget. Other keyword
    arguments are fields of :class:`~mirex.pretrain.options.Options`.
    """
    settings = {**DISTIL_DEFAULTS, **options}
    if lr is not None:
        settings["lrs"] = divided_by_five(lr)
    if minutes is not None:
        settings["budget_minutes"] = minutes
    opts = Options(train_list=list_path, out_dir=out_dir, teacher=teacher, **settings)
    if opts.command is None:
        defaults = Options(list_path, out_dir, teacher=teacher, **DISTIL_DEFAULTS)
        opts.command = command_line("distil", opts, defaults)
    return train(opts)


