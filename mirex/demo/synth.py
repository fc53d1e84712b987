"""Deterministic synthetic music for classification demos and tests.

A small additive / FM / Karplus-Strong synthesiser renders short pieces in a
handful of *genres*.  The classes differ in musical content -- metre and rhythm
pattern, tempo range, mode and chord progression, instrumentation, texture and
note density -- and **not** in loudness or in any single frequency:

* every clip draws its own key (any of the 12 pitch classes), its tempo from
  the genre's range, its mode and progression from the genre's choices, a new
  melody and new instrument and drum parameters;
* every clip is normalised to the same RMS level (``target_dbfs``, -20 dBFS by
  default) with a small uniform random gain (+-``gain_jitter_db``), and a faint
  noise floor is added.

Everything is pure NumPy / SciPy and deterministic: a clip is a function of
``(genre, seed, duration, sr)`` only (the random generator is
:func:`numpy.random.default_rng` seeded from ``(genre index, seed)``).

The code: :mod:`.recipes` (the genres), :mod:`.composition` (a clip's
score), :mod:`.instruments` and :mod:`.drums` (the sounds), :mod:`.mixing`
(mix and master); this module holds the public API.

Public API
----------
GENRES
    Names of the classes, in a fixed order (:func:`make_task` takes the first
    ``n_classes`` of them).
synthesize_clip
    Render one clip as a float32 mono array.
make_task
    Write a labelled classification task (WAV files and list files) to disk.

Examples
--------
>>> from mirex.demo.synth import GENRES, synthesize_clip
>>> y = synthesize_clip("waltz", seed=3, duration=5.0)
>>> y.shape, y.dtype
((110250,), dtype('float32'))
"""

from __future__ import annotations

import io
import json
import os

import numpy as np
import soundfile as sf

from mirex.constants import SAMPLE_RATE
from mirex.fileio import atomic_write_bytes, atomic_write_text

from .composition import _compose
from .mixing import _master, _render_drums, _render_parts
from .recipes import _RECIPES, GENRES

__all__ = ["GENRES", "SYNTH_VERSION", "synthesize_clip", "make_task"]

#: Version of the synthesis algorithm; recorded by :func:`make_task` so that a
#: task written by another version is regenerated rather than reused.
SYNTH_VERSION = 2

#: Name of the manifest :func:`make_task` keeps next to the list files.
_MANIFEST = "synth_manifest.json"


def _check_seed_duration(seed, duration) -> None:
    """Raise ValueError unless ``seed`` is an integer >= 0 and ``duration`` > 0."""
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not duration > 0:
        raise ValueError(f"duration must be positive, got {duration!r}")


def synthesize_clip(genre: str, seed: int, duration: float = 30.0,
                    sr: int = SAMPLE_RATE, *, target_dbfs: float = -20.0,
                    gain_jitter_db: float = 2.0,
                    noise_floor_db: float = -50.0) -> np.ndarray:
    """Render one clip of synthetic music.

    Parameters
    ----------
    genre : str
        One of :data:`GENRES`.
    seed : int >= 0
        Clip seed; with ``genre`` it seeds :func:`numpy.random.default_rng`,
        which draws key, tempo, mode, progression, melody, instrument and drum
        parameters and the gain.
    duration : float > 0
        Length in seconds.
    sr : int > 0
        Sample rate in Hz.
    target_dbfs : float
        RMS level of the clip in dB relative to full scale, before the random
        gain.
    gain_jitter_db : float >= 0
        Half-width in dB of the uniform random gain applied after
        normalisation.
    noise_floor_db : float
        Level of the added white noise floor relative to the music, in dB.

    Returns
    -------
    y : np.ndarray, shape ``(round(duration * sr),)``, dtype float32
        Mono signal at ``sr`` Hz in ``[-1, 1]``, RMS within
        ``target_dbfs +- gain_jitter_db`` dB (up to rounding).  Identical for
        identical ``(genre, seed, duration, sr)`` and keyword arguments.

    Raises
    ------
    ValueError
        Unknown ``genre``, negative ``seed``, non-positive ``duration`` or
        ``sr``.
    """
    if genre not in _RECIPES:
        raise ValueError(f"unknown genre {genre!r}; choose one of {', '.join(GENRES)}")
    _check_seed_duration(seed, duration)
    if int(sr) != sr or sr <= 0:
        raise ValueError(f"sr must be a positive integer, got {sr!r}")
    sr = int(sr)
    n = int(round(duration * sr))
    recipe = _RECIPES[genre]
    rng = np.random.default_rng([GENRES.index(genre), int(seed)])
    notes, hits = _compose(recipe, rng, n / sr)
    mix = _render_parts(notes, rng, n, sr)
    _render_drums(mix, hits, rng, sr)
    return _master(mix, rng, sr, recipe.reverb, recipe.reverb_time, target_dbfs,
                   gain_jitter_db, noise_floor_db)


def _clip_seed(task_seed: int, index: int) -> int:
    """Seed of clip ``index`` of a task drawn with ``task_seed``."""
    return int(np.random.SeedSequence([task_seed, index]).generate_state(1)[0])


def _wav_ok(path: str, frames: int, sr: int) -> bool:
    """Whether ``path`` is a mono PCM-16 WAV with ``frames`` frames at ``sr`` Hz."""
    try:
        info = sf.info(path)
    except (RuntimeError, OSError, sf.LibsndfileError):
        return False
    return (info.frames == frames and info.samplerate == sr and info.channels == 1
            and info.subtype == "PCM_16")


def _read_synth_manifest(path: str) -> dict:
    """``{relative WAV path: spec}`` from a task's manifest; ``{}`` if missing or unreadable.

    Not :func:`mirex.fileio.read_manifest`: this file has no ``format`` field,
    and a bad one only means that every clip is rendered again.
    """
    try:
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
        return old if isinstance(old, dict) else {}
    except (OSError, ValueError):
        return {}


def _plan_task(out_dir: str, old: dict, n_classes: int, clips_per_class: int,
               duration: float, sr: int, seed: int):
    """Every clip's ``(path, genre)``, the clips to render ``(rel, path, spec)``, the manifest kept.

    A clip is rendered when the manifest's spec for it differs or its WAV is
    not a mono PCM-16 file of ``round(duration * sr)`` frames at ``sr`` Hz.
    """
    frames = int(round(duration * sr))
    width = max(2, len(str(clips_per_class - 1)))
    items: list[tuple[str, str]] = []
    todo: list[tuple[str, str, dict]] = []
    manifest = dict(old)
    for genre in GENRES[:n_classes]:
        os.makedirs(os.path.join(out_dir, "audio", genre), exist_ok=True)
        for k in range(clips_per_class):
            rel = f"audio/{genre}/{genre}_{k:0{width}d}.wav"
            path = os.path.join(out_dir, *rel.split("/"))
            spec = {"genre": genre, "seed": _clip_seed(int(seed), k),
                    "duration": float(duration), "sr": sr, "version": SYNTH_VERSION}
            if old.get(rel) != spec or not _wav_ok(path, frames, sr):
                todo.append((rel, path, spec))
                manifest.pop(rel, None)
            items.append((path, genre))
    return items, todo, manifest


def _write_json(path: str, manifest: dict) -> None:
    atomic_write_text(path, json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def _render_clips(manifest_path: str, manifest: dict, todo: list, duration: float,
                  sr: int) -> None:
    """Render and write the ``todo`` clips (16-bit WAV), recording each in ``manifest``."""
    if todo:
        # Forget the files about to be rewritten first, so that an interrupted
        # run never leaves a manifest entry describing other audio.
        _write_json(manifest_path, manifest)
    for rel, path, spec in todo:
        y = synthesize_clip(spec["genre"], spec["seed"], duration, sr)
        wav = io.BytesIO()
        sf.write(wav, y, sr, subtype="PCM_16", format="WAV")
        atomic_write_bytes(path, wav.getvalue())
        manifest[rel] = spec
    _write_json(manifest_path, manifest)


def make_task(out_dir: str, n_classes: int = 5, clips_per_class: int = 20,
              duration: float = 30.0, sr: int = SAMPLE_RATE,
              seed: int = 0) -> list[tuple[str, str]]:
    """Write a labelled synthetic classification task to ``out_dir``.

    Layout::

        out_dir/audio/<genre>/<genre>_<nn>.wav   16-bit PCM mono WAV at sr Hz
        out_dir/all.txt                          "<abs path>\\t<genre>" per clip
        out_dir/extract.txt                      "<abs path>" per clip
        out_dir/synth_manifest.json              what each WAV was made from

    Clip ``k`` of every genre uses the seed derived from ``(seed, k)``.  A WAV
    is rendered only when it is missing, is not a mono PCM-16 file of the right
    length and sample rate, or was made (according to the manifest) from other
    parameters; so a second call with the same arguments rewrites no audio.
    Every file is written through a temporary file and :func:`os.replace`.

    Parameters
    ----------
    out_dir : str or path-like
        Output folder; created when missing.
    n_classes : int
        Number of classes, the first ``n_classes`` of :data:`GENRES`
        (``1 <= n_classes <= len(GENRES)``).
    clips_per_class : int >= 1
        Clips per class.
    duration : float > 0
        Clip length in seconds.
    sr : int > 0
        Sample rate in Hz.
    seed : int >= 0
        Task seed.

    Returns
    -------
    items : list of (str, str)
        ``(absolute WAV path, genre)`` per clip, grouped by genre in
        :data:`GENRES` order, clips in index order (the order of ``all.txt``).

    Raises
    ------
    ValueError
        ``n_classes`` outside ``[1, len(GENRES)]`` or other invalid arguments.
    """
    if not 1 <= n_classes <= len(GENRES):
        raise ValueError(f"n_classes must be between 1 and {len(GENRES)} "
                         f"(the number of synthetic genres), got {n_classes}")
    if clips_per_class < 1:
        raise ValueError(f"clips_per_class must be at least 1, got {clips_per_class}")
    _check_seed_duration(seed, duration)
    sr = int(sr)
    out_dir = os.path.abspath(os.fspath(out_dir))
    os.makedirs(out_dir, exist_ok=True)
    manifest_path = os.path.join(out_dir, _MANIFEST)
    old = _read_synth_manifest(manifest_path)
    items, todo, manifest = _plan_task(out_dir, old, n_classes, clips_per_class, duration,
                                       sr, seed)
    _render_clips(manifest_path, manifest, todo, duration, sr)
    atomic_write_text(os.path.join(out_dir, "all.txt"),
                      "".join(f"{p}\t{g}\n" for p, g in items))
    atomic_write_text(os.path.join(out_dir, "extract.txt"),
                      "".join(f"{p}\n" for p, _ in items))
    return items
