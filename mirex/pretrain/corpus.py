"""Unlabelled music corpus assembled from Debian game-data packages.

Debian ships the soundtracks of many free games as ordinary binary packages
(mostly OGG Vorbis).  This module downloads such packages with
``apt-get download`` (nothing is installed), reads the ``.deb`` files with
pure Python (``ar`` + ``tar``, and ``zip``/``pk3`` archives inside them), keeps
only the music tracks and writes a reproducible corpus for pre-training or
distilling audio models::

    ROOT/
      manifest.json           every track: path, package, version, duration,
                              sample rate, channels, sha256; totals; command
      train.txt               absolute paths of the training tracks, one a line
      heldout.txt             absolute paths of the held-out tracks
      train/<package>/...     music of the TRAIN_PACKAGES
      heldout/<package>/...   music of the HELDOUT_PACKAGES (never train on it)
      licenses/<package>.copyright   the package's usr/share/doc/PKG/copyright

What counts as music
--------------------
An audio file (``.ogg .oga .opus .mp3 .flac .wav``) is kept when its path --
inside the ``.deb``, or inside a ``.zip``/``.pk3`` archive the ``.deb`` holds --
has a folder named ``music`` (or ``cdtracks``, ``soundtrack``, ...; case does
not matter), or when the package itself is a music package (its name has
``-music``) and the file is not under a sound-effect folder (``sound``,
``sounds``, ``sfx``, ``voices``, ...), **and** it lasts at least
``min_seconds`` (20 s by default) according to :func:`soundfile.info`.  All
other files are never written to disk (archives are written to a temporary
folder, searched and deleted).

Held-out split
--------------
The packages of :data:`HELDOUT_PACKAGES` land only under ``heldout/`` and in
``heldout.txt``; a package may not be in both lists.  A training track whose
sha256 equals a held-out track (or an earlier training track) is deleted and
listed as a duplicate in the manifest, so a glob over ``train/`` cannot leak
held-out audio.

Reproducibility
---------------
The manifest records the Debian version and sha256 of every ``.deb``, the
source path of every track inside it, the sha256 of every written file and the
exact command.  Builds are idempotent and resumable: a package already
recorded in the manifest, with all its files present, is skipped; the manifest
and list files are rewritten atomically after each package; a half-downloaded
``.deb`` fails its sha256 check against ``apt-cache`` and is downloaded again;
a half-extracted package (``ROOT/.staging``) is discarded on the next run.

Public API
----------
TRAIN_PACKAGES, HELDOUT_PACKAGES
    The default package lists.
EXTRA_TRAIN_PACKAGES
    Further training packages, opt-in (``--extra``).
fetch_package
    Download one ``.deb`` with ``apt-get download`` and verify it.
deb_control
    Read the control fields (Package, Version, ...) of a ``.deb``.
is_music_path
    The path rule above.
extract_music
    Unpack the music tracks of one ``.deb`` into a folder.
build_corpus
    Build or update the whole corpus; returns the manifest.
summarize
    Hours and track counts per split and per package, from a manifest.
main
    Command line: ``python -m mirex.pretrain.corpus --root cache/corpus``.

Examples
--------
>>> from mirex.pretrain.corpus import build_corpus, summarize
>>> manifest = build_corpus("cache/corpus")             # doctest: +SKIP
>>> summarize(manifest)["hours"]                          # doctest: +SKIP
{'train': 14.2, 'heldout': 4.9}
"""

from __future__ import annotations

import argparse
import bz2
import contextlib
import datetime as _dt
import gzip
import hashlib
import io
import json
import logging
import lzma
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator, Mapping, Sequence

import soundfile as sf

log = logging.getLogger("mirex.pretrain.corpus")

#: Game-data packages whose music is used for training, in order of preference
#: (Debian 12 "bookworm" names).  ``openarena-data`` holds no music in
#: bookworm; the OpenArena tracks are in ``openarena-088-data``.  ``0ad-data``
#: is a 1.4 GB download (3.3 GB unpacked, ~0.2 GB of it music) and comes last.
TRAIN_PACKAGES: tuple[str, ...] = (
    "widelands-data",
    "hedgewars-data",
    "supertux-data",
    "megaglest-data",
    "supertuxkart-data",
    "openarena-088-data",
    "0ad-data",
)

#: More game-data packages with music (bookworm), measured at 20 s minimum:
#: about 7.3 h in all, most first (naev 2.1 h, colobot 1.1 h, marsshooter 0.85 h,
#: freedroidrpg 0.8 h, flare 0.6 h, ...).  Not in the default training list;
#: ``--extra`` on the command line appends them.  (freeorion-data,
#: trigger-rally-data, openclonk-data, blobwars-data, endless-sky-data and
#: btanks-data were tried: no track of 20 s or more that this module finds.)
EXTRA_TRAIN_PACKAGES: tuple[str, ...] = (
    "naev-data",
    "colobot-common-sounds",
    "marsshooter-data",
    "freedroidrpg-data",
    "flare-game",
    "warmux-data",
    "fillets-ng-data",
    "redeclipse-data",
    "xmoto-data",
    "lincity-ng-data",
    "extremetuxracer-data",
    "scorched3d-data",
)

#: Music packages kept apart for evaluation: never train or tune on them.
#: ``wesnoth-1.16-music`` is resolved to whichever ``wesnoth-1.NN-music`` the
#: current release has when the exact name is missing.
HELDOUT_PACKAGES: tuple[str, ...] = (
    "wesnoth-1.16-music",
    "nexuiz-music",
    "warzone2100-music",
    "hyperrogue-music",
    "planetblupi-music-ogg",
    "singularity-music",
    "drascula-music",
    "asc-music",
)

SPLITS = ("train", "heldout")
AUDIO_EXTENSIONS = frozenset({".ogg", ".oga", ".opus", ".mp3", ".flac", ".wav"})
ARCHIVE_EXTENSIONS = frozenset({".zip", ".pk3"})
MUSIC_DIRS = frozenset({"music", "musics", "cdtracks", "soundtrack", "soundtracks", "bgm"})
SFX_DIRS = frozenset({"sound", "sounds", "sfx", "voice", "voices", "speech", "ambient"})
MANIFEST_FORMAT = 1

_CHUNK = 1 << 20


class PackageUnavailable(RuntimeError):
    """A package is not in the current Debian release or could not be downloaded."""


def default_root() -> Path:
    """The default corpus folder, ``cache/corpus`` under the repository root.

    Returns
    -------
    pathlib.Path
        ``<repo>/cache/corpus`` when this module sits in a source checkout
        (a ``pyproject.toml`` two levels up), else ``./cache/corpus``.
    """
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file():
        return repo / "cache" / "corpus"
    return Path.cwd() / "cache" / "corpus"


# --------------------------------------------------------------------------
# small helpers


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _norm_member(name: str) -> str:
    """A tar/zip member name as a clean relative POSIX path."""
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".", "/")]
    return "/".join(parts)


def _is_music_package(name: str) -> bool:
    return re.search(r"-music($|-)", name) is not None


# --------------------------------------------------------------------------
# reading .deb files (ar archive: debian-binary, control.tar.*, data.tar.*)


class _Slice(io.RawIOBase):
    """Read-only view of ``size`` bytes of a file starting at ``offset``."""

    def __init__(self, path: Path, offset: int, size: int):
        self._f = open(path, "rb")
        self._f.seek(offset)
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = min(len(b), self._left)
        if n <= 0:
            return 0
        data = self._f.read(n)
        b[: len(data)] = data
        self._left -= len(data)
        return len(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._f.close()
        super().close()


def _ar_members(deb_path: Path) -> list[tuple[str, int, int]]:
    """``(name, offset, size)`` of each member of an ``ar`` archive.

    Raises
    ------
    ValueError
        When the file is not an ``ar`` archive or is truncated.
    """
    deb_path = Path(deb_path)
    total = deb_path.stat().st_size
    out = []
    with open(deb_path, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise ValueError(f"{deb_path}: not an ar archive (.deb)")
        pos = 8
        while pos < total:
            f.seek(pos)
            hdr = f.read(60)
            if len(hdr) < 60 or hdr[58:60] != b"`\n":
                raise ValueError(f"{deb_path}: truncated or corrupt ar header at byte {pos}")
            name = hdr[:16].decode("ascii", "replace").strip().rstrip("/")
            size = int(hdr[48:58].decode("ascii").strip())
            start = pos + 60
            if start + size > total:
                raise ValueError(f"{deb_path}: truncated (member {name!r} needs "
                                 f"{start + size} bytes, file has {total})")
            out.append((name, start, size))
            pos = start + size + (size & 1)
    return out


@contextlib.contextmanager
def _open_tar_member(deb_path: Path, prefix: str) -> Iterator[tarfile.TarFile]:
    """Stream the ``control.tar.*`` or ``data.tar.*`` member of a ``.deb``."""
    members = [m for m in _ar_members(deb_path) if m[0].startswith(prefix)]
    if not members:
        raise ValueError(f"{deb_path}: no {prefix}* member")
    name, offset, size = members[0]
    raw = io.BufferedReader(_Slice(deb_path, offset, size), buffer_size=_CHUNK)
    proc = None
    if name.endswith(".xz") or name.endswith(".lzma"):
        stream = lzma.open(raw)
    elif name.endswith(".gz"):
        stream = gzip.open(raw)
    elif name.endswith(".bz2"):
        stream = bz2.open(raw)
    elif name.endswith(".zst"):
        try:
            import zstandard  # type: ignore[import-not-found]
            stream = zstandard.ZstdDecompressor().stream_reader(raw)
        except ImportError:  # fall back on the zstd program, fed from a thread
            import threading
            raw.close()
            raw = _Slice(deb_path, offset, size)
            proc = subprocess.Popen(["zstd", "-dc"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE)
            src = raw

            def _feed():
                try:
                    for block in iter(lambda: src.read(_CHUNK), b""):
                        proc.stdin.write(block)
                except BrokenPipeError:
                    pass
                finally:
                    proc.stdin.close()

            threading.Thread(target=_feed, daemon=True).start()
            stream = proc.stdout
    else:
        stream = raw
    tf = tarfile.open(fileobj=stream, mode="r|")
    try:
        yield tf
    finally:
        tf.close()
        stream.close()
        raw.close()
        if proc is not None:
            proc.wait()


def deb_control(deb_path: str | os.PathLike) -> dict[str, str]:
    """Control fields of a ``.deb`` (what ``dpkg-deb -f`` prints).

    Parameters
    ----------
    deb_path : path-like
        A Debian binary package.

    Returns
    -------
    dict of str to str
        ``{'Package': ..., 'Version': ..., 'Architecture': ..., ...}``;
        continuation lines are joined with newlines.

    Raises
    ------
    ValueError
        When the file is not a readable ``.deb`` or has no control file.
    """
    with _open_tar_member(Path(deb_path), "control.tar") as tf:
        for member in tf:
            if member.isfile() and _norm_member(member.name) == "control":
                text = tf.extractfile(member).read().decode("utf-8", "replace")
                break
        else:
            raise ValueError(f"{deb_path}: no control file")
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip()
            fields[key] = value.strip()
    return fields


def _deb_ok(path: Path, sha256: str | None = None, size: int | None = None) -> bool:
    """True when ``path`` is a complete ``.deb`` (and matches size/sha256 if given)."""
    path = Path(path)
    try:
        if size is not None and path.stat().st_size != int(size):
            return False
        members = _ar_members(path)
    except (OSError, ValueError):
        return False
    names = [m[0] for m in members]
    if not names or names[0] != "debian-binary" or not any(n.startswith("data.tar") for n in names):
        return False
    return sha256 is None or _sha256(path) == sha256.lower()


# --------------------------------------------------------------------------
# apt


def _run(cmd: Sequence[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, **kw)


def _apt_record(name: str) -> dict[str, str] | None:
    """The candidate's record from ``apt-cache show``, or None when unknown."""
    try:
        r = _run(["apt-cache", "show", "--no-all-versions", name])
    except FileNotFoundError:
        raise PackageUnavailable("apt-cache not found (not a Debian system)") from None
    if r.returncode != 0 or not r.stdout.strip():
        return None
    rec: dict[str, str] = {}
    key = None
    for line in r.stdout.split("\n\n")[0].splitlines():
        if line[:1] in (" ", "\t") and key:
            continue
        if ":" in line:
            key, value = line.split(":", 1)
            rec[key.strip()] = value.strip()
    return rec if rec.get("Package") else None


def _apt_lists_present() -> bool:
    lists = Path("/var/lib/apt/lists")
    return lists.is_dir() and any(p.name.endswith("_Packages") or "_Packages." in p.name
                                  for p in lists.iterdir())


_APT_UPDATED = False


def apt_update() -> None:
    """Run ``apt-get update`` once per process (root only; failures are logged)."""
    global _APT_UPDATED
    if _APT_UPDATED:
        return
    _APT_UPDATED = True
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        log.warning("apt-get update skipped: not root")
        return
    r = _run(["apt-get", "update"])
    if r.returncode != 0:
        log.warning("apt-get update failed: %s", (r.stderr.strip().splitlines() or ["?"])[-1])


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v))


def resolve_package(name: str) -> dict[str, str]:
    """The apt record of ``name``, or of its current-release equivalent.

    A versioned name such as ``wesnoth-1.16-music`` that the release lacks is
    resolved to the highest ``wesnoth-1.NN-music`` it has.

    Parameters
    ----------
    name : str
        A Debian binary package name.

    Returns
    -------
    dict of str to str
        The ``apt-cache show`` fields (Package, Version, Size, SHA256, ...).

    Raises
    ------
    PackageUnavailable
        When neither the name nor an equivalent is known to apt.
    """
    rec = _apt_record(name)
    if rec is None and not _apt_lists_present():
        apt_update()
        rec = _apt_record(name)
    if rec is not None:
        return rec
    m = re.fullmatch(r"(.+-)(\d+(?:\.\d+)+)(-.+)", name)
    if m:
        head, _, tail = m.groups()
        r = _run(["apt-cache", "pkgnames", head])
        pattern = re.compile(re.escape(head) + r"(\d+(?:\.\d+)+)" + re.escape(tail))
        found = sorted((p for p in r.stdout.split() if pattern.fullmatch(p)),
                       key=lambda p: _version_key(pattern.fullmatch(p).group(1)))
        if found:
            log.warning("%s: not in this release, using %s", name, found[-1])
            rec = _apt_record(found[-1])
            if rec is not None:
                return rec
    raise PackageUnavailable(f"{name}: not in the current Debian release (apt-cache show)")


def fetch_package(name: str, workdir: str | os.PathLike) -> Path:
    """Download a package's ``.deb`` with ``apt-get download`` and verify it.

    Parameters
    ----------
    name : str
        Debian binary package name (see :func:`resolve_package` for names
        that changed between releases).
    workdir : path-like
        Download folder; the file is ``workdir/<name>.deb``.

    Returns
    -------
    pathlib.Path
        The verified ``.deb``.  A file already there that matches the size
        and sha256 that ``apt-cache`` gives is reused; a partial or corrupt
        one is downloaded again.

    Raises
    ------
    PackageUnavailable
        When apt does not know the package or the download fails.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rec = resolve_package(name)
    target = workdir / f"{name}.deb"
    sha, size = rec.get("SHA256"), rec.get("Size")
    if target.exists():
        if _deb_ok(target, sha, size):
            return target
        log.warning("%s: %s is incomplete or stale, downloading again", name, target.name)
        target.unlink()
    partial = Path(tempfile.mkdtemp(prefix=f".partial-{name}-", dir=workdir))
    try:
        try:
            r = _run(["apt-get", "download", rec["Package"]], cwd=partial)
        except FileNotFoundError:
            raise PackageUnavailable("apt-get not found (not a Debian system)") from None
        debs = sorted(partial.glob("*.deb"))
        if r.returncode != 0 or len(debs) != 1:
            lines = [ln for ln in r.stderr.splitlines() if "unsandboxed" not in ln]
            raise PackageUnavailable(f"{name}: apt-get download failed: "
                                     f"{(lines or ['no .deb written'])[-1]}")
        if not _deb_ok(debs[0], sha, size):
            raise PackageUnavailable(f"{name}: downloaded .deb does not match apt's size/sha256")
        os.replace(debs[0], target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


# --------------------------------------------------------------------------
# extracting music


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
    copyright_path = f"usr/share/doc/{package}/copyright"
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=out_dir))
    candidates: list[tuple[str, Path]] = []

    def _new_file(ext: str) -> Path:
        return tmp / f"{len(candidates):06d}{ext}"

    try:
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
                    dest = _new_file(ext)
                    _copy_stream(tf.extractfile(member), dest)
                    candidates.append((path, dest))
                elif ext in ARCHIVE_EXTENSIONS:
                    archive = tmp / f"archive{ext}"
                    _copy_stream(tf.extractfile(member), archive)
                    try:
                        with zipfile.ZipFile(archive) as zf:
                            for info in zf.infolist():
                                if info.is_dir():
                                    continue
                                inner = f"{path}/{_norm_member(info.filename)}"
                                iext = PurePosixPath(inner).suffix.lower()
                                if iext in AUDIO_EXTENSIONS and is_music_path(inner, whole):
                                    dest = _new_file(iext)
                                    with zf.open(info) as src:
                                        _copy_stream(src, dest)
                                    candidates.append((inner, dest))
                    except zipfile.BadZipFile:
                        log.warning("%s: %s is not a readable zip archive", package, path)
                    finally:
                        archive.unlink()
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
                "sha256": _sha256(dest),
            })
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return sorted(tracks, key=lambda t: t["path"])


# --------------------------------------------------------------------------
# the corpus


def _load_manifest(root: Path) -> dict:
    path = root / "manifest.json"
    if path.is_file():
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            if manifest.get("format") == MANIFEST_FORMAT:
                manifest.setdefault("packages", {})
                manifest.setdefault("failed", {})
                manifest.setdefault("commands", [])
                return manifest
            log.warning("%s: unknown manifest format, starting afresh", path)
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable (%s), starting afresh", path, exc)
    return {"format": MANIFEST_FORMAT, "packages": {}, "failed": {}, "commands": []}


def _is_complete(root: Path, entry: Mapping | None, split: str, min_seconds: float) -> bool:
    if not entry or entry.get("status") != "ok" or entry.get("split") != split:
        return False
    if float(entry.get("min_seconds", -1)) != float(min_seconds):
        return False
    for t in entry.get("tracks", []):
        if t.get("duplicate_of"):
            continue
        p = root / t["path"]
        if not p.is_file() or p.stat().st_size != t["bytes"]:
            return False
    return True


def _default_command(root: Path, packages, heldout, min_seconds) -> str:
    args = [sys.executable, "-m", "mirex.pretrain.corpus", "--root", str(root),
            "--packages", ",".join(packages), "--heldout", ",".join(heldout),
            "--min-seconds", f"{min_seconds:g}"]
    return shlex.join(args)


def _finalize(root: Path, manifest: dict, order: Sequence[str]) -> dict:
    """Deduplicate, compute totals and write manifest + list files atomically."""
    packages = manifest["packages"]
    names = [p for p in order if p in packages] + sorted(p for p in packages if p not in order)
    # held-out first, so that a track shared with a training package stays held out
    names.sort(key=lambda p: 0 if packages[p]["split"] == "heldout" else 1)
    seen: dict[str, str] = {}
    flat: list[dict] = []
    lists: dict[str, list[str]] = {s: [] for s in SPLITS}
    hours = {s: 0.0 for s in SPLITS}
    counts = {s: 0 for s in SPLITS}
    nbytes = {s: 0 for s in SPLITS}
    per_package = {}
    for name in names:
        entry = packages[name]
        split = entry["split"]
        p_hours, p_count = 0.0, 0
        for t in entry["tracks"]:
            if t.get("duplicate_of") is None and t["sha256"] in seen:
                t["duplicate_of"] = seen[t["sha256"]]
                with contextlib.suppress(FileNotFoundError):
                    (root / t["path"]).unlink()
                log.warning("%s: %s duplicates %s, removed", name, t["path"], t["duplicate_of"])
            if t.get("duplicate_of"):
                continue
            seen[t["sha256"]] = t["path"]
            flat.append({"path": t["path"], "split": split, "package": name,
                         "version": entry["version"], **{k: v for k, v in t.items()
                                                         if k not in ("path",)}})
            lists[split].append(str(root / t["path"]))
            p_hours += t["duration_s"] / 3600.0
            p_count += 1
            nbytes[split] += t["bytes"]
        hours[split] += p_hours
        counts[split] += p_count
        per_package[name] = {"split": split, "version": entry["version"],
                             "tracks": p_count, "hours": round(p_hours, 4)}
    manifest["tracks"] = flat
    manifest["totals"] = {
        "hours": {s: round(hours[s], 4) for s in SPLITS},
        "tracks": counts,
        "bytes": nbytes,
        "packages": per_package,
    }
    manifest["updated"] = _now()
    for split in SPLITS:
        _atomic_write_text(root / f"{split}.txt", "".join(p + "\n" for p in lists[split]))
    _atomic_write_text(root / "manifest.json", json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    return manifest


@contextlib.contextmanager
def _locked(root: Path):
    import fcntl
    with open(root / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"{root}: another corpus build is running") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build_corpus(root: str | os.PathLike | None = None,
                 packages: Sequence[str] = TRAIN_PACKAGES,
                 heldout: Sequence[str] = HELDOUT_PACKAGES,
                 min_seconds: float = 20.0, *,
                 workdir: str | os.PathLike | None = None,
                 keep_debs: bool = False,
                 prune: bool = False,
                 fetch: Callable[[str, Path], Path] | None = None,
                 command: str | None = None) -> dict:
    """Build or update the corpus under ``root``.

    Parameters
    ----------
    root : path-like, optional
        Corpus folder (default :func:`default_root`, ``cache/corpus``).
    packages : sequence of str
        Training packages; their music goes to ``root/train/<package>/``.
    heldout : sequence of str
        Held-out packages; their music goes to ``root/heldout/<package>/``.
        Must not share a name with ``packages``.
    min_seconds : float
        Shortest track kept (sound effects are shorter).
    workdir : path-like, optional
        Where ``.deb`` files are downloaded (default ``root/.debs``).
    keep_debs : bool
        Keep the ``.deb`` files after extraction (default: delete them).
    prune : bool
        Delete packages recorded in the manifest but not requested now
        (default: keep them, with a warning).
    fetch : callable, optional
        ``fetch(name, workdir) -> Path`` returning a ``.deb``; default
        :func:`fetch_package`.  Tests pass a local one.
    command : str, optional
        The command line to record (default: an equivalent
        ``python -m mirex.pretrain.corpus`` command).

    Returns
    -------
    dict
        The manifest, as written to ``root/manifest.json``: ``packages``
        (per package: split, version, deb sha256, copyright file, tracks),
        ``tracks`` (flat list with path relative to ``root``, split, package,
        version, duration_s, samplerate, channels, sha256, ...),
        ``totals`` (hours/tracks/bytes per split, hours per package),
        ``failed`` (packages skipped, with the reason), ``command``.

    Notes
    -----
    Idempotent and resumable: a package recorded with the same split and
    ``min_seconds`` whose files are all present is skipped without
    downloading; the manifest and ``train.txt``/``heldout.txt`` are rewritten
    atomically after every package.  A package that does not exist or fails
    to download or unpack is skipped with a one-line warning.
    """
    root = Path(root if root is not None else default_root()).resolve()
    packages, heldout = tuple(packages), tuple(heldout)
    both = sorted(set(packages) & set(heldout))
    if both:
        raise ValueError(f"packages both in training and held-out lists: {both}")
    fetch = fetch or fetch_package
    workdir = Path(workdir) if workdir is not None else root / ".debs"
    root.mkdir(parents=True, exist_ok=True)
    order = list(heldout) + list(packages)
    with _locked(root):
        manifest = _load_manifest(root)
        manifest["root"] = str(root)
        manifest["command"] = command or _default_command(root, packages, heldout, min_seconds)
        manifest["commands"] = (manifest["commands"] + [manifest["command"]])[-20:]
        manifest["requested"] = {"train": list(packages), "heldout": list(heldout),
                                 "min_seconds": min_seconds}
        manifest.setdefault("created", _now())
        staging = root / ".staging"
        shutil.rmtree(staging, ignore_errors=True)  # leftovers of an interrupted run

        stale = [p for p in manifest["packages"] if p not in order]
        for name in stale:
            if prune:
                log.warning("%s: not requested, removed (--prune)", name)
                for split in SPLITS:
                    shutil.rmtree(root / split / name, ignore_errors=True)
                with contextlib.suppress(FileNotFoundError):
                    (root / "licenses" / f"{name}.copyright").unlink()
                del manifest["packages"][name]
            else:
                log.warning("%s: in the manifest but not requested; kept (use --prune to remove)",
                            name)
        for name in list(manifest["failed"]):
            if name not in order:
                del manifest["failed"][name]

        t_build = time.monotonic()
        for name, split in [(p, "heldout") for p in heldout] + [(p, "train") for p in packages]:
            entry = manifest["packages"].get(name)
            if _is_complete(root, entry, split, min_seconds):
                log.info("%s: already in the corpus (%d tracks), skipped", name,
                         sum(1 for t in entry["tracks"] if not t.get("duplicate_of")))
                continue
            t0 = time.monotonic()
            try:
                log.info("%s: fetching", name)
                deb = Path(fetch(name, workdir))
                control = deb_control(deb)
                stage = staging / name
                lic = staging / f"{name}.copyright"
                log.info("%s %s: extracting music from %s (%.0f MB)", name,
                         control.get("Version"), deb.name, deb.stat().st_size / 1e6)
                tracks = extract_music(deb, stage, min_seconds, copyright_dest=lic,
                                       whole_package=_is_music_package(name))
                deb_sha = _sha256(deb)
                deb_bytes = deb.stat().st_size
            except Exception as exc:  # noqa: BLE001 - skip the package, carry on
                msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                log.warning("skipping %s: %s", name, msg)
                manifest["failed"][name] = msg
                shutil.rmtree(staging / name, ignore_errors=True)
                _finalize(root, manifest, order)
                continue
            for s in SPLITS:
                shutil.rmtree(root / s / name, ignore_errors=True)
            final = root / split / name
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage, final)
            copyright_rel = None
            if lic.is_file():
                copyright_rel = f"licenses/{name}.copyright"
                (root / "licenses").mkdir(exist_ok=True)
                os.replace(lic, root / copyright_rel)
            else:
                log.warning("%s: no usr/share/doc/%s/copyright in the package", name,
                            control.get("Package", name))
            if not tracks:
                log.warning("%s: no music track of %g s or more found", name, min_seconds)
            for t in tracks:
                t["path"] = f"{split}/{name}/{t['path']}"
            manifest["packages"][name] = {
                "split": split,
                "status": "ok",
                "deb_package": control.get("Package", name),
                "version": control.get("Version", ""),
                "architecture": control.get("Architecture", ""),
                "deb_file": deb.name,
                "deb_bytes": deb_bytes,
                "deb_sha256": deb_sha,
                "copyright": copyright_rel,
                "copyright_source": f"usr/share/doc/{control.get('Package', name)}/copyright",
                "min_seconds": min_seconds,
                "extracted": _now(),
                "seconds_taken": round(time.monotonic() - t0, 1),
                "tracks": tracks,
            }
            manifest["failed"].pop(name, None)
            _finalize(root, manifest, order)
            if not keep_debs:
                with contextlib.suppress(FileNotFoundError):
                    deb.unlink()
            kept = [t for t in tracks if not t.get("duplicate_of")]
            log.info("%s: %d tracks, %.2f h (%.0f s)", name, len(kept),
                     sum(t["duration_s"] for t in kept) / 3600, time.monotonic() - t0)
        shutil.rmtree(staging, ignore_errors=True)
        if not keep_debs and workdir.is_dir():
            with contextlib.suppress(OSError):
                workdir.rmdir()  # only when empty
        manifest["last_build_seconds"] = round(time.monotonic() - t_build, 1)
        return _finalize(root, manifest, order)


def summarize(manifest: Mapping) -> dict:
    """Hours and track counts per split and per package.

    Parameters
    ----------
    manifest : mapping
        As returned by :func:`build_corpus` or read from ``manifest.json``.

    Returns
    -------
    dict
        ``root``, ``hours`` and ``tracks`` per split, ``packages`` (split,
        version, tracks, hours each), ``failed`` and ``disk_mb`` (the tracks).
    """
    totals = manifest.get("totals", {})
    return {
        "root": manifest.get("root"),
        "hours": {s: round(v, 3) for s, v in totals.get("hours", {}).items()},
        "tracks": totals.get("tracks", {}),
        "disk_mb": round(sum(totals.get("bytes", {}).values()) / 1e6, 1),
        "packages": totals.get("packages", {}),
        "failed": manifest.get("failed", {}),
    }


def _names(text: str) -> tuple[str, ...]:
    return tuple(n for n in re.split(r"[,\s]+", text) if n)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: build or update the corpus, print a JSON summary.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``); ``--help`` lists them.

    Returns
    -------
    int
        Exit status: 0, or 1 when no track at all is in the corpus.
    """
    parser = argparse.ArgumentParser(
        prog="python -m mirex.pretrain.corpus",
        description="Assemble an unlabelled music corpus from Debian game-data packages.")
    parser.add_argument("--root", type=Path, default=None,
                        help="corpus folder (default: cache/corpus under the repository)")
    parser.add_argument("--packages", type=_names, default=TRAIN_PACKAGES,
                        help="training packages, comma-separated (default: %(default)s)")
    parser.add_argument("--heldout", type=_names, default=HELDOUT_PACKAGES,
                        help="held-out packages, comma-separated (default: %(default)s)")
    parser.add_argument("--extra", action="store_true",
                        help="append EXTRA_TRAIN_PACKAGES to the training packages")
    parser.add_argument("--min-seconds", type=float, default=20.0,
                        help="shortest track kept (default: %(default)s)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="download folder (default: ROOT/.debs)")
    parser.add_argument("--keep-debs", action="store_true", help="keep the downloaded .deb files")
    parser.add_argument("--prune", action="store_true",
                        help="delete packages in the corpus that are not requested")
    parser.add_argument("--apt-update", action="store_true", help="run apt-get update first")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings on stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s: %(message)s", stream=sys.stderr)
    if args.apt_update:
        apt_update()
    raw = list(sys.argv[1:] if argv is None else argv)
    command = shlex.join([sys.executable, "-m", "mirex.pretrain.corpus", *raw])
    packages = tuple(args.packages)
    if args.extra:
        packages += tuple(p for p in EXTRA_TRAIN_PACKAGES if p not in packages)
    manifest = build_corpus(args.root, packages, args.heldout, args.min_seconds,
                            workdir=args.workdir, keep_debs=args.keep_debs, prune=args.prune,
                            command=command)
    summary = summarize(manifest)
    print(json.dumps(summary, indent=2))
    return 0 if sum(summary["tracks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
