"""One step of a submission, run as a measured, limited child process.

Conventions
-----------
* A **step** is one call of a submission's script (``extractFeatures.sh``,
  ``Train.sh``, ``Classify.sh`` / ``Test.sh`` or ``TrainAndClassify.sh``),
  described by a :class:`StepSpec`: an argument vector (never a shell
  string), a working folder, a log file, an environment and the limits.
* The child starts a **new session**; its **process tree** is every process
  of that session plus every descendant of the child (found in ``/proc``),
  so a script's sub-processes are measured, limited and killed with it.
* **Wall time** is seconds from start to exit; **CPU time** is user + system
  seconds of the child and of every descendant it waited for (``wait4``);
  **peak RSS** is the largest sum of resident memory over the tree seen by the
  sampler (at the start, after 10 ms, then less and less often, up to every
  250 ms), in MiB.
  ``ru_maxrss`` is not used: it counts the pages of the forking parent.
* **Limits**: a step running past ``timeout`` seconds, or whose tree holds
  more than ``memory_mb`` MiB resident, is killed (SIGKILL to the whole tree).
  Resident memory is used instead of ``RLIMIT_AS`` because address space is
  not memory: TensorFlow and JIT runtimes reserve many GiB they never touch.
* **Status**: ``ok`` (exit 0), ``failed`` (non-zero exit, killed by a signal,
  over the memory limit, or could not start) or ``timeout``, with a reason.

:func:`run_step` is a plain function of a picklable spec, so that a pool of
threads, processes or cluster workers can run steps alike.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["StepSpec", "StepResult", "run_step", "kill_running"]

_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20
#: Sessions of the steps running in this process (see :func:`kill_running`).
_RUNNING: set[int] = set()


@dataclass(frozen=True)
class StepSpec:
    """What to run: ``argv`` in ``cwd``, output to ``log``, within the limits (None: none)."""

    argv: tuple
    cwd: str
    log: str
    env: dict | None = None
    timeout: float | None = None
    memory_mb: float | None = None


@dataclass(frozen=True)
class StepResult:
    """How a step went: ``status`` (ok | failed | timeout), why, and what it used."""

    status: str
    reason: str = ""
    returncode: int | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0


def _proc_table() -> dict[int, tuple[int, int, int]]:
    """``pid -> (parent pid, session id, resident pages)`` of every readable process."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                rest = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        table[int(name)] = (int(rest[1]), int(rest[3]), int(rest[21]))
    return table


def _tree(root: int, table: dict) -> set[int]:
    """The session of ``root`` and every descendant of ``root`` (it may have left the session)."""
    members = {pid for pid, (_, sid, _) in table.items() if sid == root}
    members.add(root)
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in members:
                members.add(child)
                stack.append(child)
    return members & table.keys()


def _kill_tree(root: int) -> None:
    try:
        os.killpg(root, signal.SIGKILL)
    except OSError:
        pass
    table = _proc_table()
    for pid in _tree(root, table) - {os.getpid()}:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


class _Watch(threading.Thread):
    """Samples the tree's memory, and kills it past the time or memory limit."""

    def __init__(self, pid: int, timeout, memory_mb):
        super().__init__(daemon=True)
        self.pid, self.timeout, self.memory_mb = pid, timeout, memory_mb
        self.peak_mb, self.killed = 0.0, None
        self.started = time.monotonic()
        self._done = threading.Event()

    def run(self) -> None:
        period = 0.0   # the first sample at once (the child has exec'd), then after 10 ms, ...
        while not self._done.wait(period):
            period = min(max(period * 2, 0.01), 0.25)   # short steps sampled often, long ones cheaply
            table = _proc_table()
            rss = sum(table[p][2] for p in _tree(self.pid, table)) * _PAGE_MB
            self.peak_mb = max(self.peak_mb, rss)
            if self.memory_mb and rss > self.memory_mb:
                self.killed = f"memory limit of {self.memory_mb:g} MB exceeded ({rss:.0f} MB resident)"
            elif self.timeout and time.monotonic() - self.started > self.timeout:
                self.killed = f"time limit of {self.timeout:g} s exceeded"
            if self.killed:
                _kill_tree(self.pid)
                return

    def stop(self) -> None:
        self._done.set()
        self.join()


def _outcome(returncode: int, killed: str | None) -> tuple[str, str]:
    if killed:
        return ("timeout" if killed.startswith("time") else "failed"), killed + "; killed"
    if returncode < 0:
        return "failed", f"killed by signal {-returncode}"
    if returncode:
        return "failed", f"exit status {returncode}"
    return "ok", ""


def run_step(spec: StepSpec) -> StepResult:
    """Run one step and measure it; never raises for the child's sake.

    The log holds the command line, the child's stdout and stderr (merged, in
    order) and a last line with the status and the figures.
    """
    Path(spec.log).parent.mkdir(parents=True, exist_ok=True)
    with open(spec.log, "w", encoding="utf-8") as handle:
        handle.write("$ " + shlex.join(map(str, spec.argv)) + "\n")
        handle.flush()
        started = time.monotonic()
        try:
            proc = subprocess.Popen(list(map(str, spec.argv)), cwd=spec.cwd, env=spec.env,
                                    stdin=subprocess.DEVNULL, stdout=handle,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            handle.write(f"[mirex] could not start: {exc}\n")
            return StepResult("failed", f"could not start: {exc.strerror or exc}")
        _RUNNING.add(proc.pid)
        watch = _Watch(proc.pid, spec.timeout, spec.memory_mb)
        watch.start()
        try:
            _, wait_status, usage = os.wait4(proc.pid, 0)
        finally:
            wall = time.monotonic() - started
            watch.stop()
            _RUNNING.discard(proc.pid)
        proc.returncode = os.waitstatus_to_exitcode(wait_status)
        try:   # what the script left running in the background (orphans keep its group)
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        status, reason = _outcome(proc.returncode, watch.killed)
        result = StepResult(status, reason, proc.returncode, round(wall, 4),
                            round(usage.ru_utime + usage.ru_stime, 4),
                            round(watch.peak_mb, 1))
        handle.write(f"[mirex] {status}{': ' + reason if reason else ''} (wall {result.wall_s:.2f} s, "
                     f"cpu {result.cpu_s:.2f} s, peak {result.peak_rss_mb:.0f} MB)\n")
    return result


def kill_running() -> None:
    """Kill the tree of every step running in this process (on interruption)."""
    for pid in list(_RUNNING):
        _kill_tree(pid)
