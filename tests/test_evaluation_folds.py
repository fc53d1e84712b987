"""Tests of mirex.evaluation.folds: stratified, group-respecting, deterministic folds."""

import os
import warnings
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirex.evaluation.folds import fold_lists, make_folds, read_groups, write_fold_lists


def _labels():
    # Unbalanced: 31 rock, 17 jazz, 9 blues, 5 pop.
    return ["rock"] * 31 + ["jazz"] * 17 + ["blues"] * 9 + ["pop"] * 5


@pytest.mark.parametrize("n_folds", [2, 3, 5])
def test_folds_are_stratified(n_folds):
    labels = _labels()
    folds = make_folds(labels, n_folds=n_folds, seed=3)
    assert folds.shape == (len(labels),)
    assert np.issubdtype(folds.dtype, np.integer)
    assert set(folds.tolist()) == set(range(n_folds))
    for label, total in Counter(labels).items():
        expected = total / n_folds
        for k in range(n_folds):
            count = sum(1 for l, f in zip(labels, folds) if l == label and f == k)
            assert abs(count - expected) <= 1, (label, k, count, expected)


def test_folds_are_deterministic_for_a_seed_and_vary_with_it():
    labels = _labels()
    a = make_folds(labels, n_folds=3, seed=7)
    b = make_folds(labels, n_folds=3, seed=7)
    c = make_folds(labels, n_folds=3, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)

    groups = [f"artist{i // 2}" for i in range(len(labels))]
    g1 = make_folds(labels, groups, n_folds=3, seed=7)
    g2 = make_folds(labels, groups, n_folds=3, seed=7)
    g3 = make_folds(labels, groups, n_folds=3, seed=8)
    np.testing.assert_array_equal(g1, g2)
    assert not np.array_equal(g1, g3)


def _assert_groups_whole(groups, folds):
    fold_of = {}
    for g, f in zip(groups, folds):
        if g is None:
            continue
        assert fold_of.setdefault(g, f) == f, f"group {g!r} split across folds"


def test_groups_are_never_split_and_folds_stay_roughly_stratified():
    rng = np.random.default_rng(0)
    labels, groups = [], []
    for artist in range(60):
        genre = ["rock", "jazz", "blues"][artist % 3]
        for _ in range(int(rng.integers(1, 6))):
            labels.append(genre)
            groups.append(f"artist{artist}")
    folds = make_folds(labels, groups, n_folds=4, seed=1)
    _assert_groups_whole(groups, folds)
    assert set(folds.tolist()) == {0, 1, 2, 3}
    # Whole-group assignment cannot be exact, but every class is in every fold.
    for label in ("rock", "jazz", "blues"):
        per_fold = Counter(f for l, f in zip(labels, folds) if l == label)
        assert len(per_fold) == 4


@pytest.mark.filterwarnings("ignore:1 class")
def test_none_group_means_item_is_alone():
    labels = ["a", "a", "b", "b", "a", "b"]
    groups = ["x", "x", None, None, None, None]
    folds = make_folds(labels, groups, n_folds=3, seed=0)
    assert folds[0] == folds[1]
    assert set(folds.tolist()) == {0, 1, 2}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 9), st.sampled_from("abc")), min_size=6, max_size=40),
    st.integers(2, 4),
    st.integers(0, 1000),
)
def test_property_groups_whole_and_every_fold_used(items, n_folds, seed):
    # An artist has one genre, as in the artist filter.
    genre = {}
    groups = [g for g, _ in items]
    labels = [genre.setdefault(g, l) for g, l in items]
    if len(set(groups)) < n_folds:
        with pytest.raises(ValueError, match="group"):
            make_folds(labels, groups, n_folds=n_folds, seed=seed)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        folds = make_folds(labels, groups, n_folds=n_folds, seed=seed)
    _assert_groups_whole(groups, folds)
    assert sorted(set(folds.tolist())) == list(range(n_folds))


def test_impossible_requests_raise_clear_errors():
    with pytest.raises(ValueError, match="at least 2"):
        make_folds(["a", "b"], n_folds=1)
    with pytest.raises(ValueError, match="3 folds from 2 items"):
        make_folds(["a", "b"], n_folds=3)
    with pytest.raises(ValueError, match="2 group"):
        make_folds(["a", "b", "a", "b"], ["x", "x", "y", "y"], n_folds=3)
    with pytest.raises(ValueError, match="groups has 3 entries"):
        make_folds(["a", "b", "a", "b"], ["x", "y", "z"], n_folds=2)
    with pytest.raises(ValueError, match="empty"):
        make_folds([], n_folds=2)
    with pytest.raises(ValueError, match="seed"):
        make_folds(["a", "b"], n_folds=2, seed=-1)


def test_rare_class_warns_but_still_splits():
    labels = ["a"] * 9 + ["b"]
    with pytest.warns(UserWarning, match="fewer than 3 items"):
        folds = make_folds(labels, n_folds=3, seed=0)
    assert set(folds.tolist()) == {0, 1, 2}
    # No class can fill every fold: still a valid (unstratified) split.
    with pytest.warns(UserWarning):
        folds = make_folds(list("abcdef"), n_folds=3, seed=0)
    assert np.bincount(folds).tolist() == [2, 2, 2]


def test_fold_lists_partition_the_items():
    paths = [f"/m/{i}.wav" for i in range(7)]
    labels = ["x", "y", "x", "y", "x", "y", "x"]
    folds = np.array([0, 1, 2, 0, 1, 2, 0])
    lists = fold_lists(paths, labels, folds)
    assert len(lists) == 3
    train0, test0 = lists[0]
    assert test0 == ["/m/0.wav", "/m/3.wav", "/m/6.wav"]
    assert train0 == [("/m/1.wav", "y"), ("/m/2.wav", "x"), ("/m/4.wav", "x"), ("/m/5.wav", "y")]
    all_test = [p for _, test in lists for p in test]
    assert sorted(all_test) == sorted(paths)
    for train, test in lists:
        assert not set(test) & {p for p, _ in train}
    with pytest.raises(ValueError, match="differ in length"):
        fold_lists(paths, labels[:-1], folds)
    with pytest.raises(ValueError, match="empty"):
        fold_lists(paths[:2], labels[:2], [0, 2])


def test_write_fold_lists(tmp_path):
    paths = ["/m/Song One.wav", "/m/b.wav", "/m/c.wav", "/m/d.wav"]
    labels = ["Hip-Hop", "Jazz", "Hip-Hop", "Jazz"]
    folds = [0, 0, 1, 1]
    out = tmp_path / "lists"
    written = write_fold_lists(out, paths, labels, folds)
    names = [p.name for p in written]
    assert names == [
        "fold1_train.txt", "fold1_test.txt", "fold1_groundtruth.txt",
        "fold2_train.txt", "fold2_test.txt", "fold2_groundtruth.txt",
    ]
    assert (out / "fold1_train.txt").read_text(encoding="utf-8") == "/m/c.wav\tHip-Hop\n/m/d.wav\tJazz\n"
    assert (out / "fold1_test.txt").read_text(encoding="utf-8") == "/m/Song One.wav\n/m/b.wav\n"
    assert (out / "fold1_groundtruth.txt").read_text(encoding="utf-8") == "/m/Song One.wav\tHip-Hop\n/m/b.wav\tJazz\n"
    # Atomic writes leave no temporary files behind; files are world-readable as usual.
    assert sorted(os.listdir(out)) == sorted(names)
    assert os.stat(out / "fold1_test.txt").st_mode & 0o444 == 0o444 & ~_umask()
    with pytest.raises(ValueError, match="tab"):
        write_fold_lists(out, ["a\tb.wav", "c.wav"], ["x", "y"], [0, 1])


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_read_groups_is_tolerant(tmp_path):
    f = tmp_path / "artists.txt"
    f.write_bytes("\ufeff/m/a b.wav\tThe Band\r\n\r\n/m/c.wav\tSolo\r\n/m/d.wav Other\n".encode("utf-8"))
    assert read_groups(f) == {"/m/a b.wav": "The Band", "/m/c.wav": "Solo", "/m/d.wav": "Other"}
    f.write_text("/m/a.wav\tX\n/m/a.wav\tY\n", encoding="utf-8")
    with pytest.raises(ValueError, match="two artists"):
        read_groups(f)
    f.write_text("/m/a.wav\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no artist"):
        read_groups(f)
