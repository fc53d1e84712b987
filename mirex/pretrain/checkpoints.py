"""THE checkpoint format of a pre-training run: exact resume after a kill at any moment.

``OUT/checkpoint.json`` (format :data:`CHECKPOINT_FORMAT`) holds the state
of the run: the schedule's stage, learning rate, patience counter and
training seconds; the epochs done; the step reached in the current epoch
(with its partial training loss); the best validation loss and its epoch;
every ``log.csv`` row; and the names and sha256 of the files it refers to,
in ``OUT/checkpoints/``::

    weights-NNNNNN.weights.h5   model weights (the training model: heads included)
    optimizer-NNNNNN.npz        optimizer state (iteration, learning rate, momenta)
    best-NNNNNN.weights.h5      the best weights so far

Weight files get new names each time and ``checkpoint.json`` is replaced
last, atomically (:mod:`mirex.fileio`), so a run killed at any moment leaves
the previous checkpoint whole; files no longer named are removed after.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ..fileio import (atomic_save_weights, atomic_write_bytes, atomic_write_text,
                      checked_file, read_manifest, sha256_file)

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_NAME", "CHECKPOINT_DIR", "LOG_NAME", "LOG_COLUMNS",
           "CheckpointError", "initial_state", "read_checkpoint", "write_checkpoint",
           "restore", "load_best", "reset_momenta", "write_log", "now"]

CHECKPOINT_FORMAT = "mirex-pretrain-checkpoint/2"
CHECKPOINT_NAME = "checkpoint.json"
CHECKPOINT_DIR = "checkpoints"
LOG_NAME = "log.csv"

#: Columns of ``log.csv``; a metric that does not apply to the mode is empty.
#: ``val_auc``: tags: clip-level macro ROC-AUC over tags with both classes;
#: teacher posteriors: segment-level agreement with the teacher binarised at
#: 0.5 (``val_auc_top5``: the teacher's top 5 tags of each segment positive).
#: ``val_accuracy``: genres, clip level. ``val_r2``: teacher features.
LOG_COLUMNS = ("epoch", "stage", "epoch_in_stage", "lr", "steps", "train_loss", "val_loss",
               "val_auc", "val_auc_top5", "val_auc_tags", "val_accuracy", "val_r2",
               "improved", "wait", "seconds", "segments_per_s")


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from; the message names the file."""


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def initial_state(schedule_state: dict) -> dict:
    """The state of a run before its first step (``schedule_state``: the schedule's part)."""
    return {"format": CHECKPOINT_FORMAT, "serial": 0, **schedule_state, "epoch": 0, "step": 0,
            "steps": 0, "train_loss_sum": 0.0, "epoch_seconds": 0.0, "best_val_loss": None,
            "best_epoch": None, "files": {}, "rows": [], "updated": now()}


def read_checkpoint(out_dir: Path) -> dict | None:
    """The state of ``out_dir/checkpoint.json``; ``None`` when there is none."""
    if not (Path(out_dir) / CHECKPOINT_NAME).exists():
        return None
    return read_manifest(out_dir, CHECKPOINT_NAME, CHECKPOINT_FORMAT, error=CheckpointError)


def _checked(out_dir: Path, entry: dict) -> Path:
    try:
        return checked_file(Path(out_dir) / CHECKPOINT_DIR, entry, what="checkpoint file")
    except ValueError as exc:
        raise CheckpointError(f"corrupt checkpoint: {exc}") from None


def _entry(path: Path) -> dict:
    return {"file": path.name, "sha256": sha256_file(path)}


def write_checkpoint(out_dir: Path, state: dict, model, optimizer, new_best: bool = False,
                     columns: Sequence[str] = LOG_COLUMNS) -> None:
    """Write weights and optimizer state under new names, then ``checkpoint.json``, then the log."""
    folder = Path(out_dir) / CHECKPOINT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    state["serial"] += 1
    serial = f"{state['serial']:06d}"
    weights = atomic_save_weights(model, folder / f"weights-{serial}.weights.h5")
    store: dict = {}
    optimizer.save_own_variables(store)
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v) for k, v in store.items()})
    opt_file = atomic_write_bytes(folder / f"optimizer-{serial}.npz", buffer.getvalue())
    state["files"]["weights"], state["files"]["optimizer"] = _entry(weights), _entry(opt_file)
    if new_best:
        best = atomic_save_weights(model, folder / f"best-{serial}.weights.h5")
        state["files"]["best"] = _entry(best)
    state["updated"] = now()
    atomic_write_text(Path(out_dir) / CHECKPOINT_NAME, json.dumps(state, indent=1) + "\n")
    keep = {entry["file"] for entry in state["files"].values()}
    for path in folder.iterdir():
        if path.name not in keep:
            path.unlink(missing_ok=True)
    write_log(Path(out_dir) / LOG_NAME, state["rows"], columns)


def restore(out_dir: Path, state: dict, model, optimizer) -> None:
    """Load the checkpoint's weights and optimizer state (the optimizer must be built)."""
    model.load_weights(_checked(out_dir, state["files"]["weights"]))
    with np.load(_checked(out_dir, state["files"]["optimizer"]), allow_pickle=False) as saved:
        optimizer.load_own_variables({k: saved[k] for k in saved.files})
    optimizer.learning_rate.assign(state["lr"])


def load_best(out_dir: Path, state: dict, model) -> bool:
    """Load the best weights of the run into ``model``; False when there are none yet."""
    if "best" not in state["files"]:
        return False
    model.load_weights(_checked(out_dir, state["files"]["best"]))
    return True


def reset_momenta(optimizer) -> None:
    """Zero the optimizer's slots (momenta), keeping its iteration count and learning rate."""
    for variable in optimizer.variables:
        if variable.path.split("/")[-1] not in ("iteration", "learning_rate"):
            variable.assign(np.zeros(variable.shape, variable.dtype))


def write_log(path: Path, rows: list, columns: Sequence[str] = LOG_COLUMNS) -> None:
    """``log.csv``: one row per epoch, empty cells for metrics that do not apply."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in columns})
    atomic_write_text(path, buffer.getvalue())
