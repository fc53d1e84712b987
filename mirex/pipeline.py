"""The MIREX calls as Python functions: extract, train, classify.

Each takes a scratch folder, list files and a list of feature extractors
(see :mod:`mirex.systems`), and returns a small report. One bad clip never
stops a run: it is named in a one-line warning and in the report, training
goes on without it, and at test time it gets the training prior.

Scratch layout::

    SCRATCH/features/...            the feature store (mirex.cache)
    SCRATCH/model/<system>/         the trained classifier (mirex.classifier)
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import lists
from .cache import FeatureStore, find_stores
from .classifier import fit_classifier, load_classifier, save_classifier
from .extraction import CHUNK_CLIPS, compute_local, warn_failure

__all__ = ["FeatureTable", "RunReport", "PipelineError", "gather_features", "extract",
           "train", "classify", "model_dir"]

log = logging.getLogger(__name__)

__all__ += ["CHUNK_CLIPS"]


class PipelineError(Exception):
    """Nothing useful could be done; the message says why."""


@dataclass
class FeatureTable:
    """Features of a list of paths, row ``i`` for ``paths[i]``.

    ``X`` holds NaN rows where ``failures`` has the path's reason.
    """

    paths: list
    X: np.ndarray
    failures: dict = field(default_factory=dict)
    n_cached: int = 0
    n_extracted: int = 0
    timing: dict = field(default_factory=dict)

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of rows with features."""
        return np.array([p not in self.failures for p in self.paths], dtype=bool)


@dataclass
class RunReport:
    """What a call did, for the terminal summary and for tests."""

    n_items: int
    n_cached: int = 0
    n_extracted: int = 0
    failures: dict = field(default_factory=dict)
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def summary(self, what: str) -> str:
        timing = self.extra.get("timing") or {}
        speed = (f"; start-up {timing['startup_s']:.1f} s, then {timing['clips_per_s']:.2f} "
                 f"clips/s" if timing else "")
        return (f"{what}: {self.n_items} files, {self.n_cached} from cache, "
                f"{self.n_extracted} extracted, {len(self.failures)} failed "
                f"({self.seconds:.1f} s{speed})")


def model_dir(scratch, system: str) -> Path:
    """Folder of the trained classifier of ``system`` in ``scratch``."""
    return Path(scratch) / "model" / system


def _open_stores(scratch, create: bool, extra=()) -> list[FeatureStore]:
    scratch = Path(scratch)
    if create:
        try:
            scratch.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PipelineError(f"{scratch}: cannot create scratch folder ({exc.strerror})") from None
    if not scratch.is_dir():
        raise PipelineError(f"{scratch}: scratch folder does not exist")
    if not os.access(scratch, os.W_OK | os.X_OK):
        raise PipelineError(f"{scratch}: scratch folder is not writable")
    return find_stores(scratch, extra)


def _lookup(path, extractors, stores) -> tuple[str, list[int], dict]:
    """``(key, indices of extractors to compute, {index: cached vector})`` of one path.

    Raises ``OSError`` (file missing, a folder, unreadable).
    """
    key = next((k for k in (s.indexed_key(path) for s in stores) if k), None)
    key = key or stores[0].key(path)
    needed, found = [], {}
    for index, extractor in enumerate(extractors):
        for store in stores:
            vector = store.get(extractor.id, key)
            if vector is not None and len(vector) == extractor.dim:
                found[index] = vector
                break
        else:
            needed.append(index)
    return key, needed, found


def _lookup_all(paths, extractors, stores, n_threads: int | None = None) -> list:
    """:func:`_lookup` of each path, or the ``OSError`` it raised, in order.

    New files are hashed on ``n_threads`` threads at once (``None``: every
    core; hashlib lets go of the GIL): the first pass over a list of 30-s
    WAV files is bound by reading and hashing them, about 9 ms a file on one
    core.
    """
    from concurrent.futures import ThreadPoolExecutor

    def lookup(path):
        try:
            return _lookup(path, extractors, stores)
        except OSError as exc:
            return exc

    results = []
    with ThreadPoolExecutor(max_workers=n_threads or os.cpu_count() or 1) as pool:
        for start in range(0, len(paths), 1024):   # a bounded number of futures at a time
            results.extend(pool.map(lookup, paths[start:start + 1024]))
    return results


def _unreadable(path: str, exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"{path}: file not found"
    if isinstance(exc, IsADirectoryError):
        return f"{path}: is a folder, not an audio file"
    return f"{path}: cannot read file ({exc.strerror or exc})"


def gather_features(paths, extractors, stores, extract_missing: bool = True,
                    warn_missing: bool = False, cluster: str | None = None,
                    n_threads: int | None = None) -> FeatureTable:
    """Features of ``paths`` from the stores, extracting what is missing.

    Parameters
    ----------
    paths : sequence of str
        Audio paths; duplicates are computed once.
    extractors : list
        Feature extractors; a row is their embeddings concatenated.
    stores : list of FeatureStore
        Read in order; new entries are written to the first.
    extract_missing : bool
        Compute what no store holds (else such paths are failures).
    warn_missing : bool
        Log a warning naming how many clips were not cached (Train/Test).
    cluster : str or None
        Compute on a Dask cluster (see :func:`mirex.cluster.connect`), else here.
    n_threads : int or None
        Threads that hash new files (``None``: every core; the extractors
        bring their own bound).

    Returns
    -------
    FeatureTable
    """
    paths = list(paths)
    rows: dict[str, dict[int, np.ndarray]] = {}
    failures: dict[str, str] = {}
    todo = []
    unique = list(dict.fromkeys(paths))
    for path, found in zip(unique, _lookup_all(unique, extractors, stores, n_threads)):
        if isinstance(found, OSError):
            failures[path] = _unreadable(path, found)
            warn_failure(path, failures[path])
            continue
        key, needed, rows[path] = found
        if needed:
            todo.append((path, key, needed))
    n_cached = len(rows) - len(todo)
    if todo and not extract_missing:
        for path, _, _ in todo:
            failures[path] = f"{path}: features not in the cache"
            warn_failure(path, failures[path])
        todo = []
    if todo and warn_missing:
        log.warning("%d of %d files were not covered by the feature extraction pass; "
                    "extracting them now", len(todo), len(set(paths)))
    if cluster and todo:
        from .cluster import compute_on_cluster

        new_rows, new_failures, timing = compute_on_cluster(todo, extractors, stores[0], cluster)
    else:
        new_rows, new_failures, timing = compute_local(todo, extractors, stores[0])
    for path, vectors in new_rows.items():
        rows[path].update(vectors)
    failures.update(new_failures)
    return FeatureTable(paths, _matrix(paths, rows, failures, extractors), failures, n_cached,
                        len(todo) - sum(p in failures for p, _, _ in todo), timing)


def _matrix(paths, rows, failures, extractors) -> np.ndarray:
    """Row ``i``: the extractors' vectors of ``paths[i]`` concatenated, NaN (and a failure) if any is missing."""
    X = np.full((len(paths), sum(e.dim for e in extractors)), np.nan, np.float32)
    for i, path in enumerate(paths):
        parts = rows.get(path)
        if path in failures or parts is None or len(parts) != len(extractors):
            failures.setdefault(path, f"{path}: no features")
            continue
        X[i] = np.concatenate([parts[j] for j in range(len(extractors))])
    return X


def _run_report(table: FeatureTable, started: float, **extra) -> RunReport:
    """The report of a call that gathered ``table`` since ``started`` (monotonic seconds)."""
    return RunReport(len(set(table.paths)), table.n_cached, table.n_extracted, table.failures,
                     time.monotonic() - started, {"timing": table.timing, **extra})


def extract(scratch, list_path, extractors, feature_stores=(), cluster=None,
            n_threads: int | None = None) -> RunReport:
    """``extractFeatures.sh``: cache the embeddings of every listed file.

    ``feature_stores``: extra stores (or scratch folders holding one) read
    before computing, as in :func:`train` and :func:`classify`; ``cluster``:
    a Dask cluster address to compute on (see :mod:`mirex.cluster`);
    ``n_threads``: the bound on this process's threads (-numThreads).
    """
    started = time.monotonic()
    paths = lists.read_paths(list_path)
    stores = _open_stores(scratch, create=True, extra=feature_stores)
    table = gather_features(paths, extractors, stores, cluster=cluster, n_threads=n_threads)
    report = _run_report(table, started)
    if len(table.failures) == report.n_items:
        raise PipelineError(f"{list_path}: no file of the list could be processed")
    return report


def _looks_like_a_path_list(path: Path) -> bool:
    """Whether an existing file holds lines without a tab: a list of paths, not an output list."""
    limit = 1 << 16
    try:
        with open(path, "rb") as handle:
            head = handle.read(limit)
    except OSError:
        return False
    lines = head.splitlines()
    if len(head) == limit:
        lines = lines[:-1]          # the last line may be cut short
    return any(line.strip() and b"\t" not in line for line in lines)


def _check_output(out_path, *inputs) -> None:
    """Refuse an output list that would overwrite an input list; create its folder.

    An input is recognised as the same file as one of ``inputs``, or as an
    existing file of paths without labels (a test or extraction list: what
    ``Test.sh SCRATCH OLD_OUTPUT TESTLIST``, arguments swapped, would destroy).
    """
    out = Path(out_path)
    for given in inputs:
        if out.exists() and Path(given).exists() and os.path.samefile(out, given):
            raise PipelineError(f"{out_path}: the output list is the input list {given}; "
                                f"refusing to overwrite it (check the order of the arguments)")
    if out.is_file() and _looks_like_a_path_list(out):
        raise PipelineError(f"{out_path}: holds paths without labels, like a test list; "
                            f"refusing to overwrite it (check the order of the arguments)")
    try:
        out.resolve().parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PipelineError(f"{out_path}: cannot create the output folder "
                            f"({exc.strerror or exc})") from None


def _check_extractors(clf, extractors, folder):
    ids = [e.id for e in extractors]
    if ids != clf.extractors:
        raise PipelineError(
            f"{folder}: the model was trained on features {clf.extractors}, "
            f"but this call computes {ids} (other variant or changed weights); train again")


def train(scratch, list_path, extractors, system: str, n_jobs: int | None = 1,
          seed: int = 0, feature_stores=(), cluster=None,
          n_threads: int | None = None) -> RunReport:
    """``Train.sh``: fit the classifier on the training list, save it in scratch.

    Features come from the scratch folder's store, those of its parents and
    ``feature_stores``; what none holds is extracted (with a warning).
    """
    started = time.monotonic()
    items = lists.read_labelled(list_path)
    stores = _open_stores(scratch, create=True, extra=feature_stores)
    paths = [p for p, _ in items]
    table = gather_features(paths, extractors, stores, warn_missing=True, cluster=cluster,
                            n_threads=n_threads)
    ok = table.ok
    if not ok.any():
        raise PipelineError(f"{list_path}: no training file could be processed")
    if not ok.all():
        log.warning("training without %d file(s) that could not be processed", int((~ok).sum()))
    labels = [label for (_, label), good in zip(items, ok) if good]
    dropped = sorted({label for _, label in items} - set(labels))
    if dropped:
        log.warning("classes with no usable training file, never predicted: %s", ", ".join(dropped))
    clf = fit_classifier(table.X[ok], labels, [e.id for e in extractors], seed=seed, n_jobs=n_jobs)
    folder = model_dir(scratch, system)
    save_classifier(clf, folder, {"system": system, "train_list": os.path.abspath(list_path),
                                  "extractor_info": [e.info() for e in extractors]})
    return _run_report(table, started, search=clf.search, model=str(folder))


def classify(scratch, list_path, out_path, extractors, system: str,
             feature_stores=(), cluster=None, n_threads: int | None = None) -> RunReport:
    """``Test.sh`` / ``Classify.sh``: write one prediction line per test line."""
    started = time.monotonic()
    paths = lists.read_paths(list_path)
    folder = model_dir(scratch, system)
    clf = load_classifier(folder)
    _check_extractors(clf, extractors, folder)
    _check_output(out_path, list_path)
    stores = _open_stores(scratch, create=False, extra=feature_stores)
    table = gather_features(paths, extractors, stores, warn_missing=True, cluster=cluster,
                            n_threads=n_threads)
    ok = table.ok
    predictions = np.array([clf.prior] * len(paths), dtype=object)
    if ok.any():
        predictions[ok] = clf.predict(table.X[ok])
    if not ok.all():
        log.warning("%d test line(s) without features get the training prior %r",
                    int((~ok).sum()), clf.prior)
    lists.write_labelled(out_path, zip(paths, predictions))
    report = _run_report(table, started, n_lines=len(paths))
    if not ok.any():
        raise PipelineError(f"{list_path}: no test file could be processed "
                            f"(all {len(paths)} lines got the prior '{clf.prior}')")
    return report
