"""Tests of mirex.evaluation.scoring: the organizers' (NEMA) scoring rules."""

import numpy as np
import pytest

from mirex.evaluation.scoring import (
    MISSING,
    UNKNOWN,
    FoldScore,
    SubmissionError,
    clean_label,
    read_ground_truth,
    read_prediction_file,
    score_fold,
    score_folds,
    track_key,
)


@pytest.mark.parametrize(
    "raw, cleaned",
    [
        ("Hip-Hop", "hiphop"),
        ("R&B", "rb"),
        ("Country/Western", "countrywestern"),
        # Whitespace becomes "_" first, and "_" is outside [a-z0-9]: it is dropped too.
        ("Country / Western", "countrywestern"),
        ("Hip Hop", "hiphop"),
        ("  Jazz\t", "jazz"),
        ("ROCK_n_roll", "rocknroll"),
        ("Baroque 1600", "baroque1600"),
        ("Música", "msica"),
        ("!!!", ""),
    ],
)
def test_clean_label(raw, cleaned):
    assert clean_label(raw) == cleaned


@pytest.mark.parametrize(
    "path, key",
    [
        ("/a/b/Song One.WAV", "song one"),
        ("song one.mp3", "song one"),
        ("C:\\Music\\Song One.flac", "song one"),
        ("x/y/track.v2.wav", "track.v2"),
        ("/a/b/noext", "noext"),
        ("  /a/Padded.wav  ", "padded"),
    ],
)
def test_track_key(path, key):
    assert track_key(path) == key


def test_read_prediction_file_is_tolerant(tmp_path):
    f = tmp_path / "out.txt"
    text = "\ufeff/data/My Song 1.wav\tHip-Hop\r\n\r\n/data/b.wav\tR&B\r\n  \n/data/c.wav Jazz\n/data/alone.wav\n"
    f.write_bytes(text.encode("utf-8"))
    assert read_prediction_file(f) == [
        ("/data/My Song 1.wav", "Hip-Hop"),  # spaces kept: split on the last tab
        ("/data/b.wav", "R&B"),
        ("/data/c.wav", "Jazz"),  # no tab: last run of whitespace
        ("/data/alone.wav", ""),  # no label: kept, reported by the scorer
    ]


def test_read_prediction_file_last_tab_wins(tmp_path):
    f = tmp_path / "out.txt"
    f.write_text("/odd\tdir/x y.wav\tBlues Rock\n", encoding="utf-8")
    assert read_prediction_file(f) == [("/odd\tdir/x y.wav", "Blues Rock")]


def test_read_ground_truth(tmp_path):
    f = tmp_path / "gt.txt"
    f.write_text("a.wav\tRock\nb.wav\tJazz\n", encoding="utf-8")
    assert read_ground_truth(f) == {"a.wav": "Rock", "b.wav": "Jazz"}
    f.write_text("a.wav\tRock\na.wav\tJazz\n", encoding="utf-8")
    with pytest.raises(ValueError, match="listed twice"):
        read_ground_truth(f)


def test_tracks_match_across_directories_extensions_and_case():
    truth = {"/corpus/genres/Song One.wav": "Rock", "/corpus/genres/b.WAV": "Jazz"}
    predictions = [("/tmp/converted/SONG ONE.mp3", "rock"), ("B.flac", "JAZZ")]
    score = score_fold(truth, predictions, strict=True)
    assert score.accuracy == 1.0
    assert score.problems == ()
    assert score.labels == ("jazz", "rock")
    assert score.display == {"jazz": "Jazz", "rock": "Rock"}


# --- Scores known by construction --------------------------------------------------
#
# Fold 1: 4 rock, 2 jazz.  Rock: 3 right, 1 called jazz.  Jazz: both called rock.
#   accuracy = 3/6; normalised = (3/4 + 0/2) / 2 = 0.375.
# Fold 2: 2 rock, 3 jazz.  Rock: 2 right.  Jazz: 2 right, 1 called rock.
#   accuracy = 4/5; normalised = (2/2 + 2/3) / 2 = 5/6.
# Pooled: rock 5 of 6 right, jazz 2 of 5 right.
#   overall accuracy = 7/11; normalised overall = (5/6 + 2/5) / 2.

FOLD1_TRUTH = {
    "/gt/r1.wav": "Rock", "/gt/r2.wav": "Rock", "/gt/r3.wav": "Rock", "/gt/r4.wav": "Rock",
    "/gt/j1.wav": "Jazz", "/gt/j2.wav": "Jazz",
}
FOLD1_OUT = (
    "/run/R1.mp3\trock\r\n/run/r2.mp3\tROCK\r\n/run/r3.mp3\tRock\r\n/run/r4.mp3\tJazz\r\n"
    "/run/j1.mp3\tRock\r\n/run/j2.mp3\tRock\r\n"
)
FOLD2_TRUTH = {
    "/gt/r5.wav": "Rock", "/gt/r6.wav": "Rock",
    "/gt/j3.wav": "Jazz", "/gt/j4.wav": "Jazz", "/gt/j5.wav": "Jazz",
}
FOLD2_OUT = "\ufeffr5.wav\tRock\nr6.wav\tRock\nj3.wav\tJazz\nj4.wav\tjazz\n\nj5.wav\tRock\n"


def _write(tmp_path, name, text):
    f = tmp_path / name
    f.write_bytes(text.encode("utf-8"))
    return f


def test_fold_and_overall_scores_known_by_construction(tmp_path):
    s1 = score_fold(FOLD1_TRUTH, read_prediction_file(_write(tmp_path, "o1.txt", FOLD1_OUT)), strict=True)
    s2 = score_fold(FOLD2_TRUTH, read_prediction_file(_write(tmp_path, "o2.txt", FOLD2_OUT)), strict=True)

    assert isinstance(s1, FoldScore)
    assert s1.accuracy == pytest.approx(3 / 6)
    assert s1.normalised_accuracy == pytest.approx((3 / 4 + 0 / 2) / 2)
    assert s1.per_class == pytest.approx({"rock": 3 / 4, "jazz": 0.0})
    assert s1.labels == ("jazz", "rock")
    np.testing.assert_array_equal(s1.confusion, [[0, 2], [1, 3]])  # rows true, columns predicted
    assert (s1.n_tracks, s1.n_returned, s1.n_correct) == (6, 6, 3)
    assert s1.support == {"jazz": 2, "rock": 4}

    assert s2.accuracy == pytest.approx(4 / 5)
    assert s2.normalised_accuracy == pytest.approx((2 / 2 + 2 / 3) / 2)
    assert s1.accuracy != s1.normalised_accuracy

    overall = score_folds([s1, s2])
    assert overall["accuracy"] == pytest.approx(7 / 11)
    assert overall["normalised_accuracy"] == pytest.approx((5 / 6 + 2 / 5) / 2)
    assert overall["per_class"] == pytest.approx({"rock": 5 / 6, "jazz": 2 / 5})
    np.testing.assert_array_equal(overall["confusion"], [[2, 3], [1, 5]])
    assert overall["labels"] == ("jazz", "rock")
    assert overall["n_tracks"] == 11 and overall["n_folds"] == 2
    # Pooled accuracy is not the mean of the fold accuracies when folds differ in size.
    assert overall["accuracy"] != pytest.approx((s1.accuracy + s2.accuracy) / 2)


def test_pooling_aligns_different_class_sets():
    s1 = score_fold({"a.wav": "Rock", "b.wav": "Jazz"}, [("a", "Rock"), ("b", "Rock")])
    s2 = score_fold({"c.wav": "Blues", "d.wav": "Rock"}, [("c", "Blues"), ("d", "Blues")])
    overall = score_folds([s1, s2])
    assert overall["labels"] == ("blues", "jazz", "rock")
    np.testing.assert_array_equal(overall["confusion"], [[1, 0, 0], [0, 0, 1], [1, 0, 1]])
    assert overall["per_class"] == pytest.approx({"blues": 1.0, "jazz": 0.0, "rock": 0.5})
    assert overall["normalised_accuracy"] == pytest.approx(0.5)


def test_class_valid_elsewhere_is_wrong_not_unknown():
    truth = {"a.wav": "Rock", "b.wav": "Rock"}
    predictions = [("a.wav", "Rock"), ("b.wav", "Jazz")]
    # Without the task's classes, "Jazz" is a label never seen in the ground truth.
    with pytest.raises(SubmissionError, match="not a class"):
        score_fold(truth, predictions, strict=True)
    score = score_fold(truth, predictions, strict=True, classes=["Rock", "Jazz"])
    assert score.accuracy == 0.5
    assert score.normalised_accuracy == 0.5  # jazz has no track here: not averaged
    assert score.per_class == {"rock": 0.5}
    assert score.labels == ("jazz", "rock")


def test_display_name_is_first_ground_truth_spelling():
    truth = {"a.wav": "Hip-Hop", "b.wav": "hip hop", "c.wav": "R&B"}
    score = score_fold(truth, [("a", "HIPHOP"), ("b", "Hip Hop"), ("c", "r & b")], strict=True)
    assert score.accuracy == 1.0
    assert score.display == {"hiphop": "Hip-Hop", "rb": "R&B"}


# --- Submission errors ----------------------------------------------------------------

BAD_TRUTH = {"/gt/a.wav": "Rock", "/gt/b.wav": "Jazz", "/gt/c.wav": "Jazz", "/gt/d.wav": "Rock"}
BAD_PREDICTIONS = [
    ("/out/a.wav", "Rock"),      # right
    ("/out/A.mp3", "Jazz"),      # duplicate of a: ignored, the first one counts
    ("/out/b.wav", "Polka"),     # label that is not a class: wrong
    ("/out/e.wav", "Rock"),      # not in the test set: ignored
    ("/out/c.wav", "Jazz"),      # right
    # d: missing -> wrong
]


def test_strict_mode_raises_with_every_problem():
    with pytest.raises(SubmissionError) as info:
        score_fold(BAD_TRUTH, BAD_PREDICTIONS, strict=True)
    err = info.value
    assert isinstance(err, ValueError)
    kinds = sorted((p.kind, p.track) for p in err.problems)
    assert kinds == [("duplicate", "a"), ("missing", "d"), ("unknown-label", "b"), ("unknown-track", "e")]
    message = str(err)
    assert "4 problem(s)" in message
    for piece in ("'/out/A.mp3'", "'Polka'", "'/out/e.wav'", "'/gt/d.wav'"):
        assert piece in message


def test_lenient_mode_reports_problems_and_counts_them_wrong():
    score = score_fold(BAD_TRUTH, BAD_PREDICTIONS, strict=False, fold=1)
    by_kind = {p.kind: p for p in score.problems}
    assert set(by_kind) == {"duplicate", "missing", "unknown-label", "unknown-track"}
    assert by_kind["duplicate"].path == "/out/A.mp3" and by_kind["duplicate"].line == 2
    assert by_kind["unknown-label"].label == "Polka" and by_kind["unknown-label"].line == 3
    assert by_kind["unknown-track"].path == "/out/e.wav" and by_kind["unknown-track"].track == "e"
    assert by_kind["missing"].path == "/gt/d.wav" and by_kind["missing"].label is None
    assert all(p.fold == 1 for p in score.problems)
    assert str(by_kind["missing"]).startswith("fold 2: ")

    # a and c right; b (unknown label) and d (missing) wrong; e and the duplicate not counted.
    assert score.n_tracks == 4 and score.n_returned == 5 and score.n_correct == 2
    assert score.accuracy == pytest.approx(2 / 4)
    assert score.per_class == pytest.approx({"jazz": 0.5, "rock": 0.5})
    assert score.normalised_accuracy == pytest.approx(0.5)
    assert score.labels == ("jazz", "rock", UNKNOWN, MISSING)
    np.testing.assert_array_equal(
        score.confusion,
        [[1, 0, 1, 0],   # jazz: c right, b unknown
         [0, 1, 0, 1],   # rock: a right, d missing
         [0, 0, 0, 0],
         [0, 0, 0, 0]],
    )
    overall = score_folds([score])
    assert overall["accuracy"] == pytest.approx(0.5)
    assert [p.kind for p in overall["problems"]] == [p.kind for p in score.problems]


def test_empty_label_is_reported():
    score = score_fold({"a.wav": "Rock"}, [("a.wav", "")])
    assert [p.kind for p in score.problems] == ["unknown-label"]
    assert "empty label" in score.problems[0].message
    assert score.accuracy == 0.0


def test_all_missing_is_zero_not_an_error():
    score = score_fold({"a.wav": "Rock", "b.wav": "Jazz"}, [])
    assert score.accuracy == 0.0 and score.normalised_accuracy == 0.0
    assert [p.kind for p in score.problems] == ["missing", "missing"]


def test_problem_fold_filled_in_when_pooling():
    s1 = score_fold({"a.wav": "Rock"}, [("a.wav", "Rock")])
    s2 = score_fold({"b.wav": "Rock"}, [])
    problems = score_folds([s1, s2])["problems"]
    assert [(p.kind, p.fold) for p in problems] == [("missing", 1)]


def test_bad_ground_truth_and_inputs_raise():
    with pytest.raises(ValueError, match="empty"):
        score_fold({}, [])
    with pytest.raises(ValueError, match="ambiguous"):
        score_fold({"/x/a.wav": "Rock", "/y/A.mp3": "Rock"}, [])
    with pytest.raises(ValueError, match="cleaning"):
        score_fold({"a.wav": "!!"}, [])
    with pytest.raises(TypeError, match="pair"):
        score_fold({"a.wav": "Rock"}, [("a.wav",)])
    with pytest.raises(ValueError, match="no folds"):
        score_folds([])
