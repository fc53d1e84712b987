"""MIREX Train/Test harness for the LPNKK submissions.

The package reads as the pipeline a clip travels through::

    lists -> audio -> (segments) -> backbones -> embedding -> cache
          -> classifier -> predictions -> evaluation
"""

__version__ = "0.1.0"
