"""The judge's observed pass rate corrected for its errors (Rogan–Gladen), with a bootstrap interval."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ._agreement import by_columns, cell_key, check_confidence, require_columns
from ._labels import as_list, normalize_judge, normalize_label

METHODS = ("judgy", "full")
# Bootstrap draws per block: bounds memory (block × n_test indices) without changing the random stream.
_BLOCK_CELLS = 2_000_000


class JudgeNoBetterThanChance(ValueError):
    """TPR + TNR <= 1 on the labelled data: the judge is no better than chance, so the correction is undefined."""


class NoValidBootstrapSamples(RuntimeError):
    """Every bootstrap resample lacked a pass, a fail, or a better-than-chance judge."""


class _Estimate(NamedTuple):
    theta: float
    lower: float
    upper: float


_DETAILS = ("p_obs", "tpr", "tnr", "theta_unclipped", "n_test", "n_unlabeled", "n_test_excluded",
            "n_unlabeled_excluded", "n_bootstrap_valid", "iterations", "confidence", "method", "seed")


class CorrectedRate(_Estimate):
    """(theta, lower, upper): the corrected pass rate and its percentile-bootstrap interval.

    A real 3-tuple, so `theta, lower, upper = corrected_success_rate(...)` works and it compares equal to
    judgy's result; the inputs of the estimate are read-only attributes besides: p_obs (the judge's pass
    rate on the unlabeled rows), tpr, tnr (on the labelled rows), theta_unclipped (before clipping to
    [0, 1]), n_test, n_unlabeled (rows used), n_test_excluded, n_unlabeled_excluded (missing or judge
    errors), n_bootstrap_valid (resamples that gave an estimate; the others had no pass, no fail or a
    chance-level judge and are skipped, as judgy does), iterations, confidence, method, seed.
    """

    def __new__(cls, theta: float, lower: float, upper: float, **details: Any) -> CorrectedRate:
        self = super().__new__(cls, theta, lower, upper)
        unknown = set(details) - set(_DETAILS)
        if unknown:
            raise TypeError(f"unknown CorrectedRate fields: {sorted(unknown)}")
        for name in _DETAILS:
            self.__dict__[name] = details.get(name)
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("CorrectedRate is read-only")

    def _replace(self, **changes: Any) -> CorrectedRate:
        values = {**self.to_dict(), **changes}
        return CorrectedRate(**values)

    def to_dict(self) -> dict[str, Any]:
        """theta, lower, upper and every detail, as plain Python values."""
        return {"theta": self.theta, "lower": self.lower, "upper": self.upper,
                **{name: self.__dict__[name] for name in _DETAILS}}

    def __repr__(self) -> str:
        extra = ", ".join(f"{k}={self.__dict__[k]!r}" for k in _DETAILS)
        return f"CorrectedRate(theta={self.theta!r}, lower={self.lower!r}, upper={self.upper!r}, {extra})"


def _check_options(iterations: int, confidence: float, method: str) -> None:
    check_confidence(confidence)  # judgy's checks, in judgy's order, with our parameter names
    if int(iterations) != iterations or iterations <= 0:
        raise ValueError(f"iterations must be positive, got {iterations!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def _labelled_pairs(labels: Sequence[Any], preds: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, int]:
    if len(labels) != len(preds):
        raise ValueError(
            f"test_labels and test_preds must have the same length. Got {len(labels)} and {len(preds)}"
        )
    keep_l, keep_p, excluded = [], [], 0
    for raw_l, raw_p in zip(labels, preds, strict=True):
        lab, pred = normalize_label(raw_l), normalize_judge(raw_p)
        if lab is None or pred is None:
            excluded += 1
        else:
            keep_l.append(lab)
            keep_p.append(pred)
    return np.array(keep_l, dtype=bool), np.array(keep_p, dtype=bool), excluded


def _unlabeled(preds: Sequence[Any]) -> tuple[int, int, int]:
    """(passes, n used, n excluded)."""
    values = [normalize_judge(p) for p in preds]
    used = [v for v in values if v is not None]
    return sum(used), len(used), len(values) - len(used)


def _no_better_than_chance(tpr: float, tnr: float) -> JudgeNoBetterThanChance:
    # The first two sentences are judgy's message, so callers matching on it keep working.
    return JudgeNoBetterThanChance(
        f"Judge accuracy too low for correction. TPR + TNR = {tpr + tnr:.3f} <= 1. "
        f"Judge must be better than random. (TPR = {tpr:.3f}, TNR = {tnr:.3f} on the labelled rows: the "
        "judge is no better than chance, so the corrected pass rate is undefined.)"
    )


def _corrected(p_obs: float, tpr: Any, tnr: Any) -> Any:
    # Same operation order as judgy, so the floats are bit-identical.
    return (p_obs + tnr - 1) / (tpr + tnr - 1)


def _bootstrap(labels: np.ndarray, preds: np.ndarray, passes: int, m: int, p_obs: float, iterations: int,
               method: str, seed: int | None) -> np.ndarray:
    """The clipped theta of every valid bootstrap resample, in draw order."""
    rs = np.random.RandomState(seed)
    n = len(labels)
    out = []
    if method == "judgy":
        # judgy draws np.random.choice(arange(n), size=n, replace=True) once per iteration, which is
        # RandomState.randint(0, n, size=n); consecutive draws form one stream, so drawing them in blocks
        # gives the same indices as judgy with np.random.seed(seed).
        both_pass, both_fail = labels & preds, ~labels & ~preds
        block = max(1, _BLOCK_CELLS // n)
        done = 0
        while done < iterations:
            k = min(block, iterations - done)
            idx = rs.randint(0, n, size=(k, n))
            pos = labels[idx].sum(axis=1)
            tp = both_pass[idx].sum(axis=1)
            tn = both_fail[idx].sum(axis=1)
            out.append(_thetas(pos, n - pos, tp, tn, np.full(k, p_obs)))
            done += k
    else:
        # Resampling rows with replacement only matters through the counts, so draw the counts directly:
        # the labelled cells (tp, fn, fp, tn) from a multinomial, the unlabeled passes from a binomial.
        cells = np.array([(labels & preds).sum(), (labels & ~preds).sum(), (~labels & preds).sum(),
                          (~labels & ~preds).sum()])
        counts = rs.multinomial(n, cells / n, size=iterations)
        tp, fn, fp, tn = counts.T
        p_boot = rs.binomial(m, passes / m, size=iterations) / m
        out.append(_thetas(tp + fn, fp + tn, tp, tn, p_boot))
    return np.concatenate(out)


def _thetas(pos: np.ndarray, neg: np.ndarray, tp: np.ndarray, tn: np.ndarray, p_obs: np.ndarray) -> np.ndarray:
    # Valid: both classes present and TPR + TNR > 1, tested exactly on integers (tp·neg + tn·pos > pos·neg).
    ok = (pos > 0) & (neg > 0) & (tp * neg + tn * pos > pos * neg)
    tpr = tp[ok] / pos[ok]
    tnr = tn[ok] / neg[ok]
    return np.clip(_corrected(p_obs[ok], tpr, tnr), 0, 1)


def corrected_success_rate(
    test_labels: Iterable[Any],
    test_preds: Iterable[Any],
    unlabeled_preds: Iterable[Any],
    *,
    iterations: int = 20000,
    confidence: float = 0.95,
    seed: int | None = 0,
    method: str = "judgy",
) -> CorrectedRate:
    """The true pass rate estimated from the judge's verdicts on unlabeled rows, corrected for its errors.

    Rogan–Gladen: theta = (p_obs + TNR - 1) / (TPR + TNR - 1), clipped to [0, 1], where p_obs is the judge's
    pass rate on `unlabeled_preds` and TPR/TNR are measured on the labelled pairs (test_labels = expert,
    test_preds = judge). The interval is a percentile bootstrap at `confidence`:

    - method="judgy" reproduces judgy 0.1.0: only the labelled pairs are resampled (p_obs is held fixed),
      resamples without a pass, without a fail or with TPR + TNR <= 1 are skipped. With the same seed it
      draws exactly judgy's indices (`np.random.seed(seed)` then `judgy.estimate_success_rate`) without
      touching numpy's global random state.
    - method="full" also resamples the unlabeled verdicts, so the interval covers the noise of both
      samples; it matters when the unlabeled set is small. It draws the resampled counts directly
      (multinomial over tp/fn/fp/tn, binomial for the unlabeled passes), which has the same distribution
      as resampling rows and costs O(iterations); its random stream is its own, not judgy's.

    "TPR + TNR <= 1" is decided on integers (tp·neg + tn·pos <= pos·neg), not on rounded floats as in
    judgy; the two agree for every count up to 400 passes and 400 fails (checked exhaustively).

    Labels are read with normalize_label; missing values and judge "error" markers are excluded (pairs
    as a whole) and counted. Raises ValueError (judgy's messages) for bad options, mismatched lengths,
    no usable labelled or unlabeled rows, or labelled rows without both a pass and a fail;
    JudgeNoBetterThanChance (a ValueError) when TPR + TNR <= 1; NoValidBootstrapSamples (a RuntimeError,
    as judgy) when no resample gives an estimate.
    """
    _check_options(iterations, confidence, method)
    labels, preds, n_test_excluded = _labelled_pairs(as_list(test_labels, "test_labels"),
                                                     as_list(test_preds, "test_preds"))
    passes, m, n_unlabeled_excluded = _unlabeled(as_list(unlabeled_preds, "unlabeled_preds"))
    return _estimate(labels, preds, passes, m, iterations=int(iterations), confidence=confidence, seed=seed,
                     method=method, n_test_excluded=n_test_excluded, n_unlabeled_excluded=n_unlabeled_excluded)


def _estimate(labels: np.ndarray, preds: np.ndarray, passes: int, m: int, *, iterations: int,
              confidence: float, seed: int | None, method: str, n_test_excluded: int = 0,
              n_unlabeled_excluded: int = 0) -> CorrectedRate:
    n = len(labels)
    if n == 0:
        raise ValueError("test_labels cannot be empty" + _after(n_test_excluded, "labelled pairs"))
    if m == 0:
        raise ValueError("unlabeled_preds cannot be empty" + _after(n_unlabeled_excluded, "predictions"))
    pos = int(labels.sum())
    neg = n - pos
    if pos == 0 or neg == 0:
        raise ValueError("test_labels must contain both positive and negative examples "
                         f"(got {pos} pass and {neg} fail)")
    tp = int((labels & preds).sum())
    tn = int((~labels & ~preds).sum())
    tpr, tnr = tp / pos, tn / neg
    p_obs = passes / m
    if tp * neg + tn * pos <= pos * neg:  # TPR + TNR <= 1, exactly
        raise _no_better_than_chance(tpr, tnr)
    raw = _corrected(p_obs, tpr, tnr)
    theta = float(np.clip(raw, 0, 1))
    samples = _bootstrap(labels, preds, passes, m, p_obs, iterations, method, seed)
    if samples.size == 0:
        raise NoValidBootstrapSamples(
            "No valid bootstrap samples generated. This may indicate insufficient test data or very poor "
            f"judge performance. ({iterations} resamples of {n} labelled pairs, none with a pass, a fail "
            "and TPR + TNR > 1.)"
        )
    alpha = 1 - confidence
    lower = float(np.percentile(samples, (alpha / 2) * 100))
    upper = float(np.percentile(samples, (1 - alpha / 2) * 100))
    return CorrectedRate(
        theta, lower, upper, p_obs=p_obs, tpr=tpr, tnr=tnr, theta_unclipped=float(raw), n_test=n,
        n_unlabeled=m, n_test_excluded=n_test_excluded, n_unlabeled_excluded=n_unlabeled_excluded,
        n_bootstrap_valid=int(samples.size), iterations=iterations, confidence=confidence, method=method,
        seed=seed,
    )


def _after(excluded: int, what: str) -> str:
    return f" (all {excluded} {what} were missing or judge errors)" if excluded else ""


def corrected_success_rate_by(
    test_frame: pd.DataFrame,
    unlabeled_frame: pd.DataFrame,
    *,
    by: str | Sequence[str],
    label: str = "expert_verdict",
    pred: str = "judge_verdict",
    per_cell_test: bool = False,
    iterations: int = 20000,
    confidence: float = 0.95,
    seed: int | None = 0,
    method: str = "judgy",
) -> pd.DataFrame:
    """corrected_success_rate per value of a dimension (or combination, when `by` lists 2+ columns).

    The unlabeled rows are split by cell. By default the judge's TPR/TNR come from the whole test_frame
    (test_scope "global"): labelled data per cell is usually too small to measure them, and the judge's
    error rates are assumed not to differ between cells. per_cell_test=True uses only the cell's labelled
    rows (test_scope "cell"). Every cell uses the same seed, so a cell's figures do not depend on which
    other cells exist.

    Columns: the `by` columns, n_test (labelled pairs used), n_unlabeled, p_obs, tpr, tnr, theta, lower,
    upper, test_scope, reason. Where the estimate is undefined (no unlabeled rows, no fail among the
    labels, judge no better than chance, ...) the figures are NaN and `reason` says why; otherwise reason
    is "". Sorted by theta ascending (lowest corrected pass rate first), undefined cells first.
    """
    _check_options(iterations, confidence, method)
    cols = by_columns(by)
    require_columns(test_frame, [label, pred, *cols] if per_cell_test else [label, pred])
    require_columns(unlabeled_frame, [pred, *cols])
    opts = dict(iterations=int(iterations), confidence=confidence, seed=seed, method=method)

    def read(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        labels, preds, _ = _labelled_pairs(frame[label].tolist(), frame[pred].tolist())
        return labels, preds

    # Read every label up front, so a bad value raises instead of becoming one cell's "reason".
    global_test = read(test_frame)
    unl = unlabeled_frame[cols].copy()
    unl["_pred"] = [normalize_judge(v) for v in unlabeled_frame[pred]]
    cells = {cell_key(k): g["_pred"].dropna().astype(bool)
             for k, g in unl.groupby(cols, dropna=False, sort=True)}
    test_cells: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    if per_cell_test:
        for k, g in test_frame.groupby(cols, dropna=False, sort=True):
            test_cells[cell_key(k)] = read(g)
        cells.update({k: pd.Series([], dtype=bool) for k in test_cells if k not in cells})

    empty = (np.array([], dtype=bool), np.array([], dtype=bool))
    records = []
    for key, verdicts in cells.items():
        labels, preds = test_cells.get(key, empty) if per_cell_test else global_test
        rec: dict[str, Any] = dict(zip(cols, key, strict=True))
        passes, m = int(verdicts.sum()), len(verdicts)
        pos, neg = int(labels.sum()), int((~labels).sum())
        rec.update(n_test=len(labels), n_unlabeled=m, p_obs=passes / m if m else None,
                   tpr=int((labels & preds).sum()) / pos if pos else None,
                   tnr=int((~labels & ~preds).sum()) / neg if neg else None,
                   theta=None, lower=None, upper=None,
                   test_scope="cell" if per_cell_test else "global", reason="")
        try:
            est = _estimate(labels, preds, passes, m, **opts)
            rec.update(theta=est.theta, lower=est.lower, upper=est.upper)
        except (ValueError, RuntimeError) as exc:
            rec["reason"] = str(exc)
        records.append(rec)
    out = pd.DataFrame.from_records(records, columns=[*cols, "n_test", "n_unlabeled", "p_obs", "tpr", "tnr",
                                                      "theta", "lower", "upper", "test_scope", "reason"])
    for name in ("p_obs", "tpr", "tnr", "theta", "lower", "upper"):
        out[name] = out[name].astype(float)
    out = out.sort_values(["theta", "n_unlabeled"], na_position="first", kind="stable")
    return out.reset_index(drop=True)
