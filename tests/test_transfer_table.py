"""benchmarks/transfer_table.py: fold spread and means over tasks, on generated reports."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "transfer_table.py"
_spec = importlib.util.spec_from_file_location("transfer_table", _PATH)
transfer_table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(transfer_table)


def _run(eval_dir: Path, task: str, system: str, job: str, folds: list[float], pooled: float):
    """A dry run's report as `mirex dryrun` writes it (the files the table reads)."""
    report = eval_dir / task / "runs" / system / "report"
    report.mkdir(parents=True)
    rows = ["Fold,Measure," + job]
    for k, acc in enumerate(folds, 1):
        rows += [f"{k},Accuracy,{acc:.4f}", f"{k},Normalised Accuracy,{acc / 2:.4f}"]
    (report / "PerFoldResults.csv").write_text("\n".join(rows) + "\n")
    (report / "summaryResults.csv").write_text(
        f"Job,Overall Accuracy,Normalised Overall Accuracy\n{job},{pooled:.4f},0.5\n")


def _task(eval_dir: Path, task: str, labels: dict[str, int]):
    lines = [f"/a/{task}/{label}_{i}.wav\t{label}" for label, n in labels.items()
             for i in range(n)]
    (eval_dir / task).mkdir(parents=True, exist_ok=True)
    (eval_dir / task / "all.txt").write_text("\n".join(lines) + "\n")


def test_spread_mean_over_tasks_and_missing_runs(tmp_path, capsys):
    _task(tmp_path, "soundtrack", {"x": 4, "y": 2})
    _task(tmp_path, "games", {"x": 3})
    _run(tmp_path, "soundtrack", "LPNKK1", "LPNKK1", [0.5, 0.6, 0.7], 0.61)
    _run(tmp_path, "games", "LPNKK1", "LPNKK1", [0.9, 0.9, 0.9], 0.9)
    # the untrained run holds LPNKK1's column: the run's only system is taken
    _run(tmp_path, "soundtrack", "untrained", "LPNKK1", [0.2, 0.4, 0.3], 0.3)

    table = transfer_table.main(["--eval", str(tmp_path), "--tasks", "soundtrack,games",
                                 "--systems", "untrained,LPNKK1,musicnn-vgg-svm"])

    a = table["tasks"]["soundtrack"]
    assert a["clips"] == 6 and a["classes"] == {"x": 4, "y": 2}
    assert a["results"]["LPNKK1"]["mean"] == pytest.approx(0.6)
    assert a["results"]["LPNKK1"]["std"] == pytest.approx(0.1)  # sample std, ddof=1
    assert (a["results"]["LPNKK1"]["min"], a["results"]["LPNKK1"]["max"]) == (0.5, 0.7)
    assert a["results"]["LPNKK1"]["pooled"] == pytest.approx(0.61)
    assert a["results"]["untrained"]["mean"] == pytest.approx(0.3)
    assert table["tasks"]["games"]["results"]["LPNKK1"]["std"] == pytest.approx(0.0)

    systems = table["systems"]
    assert systems["LPNKK1"]["mean_over_tasks"] == pytest.approx(0.75)
    assert systems["LPNKK1"]["complete"]
    assert systems["untrained"]["mean_over_tasks"] == pytest.approx(0.3)
    assert not systems["untrained"]["complete"]
    assert systems["musicnn-vgg-svm"]["mean_over_tasks"] is None

    text = (tmp_path / "transfer.md").read_text()
    assert text == capsys.readouterr().out
    assert "| LPNKK1 | 0.600 ± 0.100 (0.500-0.700) | 0.900 ± 0.000 (0.900-0.900) | 0.750 |" \
        in text
    assert "0.300 (1/2 tasks)" in text
    assert "| musicnn-vgg-svm | - | - | - |" in text
    assert "A soundtrack (6 clips, 2 classes)" in text
    assert json.loads((tmp_path / "transfer.json").read_text()) == json.loads(json.dumps(table))


def test_heldout_task_packages_filter_and_class_cap(tmp_path):
    """--packages picks the packages; --max-per-class cuts the last track short;
    a clip's group is its source track."""
    import numpy as np
    import soundfile as sf

    spec = importlib.util.spec_from_file_location(
        "heldout_task", _PATH.parent / "heldout_task.py")
    heldout_task = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(heldout_task)
    assert heldout_task.parse_packages("games") == heldout_task.HELDOUT_GAME_PACKAGES
    assert "naev-data" not in heldout_task.SOUNDTRACK_PACKAGES
    assert "wesnoth-1.16-music" in heldout_task.SOUNDTRACK_PACKAGES

    sr, tracks = 8000, []
    for package, n in (("naev-data", 3), ("wesnoth-1.18-music", 2), ("flare-game", 1)):
        for i in range(n):
            rel = f"heldout/{package}/t{i}.wav"
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            sf.write(tmp_path / rel, np.random.default_rng(i).uniform(-.1, .1, 3 * sr), sr)
            tracks.append({"path": rel, "split": "heldout", "package": package,
                           "duration_s": 3.0})
    silent_tail = np.concatenate([np.random.default_rng(9).uniform(-.1, .1, sr), np.zeros(2 * sr)])
    sf.write(tmp_path / "heldout/naev-data/t9.wav", silent_tail, sr)
    tracks.append({"path": "heldout/naev-data/t9.wav", "split": "heldout",
                   "package": "naev-data", "duration_s": 3.0})
    tracks.append({"path": "heldout/flare-game/short.wav", "split": "heldout",
                   "package": "flare-game", "duration_s": 0.5})  # never decoded
    (tmp_path / "manifest.json").write_text(json.dumps({"tracks": tracks}))

    out = tmp_path / "task"
    packages = heldout_task.parse_packages("naev-data,wesnoth-1.16-music")
    summary = heldout_task.make_task(tmp_path, out, clips_per_track=2, seconds=1.0, sr=sr,
                                     packages=packages, max_per_class=5)
    assert summary["classes"] == {"naev-data": 5, "wesnoth-1.18-music": 4}
    assert summary["missing_packages"] == []
    groups = dict(line.split("\t") for line in (out / "groups.txt").read_text().splitlines())
    assert {"wesnoth-1.18-music/t0", "wesnoth-1.18-music/t1"} < set(groups.values())
    assert summary["tracks"] == len(set(groups.values()))
    # of t9's two clips (at 1/3 and 2/3 of its 3 s) only the first holds sound
    assert sum(g == "naev-data/t9" for g in groups.values()) <= 1
    assert all(np.max(np.abs(sf.read(p)[0])) >= heldout_task.SILENCE_PEAK for p in groups)
    assert all(sf.info(p).duration == pytest.approx(1.0) for p in groups)
