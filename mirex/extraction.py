"""Computing embeddings: each clip decoded once per input spec, embedded by every extractor.

The unit of work is a *chunk* of clips, items ``(path, key, [extractor
indices])``: :func:`decode_chunk` then :func:`embed_chunk`. :func:`compute_local`
runs the chunks in this process (decoding the next chunk while the current
one is embedded); :mod:`mirex.cluster` runs the same two functions on Dask
workers. Results are ``rows[path][extractor index] -> vector`` and
``failures[path] -> reason``; entries go to the feature store as they are made.
"""

from __future__ import annotations

import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from .audio import AudioError

__all__ = ["CHUNK_CLIPS", "Progress", "describe", "decode_chunk", "embed_chunk", "write_entries",
           "load_extractors", "compute_local", "warn_failure"]

log = logging.getLogger(__name__)

#: Clips per chunk: their segments share inference batches, and on a cluster a
#: chunk is one task (8: ~2 s of work per task on 2 cores, so the scheduler's
#: few milliseconds per task stay under 1 %).
CHUNK_CLIPS = 8
#: Seconds between progress lines when the output is not a terminal.
PROGRESS_EVERY = 10.0


class Progress:
    """Clips done / total, clips per second and ETA: a tqdm bar on a terminal, else log lines."""

    def __init__(self, total: int, label: str = "extracting"):
        self.total, self.label, self.done = total, label, 0
        self.started = self._last = time.monotonic()
        self._bar = None
        if sys.stderr is not None and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=label, unit="clip", dynamic_ncols=True,
                             file=sys.stderr)

    def update(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last >= PROGRESS_EVERY or self.done == self.total:
            rate = self.done / max(now - self.started, 1e-9)
            eta = (self.total - self.done) / rate if rate else float("inf")
            log.info("%s: %d/%d clips (%.2f clips/s, %.0f s left)", self.label, self.done,
                     self.total, rate, eta)
            self._last = now

    def close(self) -> float:
        """Stop the bar; the clips per second since the start."""
        if self._bar is not None:
            self._bar.close()
        return self.done / max(time.monotonic() - self.started, 1e-9)


def warn_failure(path: str, reason: str) -> None:
    log.warning("%s", reason if reason.startswith(path) else f"{path}: {reason}")


def describe(extractors, store) -> None:
    """Record in the store what each extractor id means (for people reading it)."""
    for extractor in extractors:
        try:
            store.describe(extractor.id, extractor.info())
        except OSError as exc:
            log.warning("%s: cannot write to the feature store (%s); features are kept in "
                        "memory only", store.root, exc.strerror or exc)
            return


def load_extractors(extractors, todo) -> float:
    """Build the networks the items of ``todo`` need; the seconds it took (start-up)."""
    started = time.monotonic()
    for index in sorted({i for _, _, needed in todo for i in needed}):
        extractors[index].load()
    return time.monotonic() - started


def decode_chunk(chunk, extractors) -> list:
    """Each item's clip decoded once per input spec it needs (``{spec: clip}``), or its AudioError."""
    specs: dict[tuple, list[int]] = {}
    for index, extractor in enumerate(extractors):
        specs.setdefault(extractor.input_spec, []).append(index)

    def decode(item):
        path, _, needed = item
        out = {}
        for spec, members in specs.items():
            if any(m in needed for m in members):
                try:
                    out[spec] = extractors[members[0]].prepare(path)
                except AudioError as exc:
                    return exc
                except (OSError, ValueError, MemoryError) as exc:
                    return AudioError(path, f"cannot decode ({type(exc).__name__}: {exc})")
        return out

    return [decode(item) for item in chunk]


def embed_chunk(chunk, decoded, extractors, store=None) -> tuple[dict, dict]:
    """Embed one chunk's decoded clips with every extractor that needs them.

    Returns ``(rows, failures)``; each vector is also written to ``store``
    when one is given (:func:`write_entries`).
    """
    rows: dict[str, dict[int, object]] = {}
    failures: dict[str, str] = {}
    good = []
    for item, result in zip(chunk, decoded):
        if isinstance(result, AudioError):
            failures[item[0]] = str(result)
        else:
            good.append((item, result))
    for index, extractor in enumerate(extractors):
        members = [(item, result) for item, result in good if index in item[2]]
        if not members:
            continue
        vectors = extractor.embed([result[extractor.input_spec] for _, result in members])
        for ((path, _, _), _), vector in zip(members, vectors):
            rows.setdefault(path, {})[index] = vector
    if store is not None:
        write_entries(chunk, rows, extractors, store)
    return rows, failures


def write_entries(chunk, rows: dict, extractors, store) -> None:
    """Write a chunk's vectors (``rows[path][extractor index]``) to ``store``.

    A write that fails is logged and the vector kept in ``rows``.
    """
    for path, key, _ in chunk:
        for index, vector in rows.get(path, {}).items():
            try:
                store.put(extractors[index].id, key, vector)
            except OSError as exc:
                log.warning("%s: cannot write cache entry (%s); keeping it in memory",
                            store.root, exc.strerror or exc)


def compute_local(todo, extractors, store) -> tuple[dict, dict, dict]:
    """Compute every item of ``todo`` in this process: ``(rows, failures, timing)``.

    ``timing``: ``startup_s`` (loading the networks) and ``clips_per_s``
    (after it). Decoding of the next chunk and the store writes of the
    previous one (each entry is fsynced: milliseconds of waiting on the disk)
    overlap with inference of the current one (one decoder thread, one
    writer thread).
    """
    rows, failures = {}, {}
    if not todo:
        return rows, failures, {}
    describe(extractors, store)
    startup = load_extractors(extractors, todo)
    log.info("networks ready in %.1f s", startup)
    chunks = [todo[i : i + CHUNK_CLIPS] for i in range(0, len(todo), CHUNK_CLIPS)]
    progress = Progress(len(todo))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as pool, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="write") as writer:
        pending = pool.submit(decode_chunk, chunks[0], extractors)
        written = None
        for number, chunk in enumerate(chunks):
            decoded = pending.result()
            if number + 1 < len(chunks):
                pending = pool.submit(decode_chunk, chunks[number + 1], extractors)
            chunk_rows, chunk_failures = embed_chunk(chunk, decoded, extractors)
            if written is not None:
                written.result()   # one chunk's writes in flight at a time
            if store is not None:
                written = writer.submit(write_entries, chunk, chunk_rows, extractors, store)
            for path, reason in chunk_failures.items():
                warn_failure(path, reason)
            rows.update(chunk_rows)
            failures.update(chunk_failures)
            progress.update(len(chunk))
        if written is not None:
            written.result()
    return rows, failures, {"startup_s": round(startup, 2),
                            "clips_per_s": round(progress.close(), 3)}
