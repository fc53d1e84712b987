"""Playing event arrays with a soundfont, and the audio finishing: reverb, level, length.

The synthesiser is TinySoundFont (PyPI ``tinysoundfont``): SF2 and SF3
soundfonts, rendered offline into NumPy, no audio device.  Audio arrays are
float32 mono at ``sr`` Hz, shape (n,).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
from scipy.signal import oaconvolve

from .midi_ops import BEND, CONTROL, NOTE_OFF, NOTE_ON, PROGRAM
from .notes import DRUM_CHANNEL

__all__ = ["SAMPLE_RATE", "SoundfontSynth", "reverb", "set_level", "fit_length"]

#: Rate of the rendered corpus (the harness's own rate), in Hz.
SAMPLE_RATE = 22050
_BLOCK = 4096


class SoundfontSynth:
    """Renders event arrays (:data:`.midi_ops.EVENT_DTYPE`) with soundfonts kept loaded.

    Loading an SF3 takes seconds (its samples are Vorbis), so the last
    ``keep`` soundfonts stay in memory.
    """

    def __init__(self, sr: int = SAMPLE_RATE, keep: int = 2, gain_db: float = -6.0):
        self.sr, self.keep, self.gain_db = sr, keep, gain_db
        self._loaded: OrderedDict[str, tuple] = OrderedDict()

    def _synth(self, soundfont: str | Path):
        import tinysoundfont

        key = str(soundfont)
        if key in self._loaded:
            self._loaded.move_to_end(key)
            return self._loaded[key]
        synth = tinysoundfont.Synth(gain=self.gain_db, samplerate=self.sr)
        sfid = synth.sfload(key)
        self._loaded[key] = (synth, sfid)
        while len(self._loaded) > self.keep:
            self._loaded.popitem(last=False)
        return synth, sfid

    def _reset(self, synth, sfid) -> None:
        synth.notes_off()
        synth.sounds_off()
        synth.generate(_BLOCK)
        for ch in range(16):
            drums = ch == DRUM_CHANNEL
            synth.program_select(ch, sfid, 0, 128 if drums else 0, is_drums=drums)
            synth.control_change(ch, 121, 0)
            synth.pitchbend(ch, 8192)

    def render(self, events: np.ndarray, soundfont: str | Path, tail: float = 2.5) -> np.ndarray:
        """Play ``events`` (sorted by time, seconds) and ``tail`` seconds after the last one.

        Returns float32 mono audio at ``self.sr``, shape (n,).  A program the
        soundfont lacks falls back to its piano (tinysoundfont's behaviour).
        """
        synth, sfid = self._synth(soundfont)
        self._reset(synth, sfid)
        out, done = [], 0
        samples = np.round(events["time"] * self.sr).astype(np.int64)
        for n, ev in zip(samples, events):
            if n > done:
                out.append(self._generate(synth, n - done))
                done = n
            kind, ch, a, b = int(ev["kind"]), int(ev["channel"]), int(ev["a"]), int(ev["b"])
            if kind == NOTE_ON:
                synth.noteon(ch, a, b)
            elif kind == NOTE_OFF:
                synth.noteoff(ch, a)
            elif kind == PROGRAM:
                try:
                    synth.program_change(ch, a, is_drums=ch == DRUM_CHANNEL)
                except Exception:  # noqa: BLE001 - a preset the soundfont lacks: keep the last
                    pass
            elif kind == CONTROL:
                synth.control_change(ch, a, b)
            elif kind == BEND:
                synth.pitchbend(ch, a)
        synth.notes_off()
        out.append(self._generate(synth, int(tail * self.sr)))
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    @staticmethod
    def _generate(synth, n: int) -> np.ndarray:
        stereo = np.frombuffer(synth.generate(int(n)), dtype=np.float32).reshape(-1, 2)
        return stereo.mean(axis=1)


def reverb(x: np.ndarray, sr: int, rt60: float, wet: float, seed: int = 0) -> np.ndarray:
    """``x`` through a synthetic room: exponentially decaying noise of reverberation time ``rt60``.

    Parameters
    ----------
    x : numpy.ndarray, shape (n,)
    sr : int
        Sample rate in Hz.
    rt60 : float
        Seconds for the tail to fall by 60 dB.
    wet : float
        Share of reverberated signal, 0 (dry) to 1.
    seed : int
        Seeds the noise of the impulse response.

    Returns
    -------
    numpy.ndarray, shape (n,), float32
    """
    if wet <= 0 or rt60 <= 0:
        return x.astype(np.float32)
    t = np.arange(int(rt60 * sr)) / sr
    ir = np.random.default_rng(seed).standard_normal(t.size) * 10 ** (-3 * t / rt60)
    ir[: int(0.01 * sr)] *= np.linspace(0, 1, int(0.01 * sr))    # 10 ms pre-delay ramp
    ir /= np.sqrt(np.sum(ir ** 2))
    tail = oaconvolve(x, ir)[: x.size]
    return ((1 - wet) * x + wet * tail).astype(np.float32)


def set_level(x: np.ndarray, rms_dbfs: float, peak_dbfs: float = -1.0) -> np.ndarray:
    """``x`` scaled to ``rms_dbfs`` RMS, or less if its peak would pass ``peak_dbfs``."""
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if rms == 0.0:
        return x.astype(np.float32)
    g = min(10 ** (rms_dbfs / 20) / rms, 10 ** (peak_dbfs / 20) / peak)
    return (x * g).astype(np.float32)


def fit_length(x: np.ndarray, sr: int, max_seconds: float, fade: float = 3.0,
               floor_dbfs: float = -60.0) -> np.ndarray:
    """``x`` without trailing silence (below ``floor_dbfs``), cut with a fade at ``max_seconds``."""
    loud = np.flatnonzero(np.abs(x) > 10 ** (floor_dbfs / 20))
    x = x[: loud[-1] + 1] if loud.size else x[:0]
    n = int(max_seconds * sr)
    if x.size > n:
        x = x[:n].copy()
        k = int(fade * sr)
        x[-k:] *= np.linspace(1.0, 0.0, k, dtype=x.dtype)
    return x
