"""Confusion-matrix figures of a MIREX Train/Test evaluation, as PNG bytes.

Drawn with matplotlib's Agg renderer, without pyplot, so that writing a
report never touches the global backend.  Rows are true classes, columns
predicted ones; cells show counts, shaded by the fraction of the true class.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np

from .scoring import MISSING, UNKNOWN

__all__ = ["plot_confusion"]

_EXTRAS = (UNKNOWN, MISSING)


def plot_confusion(
    confusion: np.ndarray,
    labels: Sequence[str],
    display: Mapping[str, str] | None = None,
    title: str = "",
) -> bytes:
    """Draw a confusion matrix as a PNG image.

    Parameters
    ----------
    confusion : np.ndarray, shape (n_labels, n_labels)
        Counts, rows true, columns predicted.
    labels : sequence of str
        Label of every row/column.  The rows of the pseudo-labels
        :data:`~mirex.evaluation.scoring.UNKNOWN` and
        :data:`~mirex.evaluation.scoring.MISSING` are left out (they are
        always empty); their columns are kept when they hold any count.
    display : mapping of str to str, optional
        Axis text of every label; defaults to the label.
    title : str, optional
        Figure title.

    Returns
    -------
    png : bytes
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    confusion = np.asarray(confusion)
    labels = list(labels)
    if confusion.shape != (len(labels), len(labels)):
        raise ValueError(f"confusion has shape {confusion.shape} but there are {len(labels)} labels")
    display = dict(display or {})
    rows = [i for i, l in enumerate(labels) if l not in _EXTRAS]
    cols = [i for i, l in enumerate(labels) if l not in _EXTRAS or confusion[:, i].sum() > 0]
    counts = confusion[np.ix_(rows, cols)]
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(totals > 0, counts / np.maximum(totals, 1), np.nan)

    n_rows, n_cols = counts.shape
    font = 9 if max(n_rows, n_cols) <= 12 else 7 if max(n_rows, n_cols) <= 25 else 5
    size = (max(4.5, 0.45 * n_cols + 2.8), max(3.8, 0.4 * n_rows + 2.2))
    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    cmap = _colormap()
    image = ax.imshow(np.ma.masked_invalid(share), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    cbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    cbar.set_label("fraction of the true class", fontsize=font)
    cbar.ax.tick_params(labelsize=font)
    for r in range(n_rows):
        for c in range(n_cols):
            value = counts[r, c]
            if value == 0 and c != r:
                continue
            dark = not np.isnan(share[r, c]) and share[r, c] > 0.55
            ax.text(c, r, str(int(value)), ha="center", va="center", fontsize=font,
                    color="white" if dark else "black", fontweight="bold" if c == r else "normal")
    ax.set_xticks(range(n_cols))
    ax.set_yticks(range(n_rows))
    ax.set_xticklabels([display.get(labels[i], labels[i]) for i in cols], rotation=45, ha="right",
                       fontsize=font)
    ax.set_yticklabels([display.get(labels[i], labels[i]) for i in rows], fontsize=font)
    ax.set_xlabel("Predicted", fontsize=font + 1)
    ax.set_ylabel("True", fontsize=font + 1)
    if title:
        ax.set_title(title, fontsize=font + 2)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _colormap():
    from matplotlib import colormaps

    return colormaps["Blues"].with_extremes(bad="#eeeeee")
