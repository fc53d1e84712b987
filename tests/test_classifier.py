import numpy as np
import pytest

from mirex.classifier import ClassifierError, fit_classifier, load_classifier, save_classifier


def blobs(n_per_class=10, dim=20, classes=("a", "b", "c"), seed=0, spread=1.0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(classes), dim)) * 3
    X = np.concatenate([c + spread * rng.standard_normal((n_per_class, dim)) for c in centres])
    y = [label for label in classes for _ in range(n_per_class)]
    return X.astype(np.float32), y


def test_fits_separable_classes_and_reports_the_search():
    X, y = blobs()
    clf = fit_classifier(X, y, ["ex1"])
    assert (clf.predict(X) == np.array(y, dtype=object)).mean() == 1.0
    assert clf.search["cv_accuracy"] > 0.9 and "5-fold" in clf.search["method"]
    assert clf.labels == ["a", "b", "c"] and clf.extractors == ["ex1"]


def test_search_picks_from_the_grid_by_cross_validation():
    X, y = blobs(spread=4.0, seed=1)
    clf = fit_classifier(X, y)
    assert clf.search["C"] in (0.1, 1.0, 10.0, 100.0)
    assert clf.search["gamma_times_dim"] in (0.25, 1.0, 4.0)


def test_tiny_classes_shrink_the_cv_and_single_clips_skip_it():
    X, y = blobs(n_per_class=3)
    assert "3-fold" in fit_classifier(X, y).search["method"]
    X2, y2 = X[:7], y[:7]  # 'c' has a single clip
    clf = fit_classifier(X2, y2)
    assert clf.search["method"].startswith("defaults")
    assert set(clf.predict(X2)) <= {"a", "b", "c"}


def test_single_class_predicts_it_and_prior_is_most_frequent():
    X, _ = blobs(n_per_class=4)
    clf = fit_classifier(X[:5], ["only"] * 5)
    assert list(clf.predict(X[:3])) == ["only"] * 3
    clf = fit_classifier(X[:10], ["a"] * 3 + ["b"] * 7)
    assert clf.prior == "b"


def test_rejects_bad_training_data():
    with pytest.raises(ClassifierError):
        fit_classifier(np.zeros((0, 3)), [])
    with pytest.raises(ClassifierError, match="NaN"):
        fit_classifier(np.full((4, 3), np.nan), ["a", "a", "b", "b"])


def test_save_load_round_trip_and_tamper_refusal(tmp_path):
    X, y = blobs()
    clf = fit_classifier(X, y, ["ex1"])
    save_classifier(clf, tmp_path / "m")
    again = load_classifier(tmp_path / "m")
    assert list(again.predict(X)) == list(clf.predict(X)) and again.prior == clf.prior
    (pickle_file,) = (tmp_path / "m").glob("classifier-*.pkl")
    pickle_file.write_bytes(pickle_file.read_bytes() + b"\x00")
    with pytest.raises(ClassifierError, match="refusing"):
        load_classifier(tmp_path / "m")
    with pytest.raises(ClassifierError, match="Train"):
        load_classifier(tmp_path / "nothing")


def test_retraining_replaces_the_model_whole(tmp_path):
    X, y = blobs()
    save_classifier(fit_classifier(X, y, ["first"]), tmp_path / "m")
    save_classifier(fit_classifier(X[:20], y[:20], ["second"]), tmp_path / "m")
    assert len(list((tmp_path / "m").glob("classifier-*.pkl"))) == 1
    assert load_classifier(tmp_path / "m").extractors == ["second"]


def test_kernel_svm_agrees_with_scikit_learn_rbf_svc():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from mirex.classifier import KernelSVM

    X, y = blobs(n_per_class=15, spread=3.0, seed=4)
    Xt, _ = blobs(n_per_class=10, spread=3.0, seed=5)
    ours = KernelSVM(C=10.0, gamma=0.05).fit(X, y)
    theirs = make_pipeline(StandardScaler(), SVC(kernel="rbf", C=10.0, gamma=0.05)).fit(X, y)
    assert list(ours.predict(Xt)) == list(theirs.predict(Xt))
    assert len(ours.support_vectors_) == len(theirs[-1].support_)


@pytest.mark.parametrize("edit, message", [
    (lambda m, d: m.update(format="other"), r"classifier\.json: format is 'other'"),
    (lambda m, d: m["pickle"].update(file="../x.pkl"), "bad pickle name"),
    (lambda m, d: m.pop("pickle"), "must give 'file' and 'sha256'"),
    (lambda m, d: next(d.glob("*.pkl")).unlink(), r"\.pkl: pickle missing"),
])
def test_broken_model_folders_are_one_line_errors_naming_the_file(tmp_path, edit, message):
    import json

    X, y = blobs()
    folder = tmp_path / "m"
    save_classifier(fit_classifier(X, y, ["ex1"]), folder)
    manifest = json.loads((folder / "classifier.json").read_text())
    edit(manifest, folder)
    (folder / "classifier.json").write_text(json.dumps(manifest))
    with pytest.raises(ClassifierError, match=message) as err:
        load_classifier(folder)
    assert str(folder) in str(err.value) and "\n" not in str(err.value)


def _fitted_svc(X, y, C=1.0):
    """An SVC fitted on the even clips, and its kernel rows of the odd ones (held out)."""
    from sklearn.svm import SVC

    from mirex.classifier import sq_distances

    Z = (X - X.mean(0)) / X.std(0)
    K = np.exp(-sq_distances(Z, Z) / X.shape[1])
    svc = SVC(kernel="precomputed", C=C, decision_function_shape="ovo")
    return svc.fit(K[::2, ::2], np.asarray(y)[::2]), K[1::2, ::2]


@pytest.mark.parametrize("classes", [("a", "b"), ("a", "b", "c"), ("a", "b", "c", "d")])
def test_class_margins_name_the_vote_winner(classes):
    from mirex.classifier import class_margins

    X, y = blobs(classes=classes, spread=7.0, seed=3)
    svc, K = _fitted_svc(X, y)
    margins = class_margins(svc, K)
    assert margins.shape == (len(K), len(classes))
    assert ((margins > 0).sum(1) <= 1).all()
    sure = margins.max(1) > 0
    assert sure.mean() > 0.5
    np.testing.assert_array_equal(svc.classes_[margins.argmax(1)][sure], svc.predict(K)[sure])


class _Scaled:
    """An SVC whose decision values are multiplied by ``factor`` (what another C may do)."""

    def __init__(self, svc, factor):
        self.svc, self.factor, self.classes_ = svc, factor, svc.classes_

    def decision_function(self, K):
        return self.factor * self.svc.decision_function(K)


@pytest.mark.parametrize("classes", [("a", "b"), ("a", "b", "c", "d")])
def test_calibrated_log_loss_ignores_the_scale_and_the_label_names(classes):
    from mirex.classifier import calibrated_log_loss_score

    X, y = blobs(classes=classes, spread=7.0, seed=3)
    svc, K = _fitted_svc(X, y)
    truth = y[1::2]
    errors = (svc.predict(K) != np.array(truth)).mean()
    loss = -calibrated_log_loss_score(svc, K, truth)
    assert errors > 0 and 0 < loss < np.log(len(classes))   # better than a uniform guess
    for factor in (0.1, 10.0):
        assert -calibrated_log_loss_score(_Scaled(svc, factor), K, truth) == \
            pytest.approx(loss, rel=1e-4)
    shuffled = [truth[i] for i in np.random.default_rng(0).permutation(len(truth))]
    assert -calibrated_log_loss_score(svc, K, shuffled) > loss + 0.2   # it does look at the truth
    renamed = [{"a": "z", "b": "y"}.get(label, label) for label in y]   # another class order
    svc2, _ = _fitted_svc(X, renamed)
    assert -calibrated_log_loss_score(svc2, K, renamed[1::2]) == \
        pytest.approx(loss, rel=1e-3)  # solver tolerance


def test_search_is_not_moved_by_rounding_noise():
    """Features perturbed as reduced precision does (relative 1e-3) choose the same C and
    gamma and predict the same labels: the criterion is continuous, not clip counts."""
    for seed in range(4):
        X, y = blobs(n_per_class=25, spread=5.0, seed=seed)
        noisy = X * (1 + 1e-3 * np.random.default_rng(seed).standard_normal(X.shape))
        a, b = fit_classifier(X, y), fit_classifier(noisy.astype(np.float32), y)
        assert (a.search["C"], a.search["gamma"]) == (b.search["C"], b.search["gamma"])
        assert a.search["cv_log_loss"] == pytest.approx(b.search["cv_log_loss"], abs=0.01)
        np.testing.assert_array_equal(a.predict(X), b.predict(noisy.astype(np.float32)))
