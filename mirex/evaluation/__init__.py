"""Evaluation of MIREX Train/Test classification, as the organizers score it.

* :mod:`~mirex.evaluation.folds` -- stratified, artist-filtered folds and their
  list files;
* :mod:`~mirex.evaluation.scoring` -- the NEMA evaluator's rules: label
  cleaning, track matching, per-fold and pooled (normalised) accuracy, and
  detection of invalid submissions;
* :mod:`~mirex.evaluation.significance` -- Friedman's test with Tukey-Kramer
  comparisons of mean ranks.
"""

from .folds import fold_lists, make_folds, read_groups, write_fold_lists
from .scoring import (
    MISSING,
    UNKNOWN,
    FoldScore,
    Problem,
    SubmissionError,
    clean_label,
    read_ground_truth,
    read_prediction_file,
    score_fold,
    score_folds,
    track_key,
)
from .significance import describe, friedman_tukey

__all__ = [
    "MISSING",
    "UNKNOWN",
    "FoldScore",
    "Problem",
    "SubmissionError",
    "clean_label",
    "describe",
    "fold_lists",
    "friedman_tukey",
    "make_folds",
    "read_ground_truth",
    "read_groups",
    "read_prediction_file",
    "score_fold",
    "score_folds",
    "track_key",
    "write_fold_lists",
]
