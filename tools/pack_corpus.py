"""Pack part of an audio list as small Opus files, to carry it to a remote accelerator.

A lent GPU machine may accept only a few tens of megabytes of data per call.
This tool re-encodes the files of a list as mono 24-kHz Ogg/Opus at about
20 kbit/s (libsndfile's compression level 0.95; full band up to 12 kHz, above
the student's 11.025-kHz Nyquist frequency), splits them into ``--parts``
disjoint parts of equal file counts (files of identical content once, dealt
in order of their sha256, so the split does not depend on list order), and
writes part ``N``
into ``OUT/partN/`` with a ``list.txt`` of its files and a ``manifest.json``
(source path and sha256, seconds, bytes of every packed file) until the part
reaches ``--max-mb``.

    python tools/pack_corpus.py cache/corpus/train.txt .gpu/pack --parts 2 --max-mb 40

Teacher targets and student crops are then computed from the *packed* audio
on the remote machine, so both networks see the same (lossy) signal.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mirex.audio import AudioError, load  # noqa: E402
from mirex.fileio import sha256_file  # noqa: E402
from mirex.lists import read_paths  # noqa: E402

PACK_RATE = 24000
COMPRESSION_LEVEL = 0.95


def encode(path: str, out: Path) -> dict:
    """Decode ``path`` (mono, 24 kHz, first 600 s) and write it as Opus to ``out``."""
    y = np.asarray(load(path, PACK_RATE), np.float32)
    peak = float(np.abs(y).max()) if y.size else 0.0
    if peak > 1.0:
        y = y / peak
    sf.write(out, y, PACK_RATE, format="OGG", subtype="OPUS",
             compression_level=COMPRESSION_LEVEL)
    return {"seconds": round(y.size / PACK_RATE, 3), "bytes": out.stat().st_size}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("list")
    p.add_argument("out")
    p.add_argument("--parts", type=int, default=2)
    p.add_argument("--max-mb", type=float, default=40.0, help="bytes per part, in MB")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = p.parse_args(argv)

    keyed = {}
    for path in read_paths(args.list):
        try:
            keyed.setdefault(sha256_file(path), path)      # identical content: packed once
        except OSError as exc:
            print(f"{path}: cannot read file ({exc.strerror or exc})", file=sys.stderr)
    keyed = sorted(keyed.items())
    out = Path(args.out)
    parts = [[] for _ in range(args.parts)]
    for i, item in enumerate(keyed):
        parts[i % args.parts].append(item)

    def job(part_index, key, path):
        folder = out / f"part{part_index}"
        target = folder / f"{key[:16]}.opus"
        try:
            info = encode(path, target)
        except AudioError as exc:
            print(f"{exc}", file=sys.stderr)
            return None
        return {"file": target.name, "source": path, "sha256": key, **info}

    for n, items in enumerate(parts):
        folder = out / f"part{n}"
        folder.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(args.workers) as pool:
            done = list(pool.map(lambda kv: job(n, *kv), items))
        kept, total = [], 0
        for entry in done:
            if entry is None:
                continue
            if total + entry["bytes"] > args.max_mb * 1e6:
                (folder / entry["file"]).unlink()
                continue
            kept.append(entry)
            total += entry["bytes"]
        (folder / "list.txt").write_text("".join(f"{e['file']}\n" for e in kept))
        hours = sum(e["seconds"] for e in kept) / 3600
        manifest = {"rate": PACK_RATE, "codec": "opus", "compression_level": COMPRESSION_LEVEL,
                    "source_list": str(args.list), "files": kept, "hours": round(hours, 3),
                    "bytes": total}
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        print(f"part{n}: {len(kept)} of {len(items)} files, {hours:.2f} h, {total / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
