"""The simulation study's paired half: do the intervals of "did it improve?" cover?

Two comparisons sheetsync shows, each simulated with a known truth:

- versions (``sheetsync compare A B``): two versions of the AI answer the same m inputs; each passes with
  its own true rate, the two correlated (B keeps A's outcome on 60% of the inputs); one judge with known
  TPR/TNR scores both, and its TPR/TNR are measured on n expert labels drawn at random. The truth is
  θ_B − θ_A, the difference of the versions' true pass rates;
- runs (``compare --runs``, the Agreement tab): two judge runs on the same n expert passes, each right with
  its own TPR, correlated the same way. The truth is TPR_B − TPR_A.

Used by ``tests/test_coverage.py`` (a small grid, in CI) and ``scripts/coverage_study.py`` (the whole
grid, into docs/coverage.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sheetsync.metrics._paired import corrected_from_counts, paired_from_counts

KEEP = 0.6  # the share of inputs on which B's outcome is A's (pairs are correlated, as real versions are)


@dataclass(frozen=True)
class VersionsScenario:
    tpr: float
    tnr: float
    pass_a: float
    pass_b: float
    n_inputs: int  # m: inputs both versions answered (a dimension cell is a small m)
    n_labelled: int  # expert labels the judge's TPR/TNR rest on

    def label(self) -> str:
        return (f"TPR {self.tpr:.2f} TNR {self.tnr:.2f} A {self.pass_a:.2f} B {self.pass_b:.2f} "
                f"m={self.n_inputs} n={self.n_labelled}")


@dataclass(frozen=True)
class RunsScenario:
    tpr_a: float
    tpr_b: float
    n_passes: int

    def label(self) -> str:
        return f"TPR {self.tpr_a:.2f} → {self.tpr_b:.2f} n={self.n_passes}"


def _pair(rng: np.random.Generator, m: int, pa: float, pb: float) -> tuple[np.ndarray, np.ndarray]:
    """m correlated pairs with P(A) = pa, P(B) = pb: B copies A with probability KEEP, else draws afresh."""
    q = (pb - KEEP * pa) / (1 - KEEP)
    if not 0 <= q <= 1:
        raise ValueError(f"pass rates {pa} and {pb} cannot be paired with KEEP = {KEEP}")
    a = rng.random(m) < pa
    b = np.where(rng.random(m) < KEEP, a, rng.random(m) < q)
    return a, b


def _table(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, int]:
    return int((a & b).sum()), int((a & ~b).sum()), int((~a & b).sum()), int((~a & ~b).sum())


def _judge(truth: np.ndarray, tpr: float, tnr: float, rng: np.random.Generator) -> np.ndarray:
    right = np.where(truth, rng.random(truth.size) < tpr, rng.random(truth.size) < tnr)
    return np.where(right, truth, ~truth)


def versions_once(s: VersionsScenario, rng: np.random.Generator) -> bool | None:
    a, b = _pair(rng, s.n_inputs, s.pass_a, s.pass_b)
    ja, jb = _judge(a, s.tpr, s.tnr, rng), _judge(b, s.tpr, s.tnr, rng)
    expert = rng.random(s.n_labelled) < s.pass_a
    seen = _judge(expert, s.tpr, s.tnr, rng)
    n1, n0 = int(expert.sum()), int((~expert).sum())
    if not n1 or not n0:
        return None
    tpr, tnr = float((expert & seen).sum()) / n1, float((~expert & ~seen).sum()) / n0
    if tpr + tnr <= 1:
        return None
    low, high = corrected_from_counts(*_table(ja, jb), tpr, tnr, n1, n0)["ci"]
    truth = s.pass_b - s.pass_a
    return low - 1e-12 <= truth <= high + 1e-12


def runs_once(s: RunsScenario, rng: np.random.Generator) -> bool | None:
    a, b = _pair(rng, s.n_passes, s.tpr_a, s.tpr_b)
    low, high = paired_from_counts(*_table(a, b))["ci"]
    truth = s.tpr_b - s.tpr_a
    return low - 1e-12 <= truth <= high + 1e-12


def paired_coverage(s: VersionsScenario | RunsScenario, reps: int, seed: int) -> dict[str, Any]:
    """Coverage over the datasets that gave an interval, with its simulation error."""
    rng = np.random.default_rng(seed)
    once = versions_once if isinstance(s, VersionsScenario) else runs_once
    hits = [h for h in (once(s, rng) for _ in range(reps)) if h is not None]
    n = len(hits)
    cov = sum(hits) / n if n else None
    return {"coverage": cov, "se": math.sqrt(cov * (1 - cov) / n) if n else None, "datasets": n,
            "no_interval": reps - n}


def versions_grid(judges=((0.9, 0.8), (0.75, 0.7)), rates=((0.6, 0.6), (0.6, 0.7), (0.85, 0.75)),
                  inputs=(30, 300, 5000), labelled=(40, 200)) -> list[VersionsScenario]:
    return [VersionsScenario(t, f, a, b, m, n) for t, f in judges for a, b in rates for m in inputs for n in labelled]


def runs_grid(changes=((0.8, 0.8), (0.8, 0.87), (0.95, 0.85), (0.97, 0.97)), passes=(20, 60, 300)
              ) -> list[RunsScenario]:
    return [RunsScenario(a, b, n) for a, b in changes for n in passes]
