"""The per-task classifier: per-dimension standardisation + RBF SVM.

Conventions
-----------
- ``X``: ``float32`` features of shape ``(n_clips, dim)``, one clip embedding
  per row; ``y``: the training labels as given in the training list.
- C and gamma are chosen by stratified cross-validation
  (:class:`~sklearn.model_selection.GridSearchCV`) on the training list,
  by the held-out folds' log-loss of the SVM's class margins, calibrated by
  one temperature (:func:`calibrated_log_loss_score`): a continuous score,
  so that features perturbed by rounding (bf16 against fp32) pick the same
  C and gamma, where accuracy, which moves in steps of one clip, flips
  between near-tied pairs. gamma is searched relative to ``1 / dim`` (the 'scale'
  value for standardised features). Tiny classes shrink the number of CV folds; with
  fewer than two clips in some class the search is skipped and C=1,
  gamma=1/dim are used; a single-class task predicts that class.
- A fitted classifier is saved as a pickle *plus* a JSON manifest holding its
  sha256; :func:`load_classifier` refuses to unpickle a file whose checksum
  does not match.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .fileio import atomic_write_bytes, atomic_write_text, checked_bytes, read_manifest

__all__ = ["Classifier", "KernelSVM", "fit_classifier", "save_classifier", "load_classifier",
           "ClassifierError", "C_GRID", "GAMMA_FACTORS", "sq_distances", "class_margins",
           "calibrated_log_loss_score"]

#: Values of the SVM's C searched by cross-validation.
C_GRID = (0.1, 1.0, 10.0, 100.0)
#: Multiples of 1/dim searched for the RBF gamma.
GAMMA_FACTORS = (0.25, 1.0, 4.0)
#: Most cross-validation folds used by the search.
MAX_CV_FOLDS = 5

MANIFEST_NAME = "classifier.json"
FORMAT = "mirex-classifier/1"


class ClassifierError(Exception):
    """A classifier that cannot be trained or loaded; the message says why."""


@dataclass
class Classifier:
    """A fitted classifier and what it needs at test time.

    Attributes
    ----------
    pipeline : KernelSVM or None
        Scaler + SVM; ``None`` for a single-class task.
    labels : list of str
        The training labels, sorted.
    prior : str
        The most frequent training label (ties: first in sorted order),
        predicted for test clips whose features cannot be computed.
    extractors : list of str
        Extractor ids whose embeddings are concatenated, in order.
    search : dict
        How C and gamma were chosen, and the cross-validated accuracy.
    """

    pipeline: object
    labels: list
    prior: str
    extractors: list
    search: dict = field(default_factory=dict)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Labels for ``X`` of shape ``(n, dim)``; an array of str, shape ``(n,)``."""
        X = np.asarray(X, dtype=np.float32)
        if len(X) == 0:
            return np.array([], dtype=object)
        if self.pipeline is None:
            return np.array([self.labels[0]] * len(X), dtype=object)
        return np.asarray(self.pipeline.predict(X), dtype=object)


def sq_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances by one matrix product: ``(n_a, n_b)`` float64.

    ``|a|^2 + |b|^2 - 2 a.b``, computed in float64 and clipped at 0.
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    d = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * (A @ B.T)
    return np.maximum(d, 0.0, out=d)


def class_margins(svc, K: np.ndarray) -> np.ndarray:
    """Each class's margin under a one-vs-one ``SVC``: ``(n, n_classes)``.

    A class's margin is its smallest signed decision value in the duels it
    takes part in (positive where it wins them all), so at most one class of
    a clip has a positive margin, and that class is the vote's winner.
    ``K``: kernel rows ``(n, n_train)`` of the clips.
    """
    n, k = len(K), len(svc.classes_)
    values = np.asarray(svc.decision_function(K)).reshape(n, -1)   # > 0: the first class wins
    if k == 2:
        values = -values   # sklearn's binary value is positive for classes_[1]
    margins = np.full((n, k), np.inf)
    pair = 0
    for i in range(k):
        for j in range(i + 1, k):
            np.minimum(margins[:, i], values[:, pair], out=margins[:, i])
            np.minimum(margins[:, j], -values[:, pair], out=margins[:, j])
            pair += 1
    return margins


def calibrated_log_loss_score(svc, K: np.ndarray, y) -> float:
    """Minus the log-loss of ``softmax(t * class_margins)`` at its best temperature ``t``: a scorer.

    The one temperature (searched over ``e**-5 .. e**5``) makes the score
    blind to the scale of the decision values, which C changes (a small C
    gives small margins, not worse decisions), while the loss stays a smooth
    function of the features, unlike accuracy. Higher is better
    (scikit-learn's scorer convention).
    """
    from scipy.optimize import minimize_scalar
    from scipy.special import logsumexp

    margins = class_margins(svc, K)
    truth = np.searchsorted(svc.classes_, np.asarray(y, dtype=object))
    rows = np.arange(len(truth))

    def loss(log_t: float) -> float:
        z = np.exp(log_t) * margins
        return float(np.mean(logsumexp(z, axis=1) - z[rows, truth]))

    return -float(minimize_scalar(loss, bounds=(-5.0, 5.0), method="bounded").fun)


class KernelSVM:
    """Standardisation + RBF SVM whose kernels are computed by matrix products.

    scikit-learn's ``SVC(kernel='rbf')`` evaluates the kernel element by
    element, which dominates training time for 1000s of 1000-d embeddings;
    here the kernel matrix comes from one BLAS product and the SVM is an
    ``SVC(kernel='precomputed')``. Only the support vectors are kept.

    Parameters
    ----------
    C : float
        SVM regularisation.
    gamma : float
        RBF width, on standardised features: ``K = exp(-gamma * |a - b|^2)``.
    """

    def __init__(self, C: float = 1.0, gamma: float = 1.0):
        self.C, self.gamma = C, gamma

    def fit_kernel(self, Z: np.ndarray, K: np.ndarray, y, scaler) -> "KernelSVM":
        """Fit on a precomputed kernel ``K`` of the standardised features ``Z``."""
        from sklearn.svm import SVC

        self.scaler_ = scaler
        self.svc_ = SVC(kernel="precomputed", C=self.C).fit(K, y)
        self.n_fit_ = len(Z)
        self.support_vectors_ = np.asarray(Z[self.svc_.support_], dtype=np.float32)
        self.classes_ = self.svc_.classes_
        return self

    def fit(self, X: np.ndarray, y) -> "KernelSVM":
        """Fit on features ``X`` of shape ``(n, dim)``."""
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(X)
        Z = scaler.transform(X).astype(np.float32)
        return self.fit_kernel(Z, np.exp(-self.gamma * sq_distances(Z, Z)), y, scaler)

    def predict(self, X: np.ndarray, chunk: int = 2048) -> np.ndarray:
        """Labels of ``X`` ``(n, dim)``."""
        Z = self.scaler_.transform(np.asarray(X, dtype=np.float32)).astype(np.float32)
        out = []
        for start in range(0, len(Z), chunk):
            K = np.zeros((len(Z[start : start + chunk]), self.n_fit_))
            K[:, self.svc_.support_] = np.exp(
                -self.gamma * sq_distances(Z[start : start + chunk], self.support_vectors_))
            out.append(self.svc_.predict(K))
        return np.concatenate(out)


def fit_classifier(
    X: np.ndarray,
    y,
    extractors=(),
    seed: int = 0,
    n_jobs: int | None = 1,
) -> Classifier:
    """Fit standardisation + RBF SVM, choosing C and gamma by stratified cross-validation.

    The features are standardised on the whole training list, their squared
    distances computed once, and for each gamma of the grid a
    :class:`~sklearn.model_selection.GridSearchCV` over C runs on the
    precomputed kernel (so no kernel is computed twice); the pair with the
    lowest held-out calibrated log-loss (:func:`calibrated_log_loss_score`)
    is refitted on all clips.

    Parameters
    ----------
    X : np.ndarray [shape=(n_clips, dim)]
        Clip embeddings.
    y : sequence of str, length n_clips
        Training labels.
    extractors : sequence of str
        Extractor ids of the columns of ``X`` (stored with the model).
    seed : int
        Seed of the CV fold shuffling.
    n_jobs : int or None
        Parallel CV fits (scikit-learn convention).
    """
    from sklearn.preprocessing import StandardScaler

    X = np.asarray(X, dtype=np.float32)
    y = np.asarray([str(label) for label in y], dtype=object)
    if X.ndim != 2 or len(X) != len(y):
        raise ClassifierError(f"features {X.shape} do not match {len(y)} labels")
    if len(y) == 0:
        raise ClassifierError("no training clips with features")
    if not np.all(np.isfinite(X)):
        raise ClassifierError("features contain NaN or Inf")
    counts = Counter(y.tolist())
    labels = sorted(counts)
    prior = max(labels, key=lambda lab: (counts[lab], -labels.index(lab)))
    if len(labels) == 1:
        search = {"method": "single class", "n_train": len(y)}
        return Classifier(None, labels, prior, list(extractors), search)

    dim = X.shape[1]
    scaler = StandardScaler().fit(X)
    Z = scaler.transform(X).astype(np.float32)
    distances = sq_distances(Z, Z)
    n_splits = min(MAX_CV_FOLDS, min(counts.values()))
    if n_splits < 2:
        model = KernelSVM(C=1.0, gamma=1.0 / dim)
        model.fit_kernel(Z, np.exp(-model.gamma * distances), y, scaler)
        search = {"method": "defaults (a class has a single clip)", "C": 1.0,
                  "gamma": 1.0 / dim, "gamma_times_dim": 1.0, "n_train": len(y)}
        return Classifier(model, labels, prior, list(extractors), search)

    best = _search(distances, y, dim, n_splits, seed, n_jobs)
    score, accuracy, factor, C, kernel = best
    model = KernelSVM(C=float(C), gamma=factor / dim).fit_kernel(Z, kernel, y, scaler)
    search = {
        "method": f"GridSearchCV on precomputed RBF kernels, stratified {n_splits}-fold, "
                  "lowest calibrated log-loss",
        "C": float(C),
        "gamma": float(factor / dim),
        "gamma_times_dim": float(factor),
        "cv_log_loss": float(-score),
        "cv_accuracy": float(accuracy),
        "n_train": len(y),
    }
    return Classifier(model, labels, prior, list(extractors), search)


def _search(distances: np.ndarray, y: np.ndarray, dim: int, n_splits: int, seed: int,
            n_jobs: int | None) -> tuple:
    """The grid's best ``(score, cv accuracy, gamma factor, C, kernel)`` by calibrated log-loss.

    ``distances``: squared distances of the standardised training features.
    Ties go to the earlier gamma, then the smaller C.
    """
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import SVC

    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    best = None
    for factor in GAMMA_FACTORS:
        kernel = np.exp(-(factor / dim) * distances)
        grid = GridSearchCV(SVC(kernel="precomputed", decision_function_shape="ovo"),
                            {"C": list(C_GRID)}, cv=cv, n_jobs=n_jobs,
                            scoring={"loss": calibrated_log_loss_score, "accuracy": "accuracy"},
                            refit=False, error_score="raise").fit(kernel, y)
        results = grid.cv_results_
        for k, C in enumerate(results["param_C"]):
            if best is None or results["mean_test_loss"][k] > best[0]:
                best = (results["mean_test_loss"][k], results["mean_test_accuracy"][k],
                        factor, C, kernel)
    return best


def save_classifier(clf: Classifier, folder: str | os.PathLike, info: dict | None = None) -> Path:
    """Save atomically: the pickle, then the manifest that vouches for it."""
    import sklearn

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    payload = io.BytesIO()
    pickle.dump(clf.pipeline, payload, protocol=pickle.HIGHEST_PROTOCOL)
    data = payload.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    # The pickle's name carries its checksum and the manifest is replaced last,
    # so a run killed at any moment leaves the old model or the new one, whole.
    name = f"classifier-{digest[:16]}.pkl"
    atomic_write_bytes(folder / name, data)
    manifest = {
        "format": FORMAT,
        "labels": clf.labels,
        "prior": clf.prior,
        "extractors": clf.extractors,
        "search": clf.search,
        "sklearn_version": sklearn.__version__,
        "pickle": {"file": name, "sha256": digest},
        **(info or {}),
    }
    atomic_write_text(folder / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
    for stale in folder.glob("classifier-*.pkl"):
        if stale.name != name:
            stale.unlink(missing_ok=True)
    return folder


def load_classifier(folder: str | os.PathLike) -> Classifier:
    """Load a classifier saved by :func:`save_classifier`; the pickle is unpickled
    only when its bytes match the manifest's sha256 (else :class:`ClassifierError`)."""
    folder = Path(folder)
    manifest = read_manifest(folder, MANIFEST_NAME, FORMAT, ClassifierError,
                             missing="no trained model here (run Train first)")
    pipeline = pickle.loads(checked_bytes(folder, manifest.get("pickle"), ClassifierError, what="pickle"))
    return Classifier(pipeline, list(manifest["labels"]), manifest["prior"],
                      list(manifest["extractors"]), dict(manifest.get("search", {})))
