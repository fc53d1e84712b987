"""Four-part chorales: functional harmony in SATB voice leading, sung by GM choir patches.

Each chord is voiced by dynamic programming over all SATB spacings of its
triad within the voices' ranges, minimising motion, with penalties for
parallel fifths and octaves, voice overlap and a static soprano.  Phrases of
four bars end on a cadence held under a fermata.  Generated music (no source
score): the manifest says ``generator: chorale``.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

from ..notes import Part, Piece, make_notes
from .harmony import progression, triad_pcs

__all__ = ["RANGES", "VOICINGS", "compose", "voicings", "voice_lead"]

#: MIDI ranges of soprano, alto, tenor and bass (inclusive).
RANGES = ((60, 79), (55, 74), (48, 67), (40, 60))
#: Instrumentations: a GM program per voice (S, A, T, B) and an optional organ doubling.
VOICINGS = {
    "choir": ((52, 52, 52, 52), None),
    "oohs": ((53, 53, 53, 53), None),
    "choir_oohs": ((52, 52, 53, 53), None),
    "synth_voice": ((54, 54, 54, 54), None),
    "choir_organ": ((52, 52, 52, 52), 19),
    "oohs_reed_organ": ((53, 53, 53, 53), 20),
}
_PAIRS = list(itertools.combinations(range(4), 2))


def voicings(pcs: np.ndarray, bass_pc: int) -> np.ndarray:
    """All SATB voicings of a triad with ``bass_pc`` in the bass; shape (n, 4), S first.

    Voices stay in :data:`RANGES`, in order, within an octave of their upper
    neighbour (bass: a twelfth), and the three pitch classes all sound.
    """
    return _voicings(tuple(int(p) for p in pcs), int(bass_pc)).copy()


@functools.lru_cache(maxsize=512)
def _voicings(pcs: tuple, bass_pc: int) -> np.ndarray:
    opts = [[p for p in range(lo, hi + 1) if p % 12 in set(pcs)] for lo, hi in RANGES]
    opts[3] = [p for p in opts[3] if p % 12 == bass_pc]
    grid = np.array(list(itertools.product(*opts)))
    s, a, t, b = grid.T
    ok = (s > a) & (a > t) & (t > b) & (s - a <= 12) & (a - t <= 12) & (t - b <= 19)
    grid = grid[ok]
    full = np.array([len(set((row % 12).tolist())) == 3 for row in grid], dtype=bool)
    return grid[full]


def _transition_cost(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Cost of moving from each voicing in ``prev`` (m, 4) to each in ``cur`` (n, 4); (m, n)."""
    motion = np.abs(cur[None, :, :] - prev[:, None, :])
    cost = motion.sum(-1) + 2.0 * np.maximum(motion[..., 1:3] - 4, 0).sum(-1)
    cost += 3.0 * (motion[..., 0] == 0)            # a soprano that keeps still
    for i, j in _PAIRS:
        before = (prev[:, None, i] - prev[:, None, j]) % 12
        after = (cur[None, :, i] - cur[None, :, j]) % 12
        moved = motion[..., i] > 0
        cost += 40.0 * (moved & (before == after) & np.isin(after, (0, 7)))
    for i in range(3):                               # overlap: a voice passing its neighbour's old note
        cost += 10.0 * (cur[None, :, i + 1] > prev[:, None, i])
    return cost


def voice_lead(rng: np.random.Generator, chords: np.ndarray, mode: str, tonic_pc: int) -> np.ndarray:
    """SATB pitches for each chord root; shape (n_chords, 4), soprano first.

    Root position mostly, first inversion for ii and vi now and then; ties in
    cost are broken by a little noise from ``rng`` so that seeds differ.
    """
    cands = []
    for root in chords:
        pcs = triad_pcs(int(root), mode, tonic_pc)
        bass = pcs[1] if root in (1, 5) and rng.random() < 0.4 else pcs[0]
        v = voicings(pcs, int(bass))
        cands.append(v if v.size else voicings(pcs, int(pcs[0])))
    cost = rng.random(len(cands[0])) * 3.0
    back = []
    for prev, cur in zip(cands[:-1], cands[1:]):
        total = cost[:, None] + _transition_cost(prev, cur) + rng.random(len(cur))[None, :] * 3.0
        back.append(total.argmin(0))
        cost = total.min(0)
    k = int(cost.argmin())
    path = [k]
    for b in reversed(back):
        k = int(b[k])
        path.append(k)
    return np.stack([c[i] for c, i in zip(cands, reversed(path))])


def compose(seed: int, seconds: float) -> Piece:
    """A chorale of about ``seconds`` (phrases of 4 bars of 4/4, one chord a beat).

    Parameters
    ----------
    seed : int
        Chooses key, mode, tempo, instrumentation, harmony and voicing.
    seconds : float
        Target length; the piece ends with a whole phrase, within one phrase
        of it.

    Returns
    -------
    Piece
        Four (or five, with organ) parts; ``meta`` has key, mode, bpm, voicing.
    """
    rng = np.random.default_rng(seed)
    mode = "minor" if rng.random() < 0.4 else "major"
    tonic_pc = int(rng.integers(12))
    bpm = float(rng.uniform(56, 84))
    voicing = str(rng.choice(sorted(VOICINGS)))
    phrase_beats = 16
    n_phrases = max(2, int(round(seconds * bpm / 60 / (phrase_beats + 1))))
    starts, durs, chords = [], [], []
    t = 0.0
    for k in range(n_phrases):
        last = k == n_phrases - 1
        cadence = "authentic" if last or k % 2 else str(rng.choice(["half", "authentic", "plagal",
                                                                      "deceptive"]))
        prog = progression(rng, 15, cadence)
        d = np.ones(15)
        d[-1] = 3.0 if last else 2.0              # fermata
        chords.append(prog)
        starts.append(t + np.concatenate([[0.0], np.cumsum(d)[:-1]]))
        durs.append(d)
        t += d.sum()
    chords, starts, durs = map(np.concatenate, (chords, starts, durs))
    satb = voice_lead(rng, chords, mode, tonic_pc)
    programs, organ = VOICINGS[voicing]
    names = ("soprano", "alto", "tenor", "bass")
    vel = 70 + rng.integers(-5, 6, size=len(chords))
    parts = [Part(n, p, make_notes(starts, durs * 0.97, satb[:, i], vel), pan=pan)
             for i, (n, p, pan) in enumerate(zip(names, programs, (44, 56, 72, 84)))]
    if organ is not None:
        notes = make_notes(np.repeat(starts, 4), np.repeat(durs, 4), satb.ravel() - 12,
                           np.repeat(vel - 20, 4))
        parts.append(Part("organ", organ, notes))
    meta = {"generator": "chorale", "seed": seed, "tonic_pc": tonic_pc, "mode": mode,
            "bpm": round(bpm, 2), "voicing": voicing}
    return Piece(tuple(parts), bpm, meta)
