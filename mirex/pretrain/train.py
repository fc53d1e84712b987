"""Pre-train or distil a SampleCNN backbone (``mirex pretrain``).

Three kinds of target, one recipe (Lee, Park, Kim & Nam, SMC 2017; Kim, Lee
& Nam, 2018): SGD with Nesterov momentum 0.9, batch 23; each epoch is
followed by validation; when the validation loss has not improved for
``patience`` epochs the run restarts from the best weights with the learning
rate divided by 5, through ``lrs = (0.01, 0.002, 0.0004, 0.00008,
0.000016)``; the backbone keeps the best weights of the whole run.

``mode='tags'``
    Multi-label tags (e.g. MSD top-50): sigmoid outputs, binary
    cross-entropy. List: ``path<TAB>tag1,tag2,...``.
``mode='genres'``
    One label per clip (e.g. the NAVER 107 genres): softmax outputs,
    categorical cross-entropy. List: ``path<TAB>genre``.
``mode='teacher'``
    Distillation from a musicnn teacher (``models/musicnn-msd``,
    ``models/musicnn-mtt``) on unlabelled audio. List: one path per line.
    ``distill='posteriors'``: sigmoid outputs trained with binary
    cross-entropy on the teacher's 50 tag posteriors of the 3-s window
    centred on the segment (interpolated on a 1-s grid, see
    :mod:`mirex.pretrain.teacher`). ``distill='features'``: the student's
    multi-level embedding (time-max of the last three blocks, as the harness
    extracts it) goes through a linear ``Dense`` head regressed (mean squared
    error) onto the teacher's pooled features, standardised by their mean and
    standard deviation over the training windows; the SampleCNN's own output
    layer stays untrained.

Inputs are random 59049-sample (2.678 s at 22050 Hz) crops of the clips,
drawn anew each epoch from ``(seed, epoch)``, read from a cache of decoded
audio (:mod:`mirex.pretrain.data`); validation uses fixed segments and a
clip's prediction is the mean over its segments.

Output folder (``out_dir``)
---------------------------
::

    run.json               the frozen run: settings, labels, training and
                           validation clips (path, sha256, samples, labels)
    checkpoint.json        the resume point (see below), replaced atomically
    checkpoints/           weights-NNNNNN.weights.h5  model weights
                           optimizer-NNNNNN.npz       SGD state (momenta, step)
                           best-NNNNNN.weights.h5     best weights so far
    log.csv                one row per epoch (columns: :data:`LOG_COLUMNS`)
    backbone/              the backbone folder (``mirex.backbones.load_backbone``)
    cache/                 decoded audio and teacher targets, unless ``cache_dir``

Checkpoints and resuming
------------------------
A checkpoint is written at the end of every epoch, every
``checkpoint_minutes`` within an epoch, and before stopping for
``max_minutes`` or ``max_epochs``. ``checkpoint.json`` holds the stage, the
learning rate, the epochs done (in all and in the stage), the step reached
in the current epoch (with its partial training loss), the patience counter,
the best validation loss and its epoch, every log row, and the names and
sha256 of the weight files it refers to. Weight files get new names each
time and ``checkpoint.json`` is replaced last (by an atomic rename), so a run
killed at any moment leaves the previous checkpoint whole. Calling
:func:`pretrain` again with the same ``out_dir`` resumes from it: same stage,
learning rate, epoch counter and patience, the same crops for the rest of an
interrupted epoch (they depend on ``(seed, epoch)`` only), and the CSV log
continues. Settings that define the run (mode, teacher, architecture, batch
size, seed, learning rates, ...) must be the same (an error says which
differ); ``patience``, ``epochs_per_stage`` and the stopping limits may
change. The clips are frozen in ``run.json`` when training starts (once the
audio and teacher caches are complete; calls that ran out of time while
filling them re-read the list): files added to the list after that are
ignored (with a warning) by the run.

Multi-GPU and multi-machine
---------------------------
``strategy='mirrored'`` uses :class:`tf.distribute.MirroredStrategy` over
the GPUs of one machine; ``strategy='multiworker'`` uses
:class:`tf.distribute.MultiWorkerMirroredStrategy`, which reads the cluster
from the ``TF_CONFIG`` environment variable of each process, e.g. on the
first of two machines::

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                "task": {"type": "worker", "index": 0}}'

(``"index": 1`` on the second). Every worker runs the same command with the
same ``out_dir`` and ``cache_dir`` on a shared file system; worker 0 (or the
``chief``) writes checkpoints, logs and the backbone. Run the same command
with ``prepare_only=True`` once beforehand so that decoding and teacher
targets are not repeated on every worker. ``batch_size`` is the global batch
(keep 23 per replica for the paper's recipe: 46 on two GPUs); it must be a
multiple of the number of replicas. The model and optimizer are built inside
``strategy.scope()``.

Example
-------
::

    python -m mirex.pretrain.train --mode teacher --teacher models/musicnn-msd \\
        --train-list cache/corpus/train.txt --out cache/pretrain/samplecnn-msd \\
        --max-minutes 30

then the same command again to continue; ``cache/pretrain/samplecnn-msd/backbone``
is the backbone folder.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as _dt
import io
import json
import logging
import math
import os
import shlex
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..backbones.samplecnn import MSD_RELEASED_CONFIG, PAPER_CONFIG, validate_config
from ..constants import MAX_DURATION, MAX_SEGMENTS, SAMPLE_RATE, SEGMENT_SAMPLES
from ..fileio import atomic_save_weights, atomic_write_bytes, atomic_write_text, sha256_file
from ..lists import ListError, read_paths
from . import data as D
from . import student

__all__ = ["LRS", "LOG_COLUMNS", "pretrain", "benchmark", "main"]

log = logging.getLogger("mirex.pretrain")

#: The paper's learning-rate stages (each one a fifth of the one before).
LRS = (0.01, 0.002, 0.0004, 0.00008, 0.000016)
MODES = ("tags", "genres", "teacher")
DISTILL = ("posteriors", "features")
STRATEGIES = ("default", "mirrored", "multiworker")
MOMENTUM = 0.9

RUN_NAME = "run.json"
CHECKPOINT_NAME = "checkpoint.json"
CHECKPOINT_DIR = "checkpoints"
LOG_NAME = "log.csv"
BACKBONE_DIR = "backbone"
RUN_FORMAT = "mirex-pretrain-run/1"
CHECKPOINT_FORMAT = "mirex-pretrain-checkpoint/1"

#: Columns of ``log.csv``; a metric that does not apply to the mode is empty.
#: ``val_auc``: tags: clip-level macro ROC-AUC over tags with both classes;
#: teacher posteriors: segment-level agreement with the teacher binarised at
#: 0.5 (``val_auc_top5``: the teacher's top 5 tags of each segment positive).
#: ``val_accuracy``: genres, clip level. ``val_r2``: teacher features.
LOG_COLUMNS = ("epoch", "stage", "epoch_in_stage", "lr", "steps", "train_loss", "val_loss",
               "val_auc", "val_auc_top5", "val_auc_tags", "val_accuracy", "val_r2",
               "improved", "wait", "seconds", "segments_per_s")



# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------

def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _resolve_config(config) -> dict:
    """A config dict from a dict, 'paper', 'released', a JSON file or inline JSON."""
    if isinstance(config, dict):
        return dict(config)
    text = str(config)
    if text == "paper":
        return dict(PAPER_CONFIG)
    if text == "released":
        return dict(MSD_RELEASED_CONFIG)
    if text.lstrip().startswith("{"):
        return json.loads(text)
    return json.loads(Path(text).read_text(encoding="utf-8"))


def _make_strategy(strategy):
    """A ``tf.distribute.Strategy`` from its name (or the strategy itself)."""
    import tensorflow as tf

    if not isinstance(strategy, str):
        return strategy
    if strategy == "default":
        return tf.distribute.get_strategy()
    if strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if strategy == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")


def _is_chief(strategy) -> bool:
    """Whether this process writes files (worker 0 or the chief of a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    spec = resolver.cluster_spec().as_dict() if resolver.cluster_spec() else {}
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in spec


# ---------------------------------------------------------------------------
# The frozen run: clips, labels, targets
# ---------------------------------------------------------------------------

@dataclass
class _Run:
    """Clips and targets of a run (what ``run.json`` freezes)."""

    settings: dict
    labels: list
    train: list        # [{"path", "key", "n_samples", "labels"}]
    valid: list
    skipped: dict = field(default_factory=dict)
    lists: dict = field(default_factory=dict)
    created: str = ""

    def to_json(self) -> dict:
        return {"format": RUN_FORMAT, "created": self.created, "settings": self.settings,
                "labels": self.labels, "lists": self.lists, "skipped": self.skipped,
                "train": self.train, "valid": self.valid}


def _read_items(path, mode: str) -> list:
    if mode == "tags":
        return D.read_tag_list(path)
    if mode == "genres":
        return D.read_genre_list(path)
    return [(p, []) for p in read_paths(path)]


def _keyed(items, index: D.KeyIndex, skipped: dict) -> list:
    """``[(abs path, sha256, labels)]``; unreadable files go to ``skipped``."""
    out = []
    for path, labels in items:
        absolute = os.path.abspath(path)
        try:
            out.append((absolute, index.key(absolute), labels))
        except OSError as exc:
            skipped[absolute] = f"cannot read file ({exc.strerror or exc})"
            log.warning("skipped: %s: %s", absolute, skipped[absolute])
    return out


def _list_info(path) -> dict | None:
    if path is None:
        return None
    return {"path": os.path.abspath(path), "sha256": sha256_file(path)}


def _new_run(settings: dict, train_list, valid_list, valid_fraction: float, vocabulary,
             teacher_labels, cache: D.AudioCache, index: D.KeyIndex, seed: int,
             workers: int, deadline) -> _Run | None:
    """Read the lists, decode the audio, split and fix the labels; ``None`` if out of time."""
    mode = settings["mode"]
    skipped: dict = {}
    train_items = _keyed(_read_items(train_list, mode), index, skipped)
    valid_items = (_keyed(_read_items(valid_list, mode), index, skipped)
                   if valid_list is not None else [])
    index.save()
    if mode in ("tags", "genres"):
        vocab = D.read_vocabulary(vocabulary) if isinstance(vocabulary, (str, os.PathLike)) \
            else vocabulary
        vocab, train_items, dropped = D.make_vocabulary(train_items, vocab)
        if dropped["labels"] or dropped["clips"]:
            log.warning("%d labels outside the vocabulary ignored; %d training clips left "
                        "without a label dropped", dropped["labels"], dropped["clips"])
        _, valid_items, _ = D.make_vocabulary(valid_items, vocab)
        labels = vocab
    else:
        labels = list(teacher_labels)
    train_items, n_dup = D.dedupe(train_items)
    if n_dup:
        log.warning("%d training files repeat the content of an earlier one: ignored", n_dup)
    valid_keys = {k for _, k, _ in valid_items}
    if valid_keys & {k for _, k, _ in train_items}:
        log.warning("clips of the validation list are also in the training list: "
                    "they are used for validation only")
        train_items = [item for item in train_items if item[1] not in valid_keys]
    valid_items, _ = D.dedupe(valid_items)
    clips, failed, complete = cache.prepare([(p, k) for p, k, _ in train_items + valid_items],
                                            workers=workers, deadline=deadline, progress=True)
    skipped.update(failed)
    if not complete:
        return None

    def record(item):
        path, key, clip_labels = item
        return {"path": path, "key": key, "n_samples": clips[key].n_samples,
                "labels": list(clip_labels)}

    train = [record(item) for item in train_items if item[1] in clips]
    valid = [record(item) for item in valid_items if item[1] in clips]
    if not valid:
        if len(train) < 2:
            raise ValueError(f"{train_list}: {len(train)} usable clip(s); at least 2 are "
                             "needed to keep some for validation")
        n_valid = min(len(train) - 1, max(1, int(round(valid_fraction * len(train)))))
        chosen = set(np.random.default_rng(seed).permutation(len(train))[:n_valid].tolist())
        valid = [clip for i, clip in enumerate(train) if i in chosen]
        train = [clip for i, clip in enumerate(train) if i not in chosen]
    if not train:
        raise ValueError(f"{train_list}: no usable training clip")
    return _Run(settings=settings, labels=list(labels), train=train, valid=valid,
                skipped=skipped, created=_now(),
                lists={"train": _list_info(train_list), "valid": _list_info(valid_list)})


def _load_run(out_dir: Path, settings: dict) -> _Run | None:
    """The frozen run of ``out_dir``, checked against ``settings``."""
    try:
        raw = json.loads((out_dir / RUN_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    if raw.get("format") != RUN_FORMAT:
        raise ValueError(f"{out_dir / RUN_NAME}: not a {RUN_FORMAT} file")
    old = raw["settings"]
    differ = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
    if differ:
        detail = "; ".join(f"{k}: was {old.get(k)!r}, now {settings.get(k)!r}" for k in differ)
        raise ValueError(f"{out_dir} holds a run with other settings ({detail}); "
                         "use another output folder to start a new run")
    return _Run(settings=old, labels=raw["labels"], train=raw["train"], valid=raw["valid"],
                skipped=raw.get("skipped", {}), lists=raw.get("lists", {}),
                created=raw.get("created", ""))


def _cached_clips(records: list, cache: D.AudioCache, index: D.KeyIndex) -> list:
    """``CachedClip`` of each record, decoding again any entry the cache lost."""
    out = []
    for rec in records:
        clip = cache.lookup(rec["path"], rec["key"])
        if clip is None:
            if index.key(rec["path"]) != rec["key"]:
                raise ValueError(f"{rec['path']}: file changed since the run started "
                                 "(its sha256 differs from run.json)")
            clip = cache.get(rec["path"], rec["key"])
        out.append(clip)
    index.save()
    return out


# ---------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------

class _LabelTargets:
    """Tags or genres: the clip's multi-/one-hot row."""

    def __init__(self, y: np.ndarray):
        self.y = y
        self.dim = y.shape[1]

    def __call__(self, clip_index: np.ndarray, starts: np.ndarray) -> np.ndarray:
        return self.y[np.asarray(clip_index, np.int64)]


class _TeacherTargets:
    """Teacher outputs interpolated at each segment's centre (optionally standardised)."""

    def __init__(self, entries: list, mean=None, std=None, n_samples: int = SEGMENT_SAMPLES,
                 sr: int = SAMPLE_RATE):
        self.entries = entries          # [(centres, values)] per clip
        self.mean, self.std = mean, std
        self.n_samples, self.sr = n_samples, sr
        self.dim = entries[0][1].shape[1]

    def __call__(self, clip_index: np.ndarray, starts: np.ndarray) -> np.ndarray:
        from .teacher import interpolate, segment_centres

        clip_index = np.asarray(clip_index, np.int64)
        times = segment_centres(starts, self.n_samples, self.sr)
        out = np.empty((clip_index.size, self.dim), np.float32)
        for c in np.unique(clip_index):
            rows = clip_index == c
            centres, values = self.entries[c]
            out[rows] = interpolate(centres, values, times[rows])
        if self.mean is not None:
            out = (out - self.mean) / self.std
        return out


def _teacher_entries(records, tcache, distill: str, feature_set: str) -> list:
    from .teacher import feature_targets

    fields = ("taggram",) if distill == "posteriors" else ("max_pool", "mean_pool")
    entries = []
    for rec in records:
        entry = tcache.load(rec["key"], fields)
        if entry is None:
            raise ValueError(f"{rec['path']}: no teacher targets in {tcache.folder}")
        values = entry["taggram"] if distill == "posteriors" else feature_targets(entry,
                                                                                    feature_set)
        entries.append((entry["centres"], values))
    return entries


def _standardiser(entries) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of the targets over all training windows."""
    total = sum(len(v) for _, v in entries)
    dim = entries[0][1].shape[1]
    s1, s2 = np.zeros(dim), np.zeros(dim)
    for _, values in entries:
        v = values.astype(np.float64)
        s1 += v.sum(axis=0)
        s2 += (v * v).sum(axis=0)
    mean = s1 / total
    std = np.sqrt(np.maximum(s2 / total - mean * mean, 0.0))
    std[std < 1e-6] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


# ---------------------------------------------------------------------------
# Model, losses
# ---------------------------------------------------------------------------

def _make_train_step(strategy, model, optimizer, variables, loss_name: str, batch_size: int):
    """A traced distributed step: ``iterator -> mean loss of one global batch``."""
    import keras
    import tensorflow as tf

    loss_fn = getattr(keras.losses, loss_name)

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            p = model(x, training=True)
            per_example = loss_fn(y, p)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=batch_size)
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return loss

    @tf.function
    def train_step(iterator):
        x, y = next(iterator)
        per_replica = strategy.run(replica_step, args=(x, y))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    return train_step


# ---------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------

def _initial_state(lr: float) -> dict:
    return {"format": CHECKPOINT_FORMAT, "serial": 0, "stage": 0, "lr": lr, "epoch": 0,
            "epoch_in_stage": 0, "step": 0, "train_loss_sum": 0.0, "epoch_seconds": 0.0,
            "wait": 0, "best_val_loss": None, "best_epoch": None, "finished": False,
            "seconds": 0.0, "files": {}, "rows": [], "updated": _now()}


def _file_entry(path: Path) -> dict:
    return {"file": path.name, "sha256": sha256_file(path)}


def _write_checkpoint(out_dir: Path, state: dict, model, optimizer, new_best: bool) -> None:
    """Write weights and optimizer state under new names, then ``checkpoint.json``."""
    folder = out_dir / CHECKPOINT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    state["serial"] += 1
    serial = f"{state['serial']:06d}"
    weights = folder / f"weights-{serial}.weights.h5"
    atomic_save_weights(model, weights)
    store: dict = {}
    optimizer.save_own_variables(store)
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v) for k, v in store.items()})
    opt_file = folder / f"optimizer-{serial}.npz"
    atomic_write_bytes(opt_file, buffer.getvalue())
    state["files"]["weights"] = _file_entry(weights)
    state["files"]["optimizer"] = _file_entry(opt_file)
    if new_best:
        best = folder / f"best-{serial}.weights.h5"
        atomic_save_weights(model, best)
        state["files"]["best"] = _file_entry(best)
    state["updated"] = _now()
    atomic_write_text(out_dir / CHECKPOINT_NAME, json.dumps(state, indent=1) + "\n")
    keep = {entry["file"] for entry in state["files"].values()}
    for path in folder.iterdir():
        if path.name not in keep:
            try:
                path.unlink()
            except OSError:
                pass
    write_log(out_dir / LOG_NAME, state["rows"])


def _checked(out_dir: Path, entry: dict) -> Path:
    path = out_dir / CHECKPOINT_DIR / entry["file"]
    if not path.is_file() or sha256_file(path) != entry["sha256"]:
        raise ValueError(f"{path}: missing or differs from {CHECKPOINT_NAME} (corrupt checkpoint)")
    return path


def _read_checkpoint(out_dir: Path) -> dict | None:
    try:
        state = json.loads((out_dir / CHECKPOINT_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{out_dir / CHECKPOINT_NAME}: not a {CHECKPOINT_FORMAT} file")
    return state


def write_log(path: Path, rows: list, columns: Sequence[str] = LOG_COLUMNS) -> None:
    """``log.csv``: one row per epoch, empty cells for metrics that do not apply."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in columns})
    atomic_write_text(path, buffer.getvalue())


# ---------------------------------------------------------------------------
# Training session
# ---------------------------------------------------------------------------

class _Session:
    """Everything one call of :func:`pretrain` trains with."""

    def __init__(self, *, out_dir, run, train_clips, valid_clips, train_targets, valid_targets,
                 config, distill_dim, strategy, batch_size, lrs, patience, epochs_per_stage,
                 steps_per_epoch, seed, valid_segments, checkpoint_minutes, verbose, workers):
        import keras

        self.out_dir = out_dir
        self.run = run
        self.train_clips, self.valid_clips = train_clips, valid_clips
        self.train_targets = train_targets
        self.config = config
        self.strategy = strategy
        self.chief = _is_chief(strategy)
        self.batch_size, self.lrs = int(batch_size), [float(lr) for lr in lrs]
        self.patience, self.epochs_per_stage = int(patience), epochs_per_stage
        self.steps_per_epoch, self.seed = steps_per_epoch, int(seed)
        #: Set by SIGTERM/SIGINT (see :func:`_stop_on_signals`): checkpoint and stop.
        self.stop_requested = False
        self.checkpoint_seconds = (None if checkpoint_minutes is None
                                   else float(checkpoint_minutes) * 60.0)
        self.verbose, self.workers = verbose, workers
        self.mode, self.distill = run.settings["mode"], run.settings.get("distill")
        self.loss_name = student.loss_name(self.mode, self.distill)
        self.lengths = np.array([c.n_samples for c in train_clips], np.int64)
        n_samples = SEGMENT_SAMPLES
        self.n_samples = n_samples
        self.valid_plan = D.validation_plan([c.n_samples for c in valid_clips], valid_segments,
                                            n_samples)
        self.valid_y = valid_targets(*self.valid_plan)
        if batch_size % strategy.num_replicas_in_sync:
            raise ValueError(f"batch_size {batch_size} is not a multiple of the "
                             f"{strategy.num_replicas_in_sync} replicas")
        state = _read_checkpoint(out_dir)
        self.state = state or _initial_state(self.lrs[0])
        with strategy.scope():
            self.backbone, self.model, self.variables = student.build_student(
                config, distill_dim, seed)
            self.optimizer = keras.optimizers.SGD(learning_rate=self.state["lr"],
                                                  momentum=MOMENTUM, nesterov=True)
            self.optimizer.build(self.variables)
        if state is not None:
            self._restore()
        self.train_step = _make_train_step(strategy, self.model, self.optimizer, self.variables,
                                           self.loss_name, self.batch_size)
        self._predict = None
        # Best weights of this call, in memory: every worker of a cluster can
        # restore them at a stage change (only the chief writes files).
        self._best = None

    # -- state ---------------------------------------------------------------

    def _restore(self) -> None:
        files = self.state["files"]
        self.model.load_weights(_checked(self.out_dir, files["weights"]))
        with np.load(_checked(self.out_dir, files["optimizer"]), allow_pickle=False) as saved:
            self.optimizer.load_own_variables({k: saved[k] for k in saved.files})
        self.optimizer.learning_rate.assign(self.state["lr"])
        s = self.state
        log.info("resuming %s: epoch %d (stage %d, lr %g, step %d of the epoch), best val "
                 "loss %s", self.out_dir, s["epoch"] + 1, s["stage"], s["lr"], s["step"],
                 s["best_val_loss"])

    def checkpoint(self, new_best: bool = False) -> None:
        if self.chief:
            _write_checkpoint(self.out_dir, self.state, self.model, self.optimizer, new_best)

    def _new_stage(self) -> None:
        """Restart from the best weights with the next learning rate (fresh momenta)."""
        s = self.state
        s["stage"] += 1
        s["wait"], s["epoch_in_stage"] = 0, 0
        if self._best is not None:
            self.model.set_weights(self._best)
        elif "best" in s["files"]:
            self.model.load_weights(_checked(self.out_dir, s["files"]["best"]))
        if s["stage"] >= len(self.lrs):
            s["finished"] = True
            return
        s["lr"] = self.lrs[s["stage"]]
        for variable in self.optimizer.variables:
            if variable.path.split("/")[-1] not in ("iteration", "learning_rate"):
                variable.assign(np.zeros(variable.shape, variable.dtype))
        self.optimizer.learning_rate.assign(s["lr"])
        log.info("stage %d: lr %g, from the weights of epoch %s", s["stage"], s["lr"],
                 s["best_epoch"])

    # -- data ----------------------------------------------------------------

    def _load_batch(self, clip_index, starts):
        x = D.read_crops(self.train_clips, clip_index, starts, self.n_samples)
        return x, self.train_targets(clip_index, starts).astype(np.float32)

    def epoch_plan(self, epoch: int):
        n = None if self.steps_per_epoch is None else int(self.steps_per_epoch) * self.batch_size
        return D.epoch_plan(self.lengths, self.seed, epoch, n, self.n_samples, self.batch_size)

    def _dataset(self, plan, skip: int):
        dim = self.train_targets.dim

        def dataset_fn(context):
            shard = D.shard_plan(plan, skip, context.num_input_pipelines,
                                 context.input_pipeline_id)
            return D.make_dataset(shard, self._load_batch,
                                  context.get_per_replica_batch_size(self.batch_size),
                                  self.n_samples, dim, parallel=self.workers)

        return self.strategy.distribute_datasets_from_function(dataset_fn)

    # -- evaluation ----------------------------------------------------------

    def predict_valid(self) -> np.ndarray:
        """Outputs of the training model on the validation segments: ``(n, dim)``."""
        import tensorflow as tf

        if self._predict is None:
            model = self.model
            self._predict = tf.function(
                lambda x: model(x, training=False),
                input_signature=[tf.TensorSpec((self.batch_size, self.n_samples, 1), tf.float32)])
        clip_index, starts = self.valid_plan
        outputs = []
        for first in range(0, clip_index.size, self.batch_size):
            rows = slice(first, first + self.batch_size)
            c, s = clip_index[rows], starts[rows]
            x = np.zeros((self.batch_size, self.n_samples, 1), np.float32)
            x[: c.size, :, 0] = D.read_crops(self.valid_clips, c, s, self.n_samples)
            outputs.append(np.asarray(self._predict(x))[: c.size])
        return np.concatenate(outputs)

    def evaluate(self) -> dict:
        """Validation loss (per segment) and the mode's metrics."""
        from .teacher import r2, tag_agreement

        p = self.predict_valid()
        y = self.valid_y
        out = {"val_loss": float(student.numpy_loss(self.loss_name, y, p).mean())}
        clip_index = self.valid_plan[0]
        if self.mode in ("tags", "genres"):
            n_clips = len(self.valid_clips)
            counts = np.bincount(clip_index, minlength=n_clips)[:, None]
            clip_p = np.zeros((n_clips, p.shape[1]))
            np.add.at(clip_p, clip_index, p)
            clip_p /= counts
            clip_y = np.zeros_like(clip_p)
            clip_y[clip_index] = y
            if self.mode == "tags":
                out["val_auc"], out["val_auc_tags"] = tag_agreement(clip_p, clip_y, 0.5)
            else:
                out["val_accuracy"] = float((clip_p.argmax(1) == clip_y.argmax(1)).mean())
        elif self.distill == "posteriors":
            out["val_auc"], out["val_auc_tags"] = tag_agreement(p, y, 0.5)
            out["val_auc_top5"], _ = tag_agreement(p, y, top_k=5)
        else:
            out["val_r2"] = r2(y, p)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in out.items()}

    # -- the loop ------------------------------------------------------------

    def train(self, deadline: float | None, max_epochs: int | None) -> str:
        """Train until finished or stopped; returns ``'finished'`` or ``'paused'``."""
        import keras

        s = self.state
        while not s["finished"]:
            if max_epochs is not None and s["epoch"] >= max_epochs:
                return "paused"
            plan = self.epoch_plan(s["epoch"])
            n_steps = plan[0].size // self.batch_size
            iterator = iter(self._dataset(plan, s["step"] * self.batch_size))
            bar = (keras.utils.Progbar(n_steps, verbose=1, stateful_metrics=["loss"])
                   if self.verbose == 1 and self.chief else None)
            if bar is not None:
                print(f"Epoch {s['epoch'] + 1} (stage {s['stage']}, lr {s['lr']:g})")
            started = time.monotonic()
            last_save = started
            train_seconds, steps_here = 0.0, 0
            while s["step"] < n_steps:
                t0 = time.monotonic()
                loss = float(self.train_step(iterator))
                train_seconds += time.monotonic() - t0
                steps_here += 1
                if not math.isfinite(loss):
                    log.warning("epoch %d step %d: training loss is %s", s["epoch"] + 1,
                                s["step"] + 1, loss)
                s["step"] += 1
                s["train_loss_sum"] += loss
                if bar is not None:
                    bar.update(s["step"], values=[("loss", s["train_loss_sum"] / s["step"])])
                now = time.monotonic()
                out_of_time = (deadline is not None and now >= deadline) or self.stop_requested
                due = (self.checkpoint_seconds is not None
                       and now - last_save >= self.checkpoint_seconds)
                if s["step"] < n_steps and (out_of_time or due):
                    s["epoch_seconds"] += now - started
                    s["seconds"] += now - started
                    started = last_save = now
                    self.checkpoint()
                    if out_of_time:
                        log.info("time is up: stopped at step %d/%d of epoch %d (checkpoint "
                                 "written)", s["step"], n_steps, s["epoch"] + 1)
                        return "paused"
            self._end_epoch(n_steps, time.monotonic() - started, steps_here, train_seconds)
            if self.stop_requested and not s["finished"]:
                log.info("stopped by a signal after epoch %d (checkpoint written)", s["epoch"])
                return "paused"
            if deadline is not None and time.monotonic() >= deadline and not s["finished"]:
                log.info("time is up after epoch %d (checkpoint written)", s["epoch"])
                return "paused"
        return "finished"

    def _end_epoch(self, n_steps: int, seconds: float, steps_here: int,
                   train_seconds: float) -> None:
        """Validate, update best/patience, log, maybe change stage, checkpoint."""
        s = self.state
        t0 = time.monotonic()
        metrics = self.evaluate()
        seconds += time.monotonic() - t0
        s["epoch_seconds"] += seconds
        s["seconds"] += seconds
        val_loss = metrics["val_loss"]
        improved = val_loss is not None and (s["best_val_loss"] is None
                                             or val_loss < s["best_val_loss"])
        if improved:
            s["best_val_loss"], s["best_epoch"], s["wait"] = val_loss, s["epoch"] + 1, 0
            self._best = [np.array(w) for w in self.model.get_weights()]
        else:
            s["wait"] += 1
        row = {"epoch": s["epoch"] + 1, "stage": s["stage"],
               "epoch_in_stage": s["epoch_in_stage"] + 1, "lr": s["lr"], "steps": n_steps,
               "train_loss": round(s["train_loss_sum"] / max(1, n_steps), 6),
               **{k: (round(v, 6) if isinstance(v, float) else v) for k, v in metrics.items()},
               "improved": int(improved), "wait": s["wait"],
               "seconds": round(s["epoch_seconds"], 2),
               "segments_per_s": (round(steps_here * self.batch_size / train_seconds, 2)
                                  if train_seconds > 0 else None)}
        s["rows"].append(row)
        s["epoch"] += 1
        s["epoch_in_stage"] += 1
        s["step"], s["train_loss_sum"], s["epoch_seconds"] = 0, 0.0, 0.0
        message = ", ".join(f"{k} {row[k]}" for k in ("train_loss", "val_loss", "val_auc",
                                                      "val_auc_top5", "val_accuracy", "val_r2")
                            if row.get(k) is not None)
        log.info("epoch %d (stage %d, lr %g): %s; %.0f s%s", row["epoch"], row["stage"],
                 row["lr"], message, row["seconds"], " [best]" if improved else "")
        if self.verbose == 2 and self.chief:
            print(f"epoch {row['epoch']} stage {row['stage']} lr {row['lr']:g}: {message}"
                  f"{' [best]' if improved else ''}", flush=True)
        stage_over = s["wait"] >= self.patience or (
            self.epochs_per_stage is not None and s["epoch_in_stage"] >= self.epochs_per_stage)
        if improved:
            self.checkpoint(new_best=True)     # these weights are the best so far
        if stage_over:
            self._new_stage()
        if stage_over or not improved:
            self.checkpoint()

    # -- the result ------------------------------------------------------------

    def best_row(self) -> dict | None:
        rows = [r for r in self.state["rows"] if r["epoch"] == self.state["best_epoch"]]
        return rows[0] if rows else None


# ---------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------

@contextlib.contextmanager
def _stop_on_signals(session, signals=(signal.SIGTERM, signal.SIGINT)):
    """While training, SIGTERM or SIGINT ask for a checkpoint and a clean stop.

    The step in progress finishes, a checkpoint is written and the run
    returns ``'paused'`` (a second signal of the same kind acts as usual).
    Only the main thread can install handlers; elsewhere nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def handler(signum, frame):
        log.warning("%s received: writing a checkpoint and stopping",
                    signal.Signals(signum).name)
        session.stop_requested = True
        signal.signal(signum, previous[signum])

    for sig in signals:
        # None: the earlier handler was not installed from Python
        previous[sig] = signal.signal(sig, handler) or signal.SIG_DFL
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _settings(mode, distill, teacher, config, batch_size, seed, lrs, steps_per_epoch,
              valid_segments, max_duration, teacher_hop_frames, teacher_features, valid_list,
              valid_fraction) -> dict:
    return {"mode": mode, "distill": distill if mode == "teacher" else None,
            "teacher": None if teacher is None else teacher.weights_sha256,
            "teacher_hop_frames": teacher_hop_frames,
            "teacher_features": teacher_features if distill == "features" else None,
            "config": config, "batch_size": int(batch_size), "seed": int(seed),
            "lrs": [float(lr) for lr in lrs], "steps_per_epoch": steps_per_epoch,
            "valid_segments": valid_segments, "max_duration": max_duration,
            "sample_rate": SAMPLE_RATE, "segment_samples": SEGMENT_SAMPLES,
            "valid_list": None if valid_list is None else os.path.abspath(valid_list),
            "valid_fraction": None if valid_list is not None else float(valid_fraction)}


def _default_command(train_list, out_dir, **options) -> str:
    """The ``python -m mirex.pretrain.train`` line equivalent to a :func:`pretrain` call."""
    args = ["python", "-m", "mirex.pretrain.train", "--train-list", os.fspath(train_list),
            "--out", os.fspath(out_dir)]
    for key, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        elif isinstance(value, (list, tuple)):
            args += [flag, ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)]
        elif isinstance(value, dict):
            args += [flag, json.dumps(value, sort_keys=True)]
        else:
            args += [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return shlex.join(args)


def pretrain(
    train_list: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    valid_list: str | os.PathLike | None = None,
    valid_fraction: float = 0.1,
    mode: str = "tags",
    labels: str | os.PathLike | Sequence[str] | None = None,
    teacher: str | os.PathLike | None = None,
    distill: str = "posteriors",
    teacher_features: str = "pool",
    teacher_hop: float = 1.0,
    config: dict | str = PAPER_CONFIG,
    name: str | None = None,
    epochs_per_stage: int | None = None,
    steps_per_epoch: int | None = None,
    batch_size: int = 23,
    lrs: Sequence[float] = LRS,
    patience: int = 3,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    strategy="default",
    max_minutes: float | None = None,
    max_epochs: int | None = None,
    checkpoint_minutes: float | None = 10.0,
    valid_segments: int | None = MAX_SEGMENTS,
    max_duration: float | None = MAX_DURATION,
    workers: int = 2,
    prepare_only: bool = False,
    verbose: int = 1,
    command: str | None = None,
) -> dict:
    """Pre-train a SampleCNN backbone, or continue a run stopped earlier.

    Parameters
    ----------
    train_list : str or path-like
        Training clips. ``mode='tags'``: ``path<TAB>tag1,tag2,...`` lines;
        ``'genres'``: ``path<TAB>genre``; ``'teacher'``: one path per line.
        Any audio :func:`mirex.audio.load` decodes; unreadable files are
        skipped with a warning (and listed in ``run.json``).
    out_dir : str or path-like
        Run folder (created): checkpoints, ``log.csv``, ``run.json`` and, at
        the end, the backbone folder ``out_dir/backbone``. An existing run
        there is resumed.
    valid_list : str or path-like or None
        Validation clips, in the training list's format. ``None`` holds out
        ``valid_fraction`` of the training clips (seeded by ``seed``).
    valid_fraction : float in (0, 1)
        Share of the training clips held out when there is no ``valid_list``
        (at least one clip).
    mode : {'tags', 'genres', 'teacher'}
        Multi-label tags (sigmoid + binary cross-entropy), single-label
        genres (softmax + categorical cross-entropy), or distillation from
        ``teacher`` on unlabelled audio.
    labels : str, path-like, sequence of str or None
        Tags/genres mode: the output labels in order, or a file with one per
        line; labels of the list outside it are ignored and clips left
        without one dropped. ``None``: every label in the training list,
        sorted. Ignored in teacher mode (the teacher's tags are used).
    teacher : str or path-like or None
        Teacher mode: a musicnn backbone folder (``models/musicnn-msd`` or
        ``models/musicnn-mtt``).
    distill : {'posteriors', 'features'}
        Teacher mode: regress the teacher's 50 tag posteriors (sigmoid + BCE
        on soft targets) or its pooled features (linear head on the
        student's multi-level embedding, MSE on standardised targets).
    teacher_features : {'pool', 'max_pool'}
        ``distill='features'``: ``[max_pool, mean_pool]`` (1506-d) or
        ``max_pool`` (753-d) of the teacher window.
    teacher_hop : float
        Seconds between teacher windows (rounded to 16-ms frames: 1.0 ->
        62 frames = 0.992 s).
    config : dict or str
        SampleCNN architecture (:mod:`mirex.backbones.samplecnn`), or
        ``'paper'``, ``'released'``, a JSON file or inline JSON.
        ``n_outputs`` and ``output_activation`` are set from the mode (the
        number of labels; sigmoid, or softmax for genres); in features mode
        they are kept, and that head stays untrained.
    name : str or None
        Backbone name in its manifest; default: the name of ``out_dir``.
    epochs_per_stage : int or None
        Most epochs at one learning rate before moving on even if the
        validation loss still improves; ``None``: no limit (patience only).
    steps_per_epoch : int or None
        Batches per epoch; ``None``: one pass, i.e. about as many crops as
        the training clips hold whole segments (rounded to whole batches).
    batch_size : int
        Global batch, in segments (the paper: 23).
    lrs : sequence of float
        Learning rate of each stage.
    patience : int
        Epochs without a lower validation loss before the next stage.
    seed : int
        Seeds the initial weights, the validation split and every epoch's
        crops (``numpy.random.default_rng([seed, epoch])``).
    cache_dir : str or path-like or None
        Decoded audio (float16 ``.npy`` at 22050 Hz) and teacher targets,
        keyed by content sha256; share it between runs on the same audio.
        ``None``: ``out_dir/cache``.
    strategy : {'default', 'mirrored', 'multiworker'} or tf.distribute.Strategy
        Distribution (see the module docstring for ``TF_CONFIG``).
    max_minutes : float or None
        Wall-clock budget of this call, preparation included: the call stops
        after the first training step (or prepared file) past it, writing a
        checkpoint first; call again to continue.
    max_epochs : int or None
        Stop (with a checkpoint) once this many epochs are done in all.
    checkpoint_minutes : float or None
        Also checkpoint within an epoch this often (long epochs); ``None``:
        at epoch ends only.
    valid_segments : int or None
        Fixed segments per validation clip (evenly spaced, as the harness
        takes them); ``None``: every whole segment.
    max_duration : float or None
        Seconds of each file decoded (student and teacher alike).
    workers : int
        Decoding threads, and batches read concurrently by the input pipeline.
    prepare_only : bool
        Only decode the audio and compute the teacher targets into the
        cache, then return (no training, no ``run.json``).
    verbose : {0, 1, 2}
        0: silent (logging only), 1: a progress bar per epoch, 2: a line
        per epoch.
    command : str or None
        Command line recorded in the backbone's provenance; ``None``: the
        equivalent ``python -m mirex.pretrain.train`` line.

    Returns
    -------
    result : dict
        ``status`` ('prepared', 'preparing' (time ran out while caching),
        'paused' or 'finished'), ``out_dir``, ``backbone`` (folder or
        ``None``), ``epoch``, ``stage``, ``lr``, ``best_epoch``,
        ``best_val_loss``, ``best`` (that epoch's log row), ``decoded``
        (files decoded by this call), ``teacher_computed`` (files the
        teacher ran on), ``train_clips``, ``valid_clips``, ``train_hours``.

    Raises
    ------
    ValueError
        On bad arguments, an ``out_dir`` holding a run with other settings,
        or a corrupt checkpoint.
    mirex.lists.ListError
        On a malformed list.
    """
    started = time.monotonic()
    deadline = None if max_minutes is None else started + float(max_minutes) * 60.0
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "teacher":
        if teacher is None:
            raise ValueError("mode='teacher' needs a teacher (e.g. models/musicnn-msd)")
        if distill not in DISTILL:
            raise ValueError(f"distill must be one of {DISTILL}, got {distill!r}")
    from .teacher import FEATURE_SETS

    if teacher_features not in FEATURE_SETS:
        raise ValueError(f"teacher_features must be one of {sorted(FEATURE_SETS)}")
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError("valid_fraction must be in (0, 1)")
    if batch_size < 1 or patience < 1 or not lrs:
        raise ValueError("batch_size and patience must be >= 1, and lrs non-empty")
    if command is None:
        command = _default_command(
            train_list, out_dir, mode=mode, valid_list=valid_list,
            valid_fraction=valid_fraction if valid_fraction != 0.1 else None,
            labels=labels if isinstance(labels, (str, os.PathLike)) else None,
            teacher=teacher, distill=distill if mode == "teacher" else None,
            teacher_features=teacher_features if distill == "features" else None,
            config=None if config is PAPER_CONFIG else config, name=name,
            epochs_per_stage=epochs_per_stage, steps_per_epoch=steps_per_epoch,
            batch_size=batch_size if batch_size != 23 else None,
            lrs=None if tuple(lrs) == LRS else list(lrs),
            patience=patience if patience != 3 else None, seed=seed or None,
            cache_dir=cache_dir, strategy=strategy if strategy != "default" else None)

    out_dir = Path(out_dir)
    cache_dir = Path(cache_dir) if cache_dir is not None else out_dir / "cache"
    # MultiWorkerMirroredStrategy must exist before any other TensorFlow work.
    strategy_obj = None if prepare_only else _make_strategy(strategy)
    chief = True if strategy_obj is None else _is_chief(strategy_obj)
    if chief:
        out_dir.mkdir(parents=True, exist_ok=True)

    base = validate_config(_resolve_config(config))
    cache = D.AudioCache(cache_dir, SAMPLE_RATE, max_duration)
    index = D.KeyIndex(cache_dir / "index.json")
    teacher_obj = tcache = None
    hop = None
    if mode == "teacher":
        from .teacher import Teacher, TeacherCache

        teacher_obj = Teacher(teacher)
        tcache = TeacherCache(cache_dir, teacher_obj, teacher_hop, max_duration)
        hop = tcache.hop
    result = {"out_dir": str(out_dir), "backbone": None, "status": None}

    def counts(status):
        result.update(status=status, decoded=cache.n_decoded,
                      teacher_computed=0 if tcache is None else tcache.n_computed)
        return result

    # Labels are known only after reading the lists (tags/genres); the config
    # in the settings is the user's, the final one follows from the labels.
    settings = _settings(mode, distill, teacher_obj, base, batch_size, seed, lrs,
                         steps_per_epoch, valid_segments, max_duration, hop, teacher_features,
                         valid_list, valid_fraction)
    run = None if prepare_only else _load_run(out_dir, settings)
    fresh = run is None
    if fresh:
        run = _new_run(settings, train_list, valid_list, valid_fraction, labels,
                       teacher_obj.labels if teacher_obj else None, cache, index, seed,
                       workers, deadline)
        if run is None:
            return counts("preparing")
    else:
        known = {rec["path"] for rec in run.train + run.valid} | set(run.skipped)
        try:
            listed = {os.path.abspath(p) for p, _ in _read_items(train_list, mode)}
        except ListError:
            listed = set()
        if listed - known:
            log.warning("%s: %d files are not in this run (its clips were fixed when it "
                        "started); start a run in another folder to use them",
                        train_list, len(listed - known))
    records = run.train + run.valid
    if tcache is not None:
        failed, complete = tcache.prepare([(r["path"], r["key"]) for r in records],
                                          deadline=deadline, progress=True)
        if not complete:
            return counts("preparing")
        if failed:
            raise ValueError(f"teacher could not decode {sorted(failed)}")
    if prepare_only:
        return counts("prepared")
    if fresh and chief:   # the clips are frozen once training starts
        atomic_write_text(out_dir / RUN_NAME, json.dumps(run.to_json(), indent=1) + "\n")

    train_clips = _cached_clips(run.train, cache, index)
    valid_clips = _cached_clips(run.valid, cache, index)
    labels_out = run.labels
    distill_dim = None
    if mode == "tags":
        config_final = validate_config({**base, "n_outputs": len(labels_out),
                                        "output_activation": "sigmoid"})
    elif mode == "genres":
        config_final = validate_config({**base, "n_outputs": len(labels_out),
                                        "output_activation": "softmax"})
    elif distill == "posteriors":
        config_final = validate_config({**base, "n_outputs": len(labels_out),
                                        "output_activation": "sigmoid"})
    else:
        config_final = base
        labels_out = [f"output{i}" for i in range(base["n_outputs"])]
    if mode in ("tags", "genres"):
        train_targets = _LabelTargets(D.encode_labels([r["labels"] for r in run.train],
                                                      labels_out))
        valid_targets = _LabelTargets(D.encode_labels([r["labels"] for r in run.valid],
                                                      labels_out))
    else:
        train_entries = _teacher_entries(run.train, tcache, distill, teacher_features)
        valid_entries = _teacher_entries(run.valid, tcache, distill, teacher_features)
        mean = std = None
        if distill == "features":
            mean, std = _standardiser(train_entries)
            distill_dim = train_entries[0][1].shape[1]
        train_targets = _TeacherTargets(train_entries, mean, std)
        valid_targets = _TeacherTargets(valid_entries, mean, std)

    session = _Session(out_dir=out_dir, run=run, train_clips=train_clips,
                       valid_clips=valid_clips, train_targets=train_targets,
                       valid_targets=valid_targets, config=config_final,
                       distill_dim=distill_dim, strategy=strategy_obj, batch_size=batch_size,
                       lrs=lrs, patience=patience, epochs_per_stage=epochs_per_stage,
                       steps_per_epoch=steps_per_epoch, seed=seed,
                       valid_segments=valid_segments, checkpoint_minutes=checkpoint_minutes,
                       verbose=verbose, workers=workers)
    with _stop_on_signals(session):
        status = ("finished" if session.state["finished"]
                  else session.train(deadline, max_epochs))
    s = session.state
    train_hours = sum(c.n_samples for c in train_clips) / SAMPLE_RATE / 3600.0
    result.update(epoch=s["epoch"], stage=min(s["stage"], len(lrs) - 1), lr=s["lr"],
                  best_epoch=s["best_epoch"], best_val_loss=s["best_val_loss"],
                  best=session.best_row(), train_clips=len(train_clips),
                  valid_clips=len(valid_clips), train_hours=round(train_hours, 4))
    if "best" in s["files"] and chief:
        session.model.load_weights(_checked(out_dir, s["files"]["best"]))
        provenance = _provenance(run, session, teacher_obj, status == "finished", command,
                                 train_clips, valid_clips, epochs_per_stage, patience)
        from ..backbones import save_backbone

        backbone_name = name or out_dir.resolve().name
        save_backbone(out_dir / BACKBONE_DIR, session.backbone, backbone_name, config_final,
                      labels_out, provenance, trained=True)
        result["backbone"] = str(out_dir / BACKBONE_DIR)
    return counts(status)


def _provenance(run, session, teacher, complete, command, train_clips, valid_clips,
                epochs_per_stage, patience) -> dict:
    """What the backbone's manifest records of how it was made."""
    import keras
    import tensorflow as tf

    s = session.state
    hours = sum(c.n_samples for c in train_clips) / SAMPLE_RATE / 3600.0
    valid_hours = sum(c.n_samples for c in valid_clips) / SAMPLE_RATE / 3600.0
    corpus = {"train_list": run.lists.get("train"), "valid_list": run.lists.get("valid"),
              "clips": len(train_clips), "hours": round(hours, 4),
              "valid_clips": len(valid_clips), "valid_hours": round(valid_hours, 4),
              "skipped_files": len(run.skipped)}
    train_list = (run.lists.get("train") or {}).get("path")
    if train_list and (Path(train_list).parent / "manifest.json").is_file():
        corpus["manifest"] = str(Path(train_list).parent / "manifest.json")
    mode, distill = run.settings["mode"], run.settings.get("distill")
    what = {"tags": "multi-label tags (sigmoid, binary cross-entropy)",
            "genres": "single-label genres (softmax, categorical cross-entropy)"}.get(mode)
    if mode == "teacher":
        what = (f"distilled from {teacher.name}: "
                + ("tag posteriors of the matching 3-s window (sigmoid, binary cross-entropy "
                   "on soft targets)" if distill == "posteriors" else
                   f"{run.settings['teacher_features']} features of the matching 3-s window "
                   "(linear head on the multi-level embedding, MSE on standardised targets; "
                   "the output layer is untrained)"))
    return {
        "description": f"SampleCNN pre-trained by mirex.pretrain.train: {what}",
        "mode": mode,
        "distill": distill,
        "teacher": None if teacher is None else {**teacher.info(),
                                                 "hop_frames": run.settings["teacher_hop_frames"]},
        "corpus": corpus,
        "hours": round(hours, 4),
        "epochs": s["epoch"],
        "stages_done": min(s["stage"], len(session.lrs)),
        "complete": bool(complete),
        "best_epoch": s["best_epoch"],
        "val": session.best_row(),
        "recipe": {"optimizer": "SGD", "momentum": MOMENTUM, "nesterov": True,
                   "batch_size": session.batch_size, "lrs": session.lrs, "patience": patience,
                   "epochs_per_stage": epochs_per_stage,
                   "steps_per_epoch": run.settings["steps_per_epoch"],
                   "segment_samples": SEGMENT_SAMPLES, "sample_rate": SAMPLE_RATE,
                   "crops": "uniform random per epoch, numpy default_rng([seed, epoch])",
                   "valid_segments": run.settings["valid_segments"],
                   "seed": run.settings["seed"], "loss": session.loss_name},
        "training_seconds": round(s["seconds"], 1),
        "software": {"tensorflow": tf.__version__, "keras": keras.__version__},
        "run": str(session.out_dir.resolve()),
        "command": command,
        "written": _now(),
    }


def benchmark(config: dict | str = PAPER_CONFIG, batch_size: int = 23, steps: int = 5,
              warmup: int = 2, strategy="default", seed: int = 0) -> dict:
    """Training throughput of a SampleCNN on random data (no input pipeline cost).

    Parameters
    ----------
    config : dict or str
        Architecture (as :func:`pretrain`).
    batch_size : int
        Global batch in segments.
    steps, warmup : int
        Timed steps, and untimed ones before them (tracing, allocation).
    strategy : str or tf.distribute.Strategy
        As :func:`pretrain`.

    Returns
    -------
    dict
        ``segments_per_s``, ``seconds_per_step``, ``parameters``, ``batch_size``,
        ``steps``, ``device`` ('GPU' or 'CPU').
    """
    import keras
    import tensorflow as tf

    strategy = _make_strategy(strategy)
    config = validate_config(_resolve_config(config))
    with strategy.scope():
        model, _, variables = student.build_student(config, None, seed)
        optimizer = keras.optimizers.SGD(0.01, momentum=MOMENTUM, nesterov=True)
        optimizer.build(variables)
    rng = np.random.default_rng(seed)
    x = (0.1 * rng.standard_normal((batch_size, SEGMENT_SAMPLES, 1))).astype(np.float32)
    y = (rng.random((batch_size, config["n_outputs"])) < 0.1).astype(np.float32)
    if config["output_activation"] == "softmax":
        y = np.eye(config["n_outputs"], dtype=np.float32)[rng.integers(0, config["n_outputs"],
                                                                      batch_size)]
    loss = "categorical_crossentropy" if config["output_activation"] == "softmax" \
        else "binary_crossentropy"
    step = _make_train_step(strategy, model, optimizer, variables, loss, batch_size)
    ds = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors((x, y)).repeat())
    iterator = iter(ds)
    for _ in range(warmup):
        float(step(iterator))
    t0 = time.perf_counter()
    for _ in range(steps):
        float(step(iterator))
    seconds = (time.perf_counter() - t0) / steps
    return {"segments_per_s": round(batch_size / seconds, 2),
            "seconds_per_step": round(seconds, 3), "parameters": int(model.count_params()),
            "batch_size": batch_size, "steps": steps,
            "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU"}


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def _floats(text: str) -> list[float]:
    return [float(v) for v in text.replace(" ", "").split(",") if v]


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m mirex.pretrain.train`` argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m mirex.pretrain.train",
        description="Pre-train (tags, genres) or distil (musicnn teacher) a SampleCNN "
                    "backbone; run again with the same --out to resume.")
    p.add_argument("--train-list", required=False,
                   help="tags: 'path<TAB>tag1,tag2'; genres: 'path<TAB>genre'; teacher: paths")
    p.add_argument("--out", help="run folder; the backbone is written to OUT/backbone")
    p.add_argument("--mode", choices=MODES, default="tags")
    p.add_argument("--valid-list", help="validation clips (default: hold out --valid-fraction)")
    p.add_argument("--valid-fraction", type=float, default=0.1)
    p.add_argument("--labels", help="label vocabulary file, one per line, in output order")
    p.add_argument("--teacher", help="musicnn backbone folder, e.g. models/musicnn-msd")
    p.add_argument("--distill", choices=DISTILL, default="posteriors")
    p.add_argument("--teacher-features", choices=("pool", "max_pool"), default="pool")
    p.add_argument("--teacher-hop", type=float, default=1.0, help="seconds between windows")
    p.add_argument("--config", default="paper",
                   help="'paper', 'released', a JSON file or inline JSON (default: paper)")
    p.add_argument("--name", help="backbone name (default: the --out folder's name)")
    p.add_argument("--epochs-per-stage", type=int)
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--batch-size", type=int, default=23)
    p.add_argument("--lrs", type=_floats, default=list(LRS),
                   help="comma-separated learning rates of the stages")
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", help="decoded audio and teacher targets (default: OUT/cache)")
    p.add_argument("--strategy", choices=STRATEGIES, default="default")
    p.add_argument("--max-minutes", type=float, help="stop after a checkpoint past this time")
    p.add_argument("--max-epochs", type=int, help="stop once this many epochs are done in all")
    p.add_argument("--checkpoint-minutes", type=float, default=10.0)
    p.add_argument("--valid-segments", type=int, default=MAX_SEGMENTS)
    p.add_argument("--max-duration", type=float, default=MAX_DURATION)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--num-threads", type=int, help="CPU threads for TensorFlow (default: all)")
    p.add_argument("--prepare-only", action="store_true",
                   help="only fill the audio and teacher caches")
    p.add_argument("--benchmark", type=int, metavar="STEPS",
                   help="time STEPS training steps of --config on random data and exit")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry: ``python -m mirex.pretrain.train --help``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s",
                        stream=sys.stderr)
    if args.num_threads:
        from ..embedding import apply_thread_settings, configure_threads

        configure_threads(args.num_threads)
        apply_thread_settings()
    if args.benchmark:
        print(json.dumps(benchmark(args.config, args.batch_size, args.benchmark,
                                   strategy=args.strategy)))
        return 0
    if not args.train_list or not args.out:
        parser.error("--train-list and --out are required")
    raw = list(sys.argv[1:] if argv is None else argv)
    command = shlex.join(["python", "-m", "mirex.pretrain.train", *raw])
    result = pretrain(
        args.train_list, args.out, valid_list=args.valid_list,
        valid_fraction=args.valid_fraction, mode=args.mode, labels=args.labels,
        teacher=args.teacher, distill=args.distill, teacher_features=args.teacher_features,
        teacher_hop=args.teacher_hop, config=args.config, name=args.name,
        epochs_per_stage=args.epochs_per_stage, steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch_size, lrs=args.lrs, patience=args.patience, seed=args.seed,
        cache_dir=args.cache_dir, strategy=args.strategy, max_minutes=args.max_minutes,
        max_epochs=args.max_epochs, checkpoint_minutes=args.checkpoint_minutes,
        valid_segments=args.valid_segments, max_duration=args.max_duration,
        workers=args.workers, prepare_only=args.prepare_only, verbose=args.verbose,
        command=command)
    print(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
