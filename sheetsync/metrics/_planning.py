"""How many more labels: the interval a team can expect after k more, and where a budget narrows it most.

Each expectation holds the rates measured so far fixed and asks how wide the same interval would be with
more rows behind it. That is what a team can plan with; the real interval will wobble around it.
"""

from __future__ import annotations

from typing import Any

from ._closed_form import lee_half_width
from ._design import wilson_at

MAX_LABELS = 100_000  # searches for "labels needed" stop here: beyond it, the answer is "far more"


def rate_half_width(rate: float, n: float, confidence: float = 0.95) -> float | None:
    """Half the width of Wilson's interval for ``rate`` on n (effective) rows; None when n is 0."""
    ci = wilson_at(rate, n, confidence) if n > 0 else None
    return None if ci is None else (ci[1] - ci[0]) / 2


def labels_needed_for_rate(rate: float, n: float, target: float, confidence: float = 0.95) -> int | None:
    """The fewest more labels of this class after which the rate's half-width is at most ``target``.

    0 when it already is; None when even MAX_LABELS more would not do.
    """
    def ok(k: int) -> bool:
        width = rate_half_width(rate, n + k, confidence)
        return width is not None and width <= target

    return _smallest(ok)


def corrected_half_width(p: float, tnr: float, tpr: float, n: float, m0: float, m1: float, k0: int = 0,
                         k1: int = 0, confidence: float = 0.95) -> float:
    """The corrected pass rate's half-width (Lee et al.'s interval) after k0 more fails and k1 more passes."""
    return lee_half_width(p, tnr, tpr, n, m0 + k0, m1 + k1, confidence)


def best_split(p: float, tnr: float, tpr: float, n: float, m0: float, m1: float, budget: int,
               confidence: float = 0.95) -> dict[str, Any]:
    """The split of ``budget`` more labels into fails (k0) and passes (k1) that narrows the corrected
    pass rate's interval most, with the half-width it leads to and the one an even split gives."""
    best = (float("inf"), 0)
    step = max(1, budget // 400)
    for k1 in range(0, budget + 1, step):
        width = corrected_half_width(p, tnr, tpr, n, m0, m1, budget - k1, k1, confidence)
        if width < best[0] - 1e-15:
            best = (width, k1)
    even = corrected_half_width(p, tnr, tpr, n, m0, m1, budget - budget // 2, budget // 2, confidence)
    return {"budget": budget, "fails": budget - best[1], "passes": best[1], "half_width": best[0],
            "half_width_even_split": even}


def labels_needed_for_corrected(p: float, tnr: float, tpr: float, n: float, m0: float, m1: float,
                                target: float, confidence: float = 0.95) -> dict[str, Any] | None:
    """The smallest budget (best split each time) after which the corrected rate's half-width is at most
    ``target``; None when MAX_LABELS more labels would not do (the unlabelled sample's own noise, or a
    judge barely better than chance, can keep it wide whatever the expert labels)."""
    def ok(k: int) -> bool:
        return best_split(p, tnr, tpr, n, m0, m1, k, confidence)["half_width"] <= target

    k = _smallest(ok)
    return None if k is None else best_split(p, tnr, tpr, n, m0, m1, k, confidence)


def _smallest(ok) -> int | None:
    if ok(0):
        return 0
    hi = 1
    while not ok(hi):
        hi *= 2
        if hi > MAX_LABELS:
            return None
    lo = hi // 2  # ok(lo) is false, ok(hi) true
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi
