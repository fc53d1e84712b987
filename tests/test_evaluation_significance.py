"""Tests of mirex.evaluation.significance: Friedman + Tukey-Kramer on mean ranks."""

import math

import numpy as np
import pytest
from scipy.stats import friedmanchisquare, studentized_range

from mirex.evaluation.significance import describe, friedman_tukey

# Rows = folds (or classes), columns = systems; ties in rows 1 and 3.
KNOWN = np.array([
    [0.61, 0.58, 0.58, 0.70],
    [0.55, 0.60, 0.52, 0.66],
    [0.70, 0.70, 0.70, 0.69],
    [0.64, 0.59, 0.61, 0.72],
    [0.58, 0.57, 0.50, 0.59],
])


def test_friedman_matches_scipy_with_ties():
    result = friedman_tukey(KNOWN, ["A", "B", "C", "D"])
    expected = friedmanchisquare(*KNOWN.T)
    assert result["statistic"] == pytest.approx(expected.statistic, rel=1e-12)
    assert result["pvalue"] == pytest.approx(expected.pvalue, rel=1e-12)
    assert result["df"] == 3
    # Average ranks for ties: row 3 is 3,3,3 (ties at 2..4) and 1.
    ranks = np.array([
        [3, 1.5, 1.5, 4], [2, 3, 1, 4], [3, 3, 3, 1], [3, 1, 2, 4], [3, 2, 1, 4],
    ])
    assert result["mean_ranks"] == pytest.approx(dict(zip("ABCD", ranks.mean(axis=0))))


def test_interval_half_width_is_the_documented_formula():
    table = np.random.default_rng(0).random((10, 5))  # no ties
    result = friedman_tukey(table, list("ABCDE"))
    n, k = table.shape
    q = studentized_range.ppf(0.95, k, np.inf)
    # MATLAB multcompare: q/sqrt(2) * sqrt(2 * sigma^2 / n), sigma^2 = k(k+1)/12.
    assert result["half_width"] == pytest.approx(q / math.sqrt(2) * math.sqrt(k * (k + 1) / (6 * n)))
    assert result["q"] == pytest.approx(3.857656, abs=1e-5)
    assert len(result["comparisons"]) == 10
    for c in result["comparisons"]:
        d = result["mean_ranks"][c["a"]] - result["mean_ranks"][c["b"]]
        assert c["difference"] == pytest.approx(d)
        assert c["lower"] == pytest.approx(d - result["half_width"])
        assert c["upper"] == pytest.approx(d + result["half_width"])
        assert c["significant"] == (abs(d) > result["half_width"])


def test_dominant_system_is_significantly_better():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.4, 0.6, size=(12, 3))
    base[:, 0] += 0.3  # "best" beats the others on every row
    result = friedman_tukey(base, ["best", "mid", "other"])
    assert result["pvalue"] < 0.05
    pairs = {(c["a"], c["b"]): c for c in result["comparisons"]}
    for other in ("mid", "other"):
        c = pairs[("best", other)]
        assert c["significant"] and c["lower"] > 0
    text = describe(result, "per-fold accuracy")
    assert "best is significantly better than mid on per-fold accuracy." in text
    assert "best is significantly better than other on per-fold accuracy." in text


def test_worse_first_system_reads_the_right_way_round():
    table = np.column_stack([np.full(8, 0.5), np.full(8, 0.9)]) + np.arange(8)[:, None] * 0.001
    result = friedman_tukey(table, ["weak", "strong"])
    (c,) = result["comparisons"]
    assert c["significant"] and c["upper"] < 0 and c["difference"] == -1.0
    assert "strong is significantly better than weak on accuracy." in describe(result)


def test_equal_systems_are_not_significantly_different():
    # Each system wins exactly as often as the others: equal mean ranks.
    table = np.array([
        [0.5, 0.6, 0.7], [0.6, 0.7, 0.5], [0.7, 0.5, 0.6],
        [0.5, 0.7, 0.6], [0.6, 0.5, 0.7], [0.7, 0.6, 0.5],
    ])
    result = friedman_tukey(table, ["A", "B", "C"])
    assert result["statistic"] == pytest.approx(0.0)
    assert result["pvalue"] == pytest.approx(1.0)
    assert not any(c["significant"] for c in result["comparisons"])
    lines = describe(result, "per-class accuracy")
    assert any("No significant difference" in line for line in lines)
    assert any("do not differ significantly" in line for line in lines)


def test_constant_rows():
    result = friedman_tukey(np.full((4, 3), 0.8), ["A", "B", "C"])
    assert result["statistic"] == 0.0 and result["pvalue"] == 1.0
    assert result["mean_ranks"] == {"A": 2.0, "B": 2.0, "C": 2.0}
    assert not any(c["significant"] for c in result["comparisons"])
    assert "constant" in result["note"]
    # One constant row among informative ones only lowers sigma (tie correction).
    table = np.vstack([np.full(3, 0.5), KNOWN[:4, :3]])
    assert friedman_tukey(table, "ABC")["statistic"] == pytest.approx(friedmanchisquare(*table.T).statistic)


def test_two_systems_work():
    table = np.array([[0.6, 0.5], [0.7, 0.6], [0.65, 0.66], [0.8, 0.7]])
    result = friedman_tukey(table, ["A", "B"])
    # Same formula as scipy's (which refuses k=2): 12/(n k (k+1)) sum R^2 - 3 n (k+1).
    n, k = 4, 2
    rank_sums = np.array([7.0, 5.0])
    expected = 12 / (n * k * (k + 1)) * np.sum(rank_sums**2) - 3 * n * (k + 1)
    assert result["statistic"] == pytest.approx(expected)
    assert result["df"] == 1
    (c,) = result["comparisons"]
    assert c["difference"] == pytest.approx(0.5)
    assert not c["significant"]  # 3 of 4 is not enough


def test_one_system_is_skipped_with_a_note():
    result = friedman_tukey(np.array([[0.5], [0.6]]), ["only"])
    assert result["skipped"] and result["comparisons"] == [] and result["statistic"] is None
    assert "one system" in result["note"]
    assert "one system" in describe(result)[0]
    assert friedman_tukey(np.array([[0.5, 0.6]]), ["a", "b"])["skipped"]


def test_bad_input_raises():
    with pytest.raises(ValueError, match="2 name"):
        friedman_tukey(np.ones((3, 3)), ["a", "b"])
    with pytest.raises(ValueError, match="unique"):
        friedman_tukey(np.ones((3, 2)), ["a", "a"])
    with pytest.raises(ValueError, match="NaN"):
        friedman_tukey(np.array([[0.1, np.nan], [0.2, 0.3]]), ["a", "b"])
    with pytest.raises(ValueError, match="2-D"):
        friedman_tukey(np.ones(3), ["a"])
    with pytest.raises(ValueError, match="alpha"):
        friedman_tukey(np.ones((3, 2)), ["a", "b"], alpha=1.5)
