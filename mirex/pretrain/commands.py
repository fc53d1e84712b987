"""The command-line options of the two doors, ``mirex pretrain`` and ``mirex distil``.

Both doors take every option of the one trainer (:class:`~mirex.pretrain.options.Options`)
at their own defaults; :mod:`mirex.cli` adds what only one door has
(``pretrain``: ``--train-list``, ``--mode``, ``--labels``, ``--teacher-hop``;
``distil``: the positional ``LIST``) and calls :func:`run_door`.
"""

from __future__ import annotations

import json

import click

from .options import DISTIL_DEFAULTS, DISTILL, Options
from .schedule import POLICIES
from .sources import SOURCES
from .strategies import STRATEGIES

__all__ = ["trainer_options", "run_door"]


def _floats(ctx, param, value):
    return None if value is None else [float(v) for v in value.replace(" ", "").split(",") if v]


def _target_options(door: str, d: Options) -> list:
    """What the student learns from, and how it is validated."""
    return [
        click.option("--out", "out_dir", required=door == "distil",
                     type=click.Path(file_okay=False), help="Run folder (resumed when it holds "
                     "a run); the backbone goes to OUT/backbone."),
        click.option("--teacher", required=door == "distil", multiple=True,
                     help="musicnn backbone folder, e.g. models/musicnn-msd (teacher mode); "
                     "several: repeat the option or separate them by commas (their posteriors "
                     "are averaged, their features concatenated)."),
        click.option("--distill", type=click.Choice(DISTILL), default=d.distill,
                     show_default=True, help="Teacher mode: regress its tag posteriors or its "
                     "pooled features."),
        click.option("--teacher-features", type=click.Choice(["pool", "max_pool"]),
                     default=d.teacher_features, show_default=True),
        click.option("--hop-frames", type=click.IntRange(min=1), default=d.hop_frames,
                     show_default=True, help="16-ms frames between teacher windows."),
        click.option("--valid-list", type=click.Path(dir_okay=False),
                     help="Validation clips (default: hold out --valid-fraction)."),
        click.option("--valid-fraction", type=float, default=d.valid_fraction, show_default=True),
        click.option("--valid-segments", type=int, default=d.valid_segments, show_default=True,
                     help="Fixed segments (teacher: windows) per validation clip."),
        click.option("--config", default="paper", show_default=True,
                     help="'paper', 'msd-released', a JSON file or inline JSON."),
        click.option("--name", help="Backbone name (default: the --out folder's name)."),
        click.option("--init-from", type=click.Path(exists=True),
                     help="Backbone folder or .weights.h5 to start from."),
    ]


def _recipe_options(d: Options) -> list:
    """Batches, learning rates and their schedule, precision, where crops come from."""
    lrs = ",".join(f"{v:g}" for v in d.lrs)
    return [
        click.option("--batch-size", type=click.IntRange(min=1), default=d.batch_size,
                     show_default=True, help="Global batch, in segments."),
        click.option("--lrs", callback=_floats,
                     help=f"Comma-separated learning rates of the stages [default: {lrs}]."),
        click.option("--lr", type=float, help="First stage's rate; each later one a fifth of it."),
        click.option("--schedule", type=click.Choice(POLICIES), default=d.schedule,
                     show_default=True, help="Next stage on a validation plateau, or stages "
                     "spread over --minutes of training."),
        click.option("--patience", type=click.IntRange(min=1), default=d.patience,
                     show_default=True),
        click.option("--epochs-per-stage", type=click.IntRange(min=1)),
        click.option("--minutes", "budget_minutes", type=float, default=d.budget_minutes,
                     show_default=True, help="Training-time budget (--schedule budget)."),
        click.option("--steps-per-epoch", type=click.IntRange(min=1), default=d.steps_per_epoch,
                     show_default=True, help="Batches per epoch (default: one pass)."),
        click.option("--augment", default=None, help="Augment the training crops: 'all', "
                     "names from gain,eq,mix,pitch,shift separated by commas, or inline JSON "
                     "{name: {param: value}} (default: off; see mirex.pretrain.augment)."),
        click.option("--seed", type=int, default=d.seed, show_default=True),
        click.option("--precision", default=d.precision, show_default=True,
                     help="Keras dtype policy, e.g. mixed_bfloat16 (default float32)."),
        click.option("--source", type=click.Choice(SOURCES), default=d.source, show_default=True,
                     help="Crops streamed from the decoded-audio cache, or held in memory."),
        click.option("--cache-dir", type=click.Path(file_okay=False),
                     help="Decoded audio and teacher targets (default: OUT/cache)."),
        click.option("--max-duration", type=float, default=d.max_duration, show_default=True,
                     help="Seconds decoded per file."),
    ]


def _run_options(d: Options) -> list:
    """Machines, stopping and resuming, output."""
    return [
        click.option("--workers", type=click.IntRange(min=1), default=d.workers,
                     show_default=True, help="Decoding threads and batches read at once."),
        click.option("--strategy", type=click.Choice(STRATEGIES), default="default",
                     show_default=True, help="tf.distribute (TensorFlow backend only)."),
        click.option("--max-minutes", type=float,
                     help="Stop (with a checkpoint) after this long."),
        click.option("--max-epochs", type=click.IntRange(min=0),
                     help="Stop once this many epochs are done in all."),
        click.option("--max-steps", type=click.IntRange(min=0),
                     help="Stop after the epoch that reaches this many steps in all."),
        click.option("--checkpoint-minutes", type=float, default=d.checkpoint_minutes,
                     show_default=True, help="Also checkpoint within an epoch this often."),
        click.option("--prepare-only", is_flag=True,
                     help="Only fill the audio and teacher caches."),
        click.option("--resume/--no-resume", default=d.resume, show_default=True,
                     help="Continue the run in --out (else refuse a folder that holds one)."),
        click.option("--num-threads", type=click.IntRange(min=1),
                     help="CPU threads (default: all)."),
        click.option("--benchmark", type=click.IntRange(min=1), metavar="STEPS",
                     help="Time STEPS training steps of --config on random data and exit."),
        click.option("--verbose", type=click.IntRange(0, 2), default=1, show_default=True,
                     help="0 silent, 1 a progress bar per epoch, 2 a line per epoch."),
    ]


def trainer_options(door: str):
    """Decorator: every trainer option, at the defaults of ``door`` ('pretrain' or 'distil')."""
    d = Options("", "", **(DISTIL_DEFAULTS if door == "distil" else {}))
    options = _target_options(door, d) + _recipe_options(d) + _run_options(d)

    def decorate(func):
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def run_door(door: str, train_list, options: dict) -> None:
    """Run one door with the parsed options; print its result as JSON (errors: one line)."""
    from ..backbones import BackboneError
    from ..lists import ListError
    from . import api

    num_threads, steps, lr = (options.pop(k) for k in ("num_threads", "benchmark", "lr"))
    if num_threads:
        from ..config import configure_threads

        configure_threads(num_threads)
    if lr is not None:
        options["lrs"] = api.divided_by_five(lr)
    teachers = list(options.get("teacher") or ())     # --teacher repeated: a list of them
    options["teacher"] = teachers[0] if len(teachers) == 1 else teachers or None
    options = {k: v for k, v in options.items() if v is not None or k == "teacher"}
    try:
        if steps:
            from .bench import benchmark

            result = benchmark(options["config"], options["batch_size"], steps,
                               strategy=options["strategy"], precision=options.get("precision"))
        elif train_list is None or options.get("out_dir") is None:
            raise click.UsageError("--train-list and --out are required")
        elif door == "pretrain":
            result = api.pretrain(train_list, **options)
        else:
            result = api.distil(train_list, options.pop("teacher"), options.pop("out_dir"),
                                **options)
    except (ValueError, ListError, BackboneError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(result, indent=1, default=str))
