"""THE training loop: ``model.fit`` one epoch at a time on a ``keras.utils.PyDataset``.

Backend-agnostic (Keras 3): TensorFlow on a CPU, JAX on a GPU; on
TensorFlow it also runs under a ``tf.distribute`` strategy (the model is
built and compiled in its scope, ``fit`` splits each global batch over the
replicas). Each epoch reads the crops of :func:`mirex.pretrain.plans.epoch_plan`
from a source (:mod:`mirex.pretrain.sources`); after it come validation, a
``log.csv`` row, the schedule's decision (:mod:`mirex.pretrain.schedule`) and
a checkpoint (:mod:`mirex.pretrain.checkpoints`). An epoch is cut (and
checkpointed) when the call's time is up, every ``checkpoint_minutes``, or on
SIGTERM / SIGINT; the next call finishes it with the same crops.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from dataclasses import dataclass

import numpy as np

from ..backbones.samplecnn import dtype_policy
from . import checkpoints as C
from .metrics import validation_metrics
from .augment import batch_rng
from .plans import epoch_plan, n_epoch_segments
from .schedule import Schedule
from .sources import training_batch
from .student import build_student

__all__ = ["MOMENTUM", "Data", "Trainer", "stop_on_signals", "make_optimizer"]

log = logging.getLogger("mirex.pretrain")

MOMENTUM = 0.9


@dataclass
class Data:
    """What a run trains and validates on.

    ``kind``: ``'tags'``, ``'genres'``, ``'posteriors'`` or ``'features'``;
    ``loss``: a Keras loss name; ``train``/``valid``: sources; ``units``/
    ``valid_units``: their targets (:class:`mirex.pretrain.targets.Units`);
    ``valid_plan``: the fixed validation crops ``(rows, starts)``;
    ``augment``: the training crops' augmentation (:func:`mirex.pretrain.augment.augment_settings`)
    or ``None``.
    """

    kind: str
    loss: str
    train: object
    valid: object
    units: object
    valid_units: object
    valid_plan: tuple
    augment: dict | None = None


def make_optimizer(lr: float):
    """The paper's optimizer: SGD with Nesterov momentum 0.9."""
    import keras

    return keras.optimizers.SGD(learning_rate=lr, momentum=MOMENTUM, nesterov=True)


def _batches(source, units, plan, batch_size: int, first_step: int, workers: int,
             with_targets: bool = True, augment: dict | None = None, seed: int = 0,
             epoch: int = 0):
    """A PyDataset of the batches of ``plan`` from batch ``first_step`` on (a last part padded).

    With ``augment``, batch ``k`` of the epoch is augmented with
    :func:`~mirex.pretrain.augment.batch_rng` ``(seed, epoch, k)``.
    """
    import keras

    rows_all, starts_all = plan

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=max(1, min(int(workers), 8)), use_multiprocessing=False,
                             max_queue_size=16)

        def __len__(self):
            return math.ceil(rows_all.size / batch_size) - first_step

        def __getitem__(self, i):
            cut = slice((first_step + i) * batch_size, (first_step + i + 1) * batch_size)
            rows, starts = rows_all[cut], starts_all[cut]
            if rows.size < batch_size:     # validation only: pad to one shape
                rows = np.resize(rows, batch_size)
                starts = np.resize(starts, batch_size)
            if not with_targets:
                return source.crops(units.clip[rows], starts)
            rng = None if augment is None else batch_rng(seed, epoch, first_step + i)
            return training_batch(source, units, rows, starts, augment, rng)

    return Batches()


def _watch(trainer, deadline, due):
    """Callback: counts the steps of a ``fit`` call, stops it when time is up or a checkpoint
    is due. The loss is read once, after ``fit`` (:func:`_mean_loss`): reading it every step
    would make an asynchronous backend (JAX) wait for each step."""
    import keras

    class Watch(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.done, self.logs, self.out_of_time = 0, None, False

        def on_train_batch_end(self, batch, logs=None):
            self.done, self.logs = batch + 1, logs
            now = time.monotonic()
            self.out_of_time = trainer.stop_requested or (deadline is not None and now >= deadline)
            if self.out_of_time or (due is not None and now >= due):
                self.model.stop_training = True

    return Watch()


def _mean_loss(watch) -> float:
    """The mean training loss over the steps of the ``fit`` call ``watch`` watched."""
    mean = float((watch.logs or {}).get("loss", np.nan))
    if not math.isfinite(mean):
        log.warning("training loss is %s", mean)
    return mean


class Trainer:
    """A student, its optimizer and the state of its run; :meth:`train` runs the loop."""

    def __init__(self, out_dir, data: Data, config: dict, schedule: Schedule, *,
                 distill_dim=None, batch_size=23, steps_per_epoch=None, seed=0, precision=None,
                 strategy=None, chief=True, checkpoint_minutes=10.0, verbose=1, workers=2,
                 init_from=None):
        self.out_dir, self.data, self.config, self.schedule = out_dir, data, config, schedule
        self.batch_size, self.steps_per_epoch = int(batch_size), steps_per_epoch
        self.seed, self.chief, self.verbose, self.workers = int(seed), chief, verbose, workers
        self.checkpoint_seconds = (None if checkpoint_minutes is None
                                   else float(checkpoint_minutes) * 60.0)
        #: Set by SIGTERM/SIGINT (see :func:`stop_on_signals`): checkpoint and stop.
        self.stop_requested = False
        self._best = None           # best weights of this call, in memory (every worker)
        state = C.read_checkpoint(out_dir)
        self.state = state or C.initial_state(schedule.initial_state())
        scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
        with scope:
            self._build(distill_dim, precision)
        if state is not None:
            C.restore(out_dir, state, self.model, self.model.optimizer)
            log.info("resuming %s: epoch %d (stage %d, lr %g, step %d of the epoch), best val "
                     "loss %s", out_dir, state["epoch"] + 1, state["stage"], state["lr"],
                     state["step"], state["best_val_loss"])
        elif init_from is not None:
            self.backbone.load_weights(init_from)

    def _build(self, distill_dim, precision) -> None:
        import keras

        with dtype_policy(precision):
            self.backbone, model, _ = build_student(self.config, distill_dim, self.seed)
        if precision and precision.startswith("mixed"):   # the loss in float32
            out = keras.layers.Activation("linear", dtype="float32", name="to_float32")(
                model.output)
            model = keras.Model(model.input, out, name="student")
        model.compile(optimizer=make_optimizer(self.state["lr"]), loss=self.data.loss,
                      jit_compile="auto")
        model.optimizer.build(model.trainable_variables)
        self.model = model

    # -- checkpoints and stages ---------------------------------------------

    def checkpoint(self, new_best: bool = False) -> None:
        if self.chief:
            C.write_checkpoint(self.out_dir, self.state, self.model, self.model.optimizer,
                               new_best)

    def _new_stage(self) -> None:
        """Restart from the best weights with the stage's learning rate and fresh momenta."""
        s = self.state
        if self._best is not None:
            self.model.set_weights(self._best)
        else:
            C.load_best(self.out_dir, s, self.model)
        if s["finished"]:
            return
        C.reset_momenta(self.model.optimizer)
        self.model.optimizer.learning_rate.assign(s["lr"])
        log.info("stage %d: lr %g, from the weights of epoch %s", s["stage"], s["lr"],
                 s["best_epoch"])

    # -- evaluation ----------------------------------------------------------

    def evaluate(self) -> dict:
        """Validation loss (per segment) and the metrics of the run's kind."""
        d = self.data
        rows, _ = d.valid_plan
        batches = _batches(d.valid, d.valid_units, d.valid_plan, self.batch_size, 0,
                           self.workers, with_targets=False)
        p = np.asarray(self.model.predict(batches, verbose=0), np.float32)[: rows.size]
        return validation_metrics(d.kind, d.loss, d.valid_units.y[rows], p,
                                  d.valid_units.clip[rows], len(d.valid))

    def best_row(self) -> dict | None:
        rows = [r for r in self.state["rows"] if r["epoch"] == self.state["best_epoch"]]
        return rows[0] if rows else None

    # -- the loop ------------------------------------------------------------

    def train(self, deadline=None, max_epochs=None, max_steps=None) -> str:
        """Train until finished or stopped; returns ``'finished'`` or ``'paused'``."""
        s = self.state
        while not s["finished"]:
            if ((max_epochs is not None and s["epoch"] >= max_epochs)
                    or (max_steps is not None and s["steps"] >= max_steps)):
                return "paused"
            if self.schedule.begin_epoch(s):
                log.info("stage %d: lr %g", s["stage"], s["lr"])
            self.model.optimizer.learning_rate.assign(s["lr"])
            done = self._train_epoch(deadline)
            if done is None:
                return "paused"
            self._end_epoch(*done)
            if s["finished"]:
                break
            if self.stop_requested or (deadline is not None and time.monotonic() >= deadline):
                log.info("%s after epoch %d (checkpoint written)", "stopped by a signal"
                         if self.stop_requested else "time is up", s["epoch"])
                return "paused"
        return "finished"

    def _train_epoch(self, deadline):
        """The rest of the current epoch; ``None`` when stopped inside it (checkpoint written)."""
        s = self.state
        n = n_epoch_segments(self.data.units, self.steps_per_epoch, self.batch_size)
        plan = epoch_plan(self.data.units, self.seed, s["epoch"], n)
        n_steps = plan[0].size // self.batch_size
        started = last_save = time.monotonic()
        train_seconds, steps_here = 0.0, 0
        if self.verbose == 1 and self.chief:
            print(f"Epoch {s['epoch'] + 1} (stage {s['stage']}, lr {s['lr']:g})", flush=True)
        while s["step"] < n_steps:
            due = None if self.checkpoint_seconds is None else last_save + self.checkpoint_seconds
            watch = _watch(self, deadline, due)
            t0 = time.monotonic()
            batches = _batches(self.data.train, self.data.units, plan, self.batch_size,
                               s["step"], self.workers, augment=self.data.augment,
                               seed=self.seed, epoch=s["epoch"])
            self.model.fit(batches, epochs=1, callbacks=[watch],
                           shuffle=False, verbose=1 if self.verbose == 1 and self.chief else 0)
            train_seconds += time.monotonic() - t0
            steps_here += watch.done
            s["step"] += watch.done
            s["steps"] += watch.done
            s["train_loss_sum"] += _mean_loss(watch) * watch.done
            if s["step"] < n_steps:
                now = time.monotonic()
                s["epoch_seconds"] += now - started
                s["seconds"] += now - started
                started = last_save = now
                self.checkpoint()
                if watch.out_of_time:
                    log.info("stopped at step %d/%d of epoch %d (checkpoint written)",
                             s["step"], n_steps, s["epoch"] + 1)
                    return None
        return n_steps, time.monotonic() - started, steps_here, train_seconds

    def _end_epoch(self, n_steps: int, seconds: float, steps_here: int,
                   train_seconds: float) -> None:
        """Validate, update best/patience, log, maybe change stage, checkpoint."""
        s = self.state
        t0 = time.monotonic()
        metrics = self.evaluate()
        seconds += time.monotonic() - t0
        s["epoch_seconds"] += seconds
        s["seconds"] += seconds
        val_loss = metrics["val_loss"]
        improved = val_loss is not None and (s["best_val_loss"] is None
                                             or val_loss < s["best_val_loss"])
        if improved:
            s["best_val_loss"], s["best_epoch"] = val_loss, s["epoch"] + 1
            self._best = [np.array(w) for w in self.model.get_weights()]
        self.schedule.count(s, improved)
        row = {"epoch": s["epoch"] + 1, "stage": s["stage"], "epoch_in_stage": s["epoch_in_stage"],
               "lr": s["lr"], "steps": n_steps,
               "train_loss": round(s["train_loss_sum"] / max(1, n_steps), 6),
               **{k: (round(v, 6) if isinstance(v, float) else v) for k, v in metrics.items()},
               "improved": int(improved), "wait": s["wait"],
               "seconds": round(s["epoch_seconds"], 2),
               "segments_per_s": (round(steps_here * self.batch_size / train_seconds, 2)
                                  if train_seconds > 0 else None)}
        s["rows"].append(row)
        s["epoch"] += 1
        s["step"], s["train_loss_sum"], s["epoch_seconds"] = 0, 0.0, 0.0
        self._log_row(row, improved)
        if improved:
            self.checkpoint(new_best=True)     # these weights are the best so far
        was_finished = s["finished"]
        over = self.schedule.advance(s)
        if over:
            self._new_stage()
        if over or not improved or s["finished"] != was_finished:
            self.checkpoint()

    def _log_row(self, row: dict, improved: bool) -> None:
        message = ", ".join(f"{k} {row[k]}" for k in ("train_loss", "val_loss", "val_auc",
                                                      "val_auc_top5", "val_accuracy", "val_r2")
                            if row.get(k) is not None)
        best = " [best]" if improved else ""
        log.info("epoch %d (stage %d, lr %g): %s; %.0f s%s", row["epoch"], row["stage"],
                 row["lr"], message, row["seconds"], best)
        if self.verbose == 2 and self.chief:
            print(f"epoch {row['epoch']} stage {row['stage']} lr {row['lr']:g}: {message}{best}",
                  flush=True)


@contextlib.contextmanager
def stop_on_signals(trainer, signals=(signal.SIGTERM, signal.SIGINT)):
    """While training, SIGTERM or SIGINT ask for a checkpoint and a clean stop.

    The step in progress finishes, a checkpoint is written and the run
    returns ``'paused'`` (a second signal of the same kind acts as usual).
    Only the main thread can install handlers; elsewhere nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def handler(signum, frame):
        log.warning("%s received: writing a checkpoint and stopping",
                    signal.Signals(signum).name)
        trainer.stop_requested = True
        signal.signal(signum, previous[signum])

    for sig in signals:
        # None: the earlier handler was not installed from Python
        previous[sig] = signal.signal(sig, handler) or signal.SIG_DFL
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
