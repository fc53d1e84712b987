"""Decoded audio for pre-training: content keys and a cache of float16 clips on disk.

- Audio is decoded ONCE per file (by content) into a cache of mono
  ``float16`` ``.npy`` files at 22050 Hz; the crop sources
  (:mod:`mirex.pretrain.sources`) read segments straight from those files
  (or load them whole into memory), so no step waits on a decoder.
- Files are keyed by the sha256 of their bytes; :class:`KeyIndex` remembers
  the keys by path, size and mtime so that an unchanged file is not hashed
  again.

Cache layout (``cache_dir``)
----------------------------
::

    index.json                          path -> size, mtime_ns, sha256
    audio-22050-600s/<kk>/<sha256>.npy  float16 mono samples, the first 600 s

Every file is written atomically (:mod:`mirex.fileio`), so a killed run
leaves no half-written entry.
"""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..constants import MAX_DURATION, SAMPLE_RATE
from ..fileio import atomic_save_npy, atomic_write_text, sha256_file

__all__ = ["KeyIndex", "AudioCache", "CachedClip", "dedupe"]

log = logging.getLogger("mirex.pretrain")


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
