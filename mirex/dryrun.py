"""The MIREX protocol on a submitter's own collection, run as the organizers run it.

Given a labelled list (and optionally artist groups), :func:`dry_run` makes
stratified, artist-filtered folds, then for each system calls the real
``bin/extractFeatures.sh`` once over every file and ``bin/Train.sh`` /
``bin/Test.sh`` per fold, as subprocesses, each fold in its own scratch
folder (folds may run in parallel). It scores the output lists with the
organizers' rules (:mod:`mirex.evaluation`) and writes the report.

Output folder::

    lists/        extract.txt, fold{k}_train.txt, fold{k}_test.txt, fold{k}_groundtruth.txt
    scratch/<system>/            feature cache; fold{k}/ holds each fold's model
    predictions/<system>/fold{k}.txt
    logs/<system>_{extract,fold{k}_train,fold{k}_test}.log
    report/       summaryResults.csv, PerClassResults.csv, ..., index.html
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import config, lists
from .cache import STORE_DIRNAME
from .evaluation import (format_summary, make_folds, read_groups,
                         read_prediction_file, score_fold, write_fold_lists, write_report)
from .evaluation.validate import check_task

__all__ = ["BIN_DIR", "dry_run", "make_fold_files"]

log = logging.getLogger(__name__)

#: The project's MIREX entry points.
BIN_DIR = Path(__file__).resolve().parent.parent / "bin"


def make_fold_files(list_path, out_dir, n_folds: int = 3, groups_path=None, seed: int = 0):
    """Folds of a labelled list, written as MIREX list files.

    Returns ``(paths, labels, folds, written)``: the list's items, the fold of
    each (0-based), and the files written (``extract.txt`` first). A list the
    organizers' scorer could not score is refused first
    (:class:`mirex.evaluation.validate.TaskError`), before any work.
    """
    items = lists.read_labelled(list_path)
    check_task(items, str(list_path))
    paths = [p for p, _ in items]
    labels = [label for _, label in items]
    groups = None
    if groups_path:
        by_path = read_groups(groups_path)
        groups = [by_path.get(p) for p in paths]
        n_missing = sum(g is None for g in groups)
        if n_missing:
            log.warning("%s: %d file(s) have no group; each is its own group",
                        groups_path, n_missing)
    folds = make_folds(labels, groups, n_folds=n_folds, seed=seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    extract_list = out_dir / "extract.txt"
    lists.write_paths(extract_list, list(dict.fromkeys(paths)))
    written = [extract_list, *write_fold_lists(out_dir, paths, labels, folds)]
    return paths, labels, folds, written


def _run(script: str, args, log_path: Path, system: str, num_threads, env) -> tuple[int, float]:
    command = [str(BIN_DIR / script)]
    if num_threads:
        command += ["-numThreads", str(num_threads)]
    command += ["--variant", system, *map(str, args)]
    started = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as handle:
        handle.write("$ " + " ".join(repr(c) if " " in c else c for c in command) + "\n")
        handle.flush()
        proc = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT,
                              env=env, stdin=subprocess.DEVNULL)
    seconds = time.monotonic() - started
    if proc.returncode:
        log.warning("%s exited %d (see %s)", script, proc.returncode, log_path)
    return proc.returncode, seconds


def _fold_job(system: str, k: int, scratch: Path, out_dir: Path, num_threads, env) -> tuple:
    """Train.sh then Test.sh of fold ``k`` in its own scratch folder: ``(output, seconds)``."""
    fold_scratch = scratch / f"fold{k}"
    fold_scratch.mkdir(exist_ok=True)
    list_dir, prefix = out_dir / "lists", out_dir / "logs" / f"{system}_fold{k}"
    rc, t_train = _run("Train.sh", [fold_scratch, list_dir / f"fold{k}_train.txt"],
                       Path(f"{prefix}_train.log"), system, num_threads, env)
    output = out_dir / "predictions" / system / f"fold{k}.txt"
    output.unlink(missing_ok=True)
    t_test = 0.0
    if rc == 0:
        _, t_test = _run("Test.sh", [fold_scratch, list_dir / f"fold{k}_test.txt", output],
                         Path(f"{prefix}_test.log"), system, num_threads, env)
    log.info("%s: fold %d done (train %.1f s, test %.1f s)", system, k, t_train, t_test)
    return output, t_train + t_test


def _run_system(system: str, out_dir: Path, n_items: int, n_folds: int, parallel: int,
                num_threads, env) -> tuple[list[Path], dict]:
    """extractFeatures.sh once, then every fold: the fold outputs and the timings."""
    scratch = out_dir / "scratch" / system
    scratch.mkdir(parents=True, exist_ok=True)
    (out_dir / "predictions" / system).mkdir(parents=True, exist_ok=True)
    log.info("%s: extracting features of %d files", system, n_items)
    timings = {}
    _, timings[f"{system}/extract"] = _run(
        "extractFeatures.sh", [scratch, out_dir / "lists" / "extract.txt"],
        out_dir / "logs" / f"{system}_extract.log", system, num_threads, env)
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        done = list(pool.map(lambda k: _fold_job(system, k, scratch, out_dir, num_threads, env),
                             range(1, n_folds + 1)))
    for k, (_, seconds) in enumerate(done, 1):
        timings[f"{system}/fold{k}"] = seconds
    return [output for output, _ in done], timings


def _score(outputs, paths, labels, folds) -> list:
    """The organizers' scores of one system's fold outputs (a missing file scores as empty)."""
    classes = sorted(set(labels))
    scores = []
    for k, output in enumerate(outputs):
        truth = {p: labels[i] for i, p in enumerate(paths) if folds[i] == k}
        predictions = read_prediction_file(output) if output.exists() else []
        scores.append(score_fold(truth, predictions, classes=classes, fold=k))
    return scores


def dry_run(list_path, out_dir, systems=("LPNKK1",), n_folds: int = 3, groups_path=None,
            seed: int = 0, parallel: int = 1, num_threads: int | None = None,
            env: dict | None = None) -> dict:
    """Run the whole MIREX protocol and write the report.

    Parameters
    ----------
    list_path : path
        Labelled list, ``path<TAB>label`` per line.
    out_dir : path
        Where lists, scratch folders, predictions, logs and the report go.
    systems : sequence of str
        Variants / peers to run (see :data:`mirex.systems.SYSTEMS`).
    n_folds : int
        Cross-validation folds.
    groups_path : path or None
        ``path<TAB>artist`` file: no group is split across folds.
    seed : int
        Seed of the fold assignment.
    parallel : int
        Folds trained/tested at the same time.
    num_threads : int or None
        ``-numThreads`` passed to every script.
    env : dict or None
        Environment of the scripts (default: this process's).

    Returns
    -------
    dict
        ``results`` (system -> list of FoldScore), ``report`` (paths written),
        ``summary`` (text table), ``timings`` (seconds per step).
    """
    out_dir = Path(out_dir).resolve()
    paths, labels, folds, _ = make_fold_files(list_path, out_dir / "lists", n_folds,
                                              groups_path, seed)
    (out_dir / "logs").mkdir(parents=True, exist_ok=True)
    env = config.environment() if env is None else dict(env)
    given = [p for p in env.get(config.ENV_FEATURE_STORES, "").split(os.pathsep) if p]
    results, timings = {}, {}
    # The feature stores of the systems run so far, read (never written) by the
    # next ones: LPNKK3 finds LPNKK1's and LPNKK2's embeddings there, so a dry
    # run computes each backbone's features once. Identical results: entries
    # are keyed by extractor id (weights checksum, parameters) and audio hash.
    earlier: list[str] = []
    for system in systems:
        system_env = dict(env)
        if earlier:
            system_env[config.ENV_FEATURE_STORES] = os.pathsep.join(given + earlier)
        earlier.append(str(out_dir / "scratch" / system / STORE_DIRNAME))
        outputs, system_timings = _run_system(system, out_dir, len(set(paths)), n_folds,
                                              parallel, num_threads, system_env)
        timings.update(system_timings)
        results[system] = _score(outputs, paths, labels, folds)
    report = write_report(out_dir / "report", results)
    return {"results": results, "report": report, "summary": format_summary(results),
            "timings": timings}
