"""Training data for pre-training: label lists, a decoded-audio cache, crops, tf.data.

Conventions
-----------
- Audio is decoded ONCE per file (by content) into a cache of mono
  ``float16`` ``.npy`` files at 22050 Hz; training reads random crops of
  59049 samples (2.678 s) straight from those files, so no step waits on a
  decoder.
- A *plan* is a pair of int64 arrays ``(clip_index, start)`` of equal length:
  which clip each segment is cut from and its first sample. Training plans
  are drawn at random from ``(seed, epoch)`` only (:func:`epoch_plan`), so an
  epoch is the same whether or not the run was interrupted; validation plans
  are fixed (:func:`validation_plan`).
- Clips shorter than one segment are tiled (repeated) up to one segment, as
  :func:`mirex.audio.segment` does.

List formats (UTF-8, one item a line, as the MIREX lists; see :mod:`mirex.lists`)
---------------------------------------------------------------------------------
tags
    ``path<TAB>tag1,tag2,...``: the clip's tags, comma-separated (a tag cannot
    hold a comma; spaces inside a tag are kept). Example:
    ``/data/a.mp3<TAB>rock,female vocalists,80s``.
genres
    ``path<TAB>genre``: one label per clip (the MIREX training-list format).
paths (teacher mode, unlabelled audio)
    ``path``: one audio path per line (anything after a tab is ignored).
vocabulary (optional, tags and genres)
    one label per line, in output order. Without one, the vocabulary is every
    label of the training list, sorted. With one, labels outside it are
    ignored and a clip left with no label is dropped (both are counted in the
    log), as in the MSD top-50 protocol.

Cache layout (``cache_dir``)
----------------------------
::

    index.json                          path -> size, mtime_ns, sha256 (so an
                                        unchanged file is not hashed again)
    audio-22050-600s/<kk>/<sha256>.npy  float16 mono samples, the first 600 s

Every file is written under a temporary name and renamed into place, so a
killed run leaves no half-written entry.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ..constants import MAX_DURATION, SAMPLE_RATE, SEGMENT_SAMPLES
from ..fileio import atomic_save_npy, atomic_write_text, sha256_file
from ..lists import ListError, read_labelled, read_paths

__all__ = [
    "read_tag_list",
    "read_genre_list",
    "read_vocabulary",
    "make_vocabulary",
    "encode_labels",
    "KeyIndex",
    "AudioCache",
    "CachedClip",
    "read_crop",
    "read_crops",
    "epoch_plan",
    "validation_plan",
    "shard_plan",
    "make_dataset",
]

log = logging.getLogger("mirex.pretrain")


# ---------------------------------------------------------------------------
# Lists and label vocabularies
# ---------------------------------------------------------------------------

def read_tag_list(path: str | os.PathLike) -> list[tuple[str, list[str]]]:
    """Read a multi-label list, ``path<TAB>tag1,tag2,...`` per line.

    Parameters
    ----------
    path : str or path-like
        The list file.

    Returns
    -------
    items : list of (str, list of str)
        ``(audio path, tags)`` in file order; tags stripped of surrounding
        spaces, empty ones (``a,,b``) dropped, duplicates removed (first kept).

    Raises
    ------
    mirex.lists.ListError
        On a line without a tab or without any tag.
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


# ---------------------------------------------------------------------------
# Content keys
# ---------------------------------------------------------------------------

class KeyIndex:
    """sha256 content keys of audio files, remembered by path, size and mtime.

    Parameters
    ----------
    path : str or path-like
        The index file (JSON), created on :meth:`save`.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.n_hashed = 0
        try:
            self._entries = json.loads(self.path.read_text(encoding="utf-8"))["files"]
        except (OSError, ValueError, KeyError, TypeError):
            self._entries = {}
        self._dirty = False

    def key(self, path: str | os.PathLike) -> str:
        """The sha256 of the file's bytes, hashing only files new or changed since.

        Raises ``OSError`` when the file cannot be read.
        """
        absolute = os.path.abspath(path)
        stat = os.stat(absolute)
        entry = self._entries.get(absolute)
        if (entry and entry.get("size") == stat.st_size
                and entry.get("mtime_ns") == stat.st_mtime_ns):
            return entry["sha256"]
        key = sha256_file(absolute)
        self.n_hashed += 1
        self._entries[absolute] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                                   "sha256": key}
        self._dirty = True
        return key

    def save(self) -> None:
        """Write the index atomically (if anything changed)."""
        if self._dirty:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps({"files": self._entries}) + "\n")
            self._dirty = False


# ---------------------------------------------------------------------------
# Decoded-audio cache
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class CachedClip:
    """One decoded clip in the cache.

    Attributes
    ----------
    path : str
        The audio file it was decoded from.
    key : str
        sha256 of that file's bytes.
    file : str
        The cache's ``.npy`` file (float16, 1-d).
    offset : int
        Byte offset of the samples in ``file`` (after the ``.npy`` header).
    n_samples : int
        Number of samples (at the cache's sample rate).
    """

    path: str
    key: str
    file: str
    offset: int
    n_samples: int


def _npy_layout(file: str | os.PathLike) -> tuple[int, int]:
    """``(data offset in bytes, n_samples)`` of a 1-d little-endian float16 ``.npy``."""
    with open(file, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"{file}: unexpected .npy version {version}")
        offset = handle.tell()
        size = os.fstat(handle.fileno()).st_size
    if len(shape) != 1 or np.dtype(dtype) != np.dtype("<f2") or fortran:
        raise ValueError(f"{file}: not a 1-d float16 array")
    if size != offset + 2 * shape[0]:
        raise ValueError(f"{file}: truncated")
    return offset, int(shape[0])


class AudioCache:
    """Decoded mono audio, one ``float16`` ``.npy`` per file content.

    Parameters
    ----------
    root : str or path-like
        The cache folder (see the module docstring for its layout).
    sr : int
        Sample rate of the cached audio in Hz (22050 for SampleCNN).
    max_duration : float or None
        Seconds decoded per file (:func:`mirex.audio.load`); ``None`` = all.

    Attributes
    ----------
    n_decoded : int
        Files decoded by this object (0 when everything came from the cache).
    """

    def __init__(self, root: str | os.PathLike, sr: int = SAMPLE_RATE,
                 max_duration: float | None = MAX_DURATION):
        self.root = Path(root)
        self.sr = int(sr)
        self.max_duration = max_duration
        limit = "all" if max_duration is None else f"{max_duration:g}s"
        self.folder = self.root / f"audio-{self.sr}-{limit}"
        self.n_decoded = 0

    def entry(self, key: str) -> Path:
        """The ``.npy`` file of a content key."""
        return self.folder / key[:2] / f"{key}.npy"

    def lookup(self, path: str, key: str) -> CachedClip | None:
        """The cached clip of ``key``, or ``None`` when absent or unreadable."""
        file = self.entry(key)
        try:
            offset, n = _npy_layout(file)
        except (OSError, ValueError):
            return None
        return CachedClip(os.fspath(path), key, os.fspath(file), offset, n)

    def get(self, path: str | os.PathLike, key: str) -> CachedClip:
        """The cached clip of a file, decoding and storing it if needed.

        Raises
        ------
        mirex.audio.AudioError
            If the file cannot be decoded.
        """
        from ..audio import load

        path = os.fspath(path)
        hit = self.lookup(path, key)
        if hit is not None:
            return hit
        y = load(path, sr=self.sr, max_duration=self.max_duration)
        atomic_save_npy(self.entry(key), y.astype("<f2"))
        self.n_decoded += 1
        hit = self.lookup(path, key)
        if hit is None:
            raise OSError(f"{self.entry(key)}: written but unreadable")
        return hit

    def prepare(self, items: Sequence[tuple[str, str]], workers: int = 2,
                deadline: float | None = None, progress: bool = False):
        """Make sure every file is in the cache, decoding the missing ones in threads.

        Parameters
        ----------
        items : sequence of (path, key)
        workers : int
            Decoding threads (libsndfile and soxr release the GIL).
        deadline : float or None
            ``time.monotonic()`` value after which no new file is started
            (the first few always are, so that every call makes progress).
        progress : bool
            Log progress every 10 % of the files.

        Returns
        -------
        clips : dict
            ``key -> CachedClip`` for every file decoded or found.
        failed : dict
            ``path -> reason`` for files that could not be decoded.
        complete : bool
            False when the deadline stopped the work early.
        """
        from ..audio import AudioError

        clips, failed, todo = {}, {}, []
        for path, key in items:
            hit = self.lookup(path, key)
            if hit is not None:
                clips[key] = hit
            elif key not in clips:
                todo.append((path, key))
        if not todo:
            return clips, failed, True
        log.info("decoding %d audio files into %s", len(todo), self.folder)
        started, step = time.monotonic(), max(1, len(todo) // 10)
        with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
            for first in range(0, len(todo), max(1, 2 * workers)):
                if first and deadline is not None and time.monotonic() > deadline:
                    return clips, failed, False
                chunk = todo[first : first + max(1, 2 * workers)]
                futures = [(path, key, pool.submit(self.get, path, key)) for path, key in chunk]
                for path, key, future in futures:
                    try:
                        clips[key] = future.result()
                    except AudioError as exc:
                        failed[path] = exc.reason
                        log.warning("skipped: %s", exc)
                done = first + len(chunk)
                if progress and (done // step != (done - len(chunk)) // step or done == len(todo)):
                    log.info("decoded %d/%d files (%.0f s)", done, len(todo),
                             time.monotonic() - started)
        return clips, failed, True


# ---------------------------------------------------------------------------
# Crops
# ---------------------------------------------------------------------------

def read_crop(clip: CachedClip, start: int, n_samples: int = SEGMENT_SAMPLES) -> np.ndarray:
    """Read one segment from the cache without loading the whole clip.

    Parameters
    ----------
    clip : CachedClip
    start : int
        First sample (at the cache's rate); ``0 <= start <= n - n_samples``.
    n_samples : int
        Segment length; a clip shorter than that is read whole and tiled.

    Returns
    -------
    segment : np.ndarray [shape=(n_samples,), dtype=float32]
    """
    if clip.n_samples < n_samples:
        y = np.fromfile(clip.file, dtype="<f2", count=clip.n_samples, offset=clip.offset)
        return np.resize(y.astype(np.float32), n_samples)
    start = int(min(max(start, 0), clip.n_samples - n_samples))
    y = np.fromfile(clip.file, dtype="<f2", count=n_samples, offset=clip.offset + 2 * start)
    return y.astype(np.float32)


def read_crops(clips: Sequence[CachedClip], clip_index: np.ndarray, starts: np.ndarray,
               n_samples: int = SEGMENT_SAMPLES) -> np.ndarray:
    """Read a batch of segments: ``(len(clip_index), n_samples)`` float32."""
    out = np.empty((len(clip_index), n_samples), np.float32)
    for row, (c, s) in enumerate(zip(clip_index, starts)):
        out[row] = read_crop(clips[int(c)], int(s), n_samples)
    return out


def segments_per_clip(lengths: Sequence[int], n_samples: int = SEGMENT_SAMPLES) -> np.ndarray:
    """Whole segments each clip holds, at least 1: ``max(1, n // n_samples)``."""
    return np.maximum(1, np.asarray(lengths, np.int64) // int(n_samples))


def epoch_plan(lengths: Sequence[int], seed: int, epoch: int,
               n_segments: int | None = None, n_samples: int = SEGMENT_SAMPLES,
               multiple_of: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The random crops of one training epoch, a function of ``(seed, epoch)`` only.

    A *pass* over the clips takes ``max(1, n // n_samples)`` crops from each
    clip (so a clip is seen in proportion to its length, once over on
    average), each at a uniformly random start; passes are drawn until there
    are ``n_segments`` crops, which are shuffled and cut to that number.

    Parameters
    ----------
    lengths : sequence of int
        Samples in each clip.
    seed, epoch : int >= 0
        The plan is drawn from ``numpy.random.default_rng([seed, epoch])``.
    n_segments : int or None
        Crops in the epoch; ``None`` means one pass, rounded to the nearest
        multiple of ``multiple_of`` (at least one multiple).
    n_samples : int
        Segment length in samples.
    multiple_of : int
        The batch size, for the rounding above.

    Returns
    -------
    clip_index : np.ndarray [shape=(n_segments,), dtype=int64]
    start : np.ndarray [shape=(n_segments,), dtype=int64]
        First sample of each crop (0 for clips shorter than a segment).
    """
    lengths = np.asarray(lengths, np.int64)
    if lengths.ndim != 1 or lengths.size == 0:
        raise ValueError("epoch_plan needs at least one clip")
    counts = segments_per_clip(lengths, n_samples)
    if n_segments is None:
        multiple_of = max(1, int(multiple_of))
        n_segments = max(1, int(round(counts.sum() / multiple_of))) * multiple_of
    rng = np.random.default_rng([int(seed), int(epoch)])
    one_pass = np.repeat(np.arange(lengths.size), counts)
    clip_index = np.concatenate([one_pass] * max(1, math.ceil(n_segments / one_pass.size)))
    room = np.maximum(lengths[clip_index] - n_samples, 0)
    start = np.floor(rng.random(clip_index.size) * (room + 1)).astype(np.int64)
    order = rng.permutation(clip_index.size)[:n_segments]
    return clip_index[order], start[order]


def validation_plan(lengths: Sequence[int], max_segments: int | None = 10,
                    n_samples: int = SEGMENT_SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """Fixed segments of each validation clip (the starts of :func:`mirex.audio.segment`).

    Returns
    -------
    clip_index, start : np.ndarray [shape=(n_segments,), dtype=int64]
        Clip by clip, in order; whole segments centred in the clip, or
        ``max_segments`` evenly spaced ones from start to end.
    """
    clip_index, starts = [], []
    for c, n in enumerate(np.asarray(lengths, np.int64)):
        if n < n_samples:
            s = np.zeros(1, np.int64)
        else:
            n_whole = int(n // n_samples)
            if max_segments is None or n_whole <= max_segments:
                s = np.arange(n_whole, dtype=np.int64) * n_samples + (n - n_whole * n_samples) // 2
            else:
                s = np.round(np.linspace(0, n - n_samples, max_segments)).astype(np.int64)
        clip_index.append(np.full(s.size, c, np.int64))
        starts.append(s)
    return np.concatenate(clip_index), np.concatenate(starts)


def shard_plan(plan: tuple[np.ndarray, np.ndarray], skip: int, n_shards: int = 1,
               shard: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Drop the first ``skip`` crops (already trained on), then keep every ``n_shards``-th."""
    clip_index, start = plan
    return clip_index[skip:][shard::n_shards], start[skip:][shard::n_shards]


def make_dataset(plan: tuple[np.ndarray, np.ndarray],
                 load_batch: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
                 batch_size: int, n_samples: int, target_dim: int,
                 parallel: int | None = None):
    """A ``tf.data`` pipeline of training batches for one epoch.

    The plan's indices are batched first; each batch is read from the cache
    by ``load_batch`` (in ``parallel`` calls at a time, order kept) and
    prefetched, so the network does not wait on I/O.

    Parameters
    ----------
    plan : (np.ndarray, np.ndarray)
        ``(clip_index, start)``, already sharded / skipped.
    load_batch : callable
        ``(clip_index (b,), start (b,)) -> (x (b, n_samples) float32,
        y (b, target_dim) float32)``.
    batch_size : int
        Per-replica batch size; a last partial batch is dropped.
    n_samples, target_dim : int
        Static shapes of ``x`` and ``y``.
    parallel : int or None
        Batches read concurrently (``None``: ``tf.data.AUTOTUNE``).

    Returns
    -------
    tf.data.Dataset
        Elements ``(x, y)``: ``x`` ``(batch, n_samples, 1)`` float32,
        ``y`` ``(batch, target_dim)`` float32.
    """
    import tensorflow as tf

    clip_index, start = plan

    def load(c, s):
        x, y = tf.numpy_function(load_batch, [c, s], (tf.float32, tf.float32), stateful=False)
        x = tf.ensure_shape(tf.expand_dims(x, -1), (batch_size, n_samples, 1))
        return x, tf.ensure_shape(y, (batch_size, target_dim))

    ds = tf.data.Dataset.from_tensor_slices((clip_index.astype(np.int64), start.astype(np.int64)))
    ds = ds.batch(batch_size, drop_remainder=True)
    ds = ds.map(load, num_parallel_calls=parallel or tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF)  # sharded by shard_plan
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def dedupe(items: Iterable[tuple[str, str, object]]) -> tuple[list, int]:
    """Keep the first of items sharing a content key: ``[(path, key, payload)]``, n_dropped."""
    seen, out, dropped = set(), [], 0
    for path, key, payload in items:
        if key in seen:
            dropped += 1
            continue
        seen.add(key)
        out.append((path, key, payload))
    return out, dropped
