"""Plans: which crops a training epoch or a validation pass reads.

A *plan* is a pair of int64 arrays ``(rows, starts)`` of equal length: the
unit (:class:`mirex.pretrain.targets.Units`) each crop belongs to, which is
also its target row, and the crop's first sample in the unit's clip.
Training plans are drawn from ``(seed, epoch)`` only (:func:`epoch_plan`),
so an epoch is the same whether or not the run was interrupted; validation
plans are fixed (:func:`validation_plan`).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..constants import SEGMENT_SAMPLES
from .targets import Units

__all__ = ["epoch_plan", "validation_plan", "segment_starts", "n_epoch_segments"]


def n_epoch_segments(units: Units, steps_per_epoch: int | None, batch_size: int) -> int:
    """Crops in an epoch: ``steps * batch``, or one pass rounded to whole batches."""
    batch_size = max(1, int(batch_size))
    if steps_per_epoch is not None:
        return int(steps_per_epoch) * batch_size
    return max(1, int(round(int(units.weight.sum()) / batch_size))) * batch_size


def epoch_plan(units: Units, seed: int, epoch: int,
               n_segments: int) -> tuple[np.ndarray, np.ndarray]:
    """The random crops of one training epoch, a function of ``(seed, epoch)`` only.

    A *pass* takes ``weight`` crops of every unit (for label units: a clip's
    whole segments, so it is seen in proportion to its length), each at a
    uniformly random start in the unit; passes are drawn until there are
    ``n_segments`` crops, which are shuffled (``default_rng([seed, epoch])``)
    and cut to that number.
    """
    if len(units) == 0:
        raise ValueError("epoch_plan needs at least one unit")
    rng = np.random.default_rng([int(seed), int(epoch)])
    one_pass = np.repeat(np.arange(len(units), dtype=np.int64), units.weight)
    rows = np.concatenate([one_pass] * max(1, math.ceil(n_segments / one_pass.size)))
    starts = units.start[rows] + np.floor(rng.random(rows.size)
                                          * (units.room[rows] + 1)).astype(np.int64)
    order = rng.permutation(rows.size)[:n_segments]
    return rows[order], starts[order]


def segment_starts(n: int, max_segments: int | None = 10,
                   n_samples: int = SEGMENT_SAMPLES) -> np.ndarray:
    """Starts of the fixed segments of an ``n``-sample clip (as :func:`mirex.audio.segment`).

    Whole segments centred in the clip, or ``max_segments`` evenly spaced
    ones from start to end; ``[0]`` for a clip shorter than one segment.
    """
    if n < n_samples:
        return np.zeros(1, np.int64)
    n_whole = int(n // n_samples)
    if max_segments is None or n_whole <= max_segments:
        return np.arange(n_whole, dtype=np.int64) * n_samples + (n - n_whole * n_samples) // 2
    return np.round(np.linspace(0, n - n_samples, max_segments)).astype(np.int64)


def validation_plan(units: Units, lengths: Sequence[int], max_segments: int | None = 10,
                    windows: bool = False,
                    n_samples: int = SEGMENT_SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """Fixed validation crops, clip by clip.

    Clip units (tags, genres) give the segments of :func:`segment_starts`;
    with ``windows`` (teacher units) each clip gives ``max_segments`` evenly
    spaced windows (all when fewer or ``None``), each cropped in its middle.
    """
    lengths = np.asarray(lengths, np.int64)
    rows_out, starts_out = [], []
    for c in range(lengths.size):
        rows = np.flatnonzero(units.clip == c)
        if rows.size == 0:
            continue
        if not windows:
            s = segment_starts(int(lengths[c]), max_segments, n_samples)
            rows_out.append(np.full(s.size, rows[0], np.int64))
            starts_out.append(s)
            continue
        if max_segments is not None and rows.size > max_segments:
            rows = rows[np.round(np.linspace(0, rows.size - 1, max_segments)).astype(np.int64)]
        rows_out.append(rows.astype(np.int64))
        starts_out.append(units.start[rows] + units.room[rows] // 2)
    return np.concatenate(rows_out), np.concatenate(starts_out)
