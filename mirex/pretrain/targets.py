"""Training targets: what each crop is trained to output, for every mode.

A run's targets are a table of *units*: each unit is a stretch of one clip
(``clip``, first sample ``start``, ``room`` samples a crop may be shifted by)
with one target row ``y``. A crop of a unit starts anywhere in
``start .. start + room`` and is trained towards the unit's row.

tags / genres (label targets)
    One unit per clip: the whole clip (``room = n - 59049``), its multi-hot
    (tags) or one-hot (genres) row, drawn in proportion to the clip's whole
    segments (``weight = max(1, n // 59049)``).
teacher (THE teacher-window definition)
    One unit per teacher window: musicnn's 187-frame (3-s) log-mel windows
    every ``hop_frames`` frames of the 16-kHz signal. Window ``k`` starts at
    22050-Hz sample ``round(k * hop_frames * 256 / 16000 * 22050)`` and is
    ``slack`` = 65974 - 59049 = 6925 samples (2.992 s - 2.678 s) longer than
    a crop, so a crop of the window lies wholly inside it (``room = min(slack, n - start - 59049)``;
    starts clamped so that the crop stays in the clip). Its row is the
    teacher's output on that window: the 50 tag posteriors, or the pooled
    features standardised over the training windows.
several teachers (:func:`combine_teachers`)
    All teachers see the same windows (one front end, one grid). Posteriors:
    the row is the MEAN of the teachers' posteriors (equal weights; the
    teachers must share one label list), a soft target still in [0, 1].
    Features: the teachers' feature vectors are CONCATENATED, in the order
    given (each dimension is then standardised over the training windows,
    so no teacher dominates by scale).

List formats (UTF-8, one item a line, read by :mod:`mirex.lists`)
-----------------------------------------------------------------
tags
    ``path<TAB>tag1,tag2,...`` (a tag cannot hold a comma; spaces inside a
    tag are kept), e.g. ``/data/a.mp3<TAB>rock,female vocalists,80s``.
genres
    ``path<TAB>genre`` (the MIREX training-list format).
paths (teacher mode)
    one audio path per line (anything after a tab is ignored).
vocabulary (optional, tags and genres)
    one label per line, in output order. Without one, every label of the
    training list, sorted; with one, labels outside it are ignored and a clip
    left with none is dropped (both counted in the log).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..constants import SAMPLE_RATE, SEGMENT_SAMPLES
from ..lists import ListError, read_labelled, read_paths

__all__ = ["read_tag_list", "read_genre_list", "read_items", "read_vocabulary",
           "make_vocabulary", "encode_labels", "Units", "label_units", "window_slack",
           "window_units", "teacher_units", "combine_teachers", "standardiser"]

#: musicnn's front end: 16-kHz signal, 256-sample frames, 187-frame windows.
TEACHER_SR, TEACHER_HOP, TEACHER_FRAMES = 16000, 256, 187


# ---------------------------------------------------------------------------
# Label lists and vocabularies (tags, genres)
# ---------------------------------------------------------------------------

def read_tag_list(path: str | os.PathLike) -> list[tuple[str, list[str]]]:
    """``(audio path, tags)`` of each line of a multi-label list, ``path<TAB>tag1,tag2,...``.

    Tags are stripped of surrounding spaces, empty ones (``a,,b``) dropped and
    duplicates removed (first kept). Raises :class:`mirex.lists.ListError` on
    a line without a tab or without any tag.
    """
    items = []
    for audio, field in read_labelled(path):
        tags = list(dict.fromkeys(t.strip() for t in field.split(",") if t.strip()))
        if not tags:
            raise ListError(f"{path}: {audio!r} has no tag (expected 'path<TAB>tag1,tag2')")
        items.append((audio, tags))
    return items


def read_genre_list(path: str | os.PathLike) -> list[tuple[str, list[str]]]:
    """Read a single-label list, ``path<TAB>genre`` per line.

    Returns
    -------
    items : list of (str, list of str)
        ``(audio path, [genre])``, the same shape as :func:`read_tag_list`.
    """
    return [(audio, [label]) for audio, label in read_labelled(path)]


def read_vocabulary(path: str | os.PathLike) -> list[str]:
    """Read a label vocabulary: one label per line, in output order.

    Raises
    ------
    mirex.lists.ListError
        If the file is empty or repeats a label.
    """
    labels = [line.strip() for line in read_paths(path)]
    seen = set()
    for label in labels:
        if label in seen:
            raise ListError(f"{path}: label {label!r} is listed twice")
        seen.add(label)
    return labels


def make_vocabulary(items: Sequence[tuple], vocabulary: Sequence[str] | None = None):
    """Fix the output labels and drop what they do not cover.

    Parameters
    ----------
    items : sequence of tuple
        Tuples whose last element is the clip's list of labels, e.g.
        ``(path, labels)`` as read by :func:`read_tag_list` or
        :func:`read_genre_list`.
    vocabulary : sequence of str or None
        The labels in output order; ``None`` takes every label in ``items``,
        sorted.

    Returns
    -------
    vocabulary : list of str
    kept : list of tuple
        ``items`` with their labels restricted to the vocabulary; items left
        without a label are dropped.
    dropped : dict
        ``{"labels": n_label_occurrences_ignored, "clips": n_clips_dropped}``.
    """
    if vocabulary is None:
        vocabulary = sorted({label for item in items for label in item[-1]})
    vocabulary = list(vocabulary)
    known = set(vocabulary)
    kept, n_labels, n_clips = [], 0, 0
    for item in items:
        inside = [label for label in item[-1] if label in known]
        n_labels += len(item[-1]) - len(inside)
        if inside:
            kept.append((*item[:-1], inside))
        else:
            n_clips += 1
    return vocabulary, kept, {"labels": n_labels, "clips": n_clips}


def encode_labels(labels: Sequence[Sequence[str]], vocabulary: Sequence[str]) -> np.ndarray:
    """Multi-hot (or one-hot, for one label per clip) target matrix.

    Returns
    -------
    y : np.ndarray [shape=(n_clips, len(vocabulary)), dtype=float32]
    """
    index = {label: i for i, label in enumerate(vocabulary)}
    y = np.zeros((len(labels), len(vocabulary)), np.float32)
    for row, clip_labels in enumerate(labels):
        for label in clip_labels:
            y[row, index[label]] = 1.0
    return y


def read_items(path, mode: str) -> list[tuple[str, list[str]]]:
    """``(path, labels)`` of every line of a list of ``mode``'s format (teacher: no labels)."""
    if mode == "tags":
        return read_tag_list(path)
    if mode == "genres":
        return read_genre_list(path)
    return [(p, []) for p in read_paths(path)]


# ---------------------------------------------------------------------------
# Units
# ---------------------------------------------------------------------------

@dataclass
class Units:
    """Stretches of clips and their target rows (see the module docstring).

    Attributes
    ----------
    clip, start, room, weight : np.ndarray [shape=(n_units,), int64]
    y : np.ndarray [shape=(n_units, dim), float32]
    """

    clip: np.ndarray
    start: np.ndarray
    room: np.ndarray
    weight: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return int(self.clip.size)

    @property
    def dim(self) -> int:
        return int(self.y.shape[1])


def _int64(values) -> np.ndarray:
    return np.asarray(values, np.int64).reshape(-1)


def label_units(lengths: Sequence[int], y: np.ndarray | None = None,
                n_samples: int = SEGMENT_SAMPLES) -> Units:
    """One unit per clip (tags, genres): the whole clip and its label row."""
    lengths = _int64(lengths)
    if y is None:
        y = np.zeros((lengths.size, 1), np.float32)
    return Units(clip=np.arange(lengths.size, dtype=np.int64),
                 start=np.zeros(lengths.size, np.int64),
                 room=np.maximum(lengths - n_samples, 0),
                 weight=np.maximum(1, lengths // int(n_samples)),
                 y=np.asarray(y, np.float32))


def window_slack(n_samples: int = SEGMENT_SAMPLES, sr: int = SAMPLE_RATE) -> int:
    """Samples (at ``sr``) a teacher window is longer than a crop: 65974 - 59049 = 6925."""
    window = int(round(TEACHER_FRAMES * TEACHER_HOP / TEACHER_SR * sr))
    return max(0, window - int(n_samples))


def window_units(n_windows: int, length: int, hop_frames: int,
                 n_samples: int = SEGMENT_SAMPLES, sr: int = SAMPLE_RATE):
    """``(start, room)`` of the teacher windows of one clip of ``length`` samples at ``sr``."""
    slack = window_slack(n_samples, sr)
    k = np.arange(int(n_windows), dtype=np.float64)
    start = np.round(k * int(hop_frames) * TEACHER_HOP / TEACHER_SR * sr).astype(np.int64)
    start = np.minimum(start, int(length) - n_samples - slack).clip(0)
    room = np.minimum(int(length) - start - n_samples, slack).clip(0)
    return start, room


def teacher_units(lengths: Sequence[int], outputs: Sequence[np.ndarray], hop_frames: int,
                  n_samples: int = SEGMENT_SAMPLES) -> Units:
    """One unit per teacher window of every clip; ``outputs[c]`` holds clip ``c``'s rows."""
    clips, starts, rooms = [], [], []
    for c, (length, rows) in enumerate(zip(_int64(lengths), outputs)):
        start, room = window_units(len(rows), length, hop_frames, n_samples)
        clips.append(np.full(start.size, c, np.int64))
        starts.append(start)
        rooms.append(room)
    y = np.concatenate([np.asarray(rows, np.float32) for rows in outputs])
    return Units(clip=np.concatenate(clips), start=np.concatenate(starts),
                 room=np.concatenate(rooms), weight=np.ones(y.shape[0], np.int64), y=y)


def combine_teachers(rows: Sequence[np.ndarray], distill: str = "posteriors") -> np.ndarray:
    """One clip's target rows from several teachers' rows (module docstring: the rule).

    Parameters
    ----------
    rows : sequence of np.ndarray [shape=(n_windows, dim_t)]
        Each teacher's rows for the clip's windows, teachers in the run's order.
    distill : {'posteriors', 'features'}
        ``'posteriors'``: the mean over teachers (all ``dim_t`` equal);
        ``'features'``: the concatenation along the last axis.

    Returns
    -------
    y : np.ndarray [shape=(n_windows, dim), dtype=float32]
        ``dim = dim_t`` (posteriors) or ``sum(dim_t)`` (features). One
        teacher's rows come back unchanged (as float32).
    """
    rows = [np.asarray(r, np.float32) for r in rows]
    if not rows:
        raise ValueError("combine_teachers needs the rows of at least one teacher")
    if len({r.shape[0] for r in rows}) != 1:
        raise ValueError(f"teachers disagree on the number of windows: {[r.shape for r in rows]}")
    if len(rows) == 1:
        return rows[0]
    if distill == "posteriors":
        if len({r.shape[1] for r in rows}) != 1:
            raise ValueError(f"posteriors of different sizes cannot be averaged: "
                             f"{[r.shape for r in rows]}")
        return np.mean(np.stack(rows), axis=0, dtype=np.float64).astype(np.float32)
    return np.concatenate(rows, axis=1)


def standardiser(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of target rows (a deviation under 1e-6 becomes 1)."""
    y = np.asarray(y, np.float64)
    mean, std = y.mean(axis=0), y.std(axis=0)
    std[std < 1e-6] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)
