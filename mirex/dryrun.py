"""The MIREX protocol on a submitter's own collection, run as the organizers run it.

Given a labelled list (and optionally artist groups), :func:`dry_run` makes
stratified, artist-filtered folds, then for each system calls the real
``bin/extractFeatures.sh`` once over every file and ``bin/Train.sh`` /
``bin/Classify.sh`` (the same command as ``bin/Test.sh``) per fold, as subprocesses, each fold in its own scratch
folder (folds may run in parallel), through the step runner that
:mod:`mirex.evaluate` uses for anyone's submissions. It scores the output lists with the
organizers' rules (:mod:`mirex.evaluation`) and writes the report.

Output folder::

    lists/        extract.txt, fold{k}_train.txt, fold{k}_test.txt, fold{k}_groundtruth.txt
    scratch/<system>/            feature cache; fold{k}/ holds each fold's model
    predictions/<system>/fold{k}.txt
    logs/<system>_{extract,fold{k}_train,fold{k}_classify}.log
    steps/<system>_<step>.json   what each step used (wall, CPU, peak memory)
    report/       summaryResults.csv, PerClassResults.csv, ..., index.html
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from . import config
from .cache import STORE_DIRNAME
from .evaluate import (StepOptions, Submission, Task, assess, make_fold_files, plan_steps,
                       prepare_task, score_outputs)
from .evaluation import format_summary, write_report
from .evaluation.schedule import run_nodes

__all__ = ["BIN_DIR", "dry_run", "make_fold_files"]

log = logging.getLogger(__name__)

#: The project's MIREX entry points.
BIN_DIR = Path(__file__).resolve().parent.parent / "bin"


def _run_system(task, system: str, parallel: int, options: StepOptions) -> tuple[list, dict]:
    """extractFeatures.sh once, then Train.sh / Test.sh of every fold: scores and timings."""
    submission = Submission(system, BIN_DIR, args=("--variant", system))
    nodes = plan_steps(task, submission, options)
    log.info("%s: extracting features of %d files, then %d folds", system,
             len(set(task.paths)), task.n_folds)
    outcomes = run_nodes(nodes, parallel, resume=False)
    state = assess(task, nodes, outcomes)
    if state["status"] != "ok":
        log.warning("%s: %s (see %s)", system, state["reason"], state["log"])
    seconds = {n.id.rpartition("/")[2]: outcomes[n.id].result.wall_s for n in nodes}
    timings = {f"{system}/extract": seconds["extract"]}
    for k in range(1, task.n_folds + 1):
        timings[f"{system}/fold{k}"] = seconds[f"fold{k}_train"] + seconds[f"fold{k}_classify"]
    outputs = [o for n in nodes for o in n.outputs]
    return state["scores"] or score_outputs(task, outputs), timings


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
    task = prepare_task(Task("dryrun", Path(list_path), groups_path), out_dir, n_folds, seed)
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
        results[system], system_timings = _run_system(
            task, system, parallel, StepOptions(num_threads=num_threads, env=system_env))
        timings.update(system_timings)
    report = write_report(out_dir / "report", results)
    return {"results": results, "report": report, "summary": format_summary(results),
            "timings": timings}
