"""The feature store: one cached embedding per (audio content, extractor).

Layout under a store's root (``SCRATCH/features`` by default)::

    store.json                          marks the folder as a feature store
    <extractor-id>/<kk>/<key>.npy       one float32 vector per clip
    index/<pp>/<path-hash>.json         path -> content key, with the file's stat stamp

Conventions
-----------
- A clip's *key* is the sha256 of the audio file's bytes, so a changed file
  is never served a stale vector, while a copied or moved file still hits.
  The index spares re-hashing a file whose stat stamp is unchanged: size,
  modification and change times in nanoseconds, inode and device, as git
  checks its index. Content replaced in place changes the change time (even
  when size and modification time are restored), so it is hashed again.
- An *extractor id* names the network and its exact weights (their sha256)
  and extraction parameters, so changed weights never hit old entries.
- Every file is written to a temporary name in the same folder and renamed
  into place: a killed run leaves no entry that is read later.
- Entries are read with ``allow_pickle=False``; nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from .fileio import atomic_save_npy, atomic_write_text, read_manifest
from .fileio import sha256_file as content_key

__all__ = ["FeatureStore", "StoreError", "content_key", "find_stores", "given_store", "STORE_DIRNAME"]

log = logging.getLogger(__name__)

STORE_DIRNAME = "features"
MARKER = "store.json"
FORMAT = "mirex-feature-store/1"


class StoreError(OSError):
    """A ``store.json`` that is unreadable or of another format; the message names it.

    An ``OSError``: callers that keep features in memory when a store cannot
    be written treat such a store the same way.
    """


def _stamp(stat: os.stat_result) -> tuple[int, ...]:
    """What must not change for an index entry to stay valid (git's own check)."""
    return (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev)


class FeatureStore:
    """A folder of cached clip embeddings.

    Parameters
    ----------
    root : str or path-like
        The store's folder; created (with its marker) on first write.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._keys: dict[str, tuple[tuple[int, int], str]] = {}
        self._checked = False

    def __repr__(self) -> str:
        return f"FeatureStore({str(self.root)!r})"

    def exists(self) -> bool:
        """Whether ``store.json`` marks the folder as a store (not checked: see :meth:`check`)."""
        return (self.root / MARKER).is_file()

    def check(self) -> "FeatureStore":
        """This store, once its ``store.json`` is read and of this format; else :class:`StoreError`."""
        if not self._checked:
            read_manifest(self.root, MARKER, FORMAT, StoreError,
                          missing=f"not a feature store (no {MARKER})")
            self._checked = True
        return self

    def _ensure(self) -> None:
        """Mark the folder as a store on first write; never write into another format's store."""
        if self._checked:
            return
        if not self.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.root / MARKER, json.dumps({"format": FORMAT}) + "\n")
        self.check()

    # -- path -> content key -------------------------------------------------

    def _index_path(self, path: str) -> Path:
        digest = hashlib.sha256(os.path.abspath(path).encode("utf-8", "surrogateescape")).hexdigest()
        return self.root / "index" / digest[:2] / f"{digest}.json"

    def indexed_key(self, path: str | os.PathLike) -> str | None:
        """The key this store's index holds for ``path``, if still valid.

        Valid means the file's stat stamp (size, mtime, ctime, inode, device) is the one recorded.
        Raises ``OSError`` when the file cannot be stat'ed.
        """
        path = os.fspath(path)
        stamp = _stamp(os.stat(path))
        memo = self._keys.get(path)
        if memo is not None and memo[0] == stamp:
            return memo[1]
        try:
            entry = json.loads(self._index_path(path).read_text(encoding="utf-8"))
            if entry.get("stamp") == list(stamp):
                self._keys[path] = (stamp, entry["key"])
                return entry["key"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return None

    def key(self, path: str | os.PathLike) -> str:
        """Content key of an audio file, hashing it only when the index is stale.

        The index remembers each path's stat stamp and key; a file whose stamp
        changed is hashed again. Raises ``OSError`` when the file cannot be read.
        """
        path = os.fspath(path)
        key = self.indexed_key(path)
        if key is not None:
            return key
        stamp = _stamp(os.stat(path))   # taken before hashing: a change meanwhile re-hashes
        key = content_key(path)
        self._keys[path] = (stamp, key)
        try:
            self._ensure()
            index = self._index_path(path)
            index.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(index, json.dumps({
                "path": os.path.abspath(path), "stamp": list(stamp), "key": key}) + "\n")
        except OSError:
            pass  # the index is an optimisation; a read-only store still works
        return key

    # -- entries ---------------------------------------------------------------

    def _entry(self, extractor_id: str, key: str) -> Path:
        return self.root / extractor_id / key[:2] / f"{key}.npy"

    def get(self, extractor_id: str, key: str) -> np.ndarray | None:
        """The cached vector, or ``None`` if absent or unreadable."""
        entry = self._entry(extractor_id, key)
        try:
            vector = np.load(entry, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if vector.ndim != 1 or not np.all(np.isfinite(vector)):
            return None
        return vector

    def put(self, extractor_id: str, key: str, vector: np.ndarray) -> None:
        """Store a vector atomically (last writer wins; all writers agree)."""
        vector = np.asarray(vector, dtype=np.float32)
        if vector.ndim != 1:
            raise ValueError(f"expected a 1-d vector, got shape {vector.shape}")
        self._ensure()
        atomic_save_npy(self._entry(extractor_id, key), vector)

    def describe(self, extractor_id: str, info: dict) -> None:
        """Record what an extractor id means (for people reading the store)."""
        self._ensure()
        path = self.root / extractor_id / "extractor.json"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(info, indent=2) + "\n")


def find_stores(scratch: str | os.PathLike, extra=()) -> list[FeatureStore]:
    """The stores a Train/Test call in ``scratch`` reads from, in order.

    ``SCRATCH/features`` first (where new entries are written), then any
    ``features`` store in a parent folder of ``scratch`` (so that folds run
    in sub-folders of the extraction scratch find its cache), then ``extra``:
    folders given by the user, each a store or a scratch folder holding one
    (see :func:`given_store`). Stores other than the first are skipped, with
    a warning, when their ``store.json`` is of another format.
    """
    scratch = Path(scratch).resolve()
    stores = [FeatureStore(scratch / STORE_DIRNAME)]
    for parent in scratch.parents:
        store = FeatureStore(parent / STORE_DIRNAME)
        if store.exists() and _usable(store):
            stores.append(store)
    stores.extend(store for store in map(given_store, extra) if store is not None)
    return stores


def given_store(path: str | os.PathLike) -> FeatureStore | None:
    """The store a user means by ``path``: the folder itself if it is a store,
    else its ``features/`` store if it is a scratch folder; else a warning and None."""
    for root in (Path(path), Path(path) / STORE_DIRNAME):
        store = FeatureStore(root)
        if store.exists():
            return store if _usable(store) else None
    log.warning("%s: not a feature store or a scratch folder (no %s in it or in its %s/); ignored",
                path, MARKER, STORE_DIRNAME)
    return None


def _usable(store: FeatureStore) -> bool:
    try:
        store.check()
    except StoreError as exc:
        log.warning("%s; store ignored", exc)
        return False
    return True
