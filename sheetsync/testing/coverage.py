"""The simulation study behind the report's intervals: many datasets with a known truth, each interval
sheetsync shows computed on every one, and the share of them that contain the truth (coverage).

A scenario fixes the judge (TPR, TNR), the AI's true pass rate (prevalence), how many rows the expert
labels and how they were chosen, and how many unlabelled rows the judge scores:

- random: the labelled rows are a uniform sample of the population;
- balanced: as many expert passes as fails (chosen on the expert's verdict, as a team building a balanced
  test set does): TPR and TNR need no weights, the expert's raw pass rate is meaningless;
- focused: ``push --focus fails`` — 70% of the batch drawn from the rows the judge failed, 30% at random
  from the rest, each row weighted by 1 / its probability of being drawn (as sheetsync records it).

Truths are the population's: TPR, TNR and the pass rate of the process that made the rows; under focused
sampling the labels are drawn (and weighted to stand for) a finite pool of rows, the dataset, so TPR and TNR
are the pool's own, and the unlabelled rows are judged with them. Used by
``tests/test_coverage.py`` (a small grid, in CI) and ``scripts/coverage_study.py`` (the whole grid, written
into docs/coverage.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sheetsync.metrics import lee_interval
from sheetsync.metrics._agreement import wilson_interval
from sheetsync.metrics._correction import _estimate
from sheetsync.metrics._design import stratified_rates

METHODS = ("wilson_tpr", "wilson_tnr", "lee", "full", "judgy", "cell_lee")
RANDOM_SHARE = 0.3


@dataclass(frozen=True)
class Scenario:
    tpr: float
    tnr: float
    prevalence: float
    n_labelled: int
    n_unlabelled: int
    sampling: str  # random | balanced | focused

    def label(self) -> str:
        return (f"TPR {self.tpr:.2f} TNR {self.tnr:.2f} pass {self.prevalence:.2f} n={self.n_labelled} "
                f"m={self.n_unlabelled} {self.sampling}")


@dataclass
class Labelled:
    expert: np.ndarray  # True = pass
    judge: np.ndarray
    weights: np.ndarray | None  # None: equal
    tpr: float  # the truth the labels measure: the scenario's, or (focused) the pool's own
    tnr: float


def draw_labelled(s: Scenario, rng: np.random.Generator) -> Labelled:
    """One labelled set under the scenario's sampling."""
    if s.sampling == "balanced":
        half = s.n_labelled // 2
        expert = np.r_[np.ones(s.n_labelled - half, bool), np.zeros(half, bool)]
        return Labelled(expert, _judge(expert, s, rng), None, s.tpr, s.tnr)
    if s.sampling == "random":
        expert = rng.random(s.n_labelled) < s.prevalence
        return Labelled(expert, _judge(expert, s, rng), None, s.tpr, s.tnr)
    pool = max(20 * s.n_labelled, 4000)
    expert = rng.random(pool) < s.prevalence
    judge = _judge(expert, s, rng)
    flagged = np.flatnonzero(~judge)
    want = s.n_labelled - round(s.n_labelled * RANDOM_SHARE)
    chosen = rng.choice(flagged, size=min(want, len(flagged)), replace=False)
    rest = np.setdiff1d(np.arange(pool), chosen)
    r = s.n_labelled - len(chosen)
    randoms = rng.choice(rest, size=r, replace=False)
    p_rest = r / len(rest)
    p_flag = len(chosen) / len(flagged) if len(flagged) else 0.0
    prob = np.where(~judge, p_flag + (1 - p_flag) * p_rest, p_rest)
    idx = np.r_[chosen, randoms]
    # The weights make the labels stand for the pool they were drawn from (the dataset), so the pool's own
    # TPR and TNR are what they measure; the unlabelled rows are judged with the same error rates.
    pool_tpr, pool_tnr = float(judge[expert].mean()), float((~judge[~expert]).mean())
    return Labelled(expert[idx], judge[idx], 1.0 / prob[idx], pool_tpr, pool_tnr)


def _judge(expert: np.ndarray, s: Scenario, rng: np.random.Generator) -> np.ndarray:
    right = np.where(expert, rng.random(expert.size) < s.tpr, rng.random(expert.size) < s.tnr)
    return np.where(right, expert, ~expert)


def judge_pass_rate(pi: float, tpr: float, tnr: float) -> float:
    return pi * tpr + (1 - pi) * (1 - tnr)


def _covers(ci: tuple[float, float] | None, truth: float) -> bool | None:
    if ci is None:
        return None
    return ci[0] - 1e-12 <= truth <= ci[1] + 1e-12


def one_dataset(s: Scenario, rng: np.random.Generator, methods: tuple[str, ...], iterations: int
                ) -> dict[str, bool | None]:
    """Whether each method's interval covers its truth on one simulated dataset (None: no interval)."""
    lab = draw_labelled(s, rng)
    w = np.ones(lab.expert.size) if lab.weights is None else lab.weights
    pos, neg = lab.expert, ~lab.expert
    out: dict[str, bool | None] = {}
    if lab.weights is None:
        tpr = float((pos & lab.judge).sum() / pos.sum()) if pos.any() else None
        tnr = float((neg & ~lab.judge).sum() / neg.sum()) if neg.any() else None
        n1, n0 = float(pos.sum()), float(neg.sum())
        ci_tpr = wilson_interval(int((pos & lab.judge).sum()), int(pos.sum())) if pos.any() else None
        ci_tnr = wilson_interval(int((neg & ~lab.judge).sum()), int(neg.sum())) if neg.any() else None
    else:
        r = stratified_rates(lab.expert * 2 + lab.judge, w)
        tpr, ci_tpr = (r["tpr"][0], r["tpr"][1:]) if r["tpr"] else (None, None)
        tnr, ci_tnr = (r["tnr"][0], r["tnr"][1:]) if r["tnr"] else (None, None)
        n1, n0 = r["tpr_n"], r["tnr_n"]
    if "wilson_tpr" in methods:
        out["wilson_tpr"] = _covers(ci_tpr, lab.tpr)
    if "wilson_tnr" in methods:
        out["wilson_tnr"] = _covers(ci_tnr, lab.tnr)
    m = s.n_unlabelled
    passes = int(rng.binomial(m, judge_pass_rate(s.prevalence, lab.tpr, lab.tnr))) if m else 0
    usable = m > 0 and tpr is not None and tnr is not None and tpr + tnr > 1
    if "lee" in methods:
        out["lee"] = _covers(lee_interval(passes / m, tnr, tpr, m, n0, n1) if usable else None, s.prevalence)
    for method in ("full", "judgy"):
        if method in methods:
            out[method] = _covers(_bootstrap(lab, passes, m, method, iterations) if usable else None,
                                  s.prevalence)
    if "cell_lee" in methods:  # a dimension cell: a tenth of the unlabelled rows, its own pass rate
        cell_m = max(1, m // 10)
        cell_pi = min(0.95, s.prevalence + 0.1)
        cell_passes = int(rng.binomial(cell_m, judge_pass_rate(cell_pi, lab.tpr, lab.tnr))) if m else 0
        ci = lee_interval(cell_passes / cell_m, tnr, tpr, cell_m, n0, n1) if usable else None
        out["cell_lee"] = _covers(ci, cell_pi)
    return out


def _bootstrap(lab: Labelled, passes: int, m: int, method: str, iterations: int) -> tuple[float, float] | None:
    weights = None if lab.weights is None or method == "judgy" else lab.weights
    try:
        est = _estimate(lab.expert, lab.judge, passes, m, iterations=iterations, confidence=0.95, seed=None,
                        method=method, weights=weights)
    except (ValueError, RuntimeError):
        return None
    return est.lower, est.upper


def coverage(s: Scenario, reps: int, seed: int, methods: tuple[str, ...] = METHODS,
             iterations: int = 400) -> dict[str, dict[str, Any]]:
    """Per method: coverage over the datasets that gave an interval, with its simulation error."""
    rng = np.random.default_rng(seed)
    hits: dict[str, list[bool]] = {k: [] for k in methods}
    missing = dict.fromkeys(methods, 0)
    for _ in range(reps):
        for k, v in one_dataset(s, rng, methods, iterations).items():
            if v is None:
                missing[k] += 1
            else:
                hits[k].append(v)
    out = {}
    for k in methods:
        n = len(hits[k])
        cov = sum(hits[k]) / n if n else None
        se = math.sqrt(cov * (1 - cov) / n) if n and cov is not None else None
        out[k] = {"coverage": cov, "se": se, "datasets": n, "no_interval": missing[k]}
    return out


def grid(tprs=(0.75, 0.9), tnrs=(0.7, 0.9), prevalences=(0.5, 0.85), labelled=(20, 100, 400),
         unlabelled=(30, 1000, 100_000), samplings=("random", "balanced", "focused")) -> list[Scenario]:
    return [Scenario(a, b, c, d, e, f) for a in tprs for b in tnrs for c in prevalences for d in labelled
            for e in unlabelled for f in samplings]
