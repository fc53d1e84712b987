"""The command line ``python -m tools.corpus``: build or update the corpus, print a JSON summary."""

from __future__ import annotations

import json
import logging
import re
import shlex
import sys
from pathlib import Path
from typing import Sequence

import click

from .apt import apt_update, fetch_package
from .build import build_corpus, summarize
from .packages import EXTRA_TRAIN_PACKAGES, HELDOUT_PACKAGES, TRAIN_PACKAGES

__all__ = ["corpus_command", "main"]

PROG = "python -m tools.corpus"


def _names(text: str) -> tuple[str, ...]:
    return tuple(n for n in re.split(r"[,\s]+", text) if n)


def _package_list(default: tuple[str, ...]):
    """A click callback: a comma-separated option value as names, ``default`` when not given."""
    return lambda ctx, param, value: default if value is None else _names(value)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Corpus folder (default: cache/corpus under the repository).")
@click.option("--packages", callback=_package_list(TRAIN_PACKAGES), metavar="NAMES",
              help=f"Training packages, comma-separated (default: {','.join(TRAIN_PACKAGES)}).")
@click.option("--heldout", callback=_package_list(HELDOUT_PACKAGES), metavar="NAMES",
              help=f"Held-out packages, comma-separated (default: {','.join(HELDOUT_PACKAGES)}).")
@click.option("--extra", is_flag=True, help="Append EXTRA_TRAIN_PACKAGES to the training packages.")
@click.option("--min-seconds", type=float, default=20.0, show_default=True,
              help="Shortest track kept.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Download folder (default: ROOT/.debs).")
@click.option("--keep-debs", is_flag=True, help="Keep the downloaded .deb files.")
@click.option("--prune", is_flag=True, help="Delete packages in the corpus that are not requested.")
@click.option("--apt-update", "apt_update_first", is_flag=True, help="Run apt-get update first.")
@click.option("--rendered-hours", type=float, default=30.0, show_default=True,
              help="Hours of rendered music (score/MIDI sources played with soundfonts), "
                   "shared equally by classical, choral, folk, jazz, popular and world.")
@click.option("--min-total-hours", type=float, default=40.0, show_default=True,
              help="Render more if game + rendered training music would be less than this.")
@click.option("--no-render", is_flag=True, help="Only the Debian game music (as before).")
@click.option("--render-seed", type=int, default=0, show_default=True,
              help="Seed of the render plan (another seed, other tracks).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings on stderr.")
@click.pass_context
def corpus_command(ctx, root, packages, heldout, extra, min_seconds, workdir, keep_debs, prune,
                   apt_update_first, rendered_hours, min_total_hours, no_render, render_seed,
                   quiet) -> int:
    """Assemble an unlabelled music corpus: Debian game music, then rendered music.

    The rendered part needs the ``corpus`` extra (pip install -e ".[corpus]",
    which ``make corpus`` does).  Exit status 0, or 1 when no track at all is
    in the corpus.
    """
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(levelname)s: %(message)s", stream=sys.stderr)
    if apt_update_first:
        apt_update()
    command = shlex.join([sys.executable, "-m", "tools.corpus", *(ctx.obj or [])])
    if extra:
        packages += tuple(p for p in EXTRA_TRAIN_PACKAGES if p not in packages)
    manifest = build_corpus(root, packages, heldout, min_seconds, workdir=workdir,
                            keep_debs=keep_debs, prune=prune, fetch=fetch_package,
                            command=command)
    if not no_render:
        try:
            import mido  # noqa: F401
            import tinysoundfont  # noqa: F401
        except ImportError as exc:
            raise click.ClickException(
                f"rendering needs the corpus extra ({exc}): pip install -e '.[corpus]' && "
                "pip install --no-deps tinysoundfont (or make corpus); --no-render skips it")
        from .build_rendered import build_rendered
        manifest = build_rendered(manifest["root"], rendered_hours, min_total_hours, render_seed,
                                  fetch=fetch_package)
    summary = summarize(manifest)
    click.echo(json.dumps(summary, indent=2))
    return 0 if sum(summary["tracks"].values()) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command on ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    The raw arguments are recorded in the corpus manifest as the command.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return corpus_command.main(argv, prog_name=PROG, standalone_mode=False, obj=argv)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("Aborted!", err=True)
        return 1
