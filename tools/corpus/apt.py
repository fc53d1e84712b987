"""Debian packages through apt: resolve a name in the current release, download its ``.deb``.

Nothing is installed: ``apt-cache show`` gives a package's record (Version,
Size in bytes, SHA256) and ``apt-get download`` fetches the file, which is
checked against that record.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

from .debfile import _deb_ok

__all__ = ["PackageUnavailable", "apt_update", "resolve_package", "fetch_package"]

log = logging.getLogger("tools.corpus")


class PackageUnavailable(RuntimeError):
    """A package is not in the current Debian release or could not be downloaded."""


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
