"""The render plan: how many hours of each domain, and the exact jobs that make them.

A job names everything its audio depends on (domain, source, seed, nominal
length, soundfont, settings), and its ``key`` is a hash of that, so a
rerun finds what is done.  Jobs of a domain are drawn one after another
from seeds ``(plan_seed, domain, index)``: a plan for more hours starts
with the jobs of a plan for fewer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Mapping, Sequence

import numpy as np

from .charts import GROOVES
from .toolbox import ABC_TUNES

__all__ = ["DOMAINS", "DOMAIN_CAP", "MIN_SECONDS", "MAX_SECONDS", "SOURCE_MIX", "RenderJob",
           "domain_targets", "domain_shares", "make_plan", "plan_hours"]

#: Rendered domains; the Debian game music is the domain "game".
DOMAINS = ("classical", "choral", "folk", "jazz", "popular", "world")
#: No domain may hold more than this share of the training hours.
DOMAIN_CAP = 0.5
#: Shortest and longest rendered track, in seconds.
MIN_SECONDS, MAX_SECONDS = 30.0, 240.0
#: Where each domain's music comes from: (kind, source names, share of jobs).
#: kind "composer": :mod:`.compose`; "mma": MMA grooves on generated chord
#: charts; "abc": abcmidi's example tunes (rendered twice each, first).
SOURCE_MIX: dict[str, tuple[tuple[str, tuple[str, ...], float], ...]] = {
    "classical": (("composer", ("classical",), 1.0),),
    "choral": (("composer", ("chorale",), 1.0),),
    "folk": (("composer", ("folk",), 0.7), ("mma", tuple(g for g, *_ in GROOVES["folk"]), 0.3)),
    "jazz": (("mma", tuple(g for g, *_ in GROOVES["jazz"]), 1.0),),
    "popular": (("mma", tuple(g for g, *_ in GROOVES["popular"]), 1.0),),
    "world": (("composer", ("world",), 0.85), ("mma", tuple(g for g, *_ in GROOVES["world"]), 0.15)),
}
_ABC_RENDERINGS = 2


@dataclass(frozen=True)
class RenderJob:
    """One rendered track: what to play, how, and with which soundfont."""

    domain: str
    kind: str
    source: str
    seed: int
    seconds: float
    soundfont: str
    settings: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        """sha1 of the job's fields: equal keys, equal audio."""
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()

    @property
    def path(self) -> str:
        """Where the track goes, relative to the corpus root."""
        slug = "".join(c if c.isalnum() else "-" for c in self.source.lower()).strip("-")
        return f"train/rendered-{self.domain}/{self.kind}-{slug}/{self.seed}-{self.key[:10]}.flac"


def domain_targets(rendered_hours: float, weights: Mapping[str, float] | None = None) -> dict:
    """Hours per rendered domain: ``rendered_hours`` shared in proportion to ``weights``.

    Default weights are equal over :data:`DOMAINS`.
    """
    weights = dict(weights or {d: 1.0 for d in DOMAINS})
    total = sum(weights.values())
    return {d: rendered_hours * w / total for d, w in weights.items() if w > 0}


def domain_shares(hours: Mapping[str, float]) -> dict[str, float]:
    """Each domain's share of all the hours (0-1)."""
    total = sum(hours.values())
    return {d: (h / total if total else 0.0) for d, h in hours.items()}


def _settings(rng: np.random.Generator) -> dict:
    """Render settings drawn for one job (tempo, key, programs, room, level)."""
    return {"tempo_factor": round(float(rng.uniform(0.88, 1.12)), 3),
            "transpose": int(rng.integers(-3, 4)),
            "swap_programs": bool(rng.random() < 0.35),
            "reverb_rt60": round(float(rng.uniform(0.3, 2.5)), 2),
            "reverb_wet": round(float(rng.choice([0.0, rng.uniform(0.05, 0.35)])), 3),
            "level_dbfs": round(float(rng.uniform(-24, -16)), 1)}


def _pick(rng, soundfonts: Mapping[str, float]) -> str:
    names = sorted(soundfonts)
    w = np.array([soundfonts[n] for n in names], float)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def make_plan(targets: Mapping[str, float], soundfonts: Mapping[str, float],
              seed: int = 0) -> list[RenderJob]:
    """Jobs whose nominal lengths reach each domain's target hours.

    Parameters
    ----------
    targets : mapping of str to float
        Hours per domain (see :func:`domain_targets`).
    soundfonts : mapping of str to float
        Soundfonts that may be used, with their weights.
    seed : int
        Plan seed; the same arguments give the same jobs.

    Returns
    -------
    list of RenderJob
        Domain by domain in :data:`DOMAINS` order; a domain's nominal seconds
        reach its target (overshooting by less than one job).
    """
    jobs: list[RenderJob] = []
    for di, domain in enumerate(DOMAINS):
        goal = 3600.0 * targets.get(domain, 0.0)
        done, i = 0.0, 0
        abc = [name for name, d in ABC_TUNES if d == domain] * _ABC_RENDERINGS
        while done < goal:
            rng = np.random.default_rng([seed, di, i])
            if i < len(abc):
                kind, source = "abc", abc[i]
            else:
                mix = SOURCE_MIX[domain]
                k = int(rng.choice(len(mix), p=[m[2] for m in mix]))
                kind, names = mix[k][0], mix[k][1]
                source = names[int(rng.integers(len(names)))]
            seconds = round(float(rng.uniform(60, 200)), 1)
            jobs.append(RenderJob(domain, kind, source, int(rng.integers(2**31)), seconds,
                                  _pick(rng, soundfonts), _settings(rng)))
            done += seconds / jobs[-1].settings["tempo_factor"]
            i += 1
    return jobs


def plan_hours(jobs: Sequence[RenderJob]) -> dict[str, float]:
    """Nominal hours per domain of a plan (lengths divided by tempo factors)."""
    out: dict[str, float] = {}
    for j in jobs:
        out[j.domain] = out.get(j.domain, 0.0) + j.seconds / j.settings["tempo_factor"] / 3600
    return out
