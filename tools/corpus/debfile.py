"""Reading ``.deb`` files in pure Python: the ``ar`` container and its compressed tars.

A ``.deb`` is an ``ar`` archive of ``debian-binary``, ``control.tar.*`` and
``data.tar.*`` (xz, lzma, gz, bz2, zst or plain). Members are streamed, never
unpacked whole; offsets and sizes are in bytes.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import subprocess
import tarfile
from pathlib import Path, PurePosixPath
from typing import Iterator

from mirex.fileio import sha256_file

__all__ = ["deb_control", "unpack_deb"]

#: Read and copy block, in bytes.
_CHUNK = 1 << 20


def _norm_member(name: str) -> str:
    """A tar/zip member name as a clean relative POSIX path."""
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".", "/")]
    return "/".join(parts)


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


def _zstd_process(src) -> subprocess.Popen:
    """A ``zstd -dc`` process fed ``src`` (a binary reader) from a daemon thread."""
    import threading

    proc = subprocess.Popen(["zstd", "-dc"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def _feed():
        try:
            for block in iter(lambda: src.read(_CHUNK), b""):
                proc.stdin.write(block)
        except BrokenPipeError:
            pass
        finally:
            proc.stdin.close()

    threading.Thread(target=_feed, daemon=True).start()
    return proc


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
            raw.close()
            raw = _Slice(deb_path, offset, size)
            proc = _zstd_process(raw)
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
    return sha256 is None or sha256_file(path) == sha256.lower()


def unpack_deb(deb_path: str | os.PathLike, dest: str | os.PathLike) -> list[str]:
    """Unpack the regular files of a ``.deb``'s ``data.tar`` under ``dest`` (like ``dpkg-deb -x``).

    Links, devices and folders of the package are not created (folders are
    made as needed); paths that would leave ``dest`` are refused by tarfile's
    ``data`` filter.  Returns the unpacked paths, relative to ``dest``.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    with _open_tar_member(Path(deb_path), "data.tar") as tf:
        for member in tf:
            if member.isfile():
                tf.extract(member, dest, filter="data")
                out.append(_norm_member(member.name))
    return out
