"""What a run leaves behind: the backbone folder with its provenance, and the result."""

from __future__ import annotations

import json
from pathlib import Path

from ..constants import SAMPLE_RATE, SEGMENT_SAMPLES
from ..fileio import atomic_write_text
from .checkpoints import load_best, now
from .trainer import MOMENTUM

__all__ = ["BACKBONE_DIR", "SUMMARY_NAME", "describe", "provenance", "write_backbone",
           "summarize"]

BACKBONE_DIR = "backbone"
SUMMARY_NAME = "summary.json"


def _combination(distill: str | None) -> str:
    return ("mean of the teachers' posteriors" if distill == "posteriors"
            else "teachers' features concatenated, then standardised")


def describe(mode: str, distill: str | None, teachers=(), feature_set: str | None = None,
             augment: dict | None = None) -> str:
    """One line saying what the student was trained to do (``teachers``: a list of them)."""
    if mode == "tags":
        return "multi-label tags (sigmoid, binary cross-entropy)"
    if mode == "genres":
        return "single-label genres (softmax, categorical cross-entropy)"
    if distill == "posteriors":
        what = ("tag posteriors of the 3-s window holding each crop (sigmoid, binary "
                "cross-entropy on soft targets)")
    else:
        what = (f"{feature_set} features of the 3-s window holding each crop (linear head on "
                "the multi-level embedding, MSE on standardised targets; the output layer is "
                "untrained)")
    names = " + ".join(t.name for t in teachers)
    if len(teachers) > 1:
        what += f"; {_combination(distill)}"
    if augment:
        what += "; crops augmented (" + ", ".join(augment) + ")"
    return f"distilled from {names}: {what}"


def _corpus(run, data) -> dict:
    corpus = {"train_list": run.lists.get("train"), "valid_list": run.lists.get("valid"),
              "clips": len(data.train), "hours": round(data.train.hours, 4),
              "valid_clips": len(data.valid), "valid_hours": round(data.valid.hours, 4),
              "skipped_files": len(run.skipped), "train_units": len(data.units),
              "valid_segments": int(data.valid_plan[0].size)}
    train_list = (run.lists.get("train") or {}).get("path")
    if train_list and (Path(train_list).parent / "manifest.json").is_file():
        corpus["manifest"] = str(Path(train_list).parent / "manifest.json")
    return corpus


def _teacher_record(teachers: list, settings: dict) -> dict | None:
    """``provenance.teacher``: the teacher's info, or for several a combined record."""
    if not teachers:
        return None
    infos = [{**t.info(), "hop_frames": settings["hop_frames"]} for t in teachers]
    if len(infos) == 1:
        return infos[0]
    return {"name": " + ".join(i["name"] for i in infos), "hop_frames": settings["hop_frames"],
            "combination": _combination(settings.get("distill")), "members": infos,
            "labels": infos[0]["labels"]}


def provenance(run, trainer, opts, teachers, complete: bool) -> dict:
    """What the backbone's manifest records of how it was made."""
    import keras

    s, settings = trainer.state, run.settings
    mode, distill = settings["mode"], settings.get("distill")
    return {
        "description": "SampleCNN pre-trained by mirex.pretrain: "
                       + describe(mode, distill, teachers, settings.get("teacher_features"),
                                  settings.get("augment")),
        "mode": mode, "distill": distill,
        "teacher": _teacher_record(teachers, settings),
        "augment": settings.get("augment"),
        "corpus": _corpus(run, trainer.data), "hours": round(trainer.data.train.hours, 4),
        "epochs": s["epoch"], "steps": s["steps"],
        "segments_seen": s["steps"] * trainer.batch_size,
        "stages_done": min(s["stage"], len(trainer.schedule.lrs)),
        "complete": bool(complete), "best_epoch": s["best_epoch"], "val": trainer.best_row(),
        "recipe": {"optimizer": "SGD", "momentum": MOMENTUM, "nesterov": True,
                   "batch_size": trainer.batch_size, "lrs": trainer.schedule.lrs,
                   "schedule": trainer.schedule.describe(),
                   "steps_per_epoch": settings["steps_per_epoch"],
                   "segment_samples": SEGMENT_SAMPLES, "sample_rate": SAMPLE_RATE,
                   "crops": "uniform random in each unit, numpy default_rng([seed, epoch])",
                   "valid_segments": settings["valid_segments"], "precision": opts.precision,
                   "seed": settings["seed"], "loss": trainer.data.loss, "source": opts.source},
        "training_seconds": round(s["seconds"], 1),
        "software": {"keras": keras.__version__, "backend": keras.backend.backend()},
        "run": str(Path(trainer.out_dir).resolve()),
        "command": opts.command,
        "written": now(),
    }


def write_backbone(trainer, run, opts, teachers, complete: bool, config: dict,
                   labels: list) -> str | None:
    """The best weights of the run as ``OUT/backbone``; ``None`` when no epoch is done yet."""
    from ..backbones import save_backbone

    if not load_best(trainer.out_dir, trainer.state, trainer.model):
        return None
    name = opts.name or Path(opts.out_dir).resolve().name
    folder = Path(opts.out_dir) / BACKBONE_DIR
    save_backbone(folder, trainer.backbone, name, config, labels,
                  provenance(run, trainer, opts, teachers, complete), trained=True)
    return str(folder)


def summarize(result: dict, trainer, opts) -> dict:
    """The result of a call with the training figures, also written to ``OUT/summary.json``."""
    s = trainer.state
    result.update(name=opts.name or Path(opts.out_dir).resolve().name, epoch=s["epoch"],
                  epochs=s["epoch"], steps=s["steps"],
                  segments_seen=s["steps"] * trainer.batch_size,
                  stage=min(s["stage"], len(trainer.schedule.lrs) - 1), lr=s["lr"],
                  best_epoch=s["best_epoch"], best_val_loss=s["best_val_loss"],
                  best=trainer.best_row(), val=trainer.best_row(),
                  train_clips=len(trainer.data.train), valid_clips=len(trainer.data.valid),
                  train_hours=round(trainer.data.train.hours, 4),
                  windows=len(trainer.data.units), training_seconds=round(s["seconds"], 1))
    if trainer.chief:
        atomic_write_text(Path(opts.out_dir) / SUMMARY_NAME,
                          json.dumps(result, indent=1, default=str) + "\n")
    return result
