"""Steps with dependencies, run at most ``parallel`` at a time, resumable.

Conventions
-----------
* A :class:`Node` is a step (:class:`~mirex.evaluation.runner.StepSpec`), the
  ids of the nodes it runs after, a **fingerprint** of its inputs (any text
  that changes when an input changes: checksums of lists, sizes and mtimes of
  code and audio) and the files it must leave behind.
* A node runs once every node it runs after is done; if one of those did not
  end ``ok``, it is not run and ends ``skipped``.
* **Resume**: after a node ran, a small JSON record (its fingerprint, a run id,
  its result, the size and mtime of its outputs) is written atomically next to
  the logs. A later call reuses the result instead of running the node when the
  record says ``ok``, the fingerprint (which includes the run ids of the nodes
  it runs after) is the same and the outputs are unchanged. A node interrupted
  mid-run has no record and runs again. A node's outputs are deleted before it runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import uuid
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from ..fileio import atomic_write_text
from .runner import StepResult, StepSpec, kill_running, run_step

__all__ = ["Node", "Outcome", "run_nodes", "fingerprint_files", "fingerprint_tree"]


@dataclass(frozen=True)
class Node:
    """A step in the graph; ``record`` is where its resume record goes."""

    id: str
    spec: StepSpec
    record: str
    inputs: str = ""
    after: tuple = ()
    outputs: tuple = ()


@dataclass(frozen=True)
class Outcome:
    """A node's result, the id of the run that made it, and whether it was reused."""

    result: StepResult
    run_id: str = ""
    resumed: bool = False


def fingerprint_files(paths) -> str:
    """Checksum of the contents of small files (lists)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path).encode("utf-8", "surrogateescape") + b"\0")
        digest.update(Path(path).read_bytes() + b"\0")
    return digest.hexdigest()


def _stat(path) -> list:
    try:
        st = os.stat(path)
    except OSError:
        return [str(path), None]
    return [str(path), st.st_size, st.st_mtime_ns]


def fingerprint_tree(paths) -> str:
    """Checksum of the names, sizes and mtimes of files, and of every file under folders.

    ``__pycache__`` folders are left out: a Python submission writes them on its first run.
    """
    digest = hashlib.sha256()
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__")
                for name in sorted(files):
                    digest.update(json.dumps(_stat(os.path.join(root, name))).encode())
        else:
            digest.update(json.dumps(_stat(path)).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _fingerprint(node: Node, done: dict) -> str:
    spec = node.spec
    text = json.dumps([list(map(str, spec.argv)), spec.cwd, node.inputs,
                       [done[a].run_id for a in node.after]])
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _reusable(node: Node, fingerprint: str) -> Outcome | None:
    try:
        record = json.loads(Path(node.record).read_text(encoding="utf-8"))
        result = StepResult(**record["result"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if (result.status != "ok" or record.get("fingerprint") != fingerprint
            or record.get("outputs") != [_stat(p) for p in node.outputs]):
        return None
    return Outcome(result, record["run_id"], resumed=True)


def _save(node: Node, fingerprint: str, outcome: Outcome) -> None:
    Path(node.record).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(node.record, json.dumps({
        "id": node.id, "fingerprint": fingerprint, "run_id": outcome.run_id,
        "result": dataclasses.asdict(outcome.result),
        "outputs": [_stat(p) for p in node.outputs]}, indent=1))


def _start(node: Node, done: dict, resume: bool):
    """``(outcome, None)`` for a node that need not run, else ``(None, fingerprint)``."""
    blocked = [a for a in node.after if done[a].result.status != "ok"]
    if blocked:
        first = blocked[0].rsplit("/", 1)[-1]
        return Outcome(StepResult("skipped", f"not run: {first} did not succeed")), None
    fingerprint = _fingerprint(node, done)
    if resume:
        reused = _reusable(node, fingerprint)
        if reused:
            return reused, None
    for path in (node.record, *node.outputs):   # no stale output is ever scored
        Path(path).unlink(missing_ok=True)
    return None, fingerprint


def run_nodes(nodes, parallel: int = 1, resume: bool = True, run=run_step) -> dict[str, Outcome]:
    """Run a graph of nodes; ``{node id: Outcome}`` in the order given.

    ``run`` maps a :class:`StepSpec` to a :class:`StepResult` (default
    :func:`~mirex.evaluation.runner.run_step`); it runs in a pool of
    ``parallel`` threads. On an interruption, the running steps are killed.
    """
    pending = {node.id: node for node in nodes}
    unknown = {a for node in nodes for a in node.after} - pending.keys()
    if unknown:
        raise ValueError(f"steps run after unknown steps: {sorted(unknown)}")
    done: dict[str, Outcome] = {}
    running: dict = {}
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        try:
            while pending or running:
                ready = [n for n in pending.values() if all(a in done for a in n.after)]
                for node in ready:
                    del pending[node.id]
                    outcome, fingerprint = _start(node, done, resume)
                    if outcome:
                        done[node.id] = outcome
                    else:
                        running[pool.submit(run, node.spec)] = (node, fingerprint)
                if not running:
                    if pending and not ready:
                        raise ValueError(f"steps wait on each other: {sorted(pending)}")
                    continue
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    node, fingerprint = running.pop(future)
                    done[node.id] = Outcome(future.result(), uuid.uuid4().hex)
                    _save(node, fingerprint, done[node.id])
        except BaseException:
            kill_running()
            raise
    return {node.id: done[node.id] for node in nodes}
