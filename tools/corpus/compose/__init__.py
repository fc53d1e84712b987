"""Algorithmic composers for the domains that no score collection in reach covers.

Each composer is ``compose(seed, seconds) -> Piece`` (see :mod:`..notes`):
deterministic in ``seed``, about ``seconds`` long, General MIDI programs.
"""

from __future__ import annotations

from typing import Callable

from ..notes import Piece
from . import chorale, classical, folk, world

__all__ = ["COMPOSERS"]

#: generator name -> compose(seed, seconds)
COMPOSERS: dict[str, Callable[[int, float], Piece]] = {
    "chorale": chorale.compose,
    "classical": classical.compose,
    "folk": folk.compose,
    "world": world.compose,
}
