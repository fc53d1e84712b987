"""The ``mirex`` command: a thin click layer over :mod:`mirex.pipeline`.

Every command logs one line per problem to stderr and ends with a summary;
the exit status is non-zero only when nothing useful could be done.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import warnings
from pathlib import Path

import click

from . import config
from .constants import DEFAULT_VARIANT
from .engines import ENGINES, PRECISIONS
from .pretrain.commands import run_door, trainer_options
from .systems import SYSTEMS

log = logging.getLogger("mirex")

#: Failures listed in full in a summary before it says "and N more".
SUMMARY_FAILURES = 20


def _setup_logging(verbosity: int) -> None:
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[mirex] %(levelname)s: %(message)s"))
    root = logging.getLogger("mirex")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    config.quiet_tensorflow(verbose=verbosity > 1)
    warnings.showwarning = _one_line_warning


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Python warnings as one log line each (no source line, no category path)."""
    log.warning("%s", message)


def _hide_native_stderr() -> None:
    """Keep TensorFlow's native start-up messages (absl, oneDNN, CUDA probing) off the terminal.

    They are written to file descriptor 2 by C++ code that no Python setting
    silences (``TF_CPP_MIN_LOG_LEVEL`` does not reach absl's pre-init log), so
    descriptor 2 goes to ``/dev/null`` and Python's ``sys.stderr`` keeps the
    terminal. Only in a real process (not under a test runner that already
    replaced ``sys.stderr``); ``-v`` keeps everything.
    """
    if sys.stderr is not sys.__stderr__ or sys.stderr is None:
        return
    try:
        keep = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    sys.stderr.flush()
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = sys.__stderr__ = os.fdopen(keep, "w", buffering=1,
                                            encoding=sys.stderr.encoding or "utf-8",
                                            errors="backslashreplace")
    logging.getLogger("absl").setLevel(logging.ERROR)


def _known_errors():
    from .backbones import BackboneError
    from .classifier import ClassifierError
    from .lists import ListError
    from .pipeline import PipelineError
    from .systems import VariantError

    return (BackboneError, ClassifierError, ListError, PipelineError, VariantError,
            config.ConfigError, _cluster_error())


def _cluster_error():
    from .cluster import ClusterError

    return ClusterError


def _report(what: str, report) -> None:
    click.echo(report.summary(what), err=True)
    failures = list(report.failures.values())
    for reason in failures[:SUMMARY_FAILURES]:
        click.echo(f"  failed: {reason}", err=True)
    if len(failures) > SUMMARY_FAILURES:
        click.echo(f"  ... and {len(failures) - SUMMARY_FAILURES} more", err=True)


def system_options(func):
    """Options shared by the MIREX commands: which system, how to run it, verbosity.

    Resolves the :class:`mirex.config.Config` once (flags > environment >
    defaults) and calls ``func(extractors=..., system=..., cfg=..., **kwargs)``.
    """

    @click.option("--variant", "-V", default=None, metavar="SYSTEM",
                  help=f"System to run: {', '.join(SYSTEMS)} "
                       f"(default ${config.ENV_VARIANT} or {DEFAULT_VARIANT}).")
    @click.option("--backbone", "backbones", multiple=True, metavar="DIR",
                  type=click.Path(file_okay=False),
                  help=f"Backbone folder to use instead of the variant's (repeatable; "
                       f"also ${config.ENV_BACKBONES}, separated by '{os.pathsep}').")
    @click.option("--models-dir", type=click.Path(file_okay=False),
                  help=f"Where named backbones live (default ${config.ENV_MODELS_DIR} or models/).")
    @click.option("--feature-store", "feature_stores", multiple=True, metavar="DIR",
                  type=click.Path(file_okay=False),
                  help=f"Extra feature store, or scratch folder holding one, to read "
                       f"(repeatable; also ${config.ENV_FEATURE_STORES}).")
    @click.option("--engine", default=None, metavar="|".join(ENGINES),
                  help=f"Inference engine (default ${config.ENV_ENGINE} or auto).")
    @click.option("--precision", default=None, metavar="|".join(PRECISIONS),
                  help=f"Arithmetic (default ${config.ENV_PRECISION} or auto).")
    @click.option("--num-threads", "-n", "num_threads", type=click.IntRange(min=1), default=None,
                  help="CPU threads to use (default: all cores).")
    @click.option("--cluster", default=None, metavar="ADDRESS",
                  help=f"Extract on a Dask cluster: local:N, tcp://HOST:PORT or "
                       f"jobqueue:FILE.yaml (also ${config.ENV_CLUSTER}).")
    @click.option("-v", "--verbose", count=True, help="More messages (-v progress, -vv debug).")
    @functools.wraps(func)
    def wrapper(variant, backbones, models_dir, feature_stores, engine, precision, num_threads,
                cluster, verbose, **kwargs):
        if not verbose:
            _hide_native_stderr()
        _setup_logging(verbose + 1)
        from .systems import extractors_for, system_name

        try:
            cfg = config.resolve(variant, backbones, models_dir, feature_stores, engine,
                                 precision, num_threads, cluster)
            config.configure_threads(cfg.num_threads)
            extractors = extractors_for(cfg)
            system = system_name(cfg.variant, cfg.backbones)
            log.info("system %s: %s", system, ", ".join(e.id for e in extractors))
            return func(extractors=extractors, system=system, cfg=cfg, **kwargs)
        except _known_errors() as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mirex-lpnkk")
def main():
    """MIREX Train/Test harness for the LPNKK submissions (SampleCNN + SVM)."""


@main.command()
@click.argument("scratch", type=click.Path(file_okay=False))
@click.argument("list_file", metavar="LIST", type=click.Path(dir_okay=False))
@system_options
def extract(scratch, list_file, extractors, system, cfg):
    """Cache the embeddings of every file in LIST (extractFeatures.sh)."""
    from . import pipeline

    _report("extract", pipeline.extract(scratch, list_file, extractors, cfg.feature_stores,
                                        cfg.cluster, cfg.num_threads))


@main.command()
@click.argument("scratch", type=click.Path(file_okay=False))
@click.argument("train_list", metavar="TRAINLIST", type=click.Path(dir_okay=False))
@click.option("--seed", default=0, show_default=True, help="Seed of the CV folds.")
@system_options
def train(scratch, train_list, seed, extractors, system, cfg):
    """Fit the SVM on TRAINLIST (path<TAB>label) and save it in SCRATCH (Train.sh)."""
    from . import pipeline

    report = pipeline.train(scratch, train_list, extractors, system, n_jobs=1, seed=seed,
                            feature_stores=cfg.feature_stores, cluster=cfg.cluster,
                            n_threads=cfg.num_threads)
    _report("train", report)
    search = report.extra["search"]
    click.echo(f"  classifier: {search.get('method')}, C={search.get('C')}, "
               f"gamma*dim={search.get('gamma_times_dim', 1.0)}, "
               f"CV accuracy={search.get('cv_accuracy', float('nan')):.3f}", err=True)


@main.command(name="classify")
@click.argument("scratch", type=click.Path(file_okay=False))
@click.argument("test_list", metavar="TESTLIST", type=click.Path(dir_okay=False))
@click.argument("out_list", metavar="OUTLIST", type=click.Path(dir_okay=False))
@system_options
def classify(scratch, test_list, out_list, extractors, system, cfg):
    """Predict a label for every line of TESTLIST into OUTLIST (Test.sh / Classify.sh)."""
    from . import pipeline

    _report("classify", pipeline.classify(scratch, test_list, out_list, extractors, system,
                                          cfg.feature_stores, cfg.cluster, cfg.num_threads))


main.add_command(classify, name="test")


@main.command(name="train-and-classify")
@click.argument("scratch", type=click.Path(file_okay=False))
@click.argument("train_list", metavar="TRAINLIST", type=click.Path(dir_okay=False))
@click.argument("test_list", metavar="TESTLIST", type=click.Path(dir_okay=False))
@click.argument("out_list", metavar="OUTLIST", type=click.Path(dir_okay=False))
@click.option("--seed", default=0, show_default=True, help="Seed of the CV folds.")
@system_options
def train_and_classify(scratch, train_list, test_list, out_list, seed, extractors, system, cfg):
    """Train on TRAINLIST, then classify TESTLIST into OUTLIST (TrainAndClassify.sh)."""
    from . import pipeline

    _report("train", pipeline.train(scratch, train_list, extractors, system, n_jobs=1,
                                    seed=seed, feature_stores=cfg.feature_stores,
                                    cluster=cfg.cluster, n_threads=cfg.num_threads))
    _report("classify", pipeline.classify(scratch, test_list, out_list, extractors, system,
                                          cfg.feature_stores, cfg.cluster, cfg.num_threads))


@main.command(name="init-backbone")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--name", default="samplecnn-random", show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--architecture", type=click.Choice(["paper", "msd-released"]), default="paper",
              show_default=True, help="3^9 paper model, or the authors' released MSD layout.")
@click.option("--overwrite", is_flag=True, help="Replace a backbone already in FOLDER.")
def init_backbone(folder, name, seed, architecture, overwrite):
    """Write an UNTRAINED, seeded random SampleCNN backbone into FOLDER."""
    from .backbones import MANIFEST_NAME, create_random_backbone
    from .backbones.samplecnn import named_config

    if (Path(folder) / MANIFEST_NAME).exists() and not overwrite:
        raise click.ClickException(f"{folder}: a backbone is already there; pass --overwrite "
                                   f"to replace it")
    backbone = create_random_backbone(folder, name=name, config=named_config(architecture),
                                      seed=seed)
    click.echo(f"{backbone.path}: untrained {architecture} SampleCNN '{name}' "
               f"(seed {seed}, {backbone.embedding_dim}-d embedding)")


@main.command(name="import-weights")
@click.argument("hdf5", type=click.Path(exists=True, dir_okay=False))
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--name", default="samplecnn-msd-authors", show_default=True)
@click.option("--no-flip", is_flag=True, help="Do not flip the kernels (file not from Theano).")
@click.option("--overwrite", is_flag=True, help="Replace a backbone already in FOLDER.")
def import_weights(hdf5, folder, name, no_flip, overwrite):
    """Convert the authors' Keras 1 / Theano weight file (weight_msdTag.hdf5) into FOLDER."""
    from .backbones import BackboneError
    from .backbones.keras1 import import_keras1_weights

    try:
        backbone = import_keras1_weights(hdf5, folder, name=name, flip_kernels=not no_flip,
                                         overwrite=overwrite)
    except BackboneError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{backbone.path}: {backbone.name} ({backbone.embedding_dim}-d embedding, "
               f"weights {backbone.weights_sha256[:12]})")


@main.command(name="import-musicnn")
@click.argument("source", type=click.Path(exists=True))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--which", default="MSD_musicnn", show_default=True,
              type=click.Choice(["MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg"]),
              help="Which model to convert (the VGG baselines: MSD_vgg, MTT_vgg).")
def import_musicnn(source, out_dir, which):
    """Convert a musicnn 0.1.0 TF1 checkpoint (wheel, package or checkpoint folder) into OUT_DIR."""
    from pathlib import Path

    from .backbones.musicnn import convert_musicnn

    command = f"mirex import-musicnn {Path(source).name} {out_dir} --which {which}"
    try:
        manifest = convert_musicnn(source, out_dir, which, command=command)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{out_dir}: {manifest['name']} ({manifest['weights']['sha256'][:12]})")


@main.command()
@click.option("--train-list", type=click.Path(dir_okay=False),
              help="tags: 'path<TAB>tag1,tag2'; genres: 'path<TAB>genre'; teacher: paths.")
@click.option("--mode", type=click.Choice(["tags", "genres", "teacher"]), default="tags",
              show_default=True, help="Multi-label tags, single-label genres, or a teacher.")
@click.option("--labels", type=click.Path(dir_okay=False),
              help="Label vocabulary file, one per line, in output order.")
@click.option("--teacher-hop", type=float, help="Seconds between teacher windows "
              "(instead of --hop-frames; rounded to 16-ms frames).")
@trainer_options("pretrain")
def pretrain(train_list, **options):
    """Train a SampleCNN backbone on tags, genres or a musicnn teacher (the paper's recipe).

    Batch 23, SGD Nesterov, lr 0.01 then /5 after --patience epochs without
    validation improvement, crops streamed from the decoded-audio cache. Run
    the same command again to resume exactly where it stopped.
    """
    _setup_logging(1)
    run_door("pretrain", train_list, options)


@main.command()
@click.argument("list_file", metavar="LIST", type=click.Path(dir_okay=False))
@trainer_options("distil")
def distil(list_file, **options):
    """Distil a SampleCNN from a musicnn teacher on the audio of LIST (one path per line).

    The shipped students' recipe: corpus in memory, mixed bfloat16, batch 64,
    lr 0.02 and its /5 stages spread over --minutes of training; any Keras
    backend (KERAS_BACKEND=jax on a GPU). Paths may be relative to LIST.
    """
    _setup_logging(1)
    run_door("distil", list_file, options)


def _systems(value: str) -> list[str]:
    from .systems import system_name

    given = [v.strip() for v in value.split(",") if v.strip()]
    names = [system_name(v) for v in given]
    unknown = [v for v, n in zip(given, names) if n not in SYSTEMS]
    if unknown or not names:
        raise click.BadParameter(f"unknown system(s) {unknown}; choose from {', '.join(SYSTEMS)}")
    return names


@main.command(name="make-folds")
@click.argument("list_file", metavar="LABELLED_LIST", type=click.Path(exists=True, dir_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--folds", "n_folds", default=3, show_default=True, type=click.IntRange(min=2))
@click.option("--groups", type=click.Path(exists=True, dir_okay=False),
              help="path<TAB>artist file: no artist is split across folds.")
@click.option("--seed", default=0, show_default=True)
def make_folds_command(list_file, out_dir, n_folds, groups, seed):
    """Write stratified (artist-filtered) MIREX fold lists for LABELLED_LIST into OUT_DIR."""
    _setup_logging(1)
    from .evaluate import make_fold_files
    from .lists import ListError

    try:
        _, _, folds, written = make_fold_files(list_file, out_dir, n_folds, groups, seed)
    except (ListError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    for path in written:
        click.echo(str(path))


@main.command()
@click.argument("list_file", metavar="LABELLED_LIST", type=click.Path(exists=True, dir_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--systems", default=DEFAULT_VARIANT, show_default=True,
              help=f"Comma-separated systems: {', '.join(SYSTEMS)}.")
@click.option("--folds", "n_folds", default=3, show_default=True, type=click.IntRange(min=2))
@click.option("--groups", type=click.Path(exists=True, dir_okay=False),
              help="path<TAB>artist file for artist filtering.")
@click.option("--seed", default=0, show_default=True, help="Seed of the fold assignment.")
@click.option("--parallel", default=1, show_default=True, type=click.IntRange(min=1),
              help="Folds run at the same time, each in its own scratch folder.")
@click.option("--num-threads", "-n", "num_threads", type=click.IntRange(min=1), default=None,
              help="-numThreads passed to every MIREX script.")
@click.option("--cluster", default=None, metavar="ADDRESS",
              help=f"Extract on a Dask cluster (passed to the scripts as ${config.ENV_CLUSTER}).")
def dryrun(list_file, out_dir, systems, n_folds, groups, seed, parallel, num_threads, cluster):
    """Run the MIREX protocol on LABELLED_LIST (folds, bin/ scripts, scoring, report)."""
    _setup_logging(1)
    from .dryrun import dry_run
    from .lists import ListError

    try:
        address = config.resolve(cluster=cluster).cluster
        env = config.environment(**{config.ENV_CLUSTER: address}) if address else None
        outcome = dry_run(list_file, out_dir, _systems(systems), n_folds, groups, seed,
                          parallel, num_threads, env)
    except (ListError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(outcome["summary"])
    click.echo(f"Report: {outcome['report']['html']}")


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--task", "tasks", multiple=True, metavar="NAME=LIST[,GROUPS]",
              help="A task: labelled list (and path<TAB>artist file). Repeat for several.")
@click.option("--submission", "submissions", multiple=True, metavar="NAME=DIR",
              help="A folder with the MIREX scripts. Repeat for several.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="TOML file with [tasks], [submissions] and the options below.")
@click.option("--folds", "folds", type=click.IntRange(min=2), help="Folds [3]." )
@click.option("--seed", type=int, help="Seed of the fold assignment [0].")
@click.option("--num-threads", "-n", "num_threads", type=click.IntRange(min=1),
              help="-numThreads passed to every script.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
              help="Seconds a step may run before its process tree is killed.")
@click.option("--memory-limit", "memory_limit", type=click.FloatRange(min=0, min_open=True),
              help="MB of resident memory a step's process tree may hold.")
@click.option("--parallel", type=click.IntRange(min=1), help="Steps run at the same time [1].")
@click.option("--fresh", is_flag=True, help="Run every step again instead of resuming.")
@click.option("--cluster", default=None, metavar="ADDRESS",
              help="Run the steps on a Dask cluster (local:N, tcp://HOST:PORT, jobqueue:FILE); "
                   "its workers must share the file system.")
def evaluate(out_dir, tasks, submissions, config_file, fresh, cluster, **given):
    """Run and score MIREX Train/Test submissions on several tasks (a local MIREX)."""
    _setup_logging(1)
    from .evaluate import StepOptions, evaluate as run_evaluation, load_config
    from .lists import ListError

    try:
        setup = load_config(config_file, tasks, submissions)
        setup.update({k: v for k, v in given.items() if v is not None})
        if not setup["tasks"] or not setup["submissions"]:
            raise ValueError("give at least one --task and one --submission (or a --config)")
        options = StepOptions(setup.get("num_threads"), setup.get("timeout"),
                              setup.get("memory_limit"), config.environment())
        address = config.resolve(cluster=cluster).cluster
        with contextlib.ExitStack() as stack:
            run, parallel = None, setup.get("parallel", 1)
            if address:
                from .cluster import session, step_runner

                client = stack.enter_context(session(address))
                run = step_runner(client)
                parallel = max(parallel, len(client.scheduler_info()["workers"]))
            outcome = run_evaluation(out_dir, setup["tasks"], setup["submissions"],
                                     setup.get("folds", 3), setup.get("seed", 0), parallel,
                                     options, resume=not fresh, run=run)
    except (ListError, ValueError, OSError, _cluster_error()) as exc:
        raise click.ClickException(str(exc)) from None
    for row in outcome["rows"]:
        click.echo(f"{row['task']:<16} {row['submission']:<16} {row['status']:<8} {row['reason']}")
    click.echo(f"Overview: {outcome['html']}")


@main.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Working folder (default: cache/demo in the project).")
@click.option("--clips-per-class", default=20, show_default=True, type=click.IntRange(min=3))
@click.option("--classes", "n_classes", default=5, show_default=True, type=click.IntRange(min=2))
@click.option("--duration", default=30.0, show_default=True, help="Seconds per clip.")
def demo(out_dir, clips_per_class, n_classes, duration):
    """Generate a small task and run the MIREX dry run on it (make demo)."""
    _setup_logging(1)
    from .demo.run import DEFAULT_DEMO_DIR, run_demo

    run_demo(out_dir or DEFAULT_DEMO_DIR, n_classes=n_classes, clips_per_class=clips_per_class,
             duration=duration, echo=click.echo, models_dir=config.resolve().models_dir)


if __name__ == "__main__":  # pragma: no cover
    main(prog_name="mirex")
