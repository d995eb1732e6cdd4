"""Did it improve? Paired comparisons on the same rows: McNemar's test, paired intervals for a change in a
rate, and the change in the corrected pass rate between two versions of the AI judged by one judge."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ._agreement import wilson_interval
from ._closed_form import z_value
from ._labels import as_list


def mcnemar(b: int, c: int, *, exact: bool | None = None) -> dict[str, Any]:
    """McNemar's test on the discordant pairs: b rows right only in A, c rows right only in B.

    exact (default when b + c < 25): the two-sided binomial test of b against Bin(b + c, 1/2); otherwise the
    chi-square statistic with continuity correction, (|b − c| − 1)² / (b + c). As statsmodels'
    ``mcnemar(table, exact=...)``. With no discordant pair the p-value is 1.
    """
    if b < 0 or c < 0:
        raise ValueError("b and c are counts")
    n = b + c
    exact = n < 25 if exact is None else exact
    if n == 0:
        return {"b": b, "c": c, "statistic": 0.0, "p_value": 1.0, "exact": exact}
    if exact:
        stat = float(min(b, c))
        p = min(1.0, 2 * _binom_half_cdf(min(b, c), n))
    else:
        stat = (abs(b - c) - 1) ** 2 / n
        p = math.erfc(math.sqrt(stat / 2))  # the chi-square survival function with 1 degree of freedom
    return {"b": b, "c": c, "statistic": stat, "p_value": p, "exact": exact}


def _binom_half_cdf(k: int, n: int) -> float:
    """P(X ≤ k) for X ~ Bin(n, 1/2), exactly (integer sums): the product needs no scipy, only its tests do."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n


def paired_difference(a_right: Iterable[Any], b_right: Iterable[Any], confidence: float = 0.95) -> dict[str, Any]:
    """The change B − A in a rate measured on the same rows (e.g. TPR of two judge runs on the expert's
    passes), with Newcombe's hybrid score interval for paired proportions (his method 10, 1998) and
    McNemar's test. ``a_right``/``b_right`` say, per row, whether each version got it right.

    Newcombe's interval combines the two Wilson intervals with the correlation of the pairs, so it stays
    inside [−1, 1] and keeps its width when the versions agree on almost every row, where the plain Wald
    interval collapses to nothing.
    """
    a, b = [bool(x) for x in as_list(a_right, "a")], [bool(x) for x in as_list(b_right, "b")]
    if len(a) != len(b):
        raise ValueError(f"the two versions must be measured on the same rows, got {len(a)} and {len(b)}")
    n = len(a)
    both = sum(x and y for x, y in zip(a, b, strict=True))
    only_a = sum(x and not y for x, y in zip(a, b, strict=True))
    only_b = sum(y and not x for x, y in zip(a, b, strict=True))
    neither = n - both - only_a - only_b
    out: dict[str, Any] = {"n": n, "both": both, "only_a": only_a, "only_b": only_b, "neither": neither,
                           "rate_a": None, "rate_b": None, "difference": None, "ci": None,
                           "mcnemar": mcnemar(only_a, only_b)}
    if n == 0:
        return out
    p1, p2 = (both + only_a) / n, (both + only_b) / n
    l1, u1 = wilson_interval(both + only_a, n, confidence)
    l2, u2 = wilson_interval(both + only_b, n, confidence)
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    phi = (both * neither - only_a * only_b) / math.sqrt(margins) if margins else 0.0
    d = p2 - p1
    # B − A: the lower bound pairs B's lower error with A's upper error, and the reverse for the upper.
    low = d - math.sqrt(max((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2, 0.0))
    high = d + math.sqrt(max((u2 - p2) ** 2 - 2 * phi * (u2 - p2) * (p1 - l1) + (p1 - l1) ** 2, 0.0))
    out.update(rate_a=p1, rate_b=p2, difference=d, ci=(max(-1.0, low), min(1.0, high)))
    return out


def corrected_difference(a_pass: Iterable[Any], b_pass: Iterable[Any], tpr: float, tnr: float, n_pass: float,
                         n_fail: float, confidence: float = 0.95) -> dict[str, Any]:
    """The change in the corrected pass rate from version A to version B of the AI, both judged by the same
    judge on the same inputs (``a_pass``/``b_pass``: the judge's verdict per input, True = pass).

    θ_B − θ_A = (p_B − p_A) / (TPR + TNR − 1): the judge's errors shrink or stretch the raw difference, and
    their uncertainty (TPR on n_pass, TNR on n_fail expert labels) widens the interval. Delta method:
    var = var(p_B − p_A) / J² + D² (TPR(1−TPR)/n_pass + TNR(1−TNR)/n_fail) / J², with the paired variance
    var(p_B − p_A) = (P(B pass, A fail) + P(A pass, B fail) − (p_B − p_A)²) / n. Assumes the judge errs as
    often on B's answers as on the answers it was validated on.
    """
    a, b = [bool(x) for x in as_list(a_pass, "a")], [bool(x) for x in as_list(b_pass, "b")]
    if len(a) != len(b) or not a:
        raise ValueError(f"need the same non-empty set of inputs for both versions, got {len(a)} and {len(b)}")
    j = tpr + tnr - 1
    if j <= 0:
        raise ValueError(f"the judge is no better than chance (TPR + TNR = {tpr + tnr:.3f} <= 1)")
    n = len(a)
    up = sum(y and not x for x, y in zip(a, b, strict=True)) / n
    down = sum(x and not y for x, y in zip(a, b, strict=True)) / n
    raw = up - down
    d = raw / j
    var = (up + down - raw * raw) / n / j ** 2
    var += d * d * (tpr * (1 - tpr) / n_pass + tnr * (1 - tnr) / n_fail) / j ** 2
    z = z_value(confidence)
    half = z * math.sqrt(max(var, 0.0))
    return {"n": n, "p_a": sum(a) / n, "p_b": sum(b) / n, "raw_difference": raw, "difference": d,
            "ci": (max(-1.0, d - half), min(1.0, d + half)), "improved": up, "worsened": down,
            "mcnemar": mcnemar(round(down * n), round(up * n))}
