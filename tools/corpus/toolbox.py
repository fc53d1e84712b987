"""The Debian programs and soundfonts of the rendered corpus, unpacked (not installed) in a cache.

``mma`` (Musical MIDI Accompaniment, GPL-2+: a Python program and a library
of ~2000 grooves) turns chord charts into MIDI accompaniment; ``abcmidi``'s
``abc2midi`` turns ABC tunes into MIDI.  Both run from the unpacked package
folder ``CACHE/<package>/``; so do the soundfonts of :mod:`.soundfonts`.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

from .apt import fetch_package
from .debfile import deb_control, unpack_deb
from .soundfonts import SOUNDFONTS, Soundfont

__all__ = ["TOOL_PACKAGES", "ABC_TUNES", "Toolbox"]

log = logging.getLogger("tools.corpus")

TOOL_PACKAGES = {"mma": "GPL-2+", "abcmidi": "GPL-2+"}
#: ABC tunes of abcmidi's examples that are used: (file, domain).  Left out:
#: boys.abc (O'Neill's 1850, held out in the score task), coleraine.abc
#: (an Irish jig of the same repertoire), demo.abc (a mixed bag including
#: Irish tunes), and drums/detune/temperament (demonstrations of features).
ABC_TUNES = (("araber.abc", "folk"), ("baym_rebin.abc", "folk"), ("dergasn.abc", "folk"),
             ("daramud.abc", "world"))
ABC_DIR = "usr/share/doc/abcmidi/examples"


class Toolbox:
    """Fetches and unpacks the rendering packages into ``cache`` on first use.

    Parameters
    ----------
    cache : path-like
        Folder of unpacked packages (``CACHE/<package>/...``) and their versions.
    fetch : callable, optional
        ``fetch(name, workdir) -> .deb path`` (default :func:`.apt.fetch_package`).
    """

    def __init__(self, cache: str | os.PathLike, fetch: Callable | None = None):
        self.cache = Path(cache)
        self.fetch = fetch or fetch_package
        self.versions: dict[str, str] = {}

    def package(self, name: str) -> Path:
        """The unpacked folder of Debian package ``name`` (fetched and unpacked once)."""
        folder = self.cache / name
        stamp = folder / ".unpacked"
        if not stamp.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            with tempfile.TemporaryDirectory(dir=self.cache.parent if self.cache.parent.exists()
                                             else None) as tmp:
                deb = self.fetch(name, Path(tmp))
                version = deb_control(deb).get("Version", "")
                unpack_deb(deb, folder)
            stamp.write_text(version + "\n")
            log.info("%s %s: unpacked for rendering", name, version)
        self.versions[name] = stamp.read_text().strip()
        return folder

    def soundfont(self, sf: Soundfont) -> Path:
        """The soundfont file of ``sf``."""
        return self.package(sf.package) / sf.path

    def soundfonts(self) -> dict[str, Path]:
        """Every soundfont of :data:`.SOUNDFONTS` by name; one that cannot be had is left out."""
        out = {}
        for sf in SOUNDFONTS:
            try:
                out[sf.name] = self.soundfont(sf)
            except Exception as exc:  # noqa: BLE001 - render with the others
                log.warning("soundfont %s unavailable: %s", sf.name, exc)
        return out

    def abc_file(self, name: str) -> Path:
        """An example tune of abcmidi."""
        return self.package("abcmidi") / ABC_DIR / name

    def _mma_home(self) -> Path:
        home = self.package("mma") / "usr/share/mma"
        if not (home / ".grooves-indexed").is_file():
            r = subprocess.run([sys.executable, str(home.parents[1] / "bin/mma"), "-G"],
                               env={**os.environ, "MMA_HOME": str(home)}, capture_output=True,
                               text=True)
            if r.returncode != 0:
                raise RuntimeError(f"mma -G failed: {r.stderr.strip()[-300:]}")
            (home / ".grooves-indexed").write_text("ok\n")
        return home

    def mma(self, text: str, out: Path) -> Path:
        """Run MMA on the song ``text``; the MIDI file is ``out``.  RuntimeError on failure."""
        home = self._mma_home()
        src = out.with_suffix(".mma")
        src.write_text(text)
        r = subprocess.run([sys.executable, str(home.parents[1] / "bin/mma"), str(src), "-f",
                            str(out)], env={**os.environ, "MMA_HOME": str(home)},
                           capture_output=True, text=True)
        if r.returncode != 0 or not out.is_file():
            err = [ln for ln in (r.stdout + r.stderr).splitlines() if "Error" in ln]
            raise RuntimeError(f"mma failed: {(err or ['no MIDI written'])[-1]}")
        return out

    def abc2midi(self, abc: Path, out: Path) -> Path:
        """Convert the tune of ``abc`` (a one-tune file) to MIDI file ``out``.  RuntimeError on failure."""
        exe = self.package("abcmidi") / "usr/bin/abc2midi"
        exe.chmod(0o755)
        r = subprocess.run([str(exe), str(abc), "-o", str(out), "-silent"],
                           capture_output=True, text=True)
        if not out.is_file():
            raise RuntimeError(f"abc2midi failed: {r.stderr.strip()[-300:] or r.stdout[-300:]}")
        return out
