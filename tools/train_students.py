"""Train both students (LPNKK1's samplecnn-msd, LPNKK2's samplecnn-mtt) in one run: ``make students``.

Each student is distilled (``mirex distil``'s recipe: batch 64, lr 0.02 and
its /5 stages over ``--minutes``, mixed bfloat16, corpus in memory) from the
two teachers of its label culture, their posteriors averaged, with the
training crops augmented (gain, EQ, mixing, pitch and time shift); see
:mod:`mirex.pretrain.students`. Run it again after an interruption (Ctrl-C,
SIGTERM, a lost machine): it resumes each student exactly where it stopped
and skips a finished one. On a GPU machine::

    KERAS_BACKEND=jax make students          # = the command below with its defaults
    KERAS_BACKEND=jax .venv/bin/python tools/train_students.py \\
        --list cache/corpus/train.txt --out cache/students --minutes 10

Result: ``OUT/samplecnn-msd/backbone`` and ``OUT/samplecnn-mtt/backbone``
(with ``--install models``: copied over ``models/samplecnn-msd`` and
``models/samplecnn-mtt`` once finished), ``OUT/students.json`` (this command
and each student's figures) and each run's ``log.csv``. Every option after
those below is passed to both students as the :class:`mirex.pretrain.options.Options`
field of its name (e.g. ``--max-steps 4``, ``--config '{...}'``).
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mirex.pretrain.students import SPLITS, STUDENTS, train_students  # noqa: E402

#: Pass-through options: name -> type (parsed from the command line).
PASS_THROUGH = {"config": str, "batch_size": int, "steps_per_epoch": int, "max_steps": int,
                "max_epochs": int, "max_minutes": float, "max_duration": float, "workers": int,
                "precision": str, "source": str, "seed": int, "valid_segments": int,
                "valid_fraction": float, "checkpoint_minutes": float, "hop_frames": int,
                "lr": float, "verbose": int, "cache_dir": str}


def parse(argv=None) -> tuple[argparse.Namespace, dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", default="cache/corpus/train.txt",
                        help="Unlabelled audio, one path per line (default: %(default)s).")
    parser.add_argument("--out", default="cache/students", help="Run folder (default: %(default)s).")
    parser.add_argument("--models-dir", default="models", help="Where the teachers are.")
    parser.add_argument("--students", default=",".join(STUDENTS),
                        help="Which, comma-separated (default: %(default)s).")
    parser.add_argument("--split", choices=SPLITS, default="full",
                        help="Both students on the whole list, or on disjoint halves.")
    parser.add_argument("--augment", default="all",
                        help="Crop augmentation: 'all', 'none', names or inline JSON.")
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="Training budget of each student (default: %(default)s).")
    parser.add_argument("--install", help="Copy finished backbones to INSTALL/<name> (e.g. models).")
    for name, kind in PASS_THROUGH.items():
        parser.add_argument("--" + name.replace("_", "-"), type=kind, dest=name)
    args = parser.parse_args(argv)
    options = {k: getattr(args, k) for k in PASS_THROUGH if getattr(args, k) is not None}
    if "config" in options and options["config"].lstrip().startswith("{"):
        options["config"] = json.loads(options["config"])
    return args, options


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args, options = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    options.setdefault("verbose", 2)
    summary = train_students(args.list, args.out, models_dir=args.models_dir,
                             names=[n.strip() for n in args.students.split(",") if n.strip()],
                             split=args.split, augment=args.augment, minutes=args.minutes,
                             install=args.install,
                             command=shlex.join(["python", "tools/train_students.py"] + argv),
                             **options)
    for name, result in summary["students"].items():
        print(f"{name}: {result['status']}, {result.get('steps', 0)} steps, backbone "
              f"{result['backbone']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
