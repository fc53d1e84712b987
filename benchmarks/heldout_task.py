"""A real-music transfer task from the held-out corpus: which soundtrack is this?

Cuts each track of the held-out split of ``make corpus`` (Debian music
packages never used for training or tuning) into 30-s clips, labels each clip
with its package (a soundtrack, i.e. a composer or a small group of them:
close to MIREX's composer-identification task) and writes

    OUT/audio/<package>/<track>_<k>.wav    22050 Hz mono 16-bit clips
    OUT/all.txt                            path<TAB>package
    OUT/groups.txt                         path<TAB>source track (no track on both
                                           sides of a fold: the 'artist filter')

Then, e.g.::

    mirex dryrun OUT/all.txt OUT/dryrun --groups OUT/groups.txt \\
        --systems LPNKK1,mfcc-svm,musicnn-svm

    python benchmarks/heldout_task.py [--corpus cache/corpus] [--out cache/heldout_task]
        [--clips-per-track 2] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import soundfile as sf

from mirex import audio, lists


def make_task(corpus: Path, out: Path, clips_per_track: int = 2, seconds: float = 30.0,
              sr: int = 22050) -> dict:
    manifest = json.loads((corpus / "manifest.json").read_text())
    tracks = [t for t in manifest["tracks"] if t.get("split") == "heldout"] \
        if isinstance(manifest.get("tracks"), list) else None
    if tracks is None:  # manifest keyed by path
        tracks = [dict(path=k, **v) for k, v in manifest["tracks"].items()
                  if v.get("split") == "heldout"]
    items, groups, skipped = [], [], 0
    for track in sorted(tracks, key=lambda t: t["path"]):
        source = corpus / track["path"]
        package = track.get("package") or Path(track["path"]).parts[1]
        stem = Path(track["path"]).stem
        try:
            y = audio.load(source, sr=sr, max_duration=None)
        except audio.AudioError as exc:
            print(f"skipped {exc}")
            skipped += 1
            continue
        n = int(seconds * sr)
        if len(y) < n:
            skipped += 1
            continue
        starts = np.linspace(0, len(y) - n, clips_per_track + 2)[1:-1].astype(int)
        for k, start in enumerate(starts):
            # file names must be unique: the organizers match tracks by file name
            path = out / "audio" / package / f"{package}-{stem}_{k}.wav"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, y[start : start + n], sr, subtype="PCM_16")
            items.append((str(path.resolve()), package))
            groups.append((str(path.resolve()), f"{package}/{stem}"))
    lists.write_labelled(out / "all.txt", items)
    lists.write_labelled(out / "groups.txt", groups)
    counts = {}
    for _, label in items:
        counts[label] = counts.get(label, 0) + 1
    return {"clips": len(items), "classes": counts, "skipped_tracks": skipped,
            "list": str(out / "all.txt"), "groups": str(out / "groups.txt")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="cache/corpus")
    parser.add_argument("--out", default="cache/heldout_task")
    parser.add_argument("--clips-per-track", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(json.dumps(make_task(Path(args.corpus), out, args.clips_per_track, args.seconds),
                     indent=2))


if __name__ == "__main__":
    main()
