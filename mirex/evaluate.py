"""A local MIREX: run and score any Train/Test submissions on several tasks.

A *submission* is a folder with the organizers' calling formats
(``extractFeatures.sh``, ``Train.sh``, ``Classify.sh`` or ``Test.sh``; or
``TrainAndClassify.sh`` alone). A *task* is a labelled list (and optionally an
artist file). For every task, stratified (artist-filtered) folds are made once
and shared; for every submission, extraction runs once per task and each fold
is trained and classified in its own scratch folder. Every step is a measured,
limited child process (:mod:`mirex.evaluation.runner`), run at most
``parallel`` at a time and resumed on a rerun (:mod:`mirex.evaluation.schedule`).
:func:`mirex.dryrun.dry_run` is this with the project's own ``bin/`` as the
submission.

Output folder::

    overview.csv, index.html          every task x submission (evaluation.overview)
    <task>/lists/                     extract.txt, fold{k}_{train,test,groundtruth}.txt
    <task>/scratch/<submission>/      working folder of extraction; fold{k}/ of each fold
    <task>/predictions/<submission>/fold{k}.txt
    <task>/logs/<submission>_<step>.log   command, stdout + stderr, figures
    <task>/steps/<submission>_<step>.json resume record of each step
    <task>/report/                    summaryResults.csv, PerClassResults.csv, ..., index.html

Steps are ``extract``, ``fold{k}_train``, ``fold{k}_classify`` or
``fold{k}_trainclassify``. Submissions get absolute paths, the documented
arguments only (``-numThreads N`` first when asked), and run in their scratch
folder; the fold scratch folders lie inside the extraction one, so features
cached there are found in ``..``. Nothing a submission writes is imported or
unpickled: its output lists are read as text.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import config, lists
from .evaluation import make_folds, read_groups, read_prediction_file, score_fold, write_fold_lists
from .evaluation.overview import write_overview
from .evaluation.report import write_report
from .evaluation.runner import StepSpec
from .evaluation.schedule import Node, fingerprint_files, fingerprint_tree, run_nodes
from .evaluation.validate import check_task

__all__ = ["Task", "Submission", "StepOptions", "SubmissionFolderError", "calling_format",
           "make_fold_files", "prepare_task", "plan_steps", "assess", "score_outputs",
           "evaluate", "load_config"]

log = logging.getLogger(__name__)

#: Script names of each kind of step, in order of preference.
SCRIPTS = {"extract": ("extractFeatures.sh",), "train": ("Train.sh",),
           "classify": ("Classify.sh", "Test.sh"), "trainclassify": ("TrainAndClassify.sh",)}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


class SubmissionFolderError(ValueError):
    """A folder without the MIREX scripts."""


@dataclass(frozen=True)
class Task:
    """A labelled list (``path<TAB>label``) and optionally a ``path<TAB>artist`` file."""

    name: str
    list_path: Path
    groups_path: Path | None = None


@dataclass(frozen=True)
class Submission:
    """A folder of MIREX scripts; ``args`` go after ``-numThreads``, ``env`` is added."""

    name: str
    folder: Path
    args: tuple = ()
    env: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StepOptions:
    """What every step gets: ``-numThreads``, limits, and the base environment."""

    num_threads: int | None = None
    timeout: float | None = None
    memory_mb: float | None = None
    env: dict | None = None


@dataclass
class PreparedTask:
    """A task whose fold lists are written under ``dir / "lists"``."""

    name: str
    dir: Path
    paths: list
    labels: list
    folds: list
    n_folds: int
    audio: str = ""


def check_name(name: str, what: str) -> str:
    if not _NAME.match(name or ""):
        raise ValueError(f"{what} name {name!r}: use letters, digits and . _ + - (it names folders)")
    return name


def calling_format(folder) -> dict[str, Path]:
    """The scripts of a submission folder, by kind of step.

    Train.sh with Classify.sh (or Test.sh) is used when present, else
    TrainAndClassify.sh; extractFeatures.sh is optional.
    """
    folder = Path(folder)
    found = {}
    for kind, names in SCRIPTS.items():
        for name in names:
            if (folder / name).is_file():
                found[kind] = (folder / name).resolve()
                break
    if "train" in found and "classify" in found:
        found.pop("trainclassify", None)
    elif "trainclassify" in found:
        found.pop("train", None), found.pop("classify", None)
    else:
        raise SubmissionFolderError(f"{folder}: no Train.sh with Classify.sh/Test.sh, "
                                    "and no TrainAndClassify.sh")
    return found


def make_fold_files(list_path, out_dir, n_folds: int = 3, groups_path=None, seed: int = 0):
    """Folds of a labelled list, written as MIREX list files.

    Returns ``(paths, labels, folds, written)``: the list's items (relative
    paths made absolute from the current folder, since submissions run in
    their own folders), the fold of each (0-based), and the files written
    (``extract.txt`` first). A list the organizers' scorer could not score is
    refused first (:class:`mirex.evaluation.validate.TaskError`), before any work.
    """
    items = lists.read_labelled(list_path)
    check_task(items, str(list_path))
    given = [p for p, _ in items]
    labels = [label for _, label in items]
    groups = None
    if groups_path:
        by_path = read_groups(groups_path)
        groups = [by_path.get(p) for p in given]
        n_missing = sum(g is None for g in groups)
        if n_missing:
            log.warning("%s: %d file(s) have no group; each is its own group",
                        groups_path, n_missing)
    folds = make_folds(labels, groups, n_folds=n_folds, seed=seed)
    paths = [os.path.abspath(p) for p in given]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    extract_list = out_dir / "extract.txt"
    lists.write_paths(extract_list, list(dict.fromkeys(paths)))
    written = [extract_list, *write_fold_lists(out_dir, paths, labels, folds)]
    return paths, labels, folds, written


def prepare_task(task: Task, task_dir, n_folds: int = 3, seed: int = 0) -> PreparedTask:
    """Write the fold lists of ``task`` into ``task_dir / "lists"``, once for all submissions."""
    task_dir = Path(task_dir).resolve()
    paths, labels, folds, _ = make_fold_files(task.list_path, task_dir / "lists", n_folds,
                                              task.groups_path, seed)
    return PreparedTask(task.name, task_dir, paths, labels, folds, n_folds,
                        audio=fingerprint_tree(sorted(set(paths))))


def _step_ids(task: PreparedTask, scripts) -> list[str]:
    steps = ["extract"] if "extract" in scripts else []
    kinds = ("train", "classify") if "train" in scripts else ("trainclassify",)
    return steps + [f"fold{k}_{kind}" for k in range(1, task.n_folds + 1) for kind in kinds]


def plan_steps(task: PreparedTask, sub: Submission, options: StepOptions = StepOptions()) -> list[Node]:
    """The steps of one submission on one task, their folders made.

    Raises :class:`SubmissionFolderError` when the folder has no MIREX scripts.
    """
    scripts = calling_format(sub.folder)
    lists_dir, scratch = task.dir / "lists", task.dir / "scratch" / sub.name
    predictions = task.dir / "predictions" / sub.name
    predictions.mkdir(parents=True, exist_ok=True)
    env = {**(options.env if options.env is not None else config.environment()), **sub.env}
    code = fingerprint_tree([sub.folder, *scripts.values()]) + json.dumps([sub.args, sub.env])
    threads = ["-numThreads", str(options.num_threads)] if options.num_threads else []
    nodes: list[Node] = []
    for step in _step_ids(task, scripts):
        fold, _, kind = step.rpartition("_")
        cwd = scratch / fold if fold else scratch
        cwd.mkdir(parents=True, exist_ok=True)
        train, test = lists_dir / f"{fold}_train.txt", lists_dir / f"{fold}_test.txt"
        output = predictions / f"{fold}.txt"
        tail, inputs, outputs = {
            "extract": ([lists_dir / "extract.txt"], [lists_dir / "extract.txt"], []),
            "train": ([train], [train], []),
            "classify": ([test, output], [test], [output]),
            "trainclassify": ([train, test, output], [train, test], [output]),
        }[kind]
        after = {"extract": (), "train": ("extract",), "classify": (f"{fold}_train",),
                 "trainclassify": ("extract",)}[kind]
        spec = StepSpec((str(scripts[kind]), *threads, *sub.args, str(cwd), *map(str, tail)),
                        str(cwd), str(task.dir / "logs" / f"{sub.name}_{step}.log"), env,
                        options.timeout, options.memory_mb)
        prefix = f"{task.name}/{sub.name}/"
        nodes.append(Node(prefix + step, spec, str(task.dir / "steps" / f"{sub.name}_{step}.json"),
                          json.dumps([code, task.audio, fingerprint_files(inputs)]),
                          tuple(prefix + a for a in after if "extract" in scripts or a != "extract"),
                          tuple(map(str, outputs))))
    return nodes


def score_outputs(task: PreparedTask, outputs) -> list:
    """The organizers' scores of one submission's fold outputs (a missing file scores as empty)."""
    classes = sorted(set(task.labels))
    scores = []
    for k, output in enumerate(outputs):
        truth = {p: task.labels[i] for i, p in enumerate(task.paths) if task.folds[i] == k}
        output = Path(output)
        predictions = read_prediction_file(output) if output.exists() else []
        scores.append(score_fold(truth, predictions, classes=classes, fold=k))
    return scores


def _problems(scores) -> str:
    said = []
    for s in scores:
        if s.problems:
            counts = Counter(p.kind for p in s.problems)
            said.append(f"fold {s.fold + 1}: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    return "malformed output (" + "; ".join(said) + ")"


def _figures(outcomes: dict) -> dict:
    """Seconds of each stage, CPU seconds and peak MB over the steps that ran or were reused."""
    figures = {"extract_s": None, "train_s": None, "classify_s": None, "cpu_s": 0.0,
               "peak_rss_mb": 0.0, "steps_run": 0, "steps_resumed": 0}
    column = {"extract": "extract_s", "train": "train_s", "classify": "classify_s",
              "trainclassify": "train_s"}
    for step, outcome in outcomes.items():
        r = outcome.result
        if r.status == "skipped":
            continue
        key = column[step.rpartition("_")[2]]
        figures[key] = round((figures[key] or 0.0) + r.wall_s, 3)
        figures["cpu_s"] = round(figures["cpu_s"] + r.cpu_s, 3)
        figures["peak_rss_mb"] = max(figures["peak_rss_mb"], r.peak_rss_mb)
        figures["steps_resumed" if outcome.resumed else "steps_run"] += 1
    return figures


def assess(task: PreparedTask, nodes: list[Node], outcomes: dict) -> dict:
    """Status, reason, log, scores and figures of one submission on one task.

    ``failed`` / ``timeout``: the first step that did not succeed says why;
    ``partial``: every step ran but an output list has missing, duplicated or
    unknown lines (scored leniently, as the organizers would); ``ok``.
    """
    mine = {n.id.rpartition("/")[2]: outcomes[n.id] for n in nodes}
    state = {"status": "ok", "reason": "", "log": "", "scores": None, **_figures(mine)}
    for node in nodes:
        result = outcomes[node.id].result
        if result.status in ("failed", "timeout"):
            step = node.id.rpartition("/")[2]
            return {**state, "status": result.status, "reason": f"{step}: {result.reason}",
                    "log": node.spec.log}
    outputs = [o for n in nodes for o in n.outputs]
    for node in nodes:
        missing = [o for o in node.outputs if not Path(o).is_file()]
        if missing:
            return {**state, "status": "failed", "log": node.spec.log,
                    "reason": f"{node.id.rpartition('/')[2]}: exited 0 but wrote no output list"}
    scores = score_outputs(task, outputs)
    state["scores"] = scores
    bad = [s for s in scores if s.problems]
    if bad:
        first = [n for n in nodes if n.outputs][bad[0].fold]
        state.update(status="partial", reason=_problems(scores), log=first.spec.log)
    return state


def evaluate(out_dir, tasks, submissions, n_folds: int = 3, seed: int = 0, parallel: int = 1,
             options: StepOptions = StepOptions(), resume: bool = True, run=None) -> dict:
    """Run every submission on every task, score them, write the reports and the overview.

    Parameters
    ----------
    out_dir : path
        Output folder (see the module docstring for its layout).
    tasks : sequence of Task
    submissions : sequence of Submission
    n_folds, seed : int
        Cross-validation folds and the seed of their assignment.
    parallel : int
        Steps run at the same time (extractions, folds, submissions, tasks).
    options : StepOptions
        ``-numThreads``, time limit (s) and memory limit (MB) of every step,
        and the base environment of the submissions.
    resume : bool
        Reuse the finished steps of an earlier run whose inputs did not change.
    run : callable or None
        Runs one step (default :func:`mirex.evaluation.runner.run_step` in
        this process; :func:`mirex.cluster.step_runner` runs them on Dask).

    Returns
    -------
    dict
        ``rows`` (one dict per task and submission, as in overview.csv),
        ``reports`` (task -> the paths :func:`write_report` wrote),
        ``overview`` and ``html`` (paths).
    """
    out = Path(out_dir).resolve()
    for what, names in (("task", [t.name for t in tasks]), ("submission", [s.name for s in submissions])):
        for name in names:
            check_name(name, what)
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"{what} names must be unique and at least one given: {names}")
    prepared = [prepare_task(t, out / t.name, n_folds, seed) for t in tasks]
    plans, errors = {}, {}
    for t in prepared:
        for s in submissions:
            try:
                plans[t.name, s.name] = plan_steps(t, s, options)
            except SubmissionFolderError as exc:
                plans[t.name, s.name], errors[t.name, s.name] = [], str(exc)
    outcomes = run_nodes([n for nodes in plans.values() for n in nodes], parallel, resume,
                         **({"run": run} if run else {}))
    rows, reports, scored = [], {}, {}
    for t in prepared:
        scored[t.name] = {}
        for s in submissions:
            state = assess(t, plans[t.name, s.name], outcomes)
            if (t.name, s.name) in errors:
                state.update(status="failed", reason=errors[t.name, s.name], scores=None)
            if state["scores"]:
                scored[t.name][s.name] = state["scores"]
            rows.append({"task": t.name, "submission": s.name, **state})
        if scored[t.name]:
            reports[t.name] = write_report(t.dir / "report", scored[t.name],
                                           title=f"MIREX Train/Test results: {t.name}")
    paths = write_overview(out, rows, scored, backbones=_backbones())
    return {"rows": rows, "reports": reports, **paths}


def _backbones() -> dict:
    from .systems import VARIANTS
    return {name: VARIANTS[name][0] for name in ("LPNKK1", "LPNKK2")}


def _task_spec(name: str, value, base: Path) -> Task:
    if isinstance(value, dict):
        groups = value.get("groups")
        return Task(name, base / value["list"], base / groups if groups else None)
    value = str(value)
    if "," in value and not (base / value).is_file():
        list_path, groups = value.rsplit(",", 1)
        return Task(name, base / list_path, base / groups)
    return Task(name, base / value)


def parse_pair(text: str, what: str) -> tuple[str, str]:
    """``NAME=VALUE`` -> ``(NAME, VALUE)``; ValueError otherwise."""
    name, sep, value = text.partition("=")
    if not sep or not value:
        raise ValueError(f"{what} {text!r}: expected NAME=...")
    return check_name(name.strip(), what), value


def load_config(path=None, tasks=(), submissions=()) -> dict:
    """Tasks, submissions and settings from a TOML file and ``NAME=...`` strings.

    The file holds ``folds``, ``seed``, ``parallel``, ``num_threads``,
    ``timeout``, ``memory_limit`` (MB), ``[tasks]`` (``name = "list"``,
    ``"list,groups"`` or ``{list = ..., groups = ...}``) and ``[submissions]``
    (``name = "dir"`` or ``{dir = ..., env = {KEY = "value"}}``); paths are
    relative to the file. Strings given here (``NAME=LIST[,GROUPS]``,
    ``NAME=DIR``) are added, relative to the current folder.
    """
    settings: dict = {}
    if path:
        try:
            import tomllib
        except ModuleNotFoundError:   # Python 3.10
            raise ValueError("--config needs Python 3.11 or later (tomllib)") from None
        with open(path, "rb") as handle:
            settings = tomllib.load(handle)
    base = Path(path).resolve().parent if path else Path.cwd()
    try:
        found_tasks = [_task_spec(check_name(n, "task"), v, base)
                       for n, v in settings.pop("tasks", {}).items()]
        found_subs = []
        for name, value in settings.pop("submissions", {}).items():
            value = value if isinstance(value, dict) else {"dir": value}
            found_subs.append(Submission(check_name(name, "submission"), base / value["dir"],
                                         env={k: str(v) for k, v in value.get("env", {}).items()}))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: a task is \"list\" or {{list = ..., groups = ...}}, a "
                         f"submission \"dir\" or {{dir = ..., env = {{...}}}} ({exc!r})") from None
    found_tasks += [_task_spec(*parse_pair(t, "task"), Path.cwd()) for t in tasks]
    found_subs += [Submission(n, Path(d)) for n, d in (parse_pair(s, "submission") for s in submissions)]
    unknown = set(settings) - {"folds", "seed", "parallel", "num_threads", "timeout", "memory_limit"}
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {sorted(unknown)}")
    return {"tasks": found_tasks, "submissions": found_subs, **settings}
