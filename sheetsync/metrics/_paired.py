"""Did it improve? Paired comparisons on the same rows: McNemar's test, a paired interval for a change in a
rate, and the change in the corrected pass rate between two versions of the AI judged by one judge."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ._closed_form import z_value
from ._design import wilson_at
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
    passes), with Bonett and Price's adjusted Wald interval for paired proportions (2012) and McNemar's test.
    ``a_right``/``b_right`` say, per row, whether each version got it right.

    Only the rows where the versions differ move the difference: with b rows right only in A and c only in
    B, the interval is d̃ ± z·√((p̃_b + p̃_c − d̃²)/(n + 2)) with p̃_b = (b + 1)/(n + 2), p̃_c = (c + 1)/(n + 2),
    d̃ = p̃_c − p̃_b. The one added row each way keeps the interval from collapsing when the versions agree
    on every row (where the plain Wald interval, and Newcombe's hybrid at a rate of ½, have no width): 40
    rows with no change still leave room for a few points either way.
    """
    a, b = [bool(x) for x in as_list(a_right, "a")], [bool(x) for x in as_list(b_right, "b")]
    if len(a) != len(b):
        raise ValueError(f"the two versions must be measured on the same rows, got {len(a)} and {len(b)}")
    n = len(a)
    both = sum(x and y for x, y in zip(a, b, strict=True))
    only_a = sum(x and not y for x, y in zip(a, b, strict=True))
    only_b = sum(y and not x for x, y in zip(a, b, strict=True))
    return paired_from_counts(both, only_a, only_b, n - both - only_a - only_b, confidence)


def paired_from_counts(both: int, only_a: int, only_b: int, neither: int, confidence: float = 0.95
                       ) -> dict[str, Any]:
    """``paired_difference`` from the 2×2 table of the pairs (the simulation study calls it directly)."""
    n = both + only_a + only_b + neither
    out: dict[str, Any] = {"n": n, "both": both, "only_a": only_a, "only_b": only_b, "neither": neither,
                           "rate_a": None, "rate_b": None, "difference": None, "ci": None,
                           "mcnemar": mcnemar(only_a, only_b)}
    if n == 0:
        return out
    pb, pc = (only_a + 1) / (n + 2), (only_b + 1) / (n + 2)
    centre = pc - pb
    half = z_value(confidence) * math.sqrt(max(pb + pc - centre * centre, 0.0) / (n + 2))
    out.update(rate_a=(both + only_a) / n, rate_b=(both + only_b) / n, difference=(only_b - only_a) / n,
               ci=(max(-1.0, centre - half), min(1.0, centre + half)))
    return out


def corrected_difference(a_pass: Iterable[Any], b_pass: Iterable[Any], tpr: float, tnr: float, n_pass: float,
                         n_fail: float, confidence: float = 0.95) -> dict[str, Any]:
    """The change in the corrected pass rate from version A to version B of the AI, both judged by the same
    judge on the same inputs (``a_pass``/``b_pass``: the judge's verdict per input, True = pass).

    θ_B − θ_A = (p_B − p_A) / J with J = TPR + TNR − 1: the judge's errors shrink the raw difference (the
    TNR − 1 of the two Rogan–Gladen estimates cancels), and their uncertainty (TPR on n_pass, TNR on n_fail
    expert labels, effective sizes when weighted) widens the interval. The interval combines the two sources
    as the MOVER / delta method does: the raw difference's own paired interval (Bonett–Price, which keeps
    its width when A and B agree on every input) scaled by 1/J, and the ratio's J-term, d²·var(J)/J², with
    TPR and TNR nudged towards ½ by one pass and one fail (as in Lee et al.'s interval) so a judge right on
    every label does not count as known exactly. Assumes the judge errs as often on B's answers as on the
    answers it was validated on.
    """
    a, b = [bool(x) for x in as_list(a_pass, "a")], [bool(x) for x in as_list(b_pass, "b")]
    if len(a) != len(b) or not a:
        raise ValueError(f"need the same non-empty set of inputs for both versions, got {len(a)} and {len(b)}")
    both = sum(x and y for x, y in zip(a, b, strict=True))
    only_a = sum(x and not y for x, y in zip(a, b, strict=True))
    only_b = sum(y and not x for x, y in zip(a, b, strict=True))
    return corrected_from_counts(both, only_a, only_b, len(a) - both - only_a - only_b, tpr, tnr, n_pass, n_fail,
                                 confidence)


def corrected_from_counts(both: int, only_a: int, only_b: int, neither: int, tpr: float, tnr: float,
                          n_pass: float, n_fail: float, confidence: float = 0.95) -> dict[str, Any]:
    """``corrected_difference`` from the 2×2 table of the judge's verdicts on A and B (pass = True)."""
    j = tpr + tnr - 1
    if j <= 0:
        raise ValueError(f"the judge is no better than chance (TPR + TNR = {tpr + tnr:.3f} <= 1)")
    if not (n_pass > 0 and n_fail > 0):
        raise ValueError("TPR and TNR must each rest on at least one expert label")
    raw = paired_from_counts(both, only_a, only_b, neither, confidence)
    n, d_raw = raw["n"], raw["difference"]
    low_raw, high_raw = raw["ci"]
    d = d_raw / j
    # J's interval by MOVER from Wilson's for TPR and TNR: asymmetric, as a rate near 1 on few labels is.
    (l1, u1), (l0, u0) = wilson_at(tpr, n_pass, confidence), wilson_at(tnr, n_fail, confidence)
    j_low = j - math.hypot(tpr - l1, tnr - l0)
    j_high = j + math.hypot(u1 - tpr, u0 - tnr)
    # |d| grows as J shrinks: the J-term on the side away from 0 uses J's lower bound (unbounded if it may
    # be chance), the side towards 0 its upper bound.
    away = abs(d) * (j / j_low - 1) if j_low > 0 else (math.inf if d else 0.0)
    towards = abs(d) * (1 - j / j_high)
    up, down = (away, towards) if d >= 0 else (towards, away)
    low = d - math.hypot((d_raw - low_raw) / j, down)
    high = d + math.hypot((high_raw - d_raw) / j, up)
    return {"n": n, "p_a": raw["rate_a"], "p_b": raw["rate_b"], "raw_difference": d_raw,
            "raw_ci": (low_raw, high_raw), "difference": d, "ci": (max(-1.0, low), min(1.0, high)),
            "improved": raw["only_b"] / n, "worsened": raw["only_a"] / n,
            "mcnemar": raw["mcnemar"],
            "caveat": "" if math.isfinite(away) else ("on so few labels the judge may be no better than chance, so the "
                                            "difference could be any size: its far bound is the end of the scale; "
                                            "label more rows of the rarer kind")}
