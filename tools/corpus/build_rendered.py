"""Adding the rendered music to a corpus folder: plan, render, record (``--rendered-hours``).

The training split then holds the Debian game music (domain "game") and
rendered domains of :data:`.plan.DOMAINS`, each under half of the training
hours.  Runs under the corpus lock, after the game packages.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Callable

from .build import _finalize, _load_manifest, _locked, _now
from .plan import DOMAIN_CAP, RenderJob, domain_targets, make_plan, plan_hours
from .render import RENDER_VERSION, render_jobs
from .soundfonts import SOUNDFONTS
from .synth import SoundfontSynth
from .toolbox import Toolbox

__all__ = ["build_rendered", "rendered_hours_needed"]

log = logging.getLogger("tools.corpus")


def rendered_hours_needed(game_hours: float, rendered_hours: float, min_total_hours: float,
                          cap: float = DOMAIN_CAP) -> float:
    """Hours to render: at least ``rendered_hours``, enough to reach ``min_total_hours``, and
    enough that the game music stays at or under ``cap`` of the total."""
    return max(rendered_hours, min_total_hours - game_hours, game_hours * (1 - cap) / cap)


def _game_train_hours(manifest: dict) -> float:
    return sum(t["duration_s"] for e in manifest["packages"].values()
               if e.get("kind") != "rendered" and e.get("split") == "train"
               for t in e.get("tracks", []) if not t.get("duplicate_of")) / 3600.0


def build_rendered(root: str | Path, rendered_hours: float = 30.0, min_total_hours: float = 40.0,
                   seed: int = 0, *, toolbox: Toolbox | None = None,
                   synth: SoundfontSynth | None = None,
                   fetch: Callable | None = None) -> dict:
    """Render the planned music into ``root`` and record it; returns the manifest.

    Parameters
    ----------
    root : path-like
        The corpus folder (``cache/corpus``).
    rendered_hours, min_total_hours : float
        Hours of rendered music (raised by :func:`rendered_hours_needed`).
    seed : int
        Plan seed.
    toolbox, synth, fetch
        The unpacked programs and soundfonts (default ``ROOT/.render-tools``,
        fetched with apt or ``fetch``) and the synthesiser; tests pass their own.

    Notes
    -----
    Tracks recorded for jobs that the current plan no longer holds (fewer
    hours asked, another seed) are deleted, so that the domain caps hold.
    """
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    toolbox = toolbox or Toolbox(root / ".render-tools", fetch)
    with _locked(root):
        manifest = _load_manifest(root)
        game = _game_train_hours(manifest)
        hours = rendered_hours_needed(game, rendered_hours, min_total_hours)
        paths = toolbox.soundfonts()
        if not paths:
            raise RuntimeError("no soundfont could be had; nothing rendered")
        weights = {f.name: f.weight for f in SOUNDFONTS if f.name in paths}
        jobs = make_plan(domain_targets(hours), weights, seed)
        nominal = plan_hours(jobs)
        log.info("render plan: %.1f h in %d tracks (%s); game music %.1f h", sum(nominal.values()),
                 len(jobs), ", ".join(f"{d} {h:.1f} h" for d, h in nominal.items()), game)
        state = manifest.setdefault("rendered", {})
        failed = state.setdefault("failed", {})
        done = _recorded(root, manifest, jobs)
        order = [j.key for j in jobs]

        def save() -> None:
            _store(manifest, jobs, done)
            _finalize(root, manifest, [])

        stats = render_jobs(root, jobs, done, toolbox, paths, save, synth, failed=failed)
        state.update({"version": RENDER_VERSION, "seed": seed, "hours_requested": rendered_hours,
                      "min_total_hours": min_total_hours, "hours_planned": round(hours, 3),
                      "planned_tracks": len(order), "nominal_hours": {
                          d: round(h, 3) for d, h in nominal.items()},
                      "tool_versions": dict(toolbox.versions), "last_run": {**stats, "at": _now()}})
        log.info("rendered %d tracks (%.2f h of audio) in %.0f s: %sx real time",
                 stats["rendered"], stats["audio_s"] / 3600, stats["wall_s"], stats["x_realtime"])
        save()
        return manifest


def _recorded(root: Path, manifest: dict, jobs: list[RenderJob]) -> dict[str, dict]:
    """Records of planned jobs of this render version whose file is present and whole.

    Files of jobs the plan no longer holds are deleted (and half-written files).
    """
    keys = {j.key for j in jobs}
    for part in root.glob("train/rendered-*/*/.part-*"):     # half-written by an interrupted run
        part.unlink()
    done: dict[str, dict] = {}
    for name, entry in manifest["packages"].items():
        if entry.get("kind") != "rendered":
            continue
        for t in entry.get("tracks", []):
            p = root / t["path"]
            current = t.get("job", {}).get("render_version") == RENDER_VERSION
            if t.get("key") in keys and current and p.is_file() and p.stat().st_size == t["bytes"]:
                done[t["key"]] = t
            elif t.get("key") not in keys:
                log.info("%s: not in the render plan any more, removed", t["path"])
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
    return done


def _store(manifest: dict, jobs: list[RenderJob], done: dict[str, dict]) -> None:
    """Put the records into ``rendered-<domain>`` entries, in plan order."""
    packages = manifest["packages"]
    for name in [n for n, e in packages.items() if e.get("kind") == "rendered"]:
        del packages[name]
    for job in jobs:
        rec = done.get(job.key)
        if rec is None:
            continue
        entry = packages.setdefault(f"rendered-{job.domain}", {
            "split": "train", "status": "ok", "kind": "rendered", "domain": job.domain,
            "version": f"render-{RENDER_VERSION}", "tracks": []})
        entry["tracks"].append(rec)
