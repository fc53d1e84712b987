"""A real-music transfer task from the held-out corpus: which soundtrack is this?

Cuts each track of the held-out split of ``make corpus`` (Debian music
packages never used for training or tuning) into 30-s clips, labels each clip
with its package (a soundtrack, i.e. a composer or a small group of them:
close to MIREX's composer-identification task) and writes

    OUT/audio/<package>/<track>_<k>.wav    22050 Hz mono 16-bit clips
    OUT/all.txt                            path<TAB>package
    OUT/groups.txt                         path<TAB>source track (no track on both
                                           sides of a fold: the 'artist filter')

``--packages`` chooses the packages: ``soundtracks`` (the default: the eight
music packages of ``HELDOUT_PACKAGES`` that are not games' data, task A of
issue 14), ``games`` (``HELDOUT_GAME_PACKAGES``: which game is this clip from?
task C) or comma-separated package names. ``--max-per-class`` caps the clips
of a package (whole tracks in a fixed shuffled order, the last one cut
short), so that a large soundtrack does not dominate the task.

Then, e.g.::

    mirex dryrun OUT/all.txt OUT/dryrun --groups OUT/groups.txt \\
        --systems LPNKK1,mfcc-svm,musicnn-svm

    python benchmarks/heldout_task.py [--corpus cache/corpus] [--out cache/heldout_task]
        [--clips-per-track 2] [--seconds 30] [--packages soundtracks|games|NAME,...]
        [--max-per-class N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mirex import audio, lists  # noqa: E402
from tools.corpus.packages import HELDOUT_GAME_PACKAGES, HELDOUT_PACKAGES  # noqa: E402

#: Task A (the default): the held-out music packages that are not game data.
SOUNDTRACK_PACKAGES: tuple[str, ...] = tuple(p for p in HELDOUT_PACKAGES
                                             if p not in HELDOUT_GAME_PACKAGES)
#: Peak amplitude (full scale 1; -60 dBFS) under which a clip counts as silent.
SILENCE_PEAK = 1e-3
#: Shorthands accepted by ``--packages``.
PACKAGE_SETS = {"soundtracks": SOUNDTRACK_PACKAGES, "games": HELDOUT_GAME_PACKAGES}


def package_key(name: str) -> str:
    """The name a package is matched by: ``wesnoth-1.NN-music`` stands for any release."""
    return re.sub(r"^wesnoth-1\.\d+-music$", "wesnoth-music", name)


def parse_packages(spec: str) -> tuple[str, ...]:
    """``soundtracks``, ``games`` or comma-separated names -> package names."""
    names: list[str] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        names.extend(PACKAGE_SETS.get(part, (part,)))
    return tuple(dict.fromkeys(names))


def _shuffle_key(track: dict) -> str:
    """A fixed, seed-free order of a package's tracks (by a hash of the path)."""
    return hashlib.sha256(track["path"].encode()).hexdigest()


def select_tracks(tracks: list[dict], packages, seconds: float) -> dict[str, list[dict]]:
    """Held-out tracks of ``packages`` at least ``seconds`` long (when the manifest
    says), by package, each package's tracks in the fixed order of :func:`_shuffle_key`."""
    wanted = {package_key(p) for p in packages}
    by_package: dict[str, list[dict]] = {}
    for track in tracks:
        package = track.get("package") or Path(track["path"]).parts[1]
        if package_key(package) not in wanted:
            continue
        if track.get("duration_s") is not None and track["duration_s"] < seconds:
            continue
        by_package.setdefault(package, []).append(dict(track, package=package))
    return {p: sorted(ts, key=_shuffle_key) for p, ts in sorted(by_package.items())}


def make_task(corpus: Path, out: Path, clips_per_track: int = 2, seconds: float = 30.0,
              sr: int = 22050, packages=SOUNDTRACK_PACKAGES,
              max_per_class: int | None = None) -> dict:
    """Write the clips, ``all.txt`` and ``groups.txt`` under ``out``; returns a summary.

    ``clips_per_track`` evenly spaced clips of ``seconds`` (s) each from every
    track of ``packages`` (at most ``max_per_class`` clips per package), as
    ``sr``-Hz mono 16-bit WAV.
    """
    manifest = json.loads((corpus / "manifest.json").read_text())
    tracks = [t for t in manifest["tracks"] if t.get("split") == "heldout"] \
        if isinstance(manifest.get("tracks"), list) else None
    if tracks is None:  # manifest keyed by path
        tracks = [dict(path=k, **v) for k, v in manifest["tracks"].items()
                  if v.get("split") == "heldout"]
    selected = select_tracks(tracks, packages, seconds)
    missing = sorted({package_key(p) for p in packages}
                     - {package_key(p) for p in selected})
    items, groups, skipped, n = [], [], 0, int(seconds * sr)
    for package, package_tracks in selected.items():
        taken = 0
        for track in package_tracks:
            k = clips_per_track if max_per_class is None \
                else min(clips_per_track, max_per_class - taken)
            if k <= 0:
                break
            clips = _cut_track(corpus / track["path"], package, k, n, sr, out)
            if clips is None:
                skipped += 1
                continue
            stem = Path(track["path"]).stem
            items.extend((path, package) for path in clips)
            groups.extend((path, f"{package}/{stem}") for path in clips)
            taken += len(clips)
    lists.write_labelled(out / "all.txt", items)
    lists.write_labelled(out / "groups.txt", groups)
    counts: dict[str, int] = {}
    for _, label in items:
        counts[label] = counts.get(label, 0) + 1
    return {"clips": len(items), "classes": counts, "tracks": len(set(g for _, g in groups)),
            "skipped_tracks": skipped, "missing_packages": missing,
            "list": str(out / "all.txt"), "groups": str(out / "groups.txt")}


def _cut_track(source: Path, package: str, k: int, n: int, sr: int, out: Path):
    """``k`` evenly spaced clips of ``n`` samples from ``source`` -> their paths
    (None when the track cannot be decoded or is shorter than one clip); a
    clip whose peak is under :data:`SILENCE_PEAK` is left out."""
    try:
        y = audio.load(source, sr=sr, max_duration=None)
    except audio.AudioError as exc:
        print(f"skipped {exc}")
        return None
    if len(y) < n:
        return None
    paths = []
    starts = np.linspace(0, len(y) - n, k + 2)[1:-1].astype(int)
    for i, start in enumerate(starts):
        if np.max(np.abs(y[start : start + n])) < SILENCE_PEAK:
            continue  # a track's silent tail: no music, and a give-away of its package
        # file names must be unique: the organizers match tracks by file name
        path = out / "audio" / package / f"{package}-{source.stem}_{i}.wav"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, y[start : start + n], sr, subtype="PCM_16")
        paths.append(str(path.resolve()))
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="cache/corpus")
    parser.add_argument("--out", default="cache/heldout_task")
    parser.add_argument("--clips-per-track", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--packages", default="soundtracks",
                        help="soundtracks (default), games, or comma-separated package names")
    parser.add_argument("--max-per-class", type=int, default=None,
                        help="at most this many clips per package (default: no cap)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(json.dumps(make_task(Path(args.corpus), out, args.clips_per_track, args.seconds,
                               packages=parse_packages(args.packages),
                               max_per_class=args.max_per_class), indent=2))


if __name__ == "__main__":
    main()
