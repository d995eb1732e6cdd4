"""Labelled rows chosen with unequal probabilities (focused or stratified rounds): inverse-probability weights.

A row the judge failed is drawn far more often by ``push --focus fails`` than an ordinary row, so among the
expert's labels judge-fails are over-represented and TPR (pass recall) is biased low. Weighting each
labelled row by 1/π — π the probability it had of being drawn, recorded by the sampler — makes every sum
over labelled rows an unbiased (Horvitz–Thompson) estimate of the same sum over all rows; rates are ratios
of two such sums (Hájek), so a constant factor in the weights never matters and equal weights give back
the unweighted figures exactly.

Intervals for a weighted TPR, TNR or accuracy come from ``stratified_rates`` (rows of equal weight are one
stratum of the design; the interval counts what each stratum did not show). ``weighted_rate`` gives a
weighted share with the effective size from its design-based (linearisation) variance, R(1 − R)/V with
V = Σw²(y − R)²/(Σw)², for a plain weighted proportion such as the expert's pass rate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ._agreement import check_confidence, wilson_interval
from ._labels import as_list


class Design(NamedTuple):
    """Weights for a set of labelled rows, and what could not be weighted.

    weights: one per row (None where the row is left out: no known probability while others have one);
    weighted: True when the known probabilities differ, so the weights change the figures;
    n_unknown: rows whose probability of being drawn was not recorded; note: the words for the report.
    """

    weights: list[float | None]
    weighted: bool
    n_unknown: int
    note: str


def design_weights(probabilities: Iterable[Any]) -> Design:
    """Inverse-probability weights from each labelled row's recorded probability of being drawn.

    - every probability known: w = 1/π (equal π → equal weights → the unweighted figures);
    - none known: equal weights, and the note says the rows are treated as a random sample;
    - some known, and they differ: the rows without one are left out (weight None), counted in n_unknown;
    - some known, all equal: nothing to correct, so every row counts with an equal weight.
    """
    probs = as_list(probabilities, "probabilities")
    known = []
    for p in probs:
        if p is None or (isinstance(p, float) and math.isnan(p)):
            continue
        if not 0 < float(p) <= 1:
            raise ValueError(f"a probability of being drawn must be in (0, 1], got {p!r}")
        known.append(float(p))
    n_unknown = len(probs) - len(known)
    if not known:
        note = ("how these labels were chosen is not recorded: the figures treat them as a random sample."
                if probs else "")
        return Design([1.0] * len(probs), False, n_unknown, note)
    equal = max(known) - min(known) <= 1e-12 * max(known)
    if equal:
        note = (f"{n_unknown} label(s) have no recorded probability of being drawn; like the others they are "
                "treated as a random sample." if n_unknown else "")
        return Design([1.0] * len(probs), False, n_unknown, note)
    weights = [None if p is None or (isinstance(p, float) and math.isnan(p)) else 1.0 / float(p) for p in probs]
    note = "weighted by 1 / (each label's probability of being drawn), so focused rounds do not bias the rates."
    if n_unknown:
        note += (f" {n_unknown} label(s) with no recorded probability are left out of the weighted figures.")
    return Design(weights, True, n_unknown, note)


def effective_n(weights: Sequence[float]) -> float:
    """Kish's effective sample size (Σw)² / Σw²; equals len(weights) when the weights are equal."""
    w = np.asarray(weights, dtype=float)
    if w.size == 0:
        return 0.0
    s2 = float((w * w).sum())
    return float(w.sum()) ** 2 / s2 if s2 else 0.0


def weighted_rate(hits: Sequence[bool], weights: Sequence[float]) -> tuple[float | None, float]:
    """(Σ w·hit / Σ w, its effective sample size) — (None, 0) when there are no rows.

    With equal weights the size is the row count, so intervals are the unweighted ones.
    """
    w = np.asarray(weights, dtype=float)
    if w.size == 0 or w.sum() <= 0:
        return None, 0.0
    h = np.asarray(hits, dtype=float)
    rate = float((w * h).sum() / w.sum())
    if float(w.max() - w.min()) <= 1e-12 * float(w.max()):
        return rate, float(w.size)
    var = float((w * w * (h - rate) ** 2).sum()) / float(w.sum()) ** 2
    if var <= 0 or rate in (0.0, 1.0):
        return rate, effective_n(w)
    return rate, rate * (1 - rate) / var


def wilson_at(rate: float, n_eff: float, confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson's score interval for a rate measured on n_eff effective rows (n_eff need not be whole).

    At a whole n_eff with rate = k/n it is exactly ``wilson_interval(k, n)``.
    """
    check_confidence(confidence)
    if n_eff <= 0:
        return None
    k = rate * n_eff
    if abs(k - round(k)) < 1e-9 and abs(n_eff - round(n_eff)) < 1e-9:
        return wilson_interval(int(round(k)), int(round(n_eff)), confidence)
    from statistics import NormalDist

    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    z2n = z * z / n_eff
    centre = (rate + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(max(rate * (1 - rate), 0.0) / n_eff + z * z / (4 * n_eff * n_eff))
    low = 0.0 if rate <= 0 else max(0.0, centre - half)
    high = 1.0 if rate >= 1 else min(1.0, centre + half)
    return (low, high)


POSTERIOR_DRAWS = 4000


def stratified_rates(cells: np.ndarray, weights: np.ndarray, confidence: float = 0.95, *, seed: int = 0
                     ) -> dict[str, Any]:
    """TPR, TNR and accuracy of weighted labels with intervals that survive focused sampling:
    {name: (rate, low, high) or None} plus each rate's effective size under "<name>_n".

    Rows with the same weight were drawn the same way (one stratum of one round: the flagged part, the
    random share, a stratum of a stratified sample), so each weight is a stratum of N_h = Σw rows of the
    population. A rate is a ratio of stratum totals, e.g. TPR = Σ_h N_h·P_h(tp) / Σ_h N_h·P_h(pass). Within
    each stratum the judge's verdict share gets Jeffreys' Beta(counts + ½) (only over the verdicts the
    stratum holds: a flagged stratum has no judge pass by construction), and the expert's verdict given the
    judge's gets Beta(passes + ½, fails + ½); the interval is the spread of the rate over draws from these.
    Unlike an interval from the weighted variance alone, this counts what a stratum *did not* show: under
    ``--focus fails`` an expert fail the judge passed can only come from the small random share, and when
    none is drawn the variance is 0 while TNR is far from known (such intervals covered TNR 30% of the time
    in the simulation study). ``cells`` holds 3/2/1/0 for tp/fn/fp/tn. The draws are seeded: same labels,
    same interval.
    """
    z = 1 - (1 - confidence) / 2
    groups, inverse = np.unique(np.round(weights, 9), return_inverse=True)
    counts = np.zeros((len(groups), 4))
    np.add.at(counts, (inverse, 3 - cells), 1)  # columns tp, fn, fp, tn
    rng = np.random.default_rng(seed)
    totals = np.zeros((POSTERIOR_DRAWS, 4))
    for (tp_c, fn_c, fp_c, tn_c), w_h in zip(counts, groups, strict=True):
        # How many population rows the stratum stands for is itself estimated (how many of a round's random
        # share fell in it is chance): its n_h rows give N_h ~ Gamma(n_h + ½) · w_h, as Poisson sampling would.
        size = rng.gamma(tp_c + fn_c + fp_c + tn_c + 0.5, size=POSTERIOR_DRAWS) * w_h
        jp, jf = tp_c + fp_c, fn_c + tn_c  # rows the judge passed / failed in this stratum
        if jp and jf:
            share = rng.beta(jp + 0.5, jf + 0.5, size=POSTERIOR_DRAWS)
        else:
            share = np.full(POSTERIOR_DRAWS, 1.0 if jp else 0.0)
        pass_given_jp = rng.beta(tp_c + 0.5, fp_c + 0.5, size=POSTERIOR_DRAWS)
        pass_given_jf = rng.beta(fn_c + 0.5, tn_c + 0.5, size=POSTERIOR_DRAWS)
        totals += size[:, None] * np.stack([share * pass_given_jp, (1 - share) * pass_given_jf,
                                   share * (1 - pass_given_jp), (1 - share) * (1 - pass_given_jf)], axis=1)
    tp, fn, fp, tn = (counts * groups[:, None]).sum(axis=0)
    out: dict[str, Any] = {}
    for name, num, den, hit, all_ in (("tpr", totals[:, 0], totals[:, 0] + totals[:, 1], tp, tp + fn),
                                      ("tnr", totals[:, 3], totals[:, 3] + totals[:, 2], tn, tn + fp),
                                      ("accuracy", totals[:, 0] + totals[:, 3], totals.sum(axis=1), tp + tn,
                                       tp + fn + fp + tn)):
        if all_ <= 0:
            out[name], out[f"{name}_n"] = None, 0.0
            continue
        values = num / den
        rate = float(hit / all_)
        low, high = (float(np.quantile(values, q)) for q in (1 - z, z))
        var = float(values.var())
        out[name] = (rate, min(low, rate), max(high, rate))
        mean = float(values.mean())
        out[f"{name}_n"] = mean * (1 - mean) / var if var > 0 else float(all_ / groups.max())
    return out
