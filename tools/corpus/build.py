"""Building the corpus folder: one package at a time, a manifest and list files after each.

See the package docstring for the folder layout. Durations are in seconds
(hours in the totals), sizes in bytes; the manifest is JSON of format 1.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

from mirex.fileio import atomic_write_text, read_manifest, sha256_file

from .apt import fetch_package
from .debfile import deb_control
from .music import _is_music_package, extract_music
from .packages import HELDOUT_PACKAGES, TRAIN_PACKAGES

__all__ = ["SPLITS", "MANIFEST_FORMAT", "default_root", "build_corpus", "summarize"]

log = logging.getLogger("tools.corpus")

SPLITS = ("train", "heldout")
MANIFEST_FORMAT = 1
MANIFEST_NAME = "manifest.json"


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


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _load_manifest(root: Path) -> dict:
    """The corpus manifest of ``root``; a new empty one if it is missing, unreadable or foreign."""
    if (root / MANIFEST_NAME).is_file():
        try:
            manifest = read_manifest(root, MANIFEST_NAME, MANIFEST_FORMAT)
            manifest.setdefault("packages", {})
            manifest.setdefault("failed", {})
            manifest.setdefault("commands", [])
            return manifest
        except ValueError as exc:
            log.warning("%s; starting afresh", exc)
    return {"format": MANIFEST_FORMAT, "packages": {}, "failed": {}, "commands": []}


def _is_complete(root: Path, entry: Mapping | None, split: str, min_seconds: float) -> bool:
    """Whether a manifest entry is a finished extraction whose files are all still there."""
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
    args = [sys.executable, "-m", "tools.corpus", "--root", str(root),
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
        **_domain_totals(packages, per_package),
    }
    manifest["updated"] = _now()
    for split in SPLITS:
        atomic_write_text(root / f"{split}.txt", "".join(p + "\n" for p in lists[split]))
    atomic_write_text(root / "manifest.json", json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    return manifest


def _domain_totals(packages: Mapping, per_package: Mapping) -> dict:
    """Hours per domain and split (game music is domain "game"), and the largest training share.

    ``domain_over_half`` is True when one domain holds more than half of the
    training hours (the rendered corpus is planned so that none does).
    """
    domains: dict[str, dict[str, float]] = {}
    for name, totals in per_package.items():
        d = packages[name].get("domain", "game")
        by_split = domains.setdefault(d, {s: 0.0 for s in SPLITS})
        by_split[totals["split"]] += totals["hours"]
    train = sum(v["train"] for v in domains.values())
    share = {d: (v["train"] / train if train else 0.0) for d, v in domains.items()}
    return {"domains": {d: {s: round(h, 4) for s, h in v.items()} for d, v in sorted(domains.items())},
            "domain_train_share": {d: round(x, 4) for d, x in sorted(share.items())},
            "domain_over_half": any(x > 0.5 for x in share.values())}


@contextlib.contextmanager
def _locked(root: Path):
    """Hold ``root/.lock`` exclusively for the build; RuntimeError if another build holds it."""
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


def _record_run(manifest: dict, root: Path, packages: tuple, heldout: tuple,
                min_seconds: float, command: str | None) -> None:
    """Note this run in ``manifest``: root, command (the last 20 kept), request, creation time."""
    manifest["root"] = str(root)
    manifest["command"] = command or _default_command(root, packages, heldout, min_seconds)
    manifest["commands"] = (manifest["commands"] + [manifest["command"]])[-20:]
    manifest["requested"] = {"train": list(packages), "heldout": list(heldout),
                             "min_seconds": min_seconds}
    manifest.setdefault("created", _now())


def _forget_unrequested(root: Path, manifest: dict, order: Sequence[str], prune: bool) -> None:
    """Delete (``prune``) or keep with a warning the packages not requested now."""
    stale = [p for p, e in manifest["packages"].items()
             if p not in order and e.get("kind") != "rendered"]   # rendered: see build_rendered
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


class _Build:
    """One run of :func:`build_corpus`: where packages are fetched, staged and installed."""

    def __init__(self, root: Path, min_seconds: float, order: list[str],
                 fetch: Callable[[str, Path], Path], workdir: Path, keep_debs: bool):
        self.root, self.min_seconds, self.order = root, min_seconds, order
        self.fetch, self.workdir, self.keep_debs = fetch, workdir, keep_debs
        self.staging = root / ".staging"

    def add_package(self, manifest: dict, name: str, split: str) -> None:
        """Fetch, extract and install one package unless it is complete; rewrite the manifest."""
        entry = manifest["packages"].get(name)
        if _is_complete(self.root, entry, split, self.min_seconds):
            log.info("%s: already in the corpus (%d tracks), skipped", name,
                     sum(1 for t in entry["tracks"] if not t.get("duplicate_of")))
            return
        t0 = time.monotonic()
        try:
            deb, control, tracks = self._extract(name)
            deb_sha, deb_bytes = sha256_file(deb), deb.stat().st_size
        except Exception as exc:  # noqa: BLE001 - skip the package, carry on
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning("skipping %s: %s", name, msg)
            manifest["failed"][name] = msg
            shutil.rmtree(self.staging / name, ignore_errors=True)
            _finalize(self.root, manifest, self.order)
            return
        copyright_rel = self._install(name, split, control)
        if not tracks:
            log.warning("%s: no music track of %g s or more found", name, self.min_seconds)
        for t in tracks:
            t["path"] = f"{split}/{name}/{t['path']}"
        manifest["packages"][name] = {
            "split": split, "status": "ok",
            "deb_package": control.get("Package", name),
            "version": control.get("Version", ""),
            "architecture": control.get("Architecture", ""),
            "deb_file": deb.name, "deb_bytes": deb_bytes, "deb_sha256": deb_sha,
            "copyright": copyright_rel,
            "copyright_source": f"usr/share/doc/{control.get('Package', name)}/copyright",
            "min_seconds": self.min_seconds, "extracted": _now(),
            "seconds_taken": round(time.monotonic() - t0, 1), "tracks": tracks,
        }
        manifest["failed"].pop(name, None)
        _finalize(self.root, manifest, self.order)
        if not self.keep_debs:
            with contextlib.suppress(FileNotFoundError):
                deb.unlink()
        kept = [t for t in tracks if not t.get("duplicate_of")]
        log.info("%s: %d tracks, %.2f h (%.0f s)", name, len(kept),
                 sum(t["duration_s"] for t in kept) / 3600, time.monotonic() - t0)

    def _extract(self, name: str):
        """Fetch ``name`` and unpack its music to ``.staging/<name>``: ``(deb, control, tracks)``."""
        log.info("%s: fetching", name)
        deb = Path(self.fetch(name, self.workdir))
        control = deb_control(deb)
        log.info("%s %s: extracting music from %s (%.0f MB)", name,
                 control.get("Version"), deb.name, deb.stat().st_size / 1e6)
        tracks = extract_music(deb, self.staging / name, self.min_seconds,
                               copyright_dest=self.staging / f"{name}.copyright",
                               whole_package=_is_music_package(name))
        return deb, control, tracks

    def _install(self, name: str, split: str, control: dict) -> str | None:
        """Move the staged music to ``<split>/<name>`` and the copyright to ``licenses/``."""
        for s in SPLITS:
            shutil.rmtree(self.root / s / name, ignore_errors=True)
        final = self.root / split / name
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.staging / name, final)
        lic = self.staging / f"{name}.copyright"
        if not lic.is_file():
            log.warning("%s: no usr/share/doc/%s/copyright in the package", name,
                        control.get("Package", name))
            return None
        copyright_rel = f"licenses/{name}.copyright"
        (self.root / "licenses").mkdir(exist_ok=True)
        os.replace(lic, self.root / copyright_rel)
        return copyright_rel


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
        ``python -m tools.corpus`` command).

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
    job = _Build(root, min_seconds, list(heldout) + list(packages), fetch or fetch_package,
                 Path(workdir) if workdir is not None else root / ".debs", keep_debs)
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        manifest = _load_manifest(root)
        _record_run(manifest, root, packages, heldout, min_seconds, command)
        shutil.rmtree(job.staging, ignore_errors=True)  # leftovers of an interrupted run
        _forget_unrequested(root, manifest, job.order, prune)
        t_build = time.monotonic()
        for name, split in [(p, "heldout") for p in heldout] + [(p, "train") for p in packages]:
            job.add_package(manifest, name, split)
        shutil.rmtree(job.staging, ignore_errors=True)
        if not keep_debs and job.workdir.is_dir():
            with contextlib.suppress(OSError):
                job.workdir.rmdir()  # only when empty
        manifest["last_build_seconds"] = round(time.monotonic() - t_build, 1)
        return _finalize(root, manifest, job.order)


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
        "domains": totals.get("domains", {}),
        "domain_train_share": totals.get("domain_train_share", {}),
        "domain_over_half": totals.get("domain_over_half", False),
        "failed": manifest.get("failed", {}),
    }
