"""Finding and unpacking the music of a ``.deb``: the path rule, archives inside it, durations.

A track is an audio file (:data:`mirex.constants.AUDIO_EXTENSIONS`) under a
music folder, or any audio file outside sound-effect folders in a music
package, lasting at least ``min_seconds`` seconds.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Sequence

import soundfile as sf

from mirex.constants import AUDIO_EXTENSIONS
from mirex.fileio import sha256_file

from .debfile import _CHUNK, _norm_member, _open_tar_member, deb_control

__all__ = ["ARCHIVE_EXTENSIONS", "MUSIC_DIRS", "SFX_DIRS", "is_music_path", "extract_music"]

log = logging.getLogger("tools.corpus")

ARCHIVE_EXTENSIONS = frozenset({".zip", ".pk3"})
MUSIC_DIRS = frozenset({"music", "musics", "cdtracks", "soundtrack", "soundtracks", "bgm"})
SFX_DIRS = frozenset({"sound", "sounds", "sfx", "voice", "voices", "speech", "ambient"})


def _is_music_package(name: str) -> bool:
    """Whether a package name says it holds music only (``-music`` as a word of it)."""
    return re.search(r"-music($|-)", name) is not None


def is_music_path(path: str, whole_package: bool = False) -> bool:
    """Whether a file path (inside a package or archive) looks like music.

    Parameters
    ----------
    path : str
        POSIX path of the file, e.g. ``usr/share/games/x/music/a.ogg`` or
        ``.../public.zip/audio/music/a.ogg`` for an archive member.
    whole_package : bool
        True for a music package (name with ``-music``): then any audio file
        not under a sound-effect folder counts.

    Returns
    -------
    bool
        True for an audio file (see :data:`AUDIO_EXTENSIONS`) under a folder of
        :data:`MUSIC_DIRS`, or, when ``whole_package``, under no folder of
        :data:`SFX_DIRS`.  Durations are checked separately.
    """
    parts = [p.lower() for p in PurePosixPath(path).parts]
    if not parts or PurePosixPath(parts[-1]).suffix not in AUDIO_EXTENSIONS:
        return False
    dirs = parts[:-1]
    if any(d in MUSIC_DIRS for d in dirs):
        return True
    return whole_package and not any(d in SFX_DIRS for d in dirs)


def _relative_names(sources: Sequence[str]) -> list[str]:
    """Output names: the source paths below their common folder, made unique."""
    split = [[p for p in PurePosixPath(s).parts if p not in ("", ".", "..", "/")] for s in sources]
    prefix: list[str] = []
    if split:
        dirs = [s[:-1] for s in split]
        for column in zip(*dirs):
            if len(set(column)) != 1:
                break
            prefix.append(column[0])
    names, seen = [], set()
    for parts in split:
        name = "/".join(parts[len(prefix):])
        stem, n = name, 1
        while name.lower() in seen:
            n += 1
            p = PurePosixPath(stem)
            name = str(p.with_name(f"{p.stem}~{n}{p.suffix}"))
        seen.add(name.lower())
        names.append(name)
    return names


def _copy_stream(src, dest: Path) -> None:
    with open(dest, "wb") as out:
        shutil.copyfileobj(src, out, _CHUNK)


class _Candidates:
    """Audio files copied out of a package into a scratch folder, numbered in order found."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.items: list[tuple[str, Path]] = []

    def add(self, source: str, stream, ext: str) -> None:
        """Copy ``stream`` (the file at ``source`` in the package) to the next scratch file."""
        dest = self.tmp / f"{len(self.items):06d}{ext}"
        _copy_stream(stream, dest)
        self.items.append((source, dest))


def _add_from_archive(found: _Candidates, archive: Path, path: str, whole: bool,
                      package: str) -> None:
    """Add the music members of a ``.zip``/``.pk3`` found at ``path`` in the package."""
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                inner = f"{path}/{_norm_member(info.filename)}"
                iext = PurePosixPath(inner).suffix.lower()
                if iext in AUDIO_EXTENSIONS and is_music_path(inner, whole):
                    with zf.open(info) as src:
                        found.add(inner, src, iext)
    except zipfile.BadZipFile:
        log.warning("%s: %s is not a readable zip archive", package, path)


def _find_candidates(deb_path: Path, found: _Candidates, package: str, whole: bool,
                     copyright_dest: str | os.PathLike | None) -> None:
    """Copy the music candidates of ``data.tar`` (and its archives) and the copyright file."""
    copyright_path = f"usr/share/doc/{package}/copyright"
    with _open_tar_member(deb_path, "data.tar") as tf:
        for member in tf:
            if not member.isfile():
                continue  # links and folders: a linked track is kept once, at its target
            path = _norm_member(member.name)
            ext = PurePosixPath(path).suffix.lower()
            if path == copyright_path and copyright_dest is not None:
                Path(copyright_dest).parent.mkdir(parents=True, exist_ok=True)
                _copy_stream(tf.extractfile(member), Path(copyright_dest))
            elif ext in AUDIO_EXTENSIONS and is_music_path(path, whole):
                found.add(path, tf.extractfile(member), ext)
            elif ext in ARCHIVE_EXTENSIONS:
                archive = found.tmp / f"archive{ext}"
                _copy_stream(tf.extractfile(member), archive)
                try:
                    _add_from_archive(found, archive, path, whole, package)
                finally:
                    archive.unlink()


def _long_enough(candidates: list[tuple[str, Path]], min_seconds: float,
                 package: str) -> list[tuple[str, Path, object]]:
    """``(source, file, soundfile info)`` of the candidates that decode and last ``min_seconds``.

    The others are deleted.
    """
    kept: list[tuple[str, Path, object]] = []
    for source, f in candidates:
        try:
            info = sf.info(str(f))
            seconds = info.frames / info.samplerate if info.samplerate else 0.0
        except Exception as exc:  # noqa: BLE001 - any undecodable file is dropped
            log.warning("%s: cannot read %s (%s), skipped", package, source, exc)
            f.unlink()
            continue
        if seconds < min_seconds or info.frames <= 0:
            f.unlink()
            continue
        kept.append((source, f, info))
    return kept


def _place_tracks(kept: list[tuple[str, Path, object]], out_dir: Path) -> list[dict]:
    """Move the kept files to their names under ``out_dir``; one manifest entry each."""
    tracks = []
    for (source, f, info), name in zip(kept, _relative_names([k[0] for k in kept])):
        dest = out_dir / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(f, dest)
        tracks.append({
            "path": name,
            "source": source,
            "duration_s": round(info.frames / info.samplerate, 3),
            "samplerate": int(info.samplerate),
            "channels": int(info.channels),
            "format": info.format,
            "subtype": info.subtype,
            "bytes": dest.stat().st_size,
            "sha256": sha256_file(dest),
        })
    return tracks


def extract_music(deb_path: str | os.PathLike, out_dir: str | os.PathLike,
                  min_seconds: float = 20.0, *, copyright_dest: str | os.PathLike | None = None,
                  whole_package: bool | None = None) -> list[dict]:
    """Unpack the music tracks of a ``.deb`` without installing it.

    Only audio files that pass :func:`is_music_path` are written, including
    those inside ``.zip``/``.pk3`` archives in the package; each is then
    checked with :func:`soundfile.info` and kept only if it decodes and lasts
    at least ``min_seconds``.  Everything else is never written or is deleted.

    Parameters
    ----------
    deb_path : path-like
        The Debian package.
    out_dir : path-like
        Destination folder (created).  Tracks keep their path below the
        common folder of all kept tracks, e.g. ``forest/a.ogg``.
    min_seconds : float
        Shortest track kept; shorter files are taken for sound effects.
    copyright_dest : path-like, optional
        Where to copy the package's ``usr/share/doc/<pkg>/copyright``.
    whole_package : bool, optional
        Treat every audio file as a music candidate (default: True for a
        package whose name contains ``-music``).

    Returns
    -------
    list of dict
        One dict per kept track, sorted by ``path``: ``path`` (relative to
        ``out_dir``), ``source`` (path inside the ``.deb``; archive members
        as ``archive.pk3/member``), ``duration_s``, ``samplerate``,
        ``channels``, ``format``, ``subtype``, ``bytes``, ``sha256``.
    """
    deb_path, out_dir = Path(deb_path), Path(out_dir)
    control = deb_control(deb_path)
    package = control.get("Package", deb_path.stem.split("_")[0])
    whole = _is_music_package(package) if whole_package is None else bool(whole_package)
    out_dir.mkdir(parents=True, exist_ok=True)
    found = _Candidates(Path(tempfile.mkdtemp(prefix=".extract-", dir=out_dir)))
    try:
        _find_candidates(deb_path, found, package, whole, copyright_dest)
        tracks = _place_tracks(_long_enough(found.items, min_seconds, package), out_dir)
    finally:
        shutil.rmtree(found.tmp, ignore_errors=True)
    return sorted(tracks, key=lambda t: t["path"])
