"""Atomic file writes, checksums and manifest-checked folders, shared by every module.

A reader sees the old file or the new one, never a part: the bytes go to a
temporary file in the same folder, are flushed to disk, get ordinary
permissions (``0o666`` less the umask, not ``mkstemp``'s private ``0o600``)
and are renamed over the destination.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_save_npy",
           "atomic_save_weights", "sha256_file", "read_manifest", "checked_file", "checked_bytes"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; the folder must exist. Returns the path."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` as UTF-8 with ``\\n`` line ends, atomically."""
    return atomic_write_bytes(path, text.replace("\r\n", "\n").encode("utf-8"))


def atomic_save_weights(model, path: str | os.PathLike) -> Path:
    """``model.save_weights`` (Keras ``.weights.h5``) atomically: a kill leaves the old file."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")  # Keras needs the suffix
    try:
        model.save_weights(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_save_npy(path: str | os.PathLike, array) -> Path:
    """``np.save`` (no pickles) atomically, creating the folder if needed."""
    import io

    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return atomic_write_bytes(path, buffer.getvalue())


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: str | os.PathLike, name: str, fmt: str, error=ValueError,
                  missing: str | None = None) -> dict:
    """The JSON manifest ``folder/name``, checked to be of format ``fmt``.

    THE loader of manifest-checked folders (backbones, classifiers, feature
    stores, checkpoints): every failure raises ``error`` with one line that
    names the file and the reason. ``missing`` is the reason given when the
    manifest does not exist (default: "not a <fmt> folder (no <name>)").
    """
    import json

    folder = Path(folder)
    path = folder / name
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{folder}: {missing or f'not a {fmt} folder (no {name})'}") from None
    except (OSError, ValueError) as exc:
        raise error(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != fmt:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise error(f"{path}: format is {found!r}, expected {fmt!r}")
    return manifest


def checked_file(folder: str | os.PathLike, entry, error=ValueError, verify: bool = True,
                 what: str = "file") -> Path:
    """The file that a manifest entry ``{"file": NAME, "sha256": HEX}`` names in ``folder``.

    ``NAME`` must be a plain name inside the folder; with ``verify`` the
    file's sha256 must equal the entry's. Raises ``error`` (one line) otherwise.
    """
    folder = Path(folder)
    if not isinstance(entry, dict) or not {"file", "sha256"} <= set(entry):
        raise error(f"{folder}: manifest entry of the {what} must give 'file' and 'sha256'")
    name = str(entry["file"])
    if not name or os.path.basename(name) != name or name in (".", ".."):
        raise error(f"{folder}: bad {what} name {name!r} in the manifest")
    path = folder / name
    if not path.is_file():
        raise error(f"{path}: {what} missing")
    if verify and sha256_file(path) != entry["sha256"]:
        raise error(f"{path}: sha256 differs from the manifest (corrupt or replaced)")
    return path


def checked_bytes(folder: str | os.PathLike, entry, error=ValueError, what: str = "file") -> bytes:
    """The bytes of the file a manifest entry names, read once and checked against its sha256.

    For files that must not be used unverified (a pickle): the bytes hashed
    are the bytes returned, so the file cannot change in between. Raises
    ``error`` (one line naming the file and the reason) otherwise.
    """
    path = checked_file(folder, entry, error, verify=False, what=what)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: {what} unreadable ({exc.strerror or exc})") from None
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise error(f"{path}: sha256 differs from the manifest (corrupt or replaced); "
                    f"refusing to load the {what}")
    return data
