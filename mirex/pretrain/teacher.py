"""The distillation teachers: musicnn outputs on 3-s windows, computed once per file.

A teacher is a Keras port of musicnn 0.1.0 (:mod:`mirex.backbones.musicnn`):
a musicnn folder such as ``models/musicnn-msd`` or ``models/musicnn-mtt``, or
a VGG one, ``models/musicnn-vgg-msd`` / ``-mtt`` (same front end, windows and
output keys; 640-d pools). A run may have several teachers
(:func:`teacher_paths`); each one's outputs are computed ONCE per audio file
and cached in its own folder; how the teachers' rows become one target row is
:func:`mirex.pretrain.targets.combine_teachers`, which student crops a
window's outputs are the target of is :mod:`mirex.pretrain.targets`' window
definition.

Conventions
-----------
- Teacher input: the file decoded to mono 16000 Hz by :func:`mirex.audio.load`
  (the first ``max_duration`` s, as the student's 22050-Hz cache), musicnn's
  own log-mel front end, 187-frame (3-s) windows every ``hop_frames`` frames
  (32 frames = 0.512 s by default). Window ``k`` covers frames
  ``k*hop .. k*hop+186`` and is centred at ``(k*hop + 93) * 256 / 16000`` s.
  A file shorter than one window gets one (tiled) window, as
  :func:`mirex.backbones.musicnn.make_patches` does.
- Per window: ``taggram`` ``(50,)`` sigmoid tag posteriors (float32);
  ``max_pool`` and ``mean_pool`` ``(753,)`` pooled mid-end features (VGG:
  ``(640,)``, the five pooled maps' maxima / means; stored as float16).
- Inference runs on any Keras backend: musicnn's traced runner on
  TensorFlow, the feature model's ``predict_on_batch`` elsewhere (JAX), in
  batches padded to one shape so that it compiles once.

Cache layout (under the pre-training ``cache_dir``)::

    teacher-<name>-<weights sha256[:12]>-hop<frames>-<max_duration>/<kk>/<sha256>.npz
        centres (n_windows,) float64 s; taggram (n_windows, 50) float32;
        max_pool, mean_pool (n_windows, 753 or 640) float16

keyed by the audio file's content sha256, under a folder named by the
teacher's weights checksum and the window grid, so changed weights or grid
never hit old entries. Entries are written atomically. A combination of
teachers reads each teacher's own folder: a teacher's window outputs do not
depend on the others, so ``musicnn-msd``'s entries serve a run with it
alone and one with ``musicnn-msd + musicnn-vgg-msd``; what keys the
combination is the run (``run.json`` records every teacher's weights
checksum, in order, and a resume with other teachers is refused).
"""

from __future__ import annotations

import io
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

from ..backbones import musicnn as m
from ..backbones.musicnn import patch_runner
from ..constants import MAX_DURATION
from ..fileio import atomic_write_bytes

__all__ = ["DEFAULT_HOP_FRAMES", "FEATURE_SETS", "hop_frames", "window_centres", "Teacher",
           "TeacherCache", "feature_targets", "teacher_paths", "load_teachers"]

log = logging.getLogger("mirex.pretrain")

#: Default hop between teacher windows, in 16-ms frames (0.512 s).
DEFAULT_HOP_FRAMES = 32

#: Teacher feature vectors a 'features' student can regress, and their parts.
FEATURE_SETS = {"pool": ("max_pool", "mean_pool"), "max_pool": ("max_pool",)}


def hop_frames(hop_seconds: float) -> int:
    """Whole log-mel frames (256 samples at 16 kHz = 16 ms) nearest to ``hop_seconds``."""
    return max(1, int(round(float(hop_seconds) * m.SAMPLE_RATE / m.HOP_LENGTH)))


def window_centres(n_windows: int, hop: int, n_frames: int | None = None) -> np.ndarray:
    """Centre times of the teacher windows, in seconds.

    Parameters
    ----------
    n_windows : int
        Windows on the grid.
    hop : int
        Frames between window starts.
    n_frames : int or None
        Frames per window (187 = 3 s by default).

    Returns
    -------
    centres : np.ndarray [shape=(n_windows,), dtype=float64]
    """
    n_frames = m.PATCH_FRAMES if n_frames is None else int(n_frames)
    frames = np.arange(n_windows) * int(hop) + (n_frames - 1) / 2.0
    return frames * m.HOP_LENGTH / m.SAMPLE_RATE


def teacher_paths(teacher) -> list[str]:
    """The teacher folders of an option value, in order.

    Parameters
    ----------
    teacher : None, str, path-like or sequence of them
        One folder, several separated by commas (``"models/musicnn-msd,
        models/musicnn-vgg-msd"``), or a sequence of such (a repeated
        command-line option). A folder name cannot hold a comma.

    Returns
    -------
    paths : list of str
        Empty for ``None``; duplicates are an error.
    """
    if teacher is None:
        return []
    items = [teacher] if isinstance(teacher, (str, os.PathLike)) else list(teacher)
    paths = [part.strip() for item in items for part in os.fspath(item).split(",")
             if part.strip()]
    resolved = [str(Path(p).resolve()) for p in paths]
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"a teacher is given twice: {paths}")
    return paths


def load_teachers(teacher, distill: str = "posteriors") -> list["Teacher"]:
    """The :class:`Teacher` of each folder of ``teacher`` (see :func:`teacher_paths`).

    Raises
    ------
    ValueError
        With no folder, or when ``distill='posteriors'`` and the teachers
        do not share one label list (their posteriors are averaged, which
        needs the same tags in the same order: combine ``musicnn-msd`` with
        ``musicnn-vgg-msd``, not with an MTT model).
    """
    teachers = [Teacher(path) for path in teacher_paths(teacher)]
    if not teachers:
        raise ValueError("mode='teacher' needs a teacher (e.g. models/musicnn-msd)")
    if distill == "posteriors":
        for other in teachers[1:]:
            if other.labels != teachers[0].labels:
                raise ValueError(f"teachers {teachers[0].name} and {other.name} have different "
                                 "labels: posteriors can only be combined over one label set "
                                 "(MSD with MSD, MTT with MTT)")
    return teachers


class Teacher:
    """A musicnn backbone folder, ready to compute windowed targets.

    Parameters
    ----------
    path : str or path-like
        A ``musicnn-backbone/1`` folder (``models/musicnn-msd``,
        ``models/musicnn-vgg-msd``, ...).
    batch_patches : int
        Windows per inference batch (memory bound: some 30 MB each).

    Attributes
    ----------
    name : str
    labels : list of str
        The tag of each posterior.
    weights_sha256 : str
    """

    def __init__(self, path: str | os.PathLike, batch_patches: int = 16):
        self.path = Path(path).resolve()
        self.manifest = m.read_musicnn_manifest(self.path)
        self.name = self.manifest["name"]
        self.labels = list(self.manifest["labels"])
        self.weights_sha256 = self.manifest["weights"]["sha256"]
        self.n_frames = m.PATCH_FRAMES
        self.batch_patches = int(batch_patches)
        self._runner, self._pad = None, False

    def _network(self):
        """The inference function, built (weights checked) on the first call only, so a run
        whose targets are all cached never builds the network."""
        if self._runner is None:
            import keras

            model, _ = m.load_musicnn(self.path)
            if keras.backend.backend() == "tensorflow":
                self._runner, self._pad = patch_runner(model), False   # any batch size
            else:   # one compiled shape: batches padded to batch_patches
                self._runner, self._pad = m.feature_model(model).predict_on_batch, True
        return self._runner

    def info(self) -> dict:
        """What the provenance records of the teacher."""
        return {"name": self.name, "path": str(self.path), "weights_sha256": self.weights_sha256,
                "architecture": self.manifest.get("architecture", "musicnn"),
                "labels": len(self.labels),
                "source": self.manifest.get("provenance", {}).get("source")}

    def patches(self, y16: np.ndarray, hop: int) -> np.ndarray:
        """Log-mel windows of a 16-kHz clip: ``(n_windows, 187, 96)`` float32."""
        return m.make_patches(m.logmel(np.asarray(y16, np.float32)), self.n_frames, hop)

    def windows(self, patches: np.ndarray) -> dict:
        """Teacher outputs of each window.

        Parameters
        ----------
        patches : np.ndarray [shape=(n_windows, 187, 96)]
            From :meth:`patches`.

        Returns
        -------
        out : dict
            ``taggram`` ``(n_windows, 50)`` float32, ``max_pool`` and
            ``mean_pool`` ``(n_windows, 753)`` (VGG: 640) float16.
        """
        n, size = len(patches), self.batch_patches
        run, parts = self._network(), []
        for first in range(0, n, size):
            batch = np.asarray(patches[first : first + size], np.float32)
            if self._pad and len(batch) < size:
                batch = np.concatenate([batch, np.zeros((size - len(batch),) + batch.shape[1:],
                                                        np.float32)])
            parts.append(run(batch))
        out = {"taggram": np.concatenate([np.asarray(p["taggram"]) for p in parts])[:n]}
        for key in ("max_pool", "mean_pool"):
            out[key] = np.concatenate([np.asarray(p[key]) for p in parts])[:n].astype(np.float16)
        return out


class TeacherCache:
    """Teacher outputs per audio file, computed once and kept in ``.npz`` files.

    Parameters
    ----------
    root : str or path-like
        The pre-training cache folder.
    teacher : Teacher
    hop : int
        Frames (16 ms) between window starts.
    max_duration : float or None
        Seconds decoded per file (must match the student's audio cache).

    Attributes
    ----------
    n_computed : int
        Files this object ran the teacher on.
    """

    def __init__(self, root: str | os.PathLike, teacher: Teacher,
                 hop: int = DEFAULT_HOP_FRAMES, max_duration: float | None = MAX_DURATION):
        self.teacher = teacher
        self.hop = int(hop)
        self.max_duration = max_duration
        limit = "all" if max_duration is None else f"{max_duration:g}s"
        self.folder = (Path(root) / f"teacher-{teacher.name}-{teacher.weights_sha256[:12]}"
                       f"-hop{self.hop}-{limit}")
        self.n_computed = 0

    def entry(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npz"

    def load(self, key: str, fields: Sequence[str] = ("taggram",)) -> dict | None:
        """``centres`` and the requested fields of a cached file, or ``None``."""
        try:
            with np.load(self.entry(key), allow_pickle=False) as data:
                out = {"centres": data["centres"]}
                for field in fields:
                    out[field] = data[field]
        except (OSError, ValueError, KeyError, EOFError):
            return None
        return out

    def _decode(self, path: str) -> np.ndarray:
        from ..audio import load

        return self.teacher.patches(load(path, sr=m.SAMPLE_RATE, max_duration=self.max_duration),
                                    self.hop)

    def _store(self, key: str, patches: np.ndarray) -> None:
        out = self.teacher.windows(patches)
        out["centres"] = window_centres(len(patches), self.hop, self.teacher.n_frames)
        buffer = io.BytesIO()
        np.savez(buffer, **out)
        self.entry(key).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.entry(key), buffer.getvalue())
        self.n_computed += 1

    def prepare(self, items: Sequence[tuple[str, str]], deadline: float | None = None,
                progress: bool = False, workers: int = 1):
        """Compute the targets of every file not yet cached.

        Decoding and the log-mel front end of the next ``workers`` files run
        in threads while the teacher network runs on the current one.

        Parameters
        ----------
        items : sequence of (path, key)
        deadline : float or None
            ``time.monotonic()`` value after which no new file is started.
        progress : bool
            Log progress every 10 % of the files.
        workers : int
            Files decoded ahead, each in its own thread.

        Returns
        -------
        failed : dict
            ``path -> reason`` for files that could not be decoded.
        complete : bool
            False when the deadline stopped the work early.
        """
        from ..audio import AudioError

        todo = [(p, k) for p, k in dict((k, (p, k)) for p, k in items).values()
                if not self.entry(k).is_file()]
        failed = {}
        if not todo:
            return failed, True
        log.info("teacher %s: computing targets of %d files into %s", self.teacher.name,
                 len(todo), self.folder)
        started, step, ahead = time.monotonic(), max(1, len(todo) // 10), max(1, int(workers))
        with ThreadPoolExecutor(max_workers=ahead) as pool:
            futures = [pool.submit(self._decode, path) for path, _ in todo[:ahead]]
            for i, (path, key) in enumerate(todo):
                try:
                    patches = futures[i].result()
                except AudioError as exc:
                    patches = None
                    failed[path] = exc.reason
                    log.warning("skipped: %s", exc)
                stop = deadline is not None and time.monotonic() > deadline
                if i + ahead < len(todo) and not stop:
                    futures.append(pool.submit(self._decode, todo[i + ahead][0]))
                futures[i] = None                      # the patches are held once
                if patches is not None:
                    self._store(key, patches)
                if progress and ((i + 1) % step == 0 or i + 1 == len(todo)):
                    log.info("teacher targets: %d/%d files (%.0f s)", i + 1, len(todo),
                             time.monotonic() - started)
                if stop and i + 1 < len(todo):
                    for future in futures[i + 1:]:
                        future.cancel()
                    return failed, False
        return failed, True


def feature_targets(entry: dict, feature_set: str = "pool") -> np.ndarray:
    """The regression target of each window: ``(n_windows, 1506)`` or ``(n_windows, 753)``
    (VGG teachers: 1280 or 640).

    ``'pool'`` is ``[max_pool, mean_pool]`` (musicnn's 1506-d embedding),
    ``'max_pool'`` the 753-d maximum alone. float16, as cached.
    """
    return np.concatenate([entry[part] for part in FEATURE_SETS[feature_set]], axis=1)
