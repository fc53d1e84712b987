"""The dry run end to end: folds, the real bin/ scripts, scoring and every report file."""

import csv

import numpy as np
import pytest
from click.testing import CliRunner

from mirex import lists
from mirex.cli import main
from mirex.dryrun import dry_run
from mirex.extractors.mfcc import MfccExtractor


@pytest.fixture(scope="module")
def labelled(tmp_path_factory, tone_task):
    root = tmp_path_factory.mktemp("dry")
    lists.write_labelled(root / "all.txt", tone_task)
    # two "artists" per class, so that artist filtering has something to do
    groups = [(p, f"{label}-{i % 2}") for i, (p, label) in enumerate(tone_task)]
    lists.write_labelled(root / "groups.txt", groups)
    return root


def test_dry_run_writes_scored_predictions_and_the_whole_report(labelled, tiny_models, monkeypatch):
    monkeypatch.setenv("MIREX_MODELS_DIR", str(tiny_models))
    out = labelled / "out"
    outcome = dry_run(labelled / "all.txt", out, systems=["LPNKK1", "mfcc-svm"], n_folds=2,
                      groups_path=labelled / "groups.txt", parallel=2)
    items = lists.read_labelled(labelled / "all.txt")
    for system in ("LPNKK1", "mfcc-svm"):
        scores = outcome["results"][system]
        assert len(scores) == 2 and sum(s.n_tracks for s in scores) == len(items)
        assert all(not s.problems for s in scores)  # one valid line per test track
        for k in (1, 2):
            test_paths = lists.read_paths(out / "lists" / f"fold{k}_test.txt")
            predicted = lists.read_labelled(out / "predictions" / system / f"fold{k}.txt")
            assert [p for p, _ in predicted] == test_paths
    # artist filtering: no group on both sides of a fold
    groups = dict(lists.read_labelled(labelled / "groups.txt"))
    for k in (1, 2):
        train = {groups[p] for p, _ in lists.read_labelled(out / "lists" / f"fold{k}_train.txt")}
        test = {groups[p] for p in lists.read_paths(out / "lists" / f"fold{k}_test.txt")}
        assert not train & test
    report = out / "report"
    for name in ("summaryResults.csv", "PerClassResults.csv", "PerFoldResults.csv", "index.html"):
        assert (report / name).is_file(), name
    with open(report / "summaryResults.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert {row[0] for row in rows[1:]} == {"LPNKK1", "mfcc-svm"}
    assert len(list((report / "confusion").glob("*.png"))) == 2 * 3
    assert "mfcc-svm" in outcome["summary"] and "LPNKK1" in outcome["summary"]
    # the extraction pass ran once per system; folds read its cache
    log = (out / "logs" / "LPNKK1_fold1_train.log").read_text()
    assert "0 extracted" in log


def test_make_folds_command_writes_the_fold_lists(labelled):
    runner = CliRunner()
    result = runner.invoke(main, ["make-folds", str(labelled / "all.txt"), str(labelled / "folds"),
                                  "--folds", "2", "--groups", str(labelled / "groups.txt")])
    assert result.exit_code == 0, result.output
    for k in (1, 2):
        train = lists.read_labelled(labelled / "folds" / f"fold{k}_train.txt")
        test = lists.read_paths(labelled / "folds" / f"fold{k}_test.txt")
        assert len(train) + len(test) == 12 and not {p for p, _ in train} & set(test)
    assert len(lists.read_paths(labelled / "folds" / "extract.txt")) == 12


def test_mfcc_peer_separates_pitch_and_handles_tiny_clips():
    sr = 22050
    t = np.arange(sr * 2) / sr
    ex = MfccExtractor()
    low = ex.features(np.sin(2 * np.pi * 150 * t).astype(np.float32))
    high = ex.features(np.sin(2 * np.pi * 3000 * t).astype(np.float32))
    assert low.shape == (80,) and not np.allclose(low, high)
    assert np.isfinite(ex.features(np.ones(10, np.float32))).all()


def test_musicnn_peer_uses_the_committed_weights_and_tells_sounds_apart():
    from mirex.systems import resolve_extractors

    (ex,) = resolve_extractors("musicnn-svm")
    assert ex.manifest["weights"]["sha256"][:12] in ex.id
    sr = 16000
    t = np.arange(sr * 4) / sr
    low = np.sin(2 * np.pi * 110 * t).astype(np.float32) * 0.3
    noise = np.random.default_rng(0).standard_normal(t.size).astype(np.float32) * 0.1
    vectors = ex.embed([low, noise])
    assert vectors.shape == (2, 1506) and np.isfinite(vectors).all()
    assert np.linalg.norm(vectors[0] - vectors[1]) > 0.1 * np.linalg.norm(vectors[0])


def test_later_systems_reuse_the_features_of_earlier_ones(labelled, tiny_models, monkeypatch):
    """LPNKK3 = LPNKK1's + LPNKK2's backbones: in one dry run each is computed once."""
    monkeypatch.setenv("MIREX_MODELS_DIR", str(tiny_models))
    out = labelled / "shared"
    outcome = dry_run(labelled / "all.txt", out, systems=["LPNKK1", "LPNKK2", "LPNKK3"],
                      n_folds=2)
    n = len(set(lists.read_paths(out / "lists" / "extract.txt")))
    assert f"{n} files, 0 from cache, {n} extracted" in (out / "logs" / "LPNKK1_extract.log").read_text()
    assert f"{n} files, {n} from cache, 0 extracted" in (out / "logs" / "LPNKK3_extract.log").read_text()
    assert not list((out / "scratch" / "LPNKK3" / "features").glob("*/*/*.npy"))
    for k in (1, 2):
        assert "0 extracted" in (out / "logs" / f"LPNKK3_fold{k}_train.log").read_text()
    assert all(not s.problems for s in outcome["results"]["LPNKK3"])
