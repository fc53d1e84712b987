"""Where training crops come from: one interface, two implementations.

A *source* holds the clips of one split (training or validation) and cuts
crops out of them: ``source.crops(clip_index, starts) -> (n, n_samples, 1)``
float32, ``source.lengths`` (samples of each clip) and ``source.hours``.
Both sources read the same float16 samples of the decoded-audio cache
(:mod:`mirex.pretrain.audiocache`), so for the same plan they give the same
crops, bit for bit:

:class:`DiskSource`
    streams each crop from the cache's ``.npy`` files (corpora of any size);
:class:`MemorySource`
    loads every clip into one float32 array first (corpora that fit in
    memory: 10 h at 22050 Hz is 3.2 GB; no file I/O during training).

A clip shorter than one segment is tiled (repeated) up to one segment, as
:func:`mirex.audio.segment` does; a start is clamped into the clip.

:func:`training_batch` is what the trainer reads: a batch of crops from a
source with their target rows, augmented on the fly when the run asks for it
(:mod:`mirex.pretrain.augment`; validation crops never are).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..constants import SAMPLE_RATE, SEGMENT_SAMPLES
from .audiocache import CachedClip
from .augment import augment_batch

__all__ = ["SOURCES", "DiskSource", "MemorySource", "make_source", "read_crop", "training_batch"]

SOURCES = ("disk", "memory")


def read_crop(clip: CachedClip, start: int, n_samples: int = SEGMENT_SAMPLES) -> np.ndarray:
    """One segment ``(n_samples,)`` float32 read from the cache without loading the whole clip."""
    if clip.n_samples < n_samples:
        y = np.fromfile(clip.file, dtype="<f2", count=clip.n_samples, offset=clip.offset)
        return np.resize(y.astype(np.float32), n_samples)
    start = int(min(max(start, 0), clip.n_samples - n_samples))
    y = np.fromfile(clip.file, dtype="<f2", count=n_samples, offset=clip.offset + 2 * start)
    return y.astype(np.float32)


class _Source:
    """What both sources share: lengths, hours and the batch loop."""

    n_samples = SEGMENT_SAMPLES

    def __init__(self, lengths: Sequence[int]):
        self.lengths = np.asarray(lengths, np.int64).reshape(-1)

    def __len__(self) -> int:
        return int(self.lengths.size)

    @property
    def hours(self) -> float:
        return float(self.lengths.sum()) / SAMPLE_RATE / 3600.0

    def crop(self, clip: int, start: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def crops(self, clip_index: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Crops ``(n, n_samples, 1)`` float32 at ``starts`` of the clips ``clip_index``."""
        out = np.empty((len(clip_index), self.n_samples, 1), np.float32)
        for row, (c, s) in enumerate(zip(clip_index, starts)):
            out[row, :, 0] = self.crop(int(c), int(s))
        return out


class DiskSource(_Source):
    """Crops streamed from the decoded-audio cache."""

    def __init__(self, clips: Sequence[CachedClip]):
        self.clips = list(clips)
        super().__init__([c.n_samples for c in self.clips])

    def crop(self, clip: int, start: int) -> np.ndarray:
        return read_crop(self.clips[clip], start, self.n_samples)


class MemorySource(_Source):
    """Every clip of the cache loaded into one float32 array, crops cut from memory."""

    def __init__(self, clips: Sequence[CachedClip]):
        super().__init__([c.n_samples for c in clips])
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        self.wave = np.empty(int(self.lengths.sum()), np.float32)
        for clip, first in zip(clips, self.offsets):
            self.wave[first : first + clip.n_samples] = np.fromfile(
                clip.file, dtype="<f2", count=clip.n_samples, offset=clip.offset)

    def crop(self, clip: int, start: int) -> np.ndarray:
        n, first = int(self.lengths[clip]), int(self.offsets[clip])
        if n < self.n_samples:
            return np.resize(self.wave[first : first + n], self.n_samples)
        start = min(max(start, 0), n - self.n_samples)
        return self.wave[first + start : first + start + self.n_samples]


def make_source(kind: str, clips: Sequence[CachedClip]) -> _Source:
    """The source called ``kind`` (``'disk'`` or ``'memory'``) over ``clips``."""
    if kind == "disk":
        return DiskSource(clips)
    if kind == "memory":
        return MemorySource(clips)
    raise ValueError(f"source must be one of {SOURCES}, got {kind!r}")


def training_batch(source: _Source, units, rows: np.ndarray, starts: np.ndarray,
                   augment: dict | None = None, rng: np.random.Generator | None = None):
    """The crops of ``rows`` (units) at ``starts`` and their target rows, augmented if asked.

    Parameters
    ----------
    source : DiskSource or MemorySource
    units : mirex.pretrain.targets.Units
    rows, starts : np.ndarray [shape=(n,), dtype=int64]
        A slice of a plan (:mod:`mirex.pretrain.plans`).
    augment : dict or None
        From :func:`mirex.pretrain.augment.augment_settings`.
    rng : numpy.random.Generator or None
        From :func:`mirex.pretrain.augment.batch_rng` (needed with ``augment``).

    Returns
    -------
    x : np.ndarray [shape=(n, n_samples, 1), dtype=float32]
    y : np.ndarray [shape=(n, dim), dtype=float32]
    """
    x, y = source.crops(units.clip[rows], starts), units.y[rows]
    return augment_batch(x, y, augment, rng) if augment else (x, y)
