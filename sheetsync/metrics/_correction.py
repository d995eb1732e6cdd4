"""The judge's observed pass rate corrected for its errors (Rogan–Gladen), with a bootstrap interval."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ._agreement import by_columns, cell_key, check_confidence, require_columns
from ._closed_form import lee_interval
from ._design import stratified_rates
from ._labels import as_list, normalize_judge, normalize_label

METHODS = ("judgy", "full", "lee")
FEW_LABELS = 10  # fewer expert passes (or fails) than this: the interval rests on very few labels
# Under this many expert passes (or fails), Wilson's interval for TPR (TNR) covered 88.8–92.2% in the
# simulation study's balanced n=20 cells (10 of each): the report says so rather than promise 95%.
WILSON_FEW = 15
MIN_VALID_SHARE = 0.9  # a bootstrap with fewer valid resamples than this share is said to be unreliable
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
            "n_unlabeled_excluded", "n_bootstrap_valid", "iterations", "confidence", "method", "seed",
            "weighted", "n_eff_pass", "n_eff_fail", "caveats")


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


def _labelled_pairs(labels: Sequence[Any], preds: Sequence[Any], weights: Sequence[Any] | None = None
                    ) -> tuple[np.ndarray, np.ndarray, int, np.ndarray | None]:
    """(labels, preds, n excluded, weights or None); a pair whose weight is None is left out, uncounted."""
    if len(labels) != len(preds):
        raise ValueError(
            f"test_labels and test_preds must have the same length. Got {len(labels)} and {len(preds)}"
        )
    if weights is not None and len(weights) != len(labels):
        raise ValueError(f"weights must have one value per labelled pair, got {len(weights)} for {len(labels)}")
    keep_l, keep_p, keep_w, excluded = [], [], [], 0
    for i, (raw_l, raw_p) in enumerate(zip(labels, preds, strict=True)):
        if weights is not None and weights[i] is None:
            continue
        lab, pred = normalize_label(raw_l), normalize_judge(raw_p)
        if lab is None or pred is None:
            excluded += 1
        else:
            keep_l.append(lab)
            keep_p.append(pred)
            keep_w.append(1.0 if weights is None else float(weights[i]))
    w = np.array(keep_w, dtype=float)
    equal = weights is None or not len(w) or float(w.max() - w.min()) <= 1e-12 * float(w.max())
    return np.array(keep_l, dtype=bool), np.array(keep_p, dtype=bool), excluded, None if equal else w


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
               method: str, seed: int | None, weights: np.ndarray | None = None) -> np.ndarray:
    """The clipped theta of every valid bootstrap resample, in draw order."""
    rs = np.random.RandomState(seed)
    n = len(labels)
    out = []
    if weights is not None:
        return _weighted_bootstrap(labels, preds, weights, passes, m, iterations, rs)
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


def _weighted_bootstrap(labels: np.ndarray, preds: np.ndarray, weights: np.ndarray, passes: int, m: int,
                        iterations: int, rs: np.random.RandomState) -> np.ndarray:
    """Rows resampled with replacement, as counts over the groups of identical rows (cell and weight)."""
    cell = labels * 2 + preds  # 3 tp, 2 fn, 1 fp, 0 tn
    groups, sizes = np.unique(np.stack([cell, weights]), axis=1, return_counts=True)
    g_cell, g_w = groups[0].astype(int), groups[1]
    counts = rs.multinomial(len(labels), sizes / sizes.sum(), size=iterations) * g_w
    tp, fn = counts[:, g_cell == 3].sum(axis=1), counts[:, g_cell == 2].sum(axis=1)
    fp, tn = counts[:, g_cell == 1].sum(axis=1), counts[:, g_cell == 0].sum(axis=1)
    p_boot = rs.binomial(m, passes / m, size=iterations) / m
    pos, neg = tp + fn, fp + tn
    ok = (pos > 0) & (neg > 0)
    tpr, tnr = tp[ok] / pos[ok], tn[ok] / neg[ok]
    better = tpr + tnr > 1
    return np.clip(_corrected(p_boot[ok][better], tpr[better], tnr[better]), 0, 1)


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
    weights: Iterable[float | None] | None = None,
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

    - method="lee" is the closed-form interval of Lee et al. (arXiv 2511.21140; ``lee_interval``), which
      counts both samples' noise without resampling: what the report uses (see the coverage study).

    ``weights`` (one per labelled pair, 1/probability of being drawn; None leaves a pair out) make TPR and
    TNR weighted shares, so labels from focused rounds do not bias the correction; the "full" bootstrap then
    resamples rows with their weights and "lee" uses Kish effective sizes. judgy's method takes no weights.
    ``caveats`` lists, in words, what makes the interval less than it seems (clipping, few labels, a
    bootstrap that discarded many resamples).

    Labels are read with normalize_label; missing values and judge "error" markers are excluded (pairs
    as a whole) and counted. Raises ValueError (judgy's messages) for bad options, mismatched lengths,
    no usable labelled or unlabeled rows, or labelled rows without both a pass and a fail;
    JudgeNoBetterThanChance (a ValueError) when TPR + TNR <= 1; NoValidBootstrapSamples (a RuntimeError,
    as judgy) when no resample gives an estimate.
    """
    _check_options(iterations, confidence, method)
    w_list = None if weights is None else as_list(weights, "weights")
    if w_list is not None and method == "judgy":
        raise ValueError("method='judgy' takes no weights (judgy has none): use method='full' or 'lee'")
    labels, preds, n_test_excluded, w = _labelled_pairs(as_list(test_labels, "test_labels"),
                                                        as_list(test_preds, "test_preds"), w_list)
    passes, m, n_unlabeled_excluded = _unlabeled(as_list(unlabeled_preds, "unlabeled_preds"))
    return _estimate(labels, preds, passes, m, iterations=int(iterations), confidence=confidence, seed=seed,
                     method=method, n_test_excluded=n_test_excluded, n_unlabeled_excluded=n_unlabeled_excluded,
                     weights=w)


def _rates(labels: np.ndarray, preds: np.ndarray, weights: np.ndarray | None) -> tuple[float, float, float, float]:
    """(tpr, tnr, n_eff_pass, n_eff_fail), weighted when weights are given."""
    if weights is None:
        pos, neg = int(labels.sum()), int((~labels).sum())
        return float((labels & preds).sum() / pos), float((~labels & ~preds).sum() / neg), float(pos), float(neg)
    r = stratified_rates(labels * 2 + preds, weights)
    return r["tpr"][0], r["tnr"][0], r["tpr_n"], r["tnr_n"]


def _estimate(labels: np.ndarray, preds: np.ndarray, passes: int, m: int, *, iterations: int,
              confidence: float, seed: int | None, method: str, n_test_excluded: int = 0,
              n_unlabeled_excluded: int = 0, weights: np.ndarray | None = None) -> CorrectedRate:
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
    n_pos, n_neg = float(pos), float(neg)
    if weights is not None:
        tpr, tnr, n_pos, n_neg = _rates(labels, preds, weights)
    p_obs = passes / m
    if (tp * neg + tn * pos <= pos * neg) if weights is None else tpr + tnr <= 1:  # TPR + TNR <= 1
        raise _no_better_than_chance(tpr, tnr)
    raw = _corrected(p_obs, tpr, tnr)
    theta = float(np.clip(raw, 0, 1))
    valid: int | None = None
    if method == "lee":
        lower, upper = lee_interval(p_obs, tnr, tpr, m, n_neg, n_pos, confidence)
    else:
        samples = _bootstrap(labels, preds, passes, m, p_obs, iterations, method, seed, weights)
        if samples.size == 0:
            raise NoValidBootstrapSamples(
                "No valid bootstrap samples generated. This may indicate insufficient test data or very poor "
                f"judge performance. ({iterations} resamples of {n} labelled pairs, none with a pass, a fail "
                "and TPR + TNR > 1.)"
            )
        alpha = 1 - confidence
        lower = float(np.percentile(samples, (alpha / 2) * 100))
        upper = float(np.percentile(samples, (1 - alpha / 2) * 100))
        valid = int(samples.size)
    caveats = _caveats(float(raw), lower, upper, pos, neg, valid, iterations)
    return CorrectedRate(
        theta, lower, upper, p_obs=p_obs, tpr=tpr, tnr=tnr, theta_unclipped=float(raw), n_test=n,
        n_unlabeled=m, n_test_excluded=n_test_excluded, n_unlabeled_excluded=n_unlabeled_excluded,
        n_bootstrap_valid=valid, iterations=iterations, confidence=confidence, method=method,
        seed=seed, weighted=weights is not None, n_eff_pass=n_pos, n_eff_fail=n_neg, caveats=caveats,
    )


def _caveats(raw: float, lower: float, upper: float, pos: int, neg: int, valid: int | None,
             iterations: int) -> list[str]:
    """What makes an estimate less than it looks, in words a stakeholder can act on."""
    out = []
    if raw < 0:
        out.append(f"the judge fails more rows than its measured error rates allow (the raw correction is "
                   f"{raw:.1%}): 0% here means 'very low', not 'none'.")
    elif raw > 1:
        out.append(f"the judge passes more rows than its measured error rates allow (the raw correction is "
                   f"{raw:.1%}): 100% here means 'very high', not 'all'.")
    if upper - lower < 1e-9:
        out.append("the interval has no width: the labels are too few (or too uniform) for it to mean "
                   "anything; label more rows before reading this figure.")
    if min(pos, neg) < FEW_LABELS:
        kind = "fails" if neg < pos else "passes"
        out.append(f"only {min(pos, neg)} expert {kind} measure the judge: the interval rests on very few "
                   "labels.")
    if valid is not None and valid < MIN_VALID_SHARE * iterations:
        out.append(f"only {valid / iterations:.0%} of the bootstrap resamples gave an estimate (the others "
                   "lacked a pass, a fail or a better-than-chance judge): the interval is unreliable.")
    return out


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
    weight: str | None = None,
) -> pd.DataFrame:
    """corrected_success_rate per value of a dimension (or combination, when `by` lists 2+ columns).

    The unlabeled rows are split by cell. By default the judge's TPR/TNR come from the whole test_frame
    (test_scope "global"): labelled data per cell is usually too small to measure them, and the judge's
    error rates are assumed not to differ between cells. per_cell_test=True uses only the cell's labelled
    rows (test_scope "cell"). Every cell uses the same seed, so a cell's figures do not depend on which
    other cells exist.

    Columns: the `by` columns, n_test (labelled pairs used), n_unlabeled, p_obs, tpr, tnr, theta, lower,
    upper, test_scope, reason. ``weight`` names a column of test_frame holding each labelled row's weight
    (see corrected_success_rate). Where the estimate is undefined (no unlabeled rows, no fail among the
    labels, judge no better than chance, ...) the figures are NaN and `reason` says why; otherwise reason
    is "". Sorted by theta ascending (lowest corrected pass rate first), undefined cells first.
    """
    _check_options(iterations, confidence, method)
    cols = by_columns(by)
    require_columns(test_frame, [label, pred, *cols] if per_cell_test else [label, pred])
    if weight is not None:
        require_columns(test_frame, [weight])
    require_columns(unlabeled_frame, [pred, *cols])
    opts = dict(iterations=int(iterations), confidence=confidence, seed=seed, method=method)

    def read(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        ws = None if weight is None else [None if pd.isna(x) else float(x) for x in frame[weight]]
        labels, preds, _, w = _labelled_pairs(frame[label].tolist(), frame[pred].tolist(), ws)
        return labels, preds, w

    # Read every label up front, so a bad value raises instead of becoming one cell's "reason".
    global_test = read(test_frame)
    unl = unlabeled_frame[cols].copy()
    unl["_pred"] = [normalize_judge(v) for v in unlabeled_frame[pred]]
    cells = {cell_key(k): g["_pred"].dropna().astype(bool)
             for k, g in unl.groupby(cols, dropna=False, sort=True)}
    test_cells: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
    if per_cell_test:
        for k, g in test_frame.groupby(cols, dropna=False, sort=True):
            test_cells[cell_key(k)] = read(g)
        cells.update({k: pd.Series([], dtype=bool) for k in test_cells if k not in cells})

    empty = (np.array([], dtype=bool), np.array([], dtype=bool), None)
    records = []
    for key, verdicts in cells.items():
        labels, preds, w = test_cells.get(key, empty) if per_cell_test else global_test
        rec: dict[str, Any] = dict(zip(cols, key, strict=True))
        passes, m = int(verdicts.sum()), len(verdicts)
        pos, neg = int(labels.sum()), int((~labels).sum())
        tpr, tnr, _, _ = _rates(labels, preds, w) if pos and neg else (
            int((labels & preds).sum()) / pos if pos else None, int((~labels & ~preds).sum()) / neg if neg else None,
            0, 0)
        rec.update(n_test=len(labels), n_unlabeled=m, p_obs=passes / m if m else None, tpr=tpr, tnr=tnr,
                   theta=None, lower=None, upper=None,
                   test_scope="cell" if per_cell_test else "global", reason="")
        try:
            est = _estimate(labels, preds, passes, m, weights=w, **opts)
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
