"""The soundfonts that play the rendered corpus: Debian packages, file inside, licence.

FluidR3_GM.sf2 (``fluid-soundfont-gm``) is left out on purpose: the held-out
score task (benchmarks/score_task.py) is rendered with exactly that file, and
a student that has heard its samples in training would be judged on familiar
timbres.  (FluidR3Mono and MuseScore General derive from FluidR3 but are
re-edited, mono and compressed; they are kept, see the report of issue 14.)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Soundfont", "SOUNDFONTS", "EXCLUDED_SOUNDFONTS"]


@dataclass(frozen=True)
class Soundfont:
    """A General MIDI soundfont: ``path`` inside Debian ``package``, licence, how often to use it."""

    name: str
    package: str
    path: str
    licence: str
    weight: float = 1.0


SOUNDFONTS: tuple[Soundfont, ...] = (
    Soundfont("TimGM6mb", "timgm6mb-soundfont", "usr/share/sounds/sf2/TimGM6mb.sf2",
              "GPL-2 (Tim Brechbill)"),
    Soundfont("MuseScore_General_Lite", "musescore-general-soundfont-small",
              "usr/share/sounds/sf3/MuseScore_General_Lite.sf3", "MIT (parts public domain, CC0)"),
    Soundfont("FluidR3Mono_GM", "fluidr3mono-gm-soundfont",
              "usr/share/fluidr3mono-gm-soundfont/FluidR3Mono_GM.sf3", "MIT"),
    Soundfont("sf_GMbank", "csound-soundfont", "usr/share/sounds/sf2/sf_GMbank.sf2",
              "public domain", 0.7),
    Soundfont("OPL-3_FM_128M", "opl3-soundfont", "usr/share/sounds/sf2/OPL-3_FM_128M.sf2",
              "CC-BY-SA-4.0 (Zandro Reveille)", 0.4),
)

#: Not used, with the reason.
EXCLUDED_SOUNDFONTS = {
    "fluid-soundfont-gm": "FluidR3_GM.sf2 renders the held-out score task",
    "fluid-soundfont-gs": "the GS companion of FluidR3_GM (same samples)",
}
