"""A closed-form interval for the corrected pass rate that counts the noise of both samples.

From Lee, Zeng, Jeong, Sohn and Lee, "How to Correctly Report LLM-as-a-Judge Evaluations" (arXiv 2511.21140,
Appendix C), written here from the paper's formulas. In their notation p is the judge's pass rate on n
unlabelled rows, q1 = TPR measured on m1 expert passes, q0 = TNR on m0 expert fails. Each proportion is
first moved towards 1/2 (p by z²/2 of z² pseudo-rows, as Wilson/Agresti–Coull do; q0 and q1 by one pass and
one fail, Laplace), which keeps the interval from collapsing when a rate is 0 or 1; then

    θ̃  = (p̃ + q̃0 − 1) / (q̃0 + q̃1 − 1)
    dθ = 2 z² ( θ̃ q̃1(1 − q̃1)/m̃1 − (1 − θ̃) q̃0(1 − q̃0)/m̃0 )          (a shift against the ratio's bias)
    se = √( p̃(1 − p̃)/ñ + (1 − θ̃)² q̃0(1 − q̃0)/m̃0 + θ̃² q̃1(1 − q̃1)/m̃1 ) / (q̃0 + q̃1 − 1)
    interval = clip(θ̃ + dθ ± z·se, 0, 1),   ñ = n + z², m̃ = m + 2.

The three terms of se are the three sources of error: the unlabelled sample, the expert fails and the expert
passes. With weighted labels (focused rounds) m0 and m1 are Kish effective sizes, so the formula needs no
other change. Costs nothing to compute, so the simulation study can run it on thousands of datasets.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from ._agreement import check_confidence


def z_value(confidence: float) -> float:
    check_confidence(confidence)
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def lee_interval(p: float, q0: float, q1: float, n: float, m0: float, m1: float,
                 confidence: float = 0.95) -> tuple[float, float]:
    """(lower, upper) of Lee et al.'s interval; (0, 1) when the adjusted judge is no better than chance.

    n, m0, m1 may be effective (non-whole) sizes; each must be positive.
    """
    for name, value in (("p", p), ("q0", q0), ("q1", q1)):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    for name, value in (("n", n), ("m0", m0), ("m1", m1)):
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    z = z_value(confidence)
    z2 = z * z
    pt, q0t, q1t = (n * p + z2 / 2) / (n + z2), (m0 * q0 + 1) / (m0 + 2), (m1 * q1 + 1) / (m1 + 2)
    nt, m0t, m1t = n + z2, m0 + 2, m1 + 2
    j = q0t + q1t - 1
    if j <= 0:
        return 0.0, 1.0
    th = (pt + q0t - 1) / j
    v0, v1 = q0t * (1 - q0t) / m0t, q1t * (1 - q1t) / m1t
    shift = 2 * z2 * (th * v1 - (1 - th) * v0)
    se = math.sqrt(pt * (1 - pt) / nt + (1 - th) ** 2 * v0 + th * th * v1) / j
    return _clip(th + shift - z * se), _clip(th + shift + z * se)


def lee_half_width(p: float, q0: float, q1: float, n: float, m0: float, m1: float,
                   confidence: float = 0.95) -> float:
    """Half the width of ``lee_interval`` (after clipping): what "± X" a report can promise."""
    low, high = lee_interval(p, q0, q1, n, m0, m1, confidence)
    return (high - low) / 2


def _clip(x: float) -> float:
    return min(1.0, max(0.0, x))
