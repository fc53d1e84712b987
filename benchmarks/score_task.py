"""A second held-out task: the style of rendered scores from music21's corpus.

The score corpus of the PyPI package ``music21`` is held out from training and
tuning (issue 3). This script renders pieces of six repertoires of it to audio
with FluidSynth and a General MIDI soundfont, cuts one 30-s clip per piece
(from its start; shorter pieces stay shorter, the harness tiles them) and
writes a MIREX task whose label is the repertoire:

    renaissance-mass    Palestrina            trecento    14th-century Italian
    madrigal            Monteverdi            chorale     J. S. Bach
    classical           Haydn, Mozart, Beethoven (mostly string quartets)
    irish-fiddle        Ryan's Mammoth Collection

Instruments are those the scores name (music21's MIDI export; parts that name
none are played by a piano), tempo is the scores' own (else 120 quarter notes
a minute). Output::

    OUT/audio/<label>/<piece>.wav   22050 Hz mono 16-bit
    OUT/all.txt                      path<TAB>label
    OUT/groups.txt                   path<TAB>piece (one clip per piece)

Needs ``pip install music21`` and FluidSynth with a GM soundfont
(Debian: ``apt-get install fluidsynth fluid-soundfont-gm``); neither is a
dependency of the harness. Then::

    python benchmarks/score_task.py --out cache/score_task --per-class 40
    mirex dryrun cache/score_task/all.txt cache/score_task/dryrun \\
        --systems LPNKK1,LPNKK2,LPNKK3,mfcc-svm,musicnn-svm
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mirex import lists  # noqa: E402
from mirex.audio import scale_to_dbfs  # noqa: E402

#: label -> music21 corpus folders whose pieces it holds
REPERTOIRES = {
    "renaissance-mass": ("palestrina",),
    "madrigal": ("monteverdi",),
    "trecento": ("trecento",),
    "chorale": ("bach",),
    "classical": ("haydn", "mozart", "beethoven"),
    "irish-fiddle": ("ryansMammoth",),
}
SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
SAMPLE_RATE = 22050
#: RMS level of every clip (no loudness cue between repertoires).
LEVEL_DBFS = -20.0
#: Seconds allowed to parse and render one score (some large ones take minutes).
RENDER_TIMEOUT = 45


def corpus_pieces(per_class: int, seed: int = 0) -> dict[str, list[Path]]:
    """Up to ``per_class`` score files per label, drawn with a fixed seed."""
    from music21 import corpus

    by_folder: dict[str, list[Path]] = {}
    for path in corpus.getPaths():
        folder = str(path).split("/corpus/")[-1].split("/")[0]
        by_folder.setdefault(folder, []).append(Path(path))
    rng = random.Random(seed)
    out = {}
    for label, folders in REPERTOIRES.items():
        paths = sorted(p for f in folders for p in by_folder.get(f, []))
        rng.shuffle(paths)
        out[label] = paths
    return out


class RenderTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise RenderTimeout(f"more than {RENDER_TIMEOUT} s")


def render(score_path: Path, wav: Path, seconds: float, soundfont: str) -> float:
    """Render a score file's first ``seconds`` to a mono WAV; returns its duration (s)."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(RENDER_TIMEOUT)
    try:
        return _render(score_path, wav, seconds, soundfont)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _render(score_path: Path, wav: Path, seconds: float, soundfont: str) -> float:
    from music21 import converter, stream

    parsed = converter.parse(str(score_path))
    if isinstance(parsed, stream.Opus):  # a collection of tunes: its first
        parsed = parsed.scores[0]
    with tempfile.TemporaryDirectory() as tmp:
        midi = Path(tmp) / "score.mid"
        parsed.write("midi", fp=str(midi))
        # raw 16-bit stereo on stdout, read for `seconds` only: a long piece
        # (or one whose MIDI never ends) costs no more than a short one
        proc = subprocess.Popen(["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", str(SAMPLE_RATE),
                                 "-T", "raw", "-O", "s16", "-F", "-", soundfont, str(midi)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            data = proc.stdout.read(int(seconds * SAMPLE_RATE) * 4)
        finally:
            proc.kill()
            proc.wait()
    y = np.frombuffer(data[: len(data) // 4 * 4], "<i2").reshape(-1, 2).mean(axis=1) / 32768.0
    y = y[: int(seconds * SAMPLE_RATE)]
    nonzero = np.flatnonzero(np.abs(y) > 1e-4)
    if len(nonzero) == 0:
        raise ValueError("silent rendering")
    y = y[: nonzero[-1] + 1]  # no trailing silence
    wav.parent.mkdir(parents=True, exist_ok=True)
    sf.write(wav, scale_to_dbfs(y, LEVEL_DBFS), SAMPLE_RATE, subtype="PCM_16")
    return len(y) / SAMPLE_RATE


def make_task(out: Path, per_class: int = 40, seconds: float = 30.0, min_seconds: float = 10.0,
              soundfont: str = SOUNDFONT, seed: int = 0) -> dict:
    items, groups, skipped, durations, seen = [], [], [], [], set()
    for label, paths in corpus_pieces(per_class, seed).items():
        n = 0
        for path in paths:
            if n == per_class:
                break
            piece = f"{path.parent.name}-{path.stem}".replace(" ", "_")
            if piece in seen:  # the same piece in another file format
                continue
            seen.add(piece)
            wav = out / "audio" / label / f"{label}-{piece}.wav"
            try:
                duration = (sf.info(wav).duration if wav.exists()
                            else render(path, wav, seconds, soundfont))
            except Exception as exc:  # noqa: BLE001 - a score music21 cannot render
                skipped.append(f"{path}: {type(exc).__name__}: {str(exc)[:80]}")
                continue
            if duration < min_seconds:
                skipped.append(f"{path}: only {duration:.1f} s")
                wav.unlink(missing_ok=True)
                continue
            items.append((str(wav.resolve()), label))
            groups.append((str(wav.resolve()), piece))
            durations.append(duration)
            n += 1
    lists.write_labelled(out / "all.txt", items)
    lists.write_labelled(out / "groups.txt", groups)
    counts: dict[str, int] = {}
    for _, label in items:
        counts[label] = counts.get(label, 0) + 1
    return {"clips": len(items), "classes": counts, "hours": round(sum(durations) / 3600, 2),
            "median_seconds": float(np.median(durations)) if durations else 0.0,
            "skipped": skipped, "list": str(out / "all.txt"), "groups": str(out / "groups.txt")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="cache/score_task")
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--soundfont", default=SOUNDFONT)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(json.dumps(make_task(out, args.per_class, args.seconds, soundfont=args.soundfont,
                               seed=args.seed), indent=2))


if __name__ == "__main__":
    main()
