"""The recipe of the shipped students: both SampleCNNs distilled in one run.

Each MIREX system's student learns from the teachers of one label "culture"
(:data:`STUDENTS`): LPNKK1's ``samplecnn-msd`` from the two MSD taggers
(``musicnn-msd`` + ``musicnn-vgg-msd``, posteriors averaged), LPNKK2's
``samplecnn-mtt`` from the two MagnaTagATune ones (``musicnn-mtt`` +
``musicnn-vgg-mtt``). :func:`train_students` runs :func:`mirex.pretrain.api.distil`
for each, one after the other, on the same audio list, sharing one cache
folder (every file is decoded once; each teacher runs once per file), with
``resume=True`` so that the same call again continues where an interrupted
one stopped (a finished student is not trained again; SIGTERM or Ctrl-C
checkpoints the student in training and ends the call). Each student's run
folder is ``OUT/<name>``, its backbone ``OUT/<name>/backbone`` (manifest:
teachers, their combination, the augmentation, corpus, recipe and the
equivalent ``mirex distil`` command line); ``OUT/students.json`` records the
call and each student's result.

``split='halves'`` gives each student every other file of the list
(``OUT/lists/<name>.txt``: disjoint halves, as the first shipped students);
``'full'`` (the default) gives both the whole list.

Command line: ``tools/train_students.py`` (``make students``).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from ..fileio import atomic_write_text
from ..lists import read_paths
from .runs import resolve_path

__all__ = ["STUDENTS", "SPLITS", "student_lists", "train_students"]

log = logging.getLogger("mirex.pretrain")

#: Student name -> the MIREX system it serves and its teachers (folders under ``models_dir``).
STUDENTS = {
    "samplecnn-msd": {"system": "LPNKK1", "teachers": ("musicnn-msd", "musicnn-vgg-msd")},
    "samplecnn-mtt": {"system": "LPNKK2", "teachers": ("musicnn-mtt", "musicnn-vgg-mtt")},
}

SPLITS = ("full", "halves")


def student_lists(train_list: str | os.PathLike, out_dir: str | os.PathLike, names,
                  split: str = "full") -> dict:
    """The audio list of each student: ``train_list`` itself, or written halves.

    Returns
    -------
    lists : dict
        Student name -> list path. With ``'halves'``, student ``k`` of ``n``
        gets lines ``k, k + n, ...`` of the list (paths made absolute), in
        ``OUT/lists/<name>.txt``.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    names = list(names)
    if split == "full":
        return {name: str(train_list) for name in names}
    paths = [resolve_path(p, train_list) for p in read_paths(train_list)]
    folder = Path(out_dir) / "lists"
    folder.mkdir(parents=True, exist_ok=True)
    lists = {}
    for k, name in enumerate(names):
        lists[name] = str(folder / f"{name}.txt")
        atomic_write_text(lists[name], "".join(p + "\n" for p in paths[k :: len(names)]))
    return lists


def train_students(train_list: str | os.PathLike, out_dir: str | os.PathLike, *,
                   models_dir: str | os.PathLike = "models", names=None, split: str = "full",
                   augment="all", minutes: float = 10.0, install: str | os.PathLike | None = None,
                   command: str | None = None, **options) -> dict:
    """Distil every student of :data:`STUDENTS` (or ``names``) from its teachers.

    Parameters
    ----------
    train_list : path
        Unlabelled audio, one path per line (e.g. ``cache/corpus/train.txt``).
    out_dir : path
        Holds ``cache/`` (shared), one run folder per student and ``students.json``.
    models_dir : path
        Where the teacher folders are.
    names : sequence of str or None
        Students to train (default: all, in :data:`STUDENTS` order).
    split : {'full', 'halves'}
        See the module docstring.
    augment : str, dict or None
        :attr:`mirex.pretrain.options.Options.augment` (default: all five).
    minutes : float
        Each student's training budget (the distil schedule's stages).
    install : path or None
        Copy each *finished* student's backbone to ``install/<name>``
        (e.g. ``models``); an unfinished one is left in its run folder.
    command : str or None
        The command line recorded in ``students.json``.
    **options
        Other fields of :class:`~mirex.pretrain.options.Options` for every
        student (``max_steps``, ``max_minutes``, ``config``, ``workers``, ...).

    Returns
    -------
    summary : dict
        ``{"command", "split", "students": {name: result}}`` (also written
        to ``OUT/students.json``); a result is :func:`~mirex.pretrain.api.distil`'s
        plus ``teachers``, ``list`` and ``installed``.
    """
    import shutil

    from .api import distil

    names = list(STUDENTS) if names is None else list(names)
    unknown = [n for n in names if n not in STUDENTS]
    if unknown:
        raise ValueError(f"unknown students {unknown}; choose from {list(STUDENTS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lists = student_lists(train_list, out, names, split)
    options.setdefault("cache_dir", out / "cache")
    summary = {"command": command, "split": split, "train_list": str(train_list),
               "students": {}}
    for name in names:
        teachers = [str(Path(models_dir) / t) for t in STUDENTS[name]["teachers"]]
        log.info("student %s (%s) from %s", name, STUDENTS[name]["system"], " + ".join(teachers))
        result = distil(lists[name], teachers, out / name, name=name, minutes=minutes,
                        augment=augment, resume=True, **options)
        result.update(teachers=teachers, list=lists[name], installed=None)
        if install is not None and result["status"] == "finished" and result["backbone"]:
            target = Path(install) / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(result["backbone"], target)
            result["installed"] = str(target)
        summary["students"][name] = result
        atomic_write_text(out / "students.json", json.dumps(summary, indent=1, default=str) + "\n")
        if result.get("stopped_by_signal"):      # SIGTERM / Ctrl-C stops the whole run
            log.info("stopped by a signal: the next call resumes %s", name)
            break
    return summary
