"""The frozen run: which clips a run trains and validates on, with their labels.

``OUT/run.json`` (format :data:`RUN_FORMAT`) holds the settings that define
the run and the training and validation clips (path, sha256, samples,
labels), fixed when training starts (once the audio and teacher caches are
complete): files added to the list afterwards are ignored with a warning.
A later call with other settings in the same folder is refused, naming them.

Paths in a list may be absolute, or relative to the list's folder (as
``tools/pack_corpus.py`` writes them) or else to the current folder.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..fileio import atomic_write_text, read_manifest, sha256_file
from ..lists import ListError
from .audiocache import AudioCache, KeyIndex, dedupe
from .checkpoints import now
from .targets import make_vocabulary, read_items, read_vocabulary

__all__ = ["RUN_NAME", "RUN_FORMAT", "Run", "resolve_path", "new_run", "load_run",
           "save_run", "cached_clips", "warn_unlisted"]

log = logging.getLogger("mirex.pretrain")

RUN_NAME = "run.json"
RUN_FORMAT = "mirex-pretrain-run/2"


@dataclass
class Run:
    """Clips and labels of a run (what ``run.json`` freezes)."""

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


def resolve_path(path: str, list_path) -> str:
    """An absolute path: ``path`` itself, or relative to the list's folder, or to the cwd."""
    if os.path.isabs(path):
        return path
    beside = os.path.join(os.path.dirname(os.path.abspath(list_path)), path)
    return beside if os.path.exists(beside) else os.path.abspath(path)


def _keyed(list_path, mode: str, index: KeyIndex, skipped: dict) -> list:
    """``[(abs path, sha256, labels)]`` of a list; unreadable files go to ``skipped``."""
    out = []
    for path, labels in read_items(list_path, mode):
        absolute = resolve_path(path, list_path)
        try:
            out.append((absolute, index.key(absolute), labels))
        except OSError as exc:
            skipped[absolute] = f"cannot read file ({exc.strerror or exc})"
            log.warning("skipped: %s: %s", absolute, skipped[absolute])
    return out


def _vocabulary(train_items: list, valid_items: list, vocabulary):
    """Fix the label vocabulary; drop labels outside it and clips left without one."""
    if isinstance(vocabulary, (str, os.PathLike)):
        vocabulary = read_vocabulary(vocabulary)
    vocab, train_items, dropped = make_vocabulary(train_items, vocabulary)
    if dropped["labels"] or dropped["clips"]:
        log.warning("%d labels outside the vocabulary ignored; %d training clips left "
                    "without a label dropped", dropped["labels"], dropped["clips"])
    _, valid_items, _ = make_vocabulary(valid_items, vocab)
    return vocab, train_items, valid_items


def _split(train: list, valid: list, valid_fraction: float, seed: int, list_path):
    """Hold out ``valid_fraction`` of the training clips when there is no validation list."""
    if valid:
        return train, valid
    if len(train) < 2:
        raise ValueError(f"{list_path}: {len(train)} usable clip(s); at least two readable "
                         "files are needed (training and validation)")
    n_valid = min(len(train) - 1, max(1, int(round(valid_fraction * len(train)))))
    chosen = set(np.random.default_rng(seed).permutation(len(train))[:n_valid].tolist())
    return ([clip for i, clip in enumerate(train) if i not in chosen],
            [clip for i, clip in enumerate(train) if i in chosen])


def _list_info(path) -> dict | None:
    return None if path is None else {"path": os.path.abspath(path), "sha256": sha256_file(path)}


def new_run(settings: dict, train_list, valid_list, valid_fraction: float, vocabulary,
            teacher_labels, cache: AudioCache, index: KeyIndex, workers: int,
            deadline) -> Run | None:
    """Read the lists, decode the audio, split and fix the labels; ``None`` if out of time."""
    mode, skipped = settings["mode"], {}
    train_items = _keyed(train_list, mode, index, skipped)
    valid_items = _keyed(valid_list, mode, index, skipped) if valid_list is not None else []
    index.save()
    if mode in ("tags", "genres"):
        labels, train_items, valid_items = _vocabulary(train_items, valid_items, vocabulary)
    else:
        labels = list(teacher_labels)
    train_items, n_dup = dedupe(train_items)
    if n_dup:
        log.warning("%d training files repeat the content of an earlier one: ignored", n_dup)
    valid_keys = {k for _, k, _ in valid_items}
    if valid_keys & {k for _, k, _ in train_items}:
        log.warning("clips of the validation list are also in the training list: "
                    "they are used for validation only")
        train_items = [item for item in train_items if item[1] not in valid_keys]
    valid_items, _ = dedupe(valid_items)
    clips, failed, complete = cache.prepare([(p, k) for p, k, _ in train_items + valid_items],
                                            workers=workers, deadline=deadline, progress=True)
    skipped.update(failed)
    if not complete:
        return None

    def records(items):
        return [{"path": p, "key": k, "n_samples": clips[k].n_samples, "labels": list(lab)}
                for p, k, lab in items if k in clips]

    train, valid = _split(records(train_items), records(valid_items), valid_fraction,
                          settings["seed"], train_list)
    if not train:
        raise ValueError(f"{train_list}: no usable training clip")
    return Run(settings=settings, labels=list(labels), train=train, valid=valid,
               skipped=skipped, created=now(),
               lists={"train": _list_info(train_list), "valid": _list_info(valid_list)})


def load_run(out_dir: Path, settings: dict) -> Run | None:
    """The frozen run of ``out_dir``, checked against ``settings``; ``None`` when there is none."""
    if not (Path(out_dir) / RUN_NAME).exists():
        return None
    raw = read_manifest(out_dir, RUN_NAME, RUN_FORMAT)
    old = raw["settings"]
    differ = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
    if differ:
        detail = "; ".join(f"{k}: was {old.get(k)!r}, now {settings.get(k)!r}" for k in differ)
        raise ValueError(f"{out_dir} holds a run with other settings ({detail}); "
                         "use another output folder to start a new run")
    return Run(settings=old, labels=raw["labels"], train=raw["train"], valid=raw["valid"],
               skipped=raw.get("skipped", {}), lists=raw.get("lists", {}),
               created=raw.get("created", ""))


def save_run(out_dir: Path, run: Run) -> None:
    atomic_write_text(Path(out_dir) / RUN_NAME, json.dumps(run.to_json(), indent=1) + "\n")


def warn_unlisted(run: Run, train_list, mode: str) -> None:
    """Warn about files of the list that the frozen run does not hold."""
    known = {rec["path"] for rec in run.train + run.valid} | set(run.skipped)
    try:
        listed = {resolve_path(p, train_list) for p, _ in read_items(train_list, mode)}
    except ListError:
        listed = set()
    if listed - known:
        log.warning("%s: %d files are not in this run (its clips were fixed when it started); "
                    "start a run in another folder to use them", train_list, len(listed - known))


def cached_clips(records: list, cache: AudioCache, index: KeyIndex) -> list:
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
