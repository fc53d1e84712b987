"""Evaluation of MIREX Train/Test classification, as the organizers score it.

* :mod:`~mirex.evaluation.folds` -- stratified, artist-filtered folds and their
  list files;
* :mod:`~mirex.evaluation.scoring` -- the NEMA evaluator's rules: label
  cleaning, track matching, per-fold and pooled (normalised) accuracy, and
  detection of invalid submissions;
* :mod:`~mirex.evaluation.significance` -- Friedman's test with Tukey-Kramer
  comparisons of mean ranks;
* :mod:`~mirex.evaluation.figures` -- confusion-matrix images (PNG);
* :mod:`~mirex.evaluation.report` -- the organizers' CSV files, confusion
  matrix images, per-submission reports and one self-contained HTML page.

Typical use::

    from mirex.evaluation import read_ground_truth, read_prediction_file, score_fold, write_report

    scores = [score_fold(read_ground_truth(gt), read_prediction_file(out), fold=k)
              for k, (gt, out) in enumerate(zip(truth_files, output_files))]
    write_report("results/", {"LPNKK1": scores})
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
from .figures import plot_confusion
from .report import format_summary, write_report
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
    "format_summary",
    "friedman_tukey",
    "make_folds",
    "plot_confusion",
    "read_ground_truth",
    "read_groups",
    "read_prediction_file",
    "score_fold",
    "score_folds",
    "track_key",
    "write_fold_lists",
    "write_report",
]
