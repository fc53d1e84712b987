"""MIDI files as timed event arrays, with the render settings applied: tempo, transposition, programs.

:func:`midi_events` flattens a ``mido.MidiFile`` into one array of
:data:`EVENT_DTYPE` (seconds from the start, kind, channel, two data bytes)
that a synthesiser plays in order; :func:`add_part` lays a
:class:`~.notes.Part` over an existing file (the melody over MMA's band).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .notes import DRUM_CHANNEL, Part

__all__ = ["EVENT_DTYPE", "NOTE_ON", "NOTE_OFF", "PROGRAM", "CONTROL", "BEND",
           "midi_events", "add_part", "beats_per_bar", "programs_used", "family_swap"]

NOTE_ON, NOTE_OFF, PROGRAM, CONTROL, BEND = range(5)
#: One event: time in seconds, kind (NOTE_ON ... BEND), channel 0-15, data a, b
#: (note/velocity, program/-, controller/value, bend 0-16383/-).
EVENT_DTYPE = np.dtype([("time", "f8"), ("kind", "i1"), ("channel", "i1"), ("a", "i2"), ("b", "i2")])


def midi_events(mid, tempo_factor: float = 1.0, transpose: int = 0,
                programs: Mapping[int, int] | None = None, repeats: int = 1) -> np.ndarray:
    """The events of ``mid`` in play order, with the render settings applied.

    Parameters
    ----------
    mid : mido.MidiFile
    tempo_factor : float
        Playing speed (1.2 = 20 % faster); times are divided by it.
    transpose : int
        Semitones added to every note outside the drum channel 9 (notes
        leaving 0-127 are dropped).  A key struck again while it sounds is
        released first.
    programs : mapping of int to int, optional
        GM program substitutions (old -> new) for program changes.
    repeats : int
        Play the file this many times in a row (short tunes).

    Returns
    -------
    numpy.ndarray of EVENT_DTYPE, shape (n,)
    """
    programs = dict(programs or {})
    rows, now, sounding = [], 0.0, set()
    for msg in mid:
        now += msg.time
        t = msg.type
        if t == "note_on" or t == "note_off":
            note = msg.note + (0 if msg.channel == DRUM_CHANNEL else transpose)
            if 0 <= note <= 127:
                on = t == "note_on" and msg.velocity > 0
                if on and (msg.channel, note) in sounding:
                    # a key struck again before its release (MMA's strums): release it first,
                    # or the synthesiser keeps every copy sounding (CPU grows without bound)
                    rows.append((now, NOTE_OFF, msg.channel, note, 0))
                (sounding.add if on else sounding.discard)((msg.channel, note))
                rows.append((now, NOTE_ON if on else NOTE_OFF, msg.channel, note, msg.velocity))
        elif t == "program_change":
            rows.append((now, PROGRAM, msg.channel, programs.get(msg.program, msg.program), 0))
        elif t == "control_change":
            rows.append((now, CONTROL, msg.channel, msg.control, msg.value))
        elif t == "pitchwheel":
            rows.append((now, BEND, msg.channel, msg.pitch + 8192, 0))
    one = np.array(rows, dtype=EVENT_DTYPE)
    length = max(now, float(one["time"].max()) if one.size else 0.0)
    reps = []
    for k in range(max(1, repeats)):
        r = one.copy()
        r["time"] += k * length
        reps.append(r)
    out = np.concatenate(reps)
    out["time"] /= tempo_factor
    return out


def programs_used(mid) -> list[int]:
    """GM programs that ``mid`` selects outside the drum channel, sorted."""
    return sorted({m.program for m in mid if m.type == "program_change"
                   and m.channel != DRUM_CHANNEL})


def family_swap(programs, rng: np.random.Generator, chance: float = 0.3) -> dict[int, int]:
    """Substitutions that move some programs to another instrument of their GM family of 8.

    Returns ``{old: new}`` for the programs that changed (each with ``chance``).
    """
    out = {}
    for p in programs:
        if rng.random() < chance:
            q = 8 * (p // 8) + int(rng.integers(8))
            if q != p:
                out[int(p)] = q
    return out


def beats_per_bar(mid, bars: int) -> float:
    """Quarter-note beats per bar of a file that holds ``bars`` bars (from its length and tempo).

    Rounded to half beats (6/8 gives 3.0).
    """
    tempo = next((m.tempo for m in mid if m.type == "set_tempo"), 500000)
    beats = mid.length * 1e6 / tempo
    return max(1.0, np.floor(2 * beats / bars + 0.25) / 2)


def add_part(mid, part: Part) -> int:
    """Append ``part`` to ``mid`` on a channel it does not use; returns the channel.

    Note times of the part are in beats (quarter notes, the file's ticks per
    beat), so the part follows the file's tempo map.  ValueError when all 15
    melodic channels are taken.
    """
    import mido

    used = {m.channel for tr in mid.tracks for m in tr if hasattr(m, "channel")}
    free = [c for c in range(16) if c != DRUM_CHANNEL and c not in used]
    if not free:
        raise ValueError("no free MIDI channel for the part")
    ch, tpb = free[0], mid.ticks_per_beat
    events = [(0, 0, mido.Message("program_change", channel=ch, program=part.program))]
    n = part.notes
    for s, d, p, v in zip(n["start"], n["dur"], n["pitch"], n["vel"]):
        on = int(round(s * tpb))
        events.append((on, 2, mido.Message("note_on", channel=ch, note=int(p), velocity=int(v))))
        events.append((max(on + 1, int(round((s + d) * tpb))), 1,
                       mido.Message("note_off", channel=ch, note=int(p), velocity=0)))
    events.sort(key=lambda e: (e[0], e[1]))
    track, now = mido.MidiTrack(), 0
    for tick, _, msg in events:
        track.append(msg.copy(time=tick - now))
        now = tick
    mid.tracks.append(track)
    return ch
