"""MIREX Train/Test harness for the LPNKK submissions.

The package reads as the pipeline a clip travels through::

    lists -> audio -> (segments) -> engines (backbones) -> extractors -> cache
          -> classifier -> predictions -> evaluation

``systems`` names the extractors of each submission, ``pipeline`` runs the
MIREX calls, ``config`` resolves flags and environment once for ``cli``.
"""

__version__ = "0.1.0"
