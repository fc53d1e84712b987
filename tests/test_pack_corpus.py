"""tools/pack_corpus.py: a list re-encoded as small Opus parts for transport."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from conftest import tone_clip, write_clip

REPO = Path(__file__).resolve().parent.parent


def test_parts_are_disjoint_decodable_and_described(tmp_path):
    paths = [write_clip(tmp_path / "in" / f"c{i}.wav", tone_clip(k, seed=i, seconds=3.0))
             for i, k in enumerate(["low", "high", "noise", "low", "high"])]
    (tmp_path / "in" / "bad.wav").write_bytes(b"junk")
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(paths + [str(tmp_path / "in" / "bad.wav")]) + "\n")
    out = tmp_path / "pack"
    run = subprocess.run([sys.executable, "tools/pack_corpus.py", str(listing), str(out),
                          "--parts", "2", "--workers", "2"], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "bad.wav" in run.stderr                       # named, not fatal
    sources = []
    for part in ("part0", "part1"):
        manifest = json.loads((out / part / "manifest.json").read_text())
        files = (out / part / "list.txt").read_text().split()
        assert files == [f["file"] for f in manifest["files"]]
        for entry in manifest["files"]:
            y, sr = sf.read(out / part / entry["file"])
            assert sr == 24000 and abs(len(y) / sr - 3.0) < 0.1
            assert np.abs(y).max() > 0.1
        sources += [f["source"] for f in manifest["files"]]
    assert sorted(sources) == sorted(paths)               # every good file once
