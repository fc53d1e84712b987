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
An audio file (:data:`mirex.constants.AUDIO_EXTENSIONS`: ``.wav .flac .ogg .oga
.opus .mp3 .aif .aiff .au``) is kept when its path --
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
    Command line: ``python -m tools.corpus --root cache/corpus`` (``make corpus``).

A developer tool, not part of the harness (nothing in :mod:`mirex` imports
it). Modules: :mod:`.packages` (the lists), :mod:`.apt` (resolve and
download), :mod:`.debfile` (read ``.deb`` files), :mod:`.music` (the path rule,
extraction), :mod:`.build` (the corpus folder), :mod:`.cli` (the command).

Examples
--------
>>> from tools.corpus import build_corpus, summarize
>>> manifest = build_corpus("cache/corpus")             # doctest: +SKIP
>>> summarize(manifest)["hours"]                          # doctest: +SKIP
{'train': 14.2, 'heldout': 4.9}
"""

from __future__ import annotations

from .apt import PackageUnavailable, apt_update, fetch_package, resolve_package
from .build import MANIFEST_FORMAT, SPLITS, build_corpus, default_root, summarize
from .cli import main
from .debfile import deb_control
from .music import ARCHIVE_EXTENSIONS, MUSIC_DIRS, SFX_DIRS, extract_music, is_music_path
from .packages import (EXTRA_TRAIN_PACKAGES, HELDOUT_GAME_PACKAGES, HELDOUT_PACKAGES,
                       TRAIN_PACKAGES)

__all__ = ["TRAIN_PACKAGES", "EXTRA_TRAIN_PACKAGES", "HELDOUT_PACKAGES", "HELDOUT_GAME_PACKAGES",
           "SPLITS",
           "ARCHIVE_EXTENSIONS", "MUSIC_DIRS", "SFX_DIRS", "MANIFEST_FORMAT",
           "PackageUnavailable", "apt_update", "resolve_package", "fetch_package",
           "deb_control", "is_music_path", "extract_music", "default_root", "build_corpus",
           "summarize", "main"]
