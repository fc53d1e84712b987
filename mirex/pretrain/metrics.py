"""Validation metrics of pre-training: agreement with the targets, per mode."""

from __future__ import annotations

import math

import numpy as np

from .student import numpy_loss

__all__ = ["tag_agreement", "r2", "clip_means", "validation_metrics"]


def tag_agreement(student: np.ndarray, teacher: np.ndarray, threshold: float | None = 0.5,
                  top_k: int | None = None) -> tuple[float, int]:
    """Macro ROC-AUC of student posteriors against binarised teacher posteriors.

    Parameters
    ----------
    student, teacher : np.ndarray [shape=(n, n_tags)]
        Posteriors of the same segments.
    threshold : float or None
        A tag is positive where the teacher's posterior exceeds it.
    top_k : int or None
        Instead, the teacher's ``top_k`` tags of each row are positive.

    Returns
    -------
    auc : float
        Mean ROC-AUC over the tags that have both classes; NaN when none.
    n_tags : int
        Tags that entered the mean.
    """
    from sklearn.metrics import roc_auc_score

    teacher = np.asarray(teacher, np.float64)
    if top_k is not None:
        ranks = np.argsort(-teacher, axis=1)[:, :top_k]
        truth = np.zeros(teacher.shape, bool)
        np.put_along_axis(truth, ranks, True, axis=1)
    else:
        truth = teacher > threshold
    both = truth.any(axis=0) & ~truth.all(axis=0)
    if not both.any():
        return float("nan"), 0
    auc = roc_auc_score(truth[:, both], np.asarray(student)[:, both], average="macro")
    return float(auc), int(both.sum())


def r2(targets: np.ndarray, predictions: np.ndarray) -> float:
    """Coefficient of determination over all target dimensions together.

    ``1 - sum(squared errors) / sum(squared deviations from the column means)``
    (scikit-learn's ``multioutput='variance_weighted'``), so that dimensions
    nearly constant over the validation segments do not dominate.

    Parameters
    ----------
    targets, predictions : np.ndarray [shape=(n, dim)]

    Returns
    -------
    float
        NaN when there are fewer than 2 rows or the targets are constant.
    """
    from sklearn.metrics import r2_score

    targets = np.asarray(targets, np.float64)
    if len(targets) < 2 or not np.any(targets.std(axis=0) > 0):
        return float("nan")
    return float(r2_score(targets, np.asarray(predictions, np.float64),
                          multioutput="variance_weighted"))


def clip_means(p: np.ndarray, clip_index: np.ndarray, n_clips: int) -> np.ndarray:
    """Mean of the rows of ``p`` of each clip: ``(n_clips, dim)`` (a clip's prediction)."""
    clip_index = np.asarray(clip_index, np.int64)
    counts = np.bincount(clip_index, minlength=n_clips)[:, None]
    out = np.zeros((n_clips, p.shape[1]))
    np.add.at(out, clip_index, p)
    return out / np.maximum(counts, 1)


def validation_metrics(kind: str, loss: str, y: np.ndarray, p: np.ndarray,
                       clip_index: np.ndarray, n_clips: int) -> dict:
    """``val_loss`` (per segment) and the metrics of ``kind``, NaN turned into ``None``.

    ``kind``: ``'tags'`` (clip-level macro ROC-AUC: ``val_auc``,
    ``val_auc_tags``), ``'genres'`` (clip-level ``val_accuracy``),
    ``'posteriors'`` (segment-level agreement with the teacher binarised at
    0.5, ``val_auc``, and with its top 5 tags, ``val_auc_top5``) or
    ``'features'`` (``val_r2``).
    """
    out = {"val_loss": float(numpy_loss(loss, y, p).mean())}
    if kind in ("tags", "genres"):
        clip_p = clip_means(p, clip_index, n_clips)
        clip_y = np.zeros_like(clip_p)
        clip_y[np.asarray(clip_index, np.int64)] = y
        if kind == "tags":
            out["val_auc"], out["val_auc_tags"] = tag_agreement(clip_p, clip_y, 0.5)
        else:
            out["val_accuracy"] = float((clip_p.argmax(1) == clip_y.argmax(1)).mean())
    elif kind == "posteriors":
        out["val_auc"], out["val_auc_tags"] = tag_agreement(p, y, 0.5)
        out["val_auc_top5"], _ = tag_agreement(p, y, top_k=5)
    else:
        out["val_r2"] = r2(y, p)
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in out.items()}
