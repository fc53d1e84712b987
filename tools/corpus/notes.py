"""Pieces of music as NumPy note arrays, and their MIDI files.

A :class:`Part` holds one instrument's notes as a structured array of
:data:`NOTE_DTYPE` (times in beats, pitches as MIDI numbers); a
:class:`Piece` is parts plus a tempo.  :func:`to_midi` writes a standard MIDI
file (type 1, one track per part) with ``mido``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["NOTE_DTYPE", "DRUM_CHANNEL", "TICKS_PER_BEAT", "Part", "Piece", "make_notes",
           "to_midi", "piece_seconds"]

#: One note: onset and duration in beats, MIDI pitch (0-127), velocity (1-127).
NOTE_DTYPE = np.dtype([("start", "f8"), ("dur", "f8"), ("pitch", "i2"), ("vel", "i2")])
DRUM_CHANNEL = 9
TICKS_PER_BEAT = 480


def make_notes(start, dur, pitch, vel=80) -> np.ndarray:
    """A note array from equal-length (or scalar) columns, sorted by onset.

    Parameters
    ----------
    start, dur : array-like of float
        Onsets and durations, in beats.
    pitch : array-like of int
        MIDI note numbers; values outside 0-127 raise ValueError.
    vel : array-like of int
        MIDI velocities, clipped to 1-127.

    Returns
    -------
    numpy.ndarray of NOTE_DTYPE, shape (n,)
    """
    start, dur, pitch, vel = np.broadcast_arrays(np.asarray(start, float), np.asarray(dur, float),
                                                 np.asarray(pitch), np.asarray(vel))
    if pitch.size and (pitch.min() < 0 or pitch.max() > 127):
        raise ValueError(f"pitch outside 0-127: {pitch.min()}..{pitch.max()}")
    out = np.empty(start.size, NOTE_DTYPE)
    out["start"], out["dur"] = start.ravel(), np.maximum(dur.ravel(), 1e-3)
    out["pitch"], out["vel"] = pitch.ravel(), np.clip(vel.ravel(), 1, 127)
    return out[np.argsort(out["start"], kind="stable")]


@dataclass(frozen=True)
class Part:
    """One instrument: a GM ``program`` (0-127) or the drum kit (``drums``), and its notes."""

    name: str
    program: int
    notes: np.ndarray
    drums: bool = False
    pan: int = 64


@dataclass(frozen=True)
class Piece:
    """Parts played together at ``bpm`` quarter-note beats per minute; ``meta`` says how."""

    parts: tuple[Part, ...]
    bpm: float
    meta: dict = field(default_factory=dict)

    @property
    def beats(self) -> float:
        """Length in beats: the end of the last note."""
        ends = [float((p.notes["start"] + p.notes["dur"]).max()) for p in self.parts if p.notes.size]
        return max(ends, default=0.0)


def piece_seconds(piece: Piece) -> float:
    """Length of ``piece`` in seconds at its tempo."""
    return piece.beats * 60.0 / piece.bpm


def to_midi(piece: Piece):
    """The piece as a ``mido.MidiFile`` (type 1; tempo track, then one track per part).

    Melodic parts take channels 0, 1, ... skipping the drum channel 9; drum
    parts play on channel 9.  At most 15 melodic parts.
    """
    import mido

    tempo = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(piece.bpm), time=0)])
    mid = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT, tracks=[tempo])
    channels = iter(c for c in range(16) if c != DRUM_CHANNEL)
    for part in piece.parts:
        ch = DRUM_CHANNEL if part.drums else next(channels)
        events = [(0, 0, mido.Message("program_change", channel=ch, program=part.program % 128)),
                  (0, 0, mido.Message("control_change", channel=ch, control=10, value=part.pan))]
        n = part.notes
        on = np.round(n["start"] * TICKS_PER_BEAT).astype(int)
        off = np.maximum(on + 1, np.round((n["start"] + n["dur"]) * TICKS_PER_BEAT).astype(int))
        for t0, t1, p, v in zip(on, off, n["pitch"], n["vel"]):
            events.append((int(t0), 2, mido.Message("note_on", channel=ch, note=int(p), velocity=int(v))))
            events.append((int(t1), 1, mido.Message("note_off", channel=ch, note=int(p), velocity=0)))
        events.sort(key=lambda e: (e[0], e[1]))  # note-offs before note-ons at the same tick
        track, now = mido.MidiTrack([mido.MetaMessage("track_name", name=part.name, time=0)]), 0
        for tick, _, msg in events:
            track.append(msg.copy(time=tick - now))
            now = tick
        mid.tracks.append(track)
    return mid
