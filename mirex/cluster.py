"""Extraction on a Dask cluster: the same chunks as a local run, one task each.

Addresses (``--cluster`` / ``MIREX_CLUSTER``):

``local:N``
    a LocalCluster of ``N`` single-threaded worker processes on this machine;
``tcp://HOST:PORT``
    a running scheduler (``dask scheduler`` by hand, ``dask ssh`` on several
    hosts, or a batch job), joined within :data:`CONNECT_TIMEOUT` seconds;
``jobqueue:FILE``
    a dask-jobqueue cluster (SLURM, PBS, SGE, ...) described by a YAML file
    (``kind: slurm`` plus the keyword arguments of its cluster class and
    ``workers: N``); needs ``pip install 'mirex-lpnkk[cluster]'``.

Each task decodes and embeds one chunk of clips (:mod:`mirex.extraction`)
with extractors kept loaded in the worker between tasks (one network per
worker process, keyed by extractor id). Where every worker sees the feature
store and the audio paths (a shared file system: checked once per run), the
workers write the entries themselves (atomic writes; an entry written twice
by a retried task is the same file) and return only failures; otherwise the
driver sends each clip's bytes and writes the entries it gets back. Clips
already in the store are never sent; a task whose worker dies is retried on
another (``retries``); the driver writes the path index as in a local run.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import tempfile
import time
from pathlib import Path

from .extraction import CHUNK_CLIPS, Progress, decode_chunk, describe, embed_chunk, warn_failure

__all__ = ["ClusterError", "connect", "session", "compute_on_cluster", "step_runner", "CONNECT_TIMEOUT"]

log = logging.getLogger(__name__)

#: Seconds to reach a scheduler before giving up.
CONNECT_TIMEOUT = 5
#: Times a task is retried when its worker dies.
RETRIES = 3
#: Tasks in flight per worker: enough to keep each busy, few enough that the
#: driver never holds the whole list's tasks (or, without a shared file
#: system, its audio) at once.
IN_FLIGHT_PER_WORKER = 4
#: Extractors loaded in this (worker) process, by id.
_LOADED: dict[str, object] = {}


class ClusterError(RuntimeError):
    """A cluster that cannot be started or reached; the message says which and why."""


def _jobqueue(spec_file: str):
    import yaml

    try:
        import dask_jobqueue
    except ImportError:
        raise ClusterError("jobqueue clusters need dask-jobqueue: "
                           "pip install 'mirex-lpnkk[cluster]'") from None
    try:
        spec = yaml.safe_load(Path(spec_file).read_text(encoding="utf-8")) or {}
        kind, workers = spec.pop("kind"), int(spec.pop("workers", 1))
        cluster = getattr(dask_jobqueue, f"{kind.upper()}Cluster")(**spec)
    except (OSError, KeyError, AttributeError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise ClusterError(f"{spec_file}: not a usable jobqueue description "
                           f"({type(exc).__name__}: {exc})") from None
    cluster.scale(workers)
    return cluster


@contextlib.contextmanager
def session(address: str):
    """``with session(address) as client``: connected, and on leaving, the client closed and
    the cluster shut down too when this call started it (``local:``, ``jobqueue:``)."""
    client = connect(address)
    try:
        yield client
    finally:
        client.close()
        if client.cluster is not None:
            client.cluster.close()


def connect(address: str):
    """A ``distributed.Client`` for ``address`` (see the module docstring); raises ClusterError."""
    from distributed import Client, LocalCluster

    try:
        if address.startswith("local:"):
            n = int(address.split(":", 1)[1])
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   dashboard_address=":0")
            return Client(cluster)
        if address.startswith("jobqueue:"):
            return Client(_jobqueue(address.split(":", 1)[1]))
        return Client(address, timeout=CONNECT_TIMEOUT)
    except ClusterError:
        raise
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"cluster {address!r}: cannot connect ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else 'no answer'})") from None


def _worker_extractors(extractors) -> list:
    """The worker's loaded copy of each extractor (loaded on first use, kept for later tasks)."""
    for extractor in extractors:
        if extractor.id not in _LOADED:
            extractor.load()
            _LOADED[extractor.id] = extractor
    return [_LOADED[e.id] for e in extractors]


def _sees(store_root: str, paths: list[str]) -> bool:
    return os.path.isdir(store_root) and all(os.path.exists(p) for p in paths)


def run_chunk(chunk, extractors, store_root: str | None, payloads: list | None = None):
    """One task: decode and embed a chunk; ``(rows, failures)`` as :func:`embed_chunk`'s.

    ``store_root``: the shared store the worker writes the entries to. Else
    ``payloads`` holds each clip's bytes, decoded from a private temporary
    copy (messages name the original path), and the driver writes the entries.
    """
    from .cache import FeatureStore

    extractors = _worker_extractors(extractors)
    if store_root is not None:
        decoded = decode_chunk(chunk, extractors)
        return embed_chunk(chunk, decoded, extractors, FeatureStore(store_root))
    with tempfile.TemporaryDirectory(prefix="mirex-clip-") as tmp:
        names, local = {}, []
        for i, ((path, key, needed), data) in enumerate(zip(chunk, payloads)):
            copy = str(Path(tmp) / f"{i}{Path(path).suffix}")
            Path(copy).write_bytes(data)
            names[copy] = path
            local.append((copy, key, needed))
        rows, failures = embed_chunk(local, decode_chunk(local, extractors), extractors)
    return ({names[c]: vectors for c, vectors in rows.items()},
            {names[c]: reason.replace(c, names[c]) for c, reason in failures.items()})


def _payload(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def compute_on_cluster(todo, extractors, store, address: str) -> tuple[dict, dict, dict]:
    """Compute every item of ``todo`` on the cluster at ``address``: ``(rows, failures, timing)``.

    As :func:`mirex.extraction.compute_local`: the same entries, ids and
    vectors, whoever writes them.
    """
    describe(extractors, store)
    started = time.monotonic()
    with session(address) as client:
        if client.dashboard_link:
            log.info("Dask dashboard: %s", client.dashboard_link)
        chunks = [todo[i : i + CHUNK_CLIPS] for i in range(0, len(todo), CHUNK_CLIPS)]
        sample = [p for p, _, _ in todo[:3]]
        shared = all(client.run(_sees, str(store.root), sample).values())
        n_workers = len(client.scheduler_info()["workers"])
        log.info("cluster %s: %d workers, %s", address, n_workers,
                 "shared file system: workers write the store" if shared else
                 "no shared file system: audio and vectors travel through Dask")

        def submit(chunk):
            return client.submit(run_chunk, chunk, extractors, str(store.root) if shared else None,
                                 None if shared else [_payload(p) for p, _, _ in chunk],
                                 retries=RETRIES, pure=False)

        startup = time.monotonic() - started
        keys = {path: key for path, key, _ in todo}
        rows, failures = _collect(chunks, submit, IN_FLIGHT_PER_WORKER * max(1, n_workers),
                                  keys, extractors, None if shared else store)
        steady = time.monotonic() - started - startup
    return rows, failures, {"startup_s": round(startup, 2),
                            "clips_per_s": round(len(todo) / max(steady, 1e-9), 3)}


def _collect(chunks, submit, window: int, keys, extractors, store) -> tuple[dict, dict]:
    """Run the chunks with at most ``window`` tasks in flight; gather results as they come.

    A bounded window keeps the driver's memory flat (in the no-shared-file-system
    mode each task carries its clips' bytes) and the scheduler's queue short.
    Returned vectors are written to ``store`` if given.
    """
    from distributed import as_completed

    waiting, done, sizes = iter(chunks), as_completed(with_results=True), {}

    def top_up(n: int) -> None:
        for chunk in itertools.islice(waiting, n):
            future = submit(chunk)
            sizes[future.key] = len(chunk)
            done.add(future)

    rows, failures = {}, {}
    progress = Progress(len(keys))
    top_up(window)
    for future, (chunk_rows, chunk_failures) in done:
        top_up(1)
        for path, reason in chunk_failures.items():
            warn_failure(path, reason)
        failures.update(chunk_failures)
        rows.update(chunk_rows)
        if store is not None:
            for path, vectors in chunk_rows.items():
                for index, vector in vectors.items():
                    store.put(extractors[index].id, keys[path], vector)
        progress.update(sizes[future.key])
    progress.close()
    return rows, failures


def step_runner(client):
    """``run(spec) -> StepResult`` that runs an evaluation step on a worker of ``client``.

    For :func:`mirex.evaluate.evaluate`: its folders must be on a file system
    the workers share; each step is a task, its limits and measurements those
    of :func:`mirex.evaluation.runner.run_step` on the worker.
    """
    from .evaluation.runner import run_step

    def run(spec):
        return client.submit(run_step, spec, pure=False).result()

    return run
