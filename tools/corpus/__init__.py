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

Rendered music
--------------
After the game music, :func:`build_rendered` adds music rendered from scores
and MIDI (``--rendered-hours``, default 30; ``--no-render`` skips it) so that
the training split holds at least ``--min-total-hours`` (40) and no domain
holds half of it.  Domains (:data:`.plan.DOMAINS`, equal hours each):
classical, choral and most of folk and world come from small algorithmic
composers (:mod:`.compose`: chorales in four-part voice leading, classical
textures, modal dance tunes, maqam/raga/Japanese/Chinese/gamelan/West African
idioms) and are marked ``generated`` in the manifest; jazz, popular (rock,
pop, Latin) and some folk and world are MMA grooves (Debian ``mma``) on
generated chord charts with a generated lead line; a few folk and Persian
tunes are abcmidi's examples (Debian ``abcmidi``).  Each is played with one
of five GM soundfonts from Debian (:mod:`.soundfonts`; not FluidR3_GM, which
renders the held-out score task) at a drawn tempo factor, transposition,
program substitution, synthetic reverb and level, by TinySoundFont, and
written as mono 16-bit FLAC at 22050 Hz under ``train/rendered-<domain>/``
(30 s to 4 min a track).  The manifest records per track the domain, source,
soundfont, settings and licences, and ``totals.domains`` the hours per domain
and split.  Rendering is keyed by job (:class:`.plan.RenderJob`): a rerun
renders only what is missing.

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
    Hours and track counts per split, package and domain, from a manifest.
build_rendered
    Plan, render and record the rendered music of a corpus folder.
main
    Command line: ``python -m tools.corpus --root cache/corpus`` (``make corpus``).

A developer tool, not part of the harness (nothing in :mod:`mirex` imports
it). Modules: :mod:`.packages` (the lists), :mod:`.apt` (resolve and
download), :mod:`.debfile` (read ``.deb`` files), :mod:`.music` (the path rule,
extraction), :mod:`.build` (the corpus folder), :mod:`.cli` (the command);
rendering: :mod:`.notes` (note arrays, MIDI files), :mod:`.scales`,
:mod:`.compose` (composers), :mod:`.charts` (chord charts for MMA),
:mod:`.midi_ops` (MIDI to events, settings), :mod:`.synth` (soundfont
rendering, reverb, level), :mod:`.soundfonts`, :mod:`.toolbox` (unpacked
Debian programs and soundfonts), :mod:`.plan` (hours and jobs),
:mod:`.render` (jobs to files), :mod:`.build_rendered` (into the corpus).

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
from .build_rendered import build_rendered
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
           "summarize", "build_rendered", "main"]
