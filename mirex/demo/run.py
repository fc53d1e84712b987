"""``make demo``: the MIREX dry run on a small generated task, out of the box.

Generates a deterministic task with :mod:`mirex.demo.synth` (5 classes x 20 clips
of 30 s by default), then runs :func:`mirex.dryrun.dry_run` with the default
variant and the ``mfcc-svm`` and ``musicnn-svm`` peers, and prints the summary
table.

When the default variant's pre-trained backbones are not in ``models/``, the
demo says so loudly and uses UNTRAINED seeded SampleCNNs written to its own
cache folder instead, so that the whole flow still runs.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from .. import config
from ..backbones import BackboneError, create_random_backbone, load_backbone
from ..constants import DEFAULT_VARIANT
from ..dryrun import dry_run
from ..systems import VARIANTS
from .synth import make_task

__all__ = ["run_demo", "DEFAULT_DEMO_DIR"]

log = logging.getLogger(__name__)

#: Where the demo keeps its task, scratch folders and report (git-ignored).
DEFAULT_DEMO_DIR = Path(__file__).resolve().parents[2] / "cache" / "demo"


def _models_for(variant: str, demo_dir: Path, models: Path) -> tuple[Path, bool]:
    """A models folder holding the variant's backbones, and whether they are trained."""
    try:
        for name in VARIANTS[variant]:
            load_backbone(models / name)
        return models, all(load_backbone(models / n).trained for n in VARIANTS[variant])
    except BackboneError:
        pass
    fallback = demo_dir / "untrained-models"
    for seed, name in enumerate(VARIANTS[variant]):
        if not (fallback / name / "manifest.json").exists():
            create_random_backbone(fallback / name, name=name, seed=seed)
    # The peers' networks (e.g. musicnn-msd) stay those of the models folder.
    for folder in models.iterdir() if models.is_dir() else ():
        link = fallback / folder.name
        if folder.is_dir() and not link.exists():
            link.symlink_to(folder.resolve(), target_is_directory=True)
    return fallback, False


def run_demo(out_dir=DEFAULT_DEMO_DIR, n_classes: int = 5, clips_per_class: int = 20,
             duration: float = 30.0, systems=None, n_folds: int = 3, echo=print,
             models_dir=config.PROJECT_MODELS_DIR) -> dict:
    """Generate the task, run the dry run, print and return its outcome.

    ``models_dir`` is where the variant's backbones are looked for; without
    them the demo makes untrained ones.
    """
    out_dir = Path(out_dir)
    started = time.monotonic()
    variant = DEFAULT_VARIANT
    systems = list(systems or [variant, "mfcc-svm", "musicnn-svm"])
    echo(f"Generating {n_classes} classes x {clips_per_class} clips of {duration:.0f} s ...")
    items = make_task(str(out_dir / "task"), n_classes=n_classes,
                      clips_per_class=clips_per_class, duration=duration)
    labelled = out_dir / "task" / "all.txt"
    models, trained = _models_for(variant, out_dir, Path(models_dir))
    for name in VARIANTS[variant]:
        status = load_backbone(models / name).manifest["provenance"].get("status")
        if trained and status:
            echo(f"NOTE: backbone {name}: {status}.")
    if not trained:
        echo(f"NOTE: no pre-trained backbones for {variant} in {models_dir}; "
             f"this demo uses UNTRAINED random SampleCNNs ({models}).")
    env = config.environment(**{config.ENV_MODELS_DIR: str(models)})
    echo(f"Running the MIREX dry run ({n_folds} folds) on {len(items)} clips: "
         f"{', '.join(systems)} ...")
    outcome = dry_run(labelled, out_dir / "dryrun", systems=systems, n_folds=n_folds, env=env)
    echo(outcome["summary"])
    echo(f"Report: {outcome['report']['html']}")
    echo(f"Demo finished in {time.monotonic() - started:.0f} s.")
    outcome["seconds"] = time.monotonic() - started
    return outcome
