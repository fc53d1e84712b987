r"""Significance of the differences between systems: Friedman + Tukey-Kramer.

The MIREX organizers run MATLAB's ``friedman`` on a table of scores (rows =
blocks, i.e. folds or classes; columns = systems) and then ``multcompare`` on
its statistics with the Tukey-Kramer critical value.  This module reproduces
both with SciPy.

Conventions
-----------
* ``table[i, j]`` is the score of system ``j`` on block ``i``; higher is
  better.  Each row is ranked on its own, ascending (the best system of a row
  gets rank ``k``); ties get the average of the ranks they span.
* Let ``n`` be the number of rows, ``k`` the number of systems, ``Rbar_j`` the
  mean rank of system ``j`` and ``T`` the sum, over all rows and all groups of
  ``t`` tied values in a row, of ``t**3 - t``.  As in MATLAB's ``friedman``::

      sigma^2 = k (k + 1) / 12  -  T / (12 n (k - 1))      (tie-corrected)
      chi2    = n * sum_j (Rbar_j - (k + 1) / 2)^2 / sigma^2,  df = k - 1

  which is exactly :func:`scipy.stats.friedmanchisquare` (also for ``k = 2``,
  which SciPy refuses).  The p-value is the chi-square upper tail.
* MATLAB's ``multcompare`` on ``friedman`` statistics treats the mean ranks as
  independent means with variance ``sigma^2 / n`` and infinite degrees of
  freedom.  For systems ``a`` and ``b`` the interval on
  ``d = Rbar_a - Rbar_b`` is::

      d  +/-  q(1 - alpha; k, inf) / sqrt(2)  *  sigma * sqrt(2 / n)
         =  d  +/-  q(1 - alpha; k, inf) * sigma / sqrt(n)

  where ``q`` is the studentized-range quantile
  (:data:`scipy.stats.studentized_range`).  Without ties ``sigma / sqrt(n) =
  sqrt(k (k + 1) / (12 n))``, i.e. the half-width is Nemenyi's critical
  difference ``q / sqrt(2) * sqrt(k (k + 1) / (6 n))``.  A pair differs
  significantly when its interval excludes 0.
* As in MATLAB, the pairwise comparisons are reported whatever the Friedman
  p-value; read them together.
* With fewer than two systems or fewer than two rows nothing is tested: the
  result has ``skipped=True`` and a ``note``.  When every row is constant
  (``sigma = 0``) the statistic is 0, the p-value 1 and no pair differs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import chi2, rankdata, studentized_range

__all__ = ["friedman_tukey", "describe"]


def _check(table, names, alpha) -> tuple[np.ndarray, list[str]]:
    table = np.asarray(table, dtype=float)
    if table.ndim != 2:
        raise ValueError(f"table must be 2-D (blocks x systems), got shape {table.shape}")
    names = [str(n) for n in names]
    if len(names) != table.shape[1]:
        raise ValueError(f"table has {table.shape[1]} column(s) but {len(names)} name(s) were given")
    if len(set(names)) != len(names):
        raise ValueError(f"system names must be unique, got {names}")
    if not np.all(np.isfinite(table)):
        raise ValueError("table holds NaN or infinite values; every system needs a score on every row")
    if not (0.0 < float(alpha) < 1.0):
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    return table, names


def friedman_tukey(table, names: Sequence[str], alpha: float = 0.05) -> dict:
    """Friedman's test and Tukey-Kramer comparisons of mean ranks.

    Parameters
    ----------
    table : array_like, shape (n_blocks, n_systems)
        Scores, higher is better: one row per fold (or class), one column per
        system.
    names : sequence of str
        System names, one per column.
    alpha : float, default 0.05
        Family-wise significance level.

    Returns
    -------
    result : dict
        ``names``, ``alpha``, ``n_blocks``, ``n_systems``;
        ``statistic`` (Friedman chi-square), ``df``, ``pvalue``;
        ``mean_ranks`` (dict name -> mean rank, higher is better);
        ``sigma`` (tie-corrected rank standard deviation), ``q`` (studentized
        range quantile), ``half_width`` (of every interval);
        ``comparisons``: one dict per pair ``a`` before ``b`` in ``names``
        order, with ``a``, ``b``, ``difference`` (mean rank of ``a`` minus
        that of ``b``), ``lower``, ``upper`` and ``significant``;
        ``skipped`` and ``note``.  When skipped, the statistics are None and
        ``comparisons`` is empty.
    """
    table, names = _check(table, names, alpha)
    n, k = table.shape
    result = _empty_result(names, alpha, n, k)
    if k < 2:
        result.update(skipped=True, note="significance not tested: only one system")
        return result
    if n < 2:
        result.update(skipped=True, note=f"significance not tested: only {n} row(s) to rank")
        return result

    mean_ranks = np.vstack([rankdata(row) for row in table]).mean(axis=0)
    sigma_sq = _rank_variance(table)
    statistic, pvalue = _friedman(mean_ranks, sigma_sq, n)
    note = "every row is constant: the systems cannot be told apart" if sigma_sq <= 1e-12 else None
    sigma = math.sqrt(sigma_sq)
    q = float(studentized_range.ppf(1.0 - alpha, k, np.inf))
    half = q * sigma / math.sqrt(n)
    result.update(
        statistic=float(statistic),
        df=int(k - 1),
        pvalue=float(pvalue),
        mean_ranks={name: float(r) for name, r in zip(names, mean_ranks)},
        sigma=sigma,
        q=q,
        half_width=half,
        comparisons=_comparisons(names, mean_ranks, half),
        note=note,
    )
    return result


def _empty_result(names: list[str], alpha: float, n: int, k: int) -> dict:
    """The result dict of :func:`friedman_tukey` with no statistic filled in."""
    return {
        "names": names,
        "alpha": float(alpha),
        "n_blocks": int(n),
        "n_systems": int(k),
        "statistic": None,
        "df": None,
        "pvalue": None,
        "mean_ranks": {},
        "sigma": None,
        "q": None,
        "half_width": None,
        "comparisons": [],
        "skipped": False,
        "note": None,
    }


def _rank_variance(table: np.ndarray) -> float:
    """Tie-corrected ``sigma^2`` of the ranks of an ``(n, k)`` table (module docstring), >= 0."""
    n, k = table.shape
    ties = 0.0
    for row in table:
        _, counts = np.unique(row, return_counts=True)
        ties += float(np.sum(counts.astype(float) ** 3 - counts))
    return max(k * (k + 1) / 12.0 - ties / (12.0 * n * (k - 1)), 0.0)


def _friedman(mean_ranks: np.ndarray, sigma_sq: float, n: int) -> tuple[float, float]:
    """Friedman's chi-square and its p-value (df = k - 1); ``(0, 1)`` when nothing varies."""
    k = len(mean_ranks)
    ss = n * float(np.sum((mean_ranks - (k + 1) / 2.0) ** 2))
    if sigma_sq <= 1e-12 or ss <= 1e-12:
        return 0.0, 1.0
    statistic = ss / sigma_sq
    return statistic, float(chi2.sf(statistic, k - 1))


def _comparisons(names: list[str], mean_ranks: np.ndarray, half: float) -> list[dict]:
    """Every pair ``a`` before ``b``: rank difference, its interval +/- ``half``, significance."""
    comparisons = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            d = float(mean_ranks[i] - mean_ranks[j])
            lower, upper = d - half, d + half
            comparisons.append({
                "a": names[i],
                "b": names[j],
                "difference": d,
                "lower": lower,
                "upper": upper,
                "significant": bool(lower > 0.0 or upper < 0.0),
            })
    return comparisons


def describe(result: dict, measure: str = "accuracy") -> list[str]:
    """Say the outcome of :func:`friedman_tukey` in plain words.

    Parameters
    ----------
    result : dict
        As returned by :func:`friedman_tukey`.
    measure : str, default "accuracy"
        What the table held, e.g. ``"per-fold accuracy"``.

    Returns
    -------
    lines : list of str
        One sentence for the Friedman test, then one per significant pair
        (``"A is significantly better than B on per-fold accuracy"``), or one
        saying that no pair differs significantly.
    """
    if result["skipped"]:
        return [f"{measure}: {result['note']}."]
    alpha = result["alpha"]
    p = result["pvalue"]
    verdict = "differ significantly" if p < alpha else "do not differ significantly"
    lines = [
        f"Friedman test on {measure} ({result['n_blocks']} rows, {result['n_systems']} systems): "
        f"chi-square = {result['statistic']:.3f}, df = {result['df']}, p = {p:.4g}; "
        f"the systems {verdict} overall (alpha = {alpha:g})."
    ]
    significant = [c for c in result["comparisons"] if c["significant"]]
    for c in significant:
        better, worse = (c["a"], c["b"]) if c["difference"] > 0 else (c["b"], c["a"])
        lines.append(f"{better} is significantly better than {worse} on {measure}.")
    if not significant:
        lines.append(
            f"No significant difference between any two systems on {measure} "
            f"(Tukey-Kramer, alpha = {alpha:g})."
        )
    if result["note"]:
        lines.append(result["note"][0].upper() + result["note"][1:] + ".")
    return lines
