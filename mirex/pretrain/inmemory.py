"""Distil a SampleCNN from a musicnn teacher with the corpus in memory, on any Keras 3 backend.

:mod:`mirex.pretrain.train` is the full trainer (TensorFlow: ``tf.data``,
``tf.distribute``, corpora of any size through a decoded-audio cache on
disk). This module is its lean sibling for one accelerator without
TensorFlow (``KERAS_BACKEND=jax`` or ``torch``) and a corpus that fits in
memory (10 h at 22050 Hz is 3.2 GB of float32, plus the teacher's log-mel
windows while they are labelled: about 5 GB for 10 h at the default hop):

1. every file of the list is decoded twice with :func:`mirex.audio.load`,
   at 22050 Hz for the student and at 16 kHz for the teacher;
2. the teacher (a musicnn backbone folder) labels 3-s log-mel windows every
   ``hop_frames`` frames (32 frames = 0.512 s) with its tag posteriors and
   its pooled ``[max_pool, mean_pool]`` features, on the accelerator;
3. each training example is a random window and a 59049-sample student crop
   that lies inside it (random offset in the 0.32 s the window is longer);
   the target is the window's posteriors (``distill='posteriors'``, binary
   cross-entropy on soft targets) or its standardised features through a
   linear head on the multi-level embedding (``distill='features'``, MSE);
4. SGD with Nesterov momentum 0.9 (the paper's optimizer), mixed bfloat16
   precision by default, and the paper's learning-rate stages (each a fifth
   of the one before) compressed onto a time budget: stage ``k`` starts at
   ``STAGE_FRACTIONS[k]`` of ``minutes``;
5. after every epoch: validation on fixed windows of held-out files (10 %,
   split by file), a row of ``log.csv``, and a checkpoint
   (``checkpoint.weights.h5`` + ``state.json``, replaced atomically);
   ``--resume`` continues the time budget from it (weights and momenta);
6. at the end the weights of the epoch with the lowest validation loss are
   written as a backbone folder (``OUT/backbone``) whose manifest records the
   corpus, teacher, schedule, validation agreement and command.

Example (a GPU machine with JAX and no TensorFlow)::

    KERAS_BACKEND=jax mirex distil pack/list.txt \\
        --teacher models/musicnn-mtt --out run-mtt --name samplecnn-mtt --minutes 8
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import math
import os
import shlex
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..backbones.samplecnn import MSD_RELEASED_CONFIG, PAPER_CONFIG, dtype_policy
from ..constants import MAX_DURATION, SAMPLE_RATE, SEGMENT_SAMPLES
from ..fileio import atomic_save_weights, atomic_write_text
from ..lists import read_paths
from . import student
from .train import LRS, MOMENTUM, write_log

__all__ = ["Corpus", "load_corpus", "teacher_windows", "distil", "main"]

log = logging.getLogger("mirex.pretrain")

#: Fraction of the time budget at which each learning-rate stage starts.
STAGE_FRACTIONS = (0.0, 0.55, 0.8, 0.93)
STATE_NAME = "state.json"
CHECKPOINT_NAME = "checkpoint.weights.h5"
LOG_NAME = "log.csv"
LOG_COLUMNS = ("epoch", "lr", "steps", "train_loss", "val_loss", "val_auc", "val_auc_top5",
               "val_r2", "seconds", "segments_per_s")


class Corpus:
    """Decoded clips, concatenated.

    Attributes
    ----------
    paths : list of str
    wave : np.ndarray [shape=(total,), float32]
        All clips at 22050 Hz, one after the other.
    offsets, lengths : np.ndarray [shape=(n_clips,), int64]
        Where each clip starts in ``wave`` and its length in samples.
    wave16 : list of np.ndarray
        Each clip at 16 kHz (for the teacher).
    """

    def __init__(self, paths, clips22, clips16):
        self.paths = list(paths)
        self.lengths = np.array([c.size for c in clips22], np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        self.wave = np.concatenate(clips22).astype(np.float32) if clips22 else np.zeros(0,
                                                                                     np.float32)
        self.wave16 = list(clips16)

    @property
    def hours(self) -> float:
        return float(self.lengths.sum()) / SAMPLE_RATE / 3600.0

    def crops(self, clips: np.ndarray, starts: np.ndarray,
              n_samples: int = SEGMENT_SAMPLES) -> np.ndarray:
        """Crops ``(n, n_samples, 1)`` float32 at ``starts`` (22050-Hz samples) of ``clips``."""
        out = np.empty((len(clips), n_samples, 1), np.float32)
        for row, (c, s) in enumerate(zip(clips, starts)):
            first = self.offsets[c] + s
            out[row, :, 0] = self.wave[first : first + n_samples]
        return out


def load_corpus(paths, workers: int = 8, max_duration: float = MAX_DURATION) -> Corpus:
    """Decode every readable file at 22050 and 16000 Hz; unreadable or too short ones are skipped.

    Each file is decoded once per rate, like the harness (SampleCNN) and the
    musicnn peer do at extraction time, so that the teacher labels exactly
    the signal it sees there (decoding is about 1 % of a training run).
    """
    from ..audio import AudioError, load
    from ..backbones import musicnn as m

    def one(path):
        try:
            y22 = np.asarray(load(path, SAMPLE_RATE, max_duration=max_duration), np.float32)
            y16 = np.asarray(load(path, m.SAMPLE_RATE, max_duration=max_duration), np.float32)
        except AudioError as exc:
            log.warning("%s", exc)
            return None
        if y22.size < SEGMENT_SAMPLES + 1:
            log.warning("%s: shorter than one segment; skipped", path)
            return None
        return path, y22, y16

    with ThreadPoolExecutor(workers) as pool:
        done = [d for d in pool.map(one, paths) if d is not None]
    return Corpus([d[0] for d in done], [d[1] for d in done], [d[2] for d in done])


def teacher_windows(corpus: Corpus, teacher_dir, hop_frames: int = 32,
                    batch_size: int = 256, workers: int = 8) -> dict:
    """Teacher outputs of 3-s windows of every clip, and where the student may crop in each.

    Returns
    -------
    dict
        ``clip`` ``(W,)`` int64, ``start`` ``(W,)`` int64 (first 22050-Hz
        sample of the window), ``slack`` (samples a crop may be shifted
        inside a window), ``taggram`` ``(W, 50)`` float32, ``pool``
        ``(W, 1506)`` float32 ``[max_pool, mean_pool]``, ``labels``,
        ``teacher`` (name, weights sha256).
    """
    from ..backbones import musicnn as m

    model, manifest = m.load_musicnn(teacher_dir)
    features = m.feature_model(model)
    n_frames = int(model.input_shape[1] or m.PATCH_FRAMES)

    def patches(y16):
        return m.make_patches(m.logmel(y16), n_frames, hop_frames)

    window_seconds = n_frames * m.HOP_LENGTH / m.SAMPLE_RATE
    slack = max(0, int(round(window_seconds * SAMPLE_RATE)) - SEGMENT_SAMPLES)
    with ThreadPoolExecutor(workers) as pool:
        per_clip = list(pool.map(patches, corpus.wave16))
    counts = np.array([len(p) for p in per_clip], np.int64)
    # One predict over all windows: a single input shape, so one compilation.
    windows = np.concatenate(per_clip)
    del per_clip                                  # the patches are held once, not twice
    out = features.predict(windows, batch_size=batch_size, verbose=0)
    del windows
    clips = [np.full(n, c, np.int64) for c, n in enumerate(counts)]
    starts = []
    for c, n in enumerate(counts):
        s = np.round(np.arange(n) * hop_frames * m.HOP_LENGTH / m.SAMPLE_RATE * SAMPLE_RATE)
        starts.append(np.minimum(s.astype(np.int64),
                                 corpus.lengths[c] - SEGMENT_SAMPLES - slack).clip(0))
    tags = [np.asarray(out["taggram"], np.float32)]
    pools = [np.concatenate([np.asarray(out["max_pool"], np.float32),
                             np.asarray(out["mean_pool"], np.float32)], axis=1)]
    room = corpus.lengths[np.concatenate(clips)] - np.concatenate(starts) - SEGMENT_SAMPLES
    return {"clip": np.concatenate(clips), "start": np.concatenate(starts),
            "room": np.minimum(room, slack).clip(0), "slack": slack,
            "taggram": np.concatenate(tags), "pool": np.concatenate(pools),
            "labels": list(manifest["labels"]),
            "teacher": {"name": manifest["name"], "weights_sha256": manifest["weights"]["sha256"],
                        "hop_frames": int(hop_frames)}}


def _split(n_clips: int, valid_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of validation clips (at least one when there are two clips or more)."""
    rng = np.random.default_rng([seed, 1])
    n_valid = min(n_clips - 1, max(1, int(round(valid_fraction * n_clips)))) if n_clips > 1 else 0
    mask = np.zeros(n_clips, bool)
    mask[rng.permutation(n_clips)[:n_valid]] = True
    return mask


def stage_lr(fraction: float, lrs=LRS, stage_fractions=STAGE_FRACTIONS) -> float:
    """The learning rate at ``fraction`` (0..1) of the time budget."""
    stage = sum(fraction >= f for f in stage_fractions[: len(lrs)]) - 1
    return float(lrs[max(0, min(stage, len(lrs) - 1))])


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def distil(list_path, teacher, out_dir, name: str | None = None, distill: str = "posteriors",
           config="paper", minutes: float = 8.0, batch_size: int = 64, lr: float = 0.02,
           steps_per_epoch: int = 200, hop_frames: int = 32, valid_fraction: float = 0.1,
           valid_windows: int = 1024, precision: str = "mixed_bfloat16", seed: int = 0,
           resume: bool = False, init_from=None, workers: int = 8, command: str | None = None,
           max_steps: int | None = None) -> dict:
    """Train a student and write ``out_dir/backbone``; returns the summary (also ``summary.json``).

    ``lr`` is the first stage's rate; later stages divide it by 5 each.
    ``max_steps`` stops after the epoch that reaches that many steps in all
    (for tests).
    """
    import keras

    from ..backbones import save_backbone
    from .teacher import r2, tag_agreement

    t_start = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = name or out.name
    if isinstance(config, str):
        config = {"paper": PAPER_CONFIG, "msd": MSD_RELEASED_CONFIG}[config]
    paths = read_paths(list_path)
    base = Path(list_path).resolve().parent
    paths = [str(base / p) if not os.path.isabs(p) else p for p in paths]

    corpus = load_corpus(paths, workers=workers)
    t_decoded = time.time()
    targets = teacher_windows(corpus, teacher, hop_frames=hop_frames, workers=workers)
    t_teacher = time.time()
    log.info("%d clips, %.2f h decoded in %.0f s; %d teacher windows in %.0f s",
             len(corpus.paths), corpus.hours, t_decoded - t_start, len(targets["clip"]),
             t_teacher - t_decoded)

    valid_clip = _split(len(corpus.paths), valid_fraction, seed)
    is_valid = valid_clip[targets["clip"]]
    train_w, valid_w = np.flatnonzero(~is_valid), np.flatnonzero(is_valid)
    if len(train_w) == 0 or len(valid_w) == 0:
        raise ValueError(f"{list_path}: needs at least two readable files (training and "
                         f"validation); found {len(corpus.paths)}")
    rng = np.random.default_rng([seed, 2])
    if len(valid_w) > valid_windows:
        valid_w = np.sort(rng.choice(valid_w, valid_windows, replace=False))

    if distill == "posteriors":
        y_all = targets["taggram"]
        features_dim, labels = None, targets["labels"]
        config = {**config, "n_outputs": y_all.shape[1], "output_activation": "sigmoid"}
    else:
        pool = targets["pool"]
        mean, std = pool[train_w].mean(0), pool[train_w].std(0)
        std[std < 1e-6] = 1.0
        y_all = ((pool - mean) / std).astype(np.float32)
        features_dim, labels = y_all.shape[1], [f"output{i}" for i in range(config["n_outputs"])]
    loss_name = student.loss_name("teacher", distill)

    with dtype_policy(precision):
        backbone, train_model, _ = student.build_student(config, features_dim, seed)
    outputs = keras.layers.Activation("linear", dtype="float32", name="to_float32")(
        train_model.output)
    model = keras.Model(train_model.input, outputs, name="student")
    optimizer = keras.optimizers.SGD(learning_rate=lr, momentum=MOMENTUM, nesterov=True)
    model.compile(optimizer=optimizer, loss=loss_name, jit_compile="auto")

    state = {"epoch": 0, "seconds": 0.0, "steps": 0, "rows": [], "best_val_loss": None,
             "best_epoch": None}
    state_path, ckpt_path = out / STATE_NAME, out / CHECKPOINT_NAME
    if resume and state_path.is_file():
        state = json.loads(state_path.read_text())
        model.optimizer.build(model.trainable_variables)      # so that momenta load too
        model.load_weights(ckpt_path)
        log.info("resumed after epoch %d (%.0f s trained)", state["epoch"], state["seconds"])
    elif init_from:
        from ..backbones import load_backbone

        source = Path(init_from)
        backbone.load_weights(load_backbone(source).weights_path if source.is_dir() else source)
    best_path = out / "best.weights.h5"

    lrs = [lr / 5 ** k for k in range(len(LRS))]
    budget = minutes * 60.0
    valid_x = corpus.crops(targets["clip"][valid_w],
                           targets["start"][valid_w] + targets["room"][valid_w] // 2)
    valid_y = y_all[valid_w]

    class Crops(keras.utils.PyDataset):
        def __init__(self, epoch):
            super().__init__(workers=min(workers, 8), use_multiprocessing=False,
                             max_queue_size=16)
            self.epoch = epoch

        def __len__(self):
            return steps_per_epoch

        def __getitem__(self, i):
            r = np.random.default_rng([seed, self.epoch, i])
            w = train_w[r.integers(0, len(train_w), batch_size)]
            shift = (r.random(batch_size) * (targets["room"][w] + 1)).astype(np.int64)
            x = corpus.crops(targets["clip"][w], targets["start"][w] + shift)
            return x, y_all[w]

    def evaluate():
        p = model.predict(valid_x, batch_size=256, verbose=0).astype(np.float32)
        row = {"val_loss": float(student.numpy_loss(loss_name, valid_y, p).mean())}
        if distill == "posteriors":
            row["val_auc"] = tag_agreement(p, valid_y, 0.5)[0]
            row["val_auc_top5"] = tag_agreement(p, valid_y, top_k=5)[0]
        else:
            row["val_r2"] = r2(valid_y, p)
        return {k: (round(v, 6) if math.isfinite(v) else None) for k, v in row.items()}

    while state["seconds"] < budget and (max_steps is None or state["steps"] < max_steps):
        epoch_lr = stage_lr(state["seconds"] / budget, lrs)
        model.optimizer.learning_rate = epoch_lr
        t0 = time.time()
        history = model.fit(Crops(state["epoch"]), epochs=1, verbose=0)
        seconds = time.time() - t0
        state["epoch"] += 1
        state["steps"] += steps_per_epoch
        state["seconds"] += seconds
        row = {"epoch": state["epoch"], "lr": epoch_lr, "steps": steps_per_epoch,
               "train_loss": round(float(history.history["loss"][-1]), 6), **evaluate(),
               "seconds": round(seconds, 2),
               "segments_per_s": round(steps_per_epoch * batch_size / seconds, 1)}
        state["rows"].append(row)
        if row["val_loss"] is not None and (state["best_val_loss"] is None
                                            or row["val_loss"] < state["best_val_loss"]):
            state["best_val_loss"], state["best_epoch"] = row["val_loss"], state["epoch"]
            atomic_save_weights(model, best_path)
        atomic_save_weights(model, ckpt_path)
        atomic_write_text(state_path, json.dumps(state, indent=1) + "\n")
        write_log(out / LOG_NAME, state["rows"], LOG_COLUMNS)
        log.info("epoch %d lr %.5f train %.4f val %s (%.1f segments/s)", state["epoch"],
                 epoch_lr, row["train_loss"], row["val_loss"], row["segments_per_s"])

    if state["best_epoch"] is None:
        raise ValueError(f"{out}: no epoch gave a finite validation loss (training diverged)")
    model.load_weights(best_path)
    best = next(r for r in state["rows"] if r["epoch"] == state["best_epoch"])
    provenance = {
        "description": (f"SampleCNN distilled from {targets['teacher']['name']} by "
                        f"mirex.pretrain.inmemory ({distill})"),
        "mode": "teacher", "distill": distill, "teacher": targets["teacher"],
        "corpus": {"list": str(list_path), "clips": int((~valid_clip).sum()),
                   "valid_clips": int(valid_clip.sum()), "hours": round(corpus.hours, 4),
                   "train_windows": int(len(train_w)), "valid_windows": int(len(valid_w))},
        "epochs": state["epoch"], "steps": state["steps"],
        "segments_seen": state["steps"] * batch_size,
        "best_epoch": state["best_epoch"], "val": best,
        "recipe": {"optimizer": "SGD", "momentum": MOMENTUM, "nesterov": True,
                   "batch_size": batch_size, "lrs": lrs, "stage_fractions": STAGE_FRACTIONS,
                   "minutes": minutes, "steps_per_epoch": steps_per_epoch,
                   "precision": precision, "seed": seed, "loss": loss_name,
                   "crops": "random window, random offset inside it (numpy default_rng)"},
        "training_seconds": round(state["seconds"], 1),
        "software": {"keras": keras.__version__, "backend": keras.backend.backend()},
        "command": command,
        "written": _now(),
    }
    save_backbone(out / "backbone", backbone, name, config, labels, provenance, trained=True)
    summary = {"name": name, "clips": len(corpus.paths), "hours": round(corpus.hours, 3),
               "windows": int(len(targets["clip"])), "decode_seconds": round(t_decoded - t_start, 1),
               "teacher_seconds": round(t_teacher - t_decoded, 1), **provenance}
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    return summary


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mirex distil",
                                description=__doc__.splitlines()[0])
    p.add_argument("list", help="audio files, one per line (relative to the list's folder)")
    p.add_argument("--teacher", required=True, help="musicnn backbone folder")
    p.add_argument("--out", required=True)
    p.add_argument("--name")
    p.add_argument("--distill", choices=("posteriors", "features"), default="posteriors")
    p.add_argument("--config", default="paper", help="'paper' or 'msd'")
    p.add_argument("--minutes", type=float, default=8.0, help="training time budget")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--steps-per-epoch", type=int, default=200)
    p.add_argument("--hop-frames", type=int, default=32)
    p.add_argument("--precision", default="mixed_bfloat16",
                   help="Keras dtype policy ('float32' to turn mixed precision off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--init-from", help="backbone folder or .weights.h5 to start from")
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--max-steps", type=int)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    command = "mirex distil " + shlex.join(sys.argv[1:] if argv is None
                                                                  else argv)
    summary = distil(args.list, args.teacher, args.out, name=args.name, distill=args.distill,
                     config=args.config, minutes=args.minutes, batch_size=args.batch_size,
                     lr=args.lr, steps_per_epoch=args.steps_per_epoch,
                     hop_frames=args.hop_frames, precision=args.precision, seed=args.seed,
                     resume=args.resume, init_from=args.init_from, workers=args.workers,
                     command=command, max_steps=args.max_steps)
    print(json.dumps({k: summary[k] for k in ("name", "hours", "windows", "epochs",
                                              "segments_seen", "val", "training_seconds")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
