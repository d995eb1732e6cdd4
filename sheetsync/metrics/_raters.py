"""Agreement between two human raters on the same rows: raw agreement, Cohen's κ with its interval, and the
confusion of their verdicts.

Teams check that two people who know the product agree before they trust one of them as the judge's
ground truth. κ is the chance-corrected agreement (equal to ``sklearn.metrics.cohen_kappa_score``); its
interval is the large-sample one of Fleiss, Cohen & Everitt (1969), the one statsmodels'
``cohens_kappa`` reports (``kappa ± z·√var``). Raw agreement gets a Wilson interval, like the judge's rates.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from ._agreement import check_confidence, wilson_interval
from ._labels import as_list, normalize_label


@dataclass(frozen=True)
class RaterAgreement:
    """Two raters (``a``, the principal expert; ``b``, the second rater) on the rows both labelled.

    both_pass: a pass & b pass; a_pass_b_fail; a_fail_b_pass; both_fail. ``kappa_ci`` is None, with the
    reason in ``undefined``, when the asymptotic interval has no width to give (every pair on one diagonal
    cell, or κ undefined): a zero-width interval would claim a certainty few labels cannot give.
    """

    n: int
    n_excluded: int  # pairs where either rater gave no readable verdict
    both_pass: int
    a_pass_b_fail: int
    a_fail_b_pass: int
    both_fail: int
    agreement: float | None
    agreement_ci: tuple[float, float] | None
    kappa: float | None
    kappa_ci: tuple[float, float] | None
    kappa_se: float | None
    undefined: dict[str, str]
    confidence: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def kappa_from_counts(both_pass: int, a_pass_b_fail: int, a_fail_b_pass: int, both_fail: int, n_excluded: int = 0,
                      *, confidence: float = 0.95) -> RaterAgreement:
    """Every figure from the four counts of the raters' 2×2 table."""
    check_confidence(confidence)
    table = ((both_pass, a_pass_b_fail), (a_fail_b_pass, both_fail))
    n = both_pass + a_pass_b_fail + a_fail_b_pass + both_fail
    why: dict[str, str] = {}
    if n == 0:
        reason = "no rows both raters labelled" + (f" ({n_excluded} with a missing verdict)" if n_excluded else "")
        why = {k: reason for k in ("agreement", "agreement_ci", "kappa", "kappa_ci")}
        return RaterAgreement(0, n_excluded, 0, 0, 0, 0, None, None, None, None, None, why, confidence)
    p = [[c / n for c in row] for row in table]
    rows = [sum(r) for r in p]  # rater a's marginals (pass, fail)
    cols = [p[0][j] + p[1][j] for j in range(2)]  # rater b's
    po = p[0][0] + p[1][1]
    pe = rows[0] * cols[0] + rows[1] * cols[1]
    agree = both_pass + both_fail
    kappa = se = ci = None
    if math.isclose(pe, 1.0):
        why["kappa"] = why["kappa_ci"] = ("both raters gave every row the same verdict, so chance agreement is 1 "
                                          "and agreement beyond chance is undefined")
    else:
        kappa = (po - pe) / (1 - pe)
        # Fleiss, Cohen & Everitt (1969): the large-sample variance of κ under no assumption about κ.
        term_a = sum(p[i][i] * (1 - (rows[i] + cols[i]) * (1 - kappa)) ** 2 for i in range(2))
        term_b = (1 - kappa) ** 2 * sum(p[i][j] * (cols[i] + rows[j]) ** 2 for i in range(2) for j in range(2)
                                        if i != j)
        term_c = (kappa - pe * (1 - kappa)) ** 2
        var = max((term_a + term_b - term_c) / ((1 - pe) ** 2 * n), 0.0)
        se = math.sqrt(var)
        if se > 0:
            z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
            ci = (max(-1.0, kappa - z * se), min(1.0, kappa + z * se))
        else:
            why["kappa_ci"] = (f"the {n} pairs leave the asymptotic interval no width (κ = {kappa:.2f}); label "
                               "more rows in common for an interval")
    return RaterAgreement(
        n=n, n_excluded=n_excluded, both_pass=both_pass, a_pass_b_fail=a_pass_b_fail, a_fail_b_pass=a_fail_b_pass,
        both_fail=both_fail, agreement=agree / n, agreement_ci=wilson_interval(agree, n, confidence),
        kappa=kappa, kappa_ci=ci, kappa_se=se, undefined=why, confidence=confidence,
    )


def rater_agreement(a: Iterable[Any], b: Iterable[Any], *, confidence: float = 0.95) -> RaterAgreement:
    """Agreement of two raters' verdicts, paired by position (pass/fail/True/1 as in ``agreement``). A pair
    with either verdict missing is excluded and counted; an unreadable label raises ValueError."""
    left, right = as_list(a, "a"), as_list(b, "b")
    if len(left) != len(right):
        raise ValueError(f"a and b must have the same length, got {len(left)} and {len(right)}")
    counts = [0, 0, 0, 0]
    excluded = 0
    for x, y in zip(left, right, strict=True):
        u, v = normalize_label(x), normalize_label(y)
        if u is None or v is None:
            excluded += 1
            continue
        counts[(0 if u else 2) + (0 if v else 1)] += 1
    return kappa_from_counts(*counts, excluded, confidence=confidence)
