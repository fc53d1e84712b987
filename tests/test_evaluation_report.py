"""Tests of mirex.evaluation.report: the organizers' files, figures and HTML report."""

import base64
import csv
import re

import pytest

from mirex.evaluation.report import format_summary, plot_confusion, write_report
from mirex.evaluation.scoring import score_fold

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Two folds, three classes.  "Good <A&B>" (a name that needs escaping) gets
# everything right but one track; "Weak" gets half right and misses a track.
TRUTH = [
    {"/gt/r1.wav": "Rock", "/gt/r2.wav": "Rock", "/gt/j1.wav": "Jazz", "/gt/h1.wav": "Hip-Hop"},
    {"/gt/r3.wav": "Rock", "/gt/j2.wav": "Jazz", "/gt/j3.wav": "Jazz", "/gt/h2.wav": "Hip-Hop"},
]
GOOD = [
    [("r1.wav", "Rock"), ("r2.wav", "Rock"), ("j1.wav", "Jazz"), ("h1.wav", "Hip-Hop")],
    [("r3.wav", "Rock"), ("j2.wav", "Jazz"), ("j3.wav", "Rock"), ("h2.wav", "Hip-Hop")],
]
WEAK = [
    [("r1.wav", "Rock"), ("r2.wav", "Jazz"), ("j1.wav", "Jazz"), ("h1.wav", "Rock")],
    [("r3.wav", "Rock"), ("j2.wav", "Jazz"), ("h2.wav", "Jazz")],  # j3 missing
]
GOOD_NAME = "Good <A&B>"


def _results():
    return {
        GOOD_NAME: [score_fold(t, p, fold=k) for k, (t, p) in enumerate(zip(TRUTH, GOOD))],
        "Weak": [score_fold(t, p, fold=k) for k, (t, p) in enumerate(zip(TRUTH, WEAK))],
    }


def _read_csv(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return out, write_report(out, _results())


def test_every_file_is_written(report):
    out, paths = report
    for key in ("summary", "per_class", "per_fold", "friedman", "significance_per_fold",
                "significance_per_class", "problems", "html"):
        assert paths[key].is_file() and paths[key].stat().st_size > 0, key
        assert paths[key].parent == out
    assert paths["summary"].name == "summaryResults.csv"
    assert paths["per_class"].name == "PerClassResults.csv"
    assert paths["per_fold"].name == "PerFoldResults.csv"
    for name in (GOOD_NAME, "Weak"):
        assert set(paths["confusion"][name]) == {"overall", "fold1", "fold2"}
        for png in paths["confusion"][name].values():
            assert png.read_bytes().startswith(PNG_MAGIC)
            assert re.fullmatch(r"[A-Za-z0-9._-]+", png.name)
        assert paths["reports"][name].is_file()
    assert len({p for d in paths["confusion"].values() for p in d.values()}) == 6
    # Atomic writes leave no temporary files behind.
    assert not [p for p in out.rglob("*.tmp")]


def test_organizers_csv_values(report):
    _, paths = report
    # Good: 7 of 8 right; rock 3/3, jazz 2/3, hip-hop 2/2 -> normalised (1 + 2/3 + 1) / 3.
    # Weak: fold 1 2/4, fold 2 2/4 (j3 missing); rock 2/3, jazz 2/3, hip-hop 0/2.
    assert _read_csv(paths["summary"]) == [
        ["Job", "Overall Accuracy", "Normalised Overall Accuracy"],
        [GOOD_NAME, "0.8750", f"{(1 + 2 / 3 + 1) / 3:.4f}"],
        ["Weak", "0.5000", f"{(2 / 3 + 2 / 3 + 0) / 3:.4f}"],
    ]
    assert _read_csv(paths["per_class"]) == [
        ["Class", GOOD_NAME, "Weak"],
        ["Hip-Hop", "1.0000", "0.0000"],
        ["Jazz", "0.6667", "0.6667"],
        ["Rock", "1.0000", "0.6667"],
    ]
    assert _read_csv(paths["per_fold"]) == [
        ["Fold", "Measure", GOOD_NAME, "Weak"],
        ["1", "Accuracy", "1.0000", "0.5000"],
        ["1", "Normalised Accuracy", "1.0000", f"{(1 / 2 + 1 + 0) / 3:.4f}"],
        ["2", "Accuracy", "0.7500", "0.5000"],
        ["2", "Normalised Accuracy", f"{(1 + 1 / 2 + 1) / 3:.4f}", f"{(1 + 1 / 2 + 0) / 3:.4f}"],
    ]
    problems = _read_csv(paths["problems"])
    assert problems[0][:6] == ["Job", "Fold", "Kind", "Track", "Path", "Label"]
    assert problems[1:] and [row[:5] for row in problems[1:]] == [["Weak", "2", "missing", "j3", "/gt/j3.wav"]]
    sig = _read_csv(paths["significance_per_class"])
    assert sig[0][:2] == ["System A", "System B"] and sig[1][:2] == [GOOD_NAME, "Weak"]
    tests = _read_csv(paths["friedman"])
    assert [row[0] for row in tests[1:]] == ["per-fold accuracy", "per-class accuracy"]


def test_html_is_self_contained_and_complete(report):
    _, paths = report
    text = paths["html"].read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "Good &lt;A&amp;B&gt;" in text and GOOD_NAME not in text  # escaped
    assert "Weak" in text
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == 6
    assert all(base64.b64decode(i).startswith(PNG_MAGIC) for i in images)
    assert not re.search(r'(src|href)="(?!data:)', text)  # no external resource
    assert "http://" not in text and "https://" not in text
    assert '<tr class="best"><td>Good &lt;A&amp;B&gt;</td>' in text
    assert "on per-fold accuracy" in text and "on per-class accuracy" in text
    assert "no prediction for &#x27;/gt/j3.wav&#x27;" in text
    for section in ("Summary", "Significance", "Per-fold results", "Per-class results", "Confusion matrices"):
        assert f"<h2>{section}" in text


def test_system_report_text(report):
    _, paths = report
    text = paths["reports"]["Weak"].read_text(encoding="utf-8")
    assert "Overall Accuracy:            0.5000" in text
    assert "fold 2: no prediction for '/gt/j3.wav'" in text
    good = paths["reports"][GOOD_NAME].read_text(encoding="utf-8")
    assert "None: one valid prediction" in good


def test_single_system_skips_significance(tmp_path):
    results = {"Only": _results()["Weak"]}
    paths = write_report(tmp_path, results)
    text = paths["html"].read_text(encoding="utf-8")
    assert "only one system" in text
    assert '<tr class="best"><td>Only</td>' in text
    assert _read_csv(paths["significance_per_fold"]) == [
        ["System A", "System B", "Mean rank A", "Mean rank B", "Difference", "Lower", "Upper", "Significant"]
    ]
    assert "only one system" in _read_csv(paths["friedman"])[1][-1]


def test_systems_scored_on_different_ground_truth_are_refused(tmp_path):
    results = _results()
    other = {"/gt/x.wav": "Rock", "/gt/y.wav": "Rock", "/gt/j1.wav": "Jazz", "/gt/h1.wav": "Hip-Hop"}
    results["Other"] = [score_fold(other, []), results["Weak"][1]]
    with pytest.raises(ValueError, match="different ground truth"):
        write_report(tmp_path, results)
    results["Other"] = results["Weak"][:1]
    with pytest.raises(ValueError, match="1 folds"):
        write_report(tmp_path, results)
    with pytest.raises(ValueError, match="empty"):
        write_report(tmp_path, {})


def test_format_summary():
    text = format_summary(_results())
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["Job", "Overall", "Acc."]
    good = next(line for line in lines if GOOD_NAME in line)
    weak = next(line for line in lines if "Weak" in line)
    assert good.startswith("*") and not weak.startswith("*")
    assert good.split()[-5:] == ["0.8750", f"{(1 + 2 / 3 + 1) / 3:.4f}", "1.0000", "0.7500", "0"]
    assert weak.split()[-1] == "1"  # one problem
    # Columns line up.
    assert len({len(line) for line in lines[:4]}) == 1


def test_plot_confusion_checks_shape():
    png = plot_confusion([[1, 0], [0, 1]], ["a", "b"], {"a": "A"}, "t")
    assert png.startswith(PNG_MAGIC)
    with pytest.raises(ValueError, match="shape"):
        plot_confusion([[1, 0], [0, 1]], ["a"])
