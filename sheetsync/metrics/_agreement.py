"""How well the judge agrees with the expert: confusion matrix, rates, kappa, Wilson intervals."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import pandas as pd

from ._labels import as_list, normalize_judge, normalize_label

_NO_EXPERT_PASS = "no rows the expert passed"
_NO_EXPERT_FAIL = "no rows the expert failed"


def check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence!r}")


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion successes/n, as (low, high).

    Chosen over the normal ("Wald") interval because it stays inside [0, 1] and keeps its coverage for
    small n and for rates near 0 or 1, which is where judge TPR/TNR live. Returns None when n == 0 (no
    data, no interval).
    """
    check_confidence(confidence)
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes!r}, n={n!r}")
    if n == 0:
        return None
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


@dataclass(frozen=True)
class Agreement:
    """Judge vs expert on the rows where both gave a verdict. PASS is the positive class.

    tp: expert pass & judge pass; fn: expert pass & judge fail; fp: expert fail & judge pass;
    tn: expert fail & judge fail. tpr = tp/(tp+fn) (pass recall), tnr = tn/(tn+fp) (= fail_recall),
    fail_precision = tn/(tn+fn), fail_f1 = 2·tn/(2·tn+fn+fp) (FAIL as positive, as most tools report it).
    Any figure that is mathematically undefined is None and `undefined` maps its name to the reason.
    """

    n: int
    n_excluded: int
    tp: int
    fn: int
    fp: int
    tn: int
    tpr: float | None
    tnr: float | None
    accuracy: float | None
    balanced_accuracy: float | None
    kappa: float | None
    fail_precision: float | None
    fail_recall: float | None
    fail_f1: float | None
    tpr_ci: tuple[float, float] | None
    tnr_ci: tuple[float, float] | None
    accuracy_ci: tuple[float, float] | None
    undefined: dict[str, str]
    confidence: float = 0.95
    weighted: bool = False  # rates weighted by 1/(probability of being drawn); counts stay counts
    n_eff_pass: float = 0.0  # the (effective) numbers of expert passes and fails behind the TPR and TNR
    n_eff_fail: float = 0.0  # intervals: plain counts unless weighted

    def to_dict(self) -> dict[str, Any]:
        """Every figure as plain Python values (intervals as (low, high) tuples; json.dumps-able)."""
        return dataclasses.asdict(self)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _confusion(expert: Sequence[Any], judge: Sequence[Any]) -> tuple[int, int, int, int, int]:
    """(tp, fn, fp, tn, n_excluded) over positional pairs; raises on unreadable labels."""
    if len(expert) != len(judge):
        raise ValueError(f"expert and judge must have the same length, got {len(expert)} and {len(judge)}")
    tp = fn = fp = tn = excluded = 0
    for e_raw, j_raw in zip(expert, judge, strict=True):
        e, j = normalize_label(e_raw), normalize_judge(j_raw)
        if e is None or j is None:
            excluded += 1
        elif e and j:
            tp += 1
        elif e:
            fn += 1
        elif j:
            fp += 1
        else:
            tn += 1
    return tp, fn, fp, tn, excluded


def agreement_from_counts(
    tp: int, fn: int, fp: int, tn: int, n_excluded: int = 0, *, confidence: float = 0.95
) -> Agreement:
    """Every agreement figure from the four confusion-matrix counts."""
    check_confidence(confidence)
    n = tp + fn + fp + tn
    pos, neg = tp + fn, fp + tn
    why: dict[str, str] = {}
    tpr, tnr, accuracy = _ratio(tp, pos), _ratio(tn, neg), _ratio(tp + tn, n)
    balanced = (tpr + tnr) / 2 if tpr is not None and tnr is not None else None
    # Cohen's kappa with integers, so it is exact up to one rounding: (po - pe) / (1 - pe) with
    # po = (tp + tn) / n and pe = (pos·judge_pos + neg·judge_neg) / n².
    pe_num = pos * (tp + fp) + neg * (fn + tn)
    kappa = (n * (tp + tn) - pe_num) / (n * n - pe_num) if n and n * n != pe_num else None
    fail_precision = _ratio(tn, tn + fn)
    fail_f1 = _ratio(2 * tn, 2 * tn + fn + fp)
    if n == 0:
        reason = "no rows with both an expert and a judge verdict"
        if n_excluded:
            reason += f" ({n_excluded} excluded as missing or judge errors)"
        for name in ("tpr", "tnr", "accuracy", "balanced_accuracy", "kappa", "fail_precision",
                     "fail_recall", "fail_f1", "tpr_ci", "tnr_ci", "accuracy_ci"):
            why[name] = reason
    else:
        if tpr is None:
            why["tpr"] = why["tpr_ci"] = why["balanced_accuracy"] = _NO_EXPERT_PASS
        if tnr is None:
            why["tnr"] = why["tnr_ci"] = why["fail_recall"] = why["balanced_accuracy"] = _NO_EXPERT_FAIL
        if kappa is None:
            verdict = "pass" if pos else "fail"
            why["kappa"] = (f"expert and judge both gave every row '{verdict}', so chance agreement is 1 and "
                            "agreement beyond chance is undefined")
        if fail_precision is None:
            why["fail_precision"] = "the judge failed no rows"
        if fail_f1 is None:
            why["fail_f1"] = "neither the expert nor the judge failed any row"
    return Agreement(
        n=n, n_excluded=n_excluded, tp=tp, fn=fn, fp=fp, tn=tn,
        tpr=tpr, tnr=tnr, accuracy=accuracy, balanced_accuracy=balanced, kappa=kappa,
        fail_precision=fail_precision, fail_recall=tnr, fail_f1=fail_f1,
        tpr_ci=wilson_interval(tp, pos, confidence), tnr_ci=wilson_interval(tn, neg, confidence),
        accuracy_ci=wilson_interval(tp + tn, n, confidence),
        undefined=why, confidence=confidence, n_eff_pass=float(pos), n_eff_fail=float(neg),
    )


def agreement(expert: Iterable[Any], judge: Iterable[Any], *, confidence: float = 0.95,
              weights: Iterable[float | None] | None = None) -> Agreement:
    """Agreement of the judge's verdicts with the expert's, paired by position.

    Labels are read with normalize_label (pass/True/1 = pass). A pair is excluded, and counted in
    n_excluded, when either side is missing or the judge value is the error marker "error". Undefined
    figures (no expert fails, say, or n == 0) are None with a reason in `undefined`, never an error or a
    silent 0. Intervals are Wilson score intervals at `confidence`.

    ``weights`` (one per pair, e.g. from ``design_weights``; None leaves the pair out) make every rate a
    weighted share (Hájek) and every interval Wilson's at Kish's effective size; the confusion counts stay
    plain counts. Equal weights give exactly the unweighted figures.
    """
    e_list, j_list = as_list(expert, "expert"), as_list(judge, "judge")
    if weights is None:
        return agreement_from_counts(*_confusion(e_list, j_list), confidence=confidence)
    w_list = as_list(weights, "weights")
    if len(w_list) != len(e_list):
        raise ValueError(f"weights must have one value per pair, got {len(w_list)} for {len(e_list)}")
    keep = [i for i, w in enumerate(w_list) if w is not None]
    e_list, j_list = [e_list[i] for i in keep], [j_list[i] for i in keep]
    w_list = [float(w_list[i]) for i in keep]
    plain = agreement_from_counts(*_confusion(e_list, j_list), confidence=confidence)
    if len(set(w_list)) <= 1:
        return plain
    return _weighted(plain, e_list, j_list, w_list, confidence)


def _weighted(plain: Agreement, expert: list[Any], judge: list[Any], weights: list[float],
              confidence: float) -> Agreement:
    """Weighted rates (Hájek) with intervals from ``stratified_rates``; counts stay counts."""
    import numpy as np

    from ._design import stratified_rates

    cell, w = [], []
    for e_raw, j_raw, wt in zip(expert, judge, weights, strict=True):
        e, j = normalize_label(e_raw), normalize_judge(j_raw)
        if e is not None and j is not None:
            cell.append(2 * e + j)
            w.append(wt)
    if not cell:
        return plain
    cells, ws = np.array(cell), np.array(w, dtype=float)
    tp, fn, fp, tn = (float(ws[cells == k].sum()) for k in (3, 2, 1, 0))
    pos, neg, total = tp + fn, fp + tn, tp + fn + fp + tn
    r = stratified_rates(cells, ws, confidence)
    tpr, tnr = _ratio_f(tp, pos), _ratio_f(tn, neg)
    pe = pos * (tp + fp) + neg * (fn + tn)
    kappa = (total * (tp + tn) - pe) / (total * total - pe) if total and abs(total * total - pe) > 1e-12 else None
    return dataclasses.replace(
        plain, tpr=tpr, tnr=tnr, accuracy=_ratio_f(tp + tn, total), fail_recall=tnr,
        balanced_accuracy=(tpr + tnr) / 2 if tpr is not None and tnr is not None else None, kappa=kappa,
        fail_precision=_ratio_f(tn, tn + fn), fail_f1=_ratio_f(2 * tn, 2 * tn + fn + fp),
        tpr_ci=r["tpr"][1:] if r["tpr"] else None, tnr_ci=r["tnr"][1:] if r["tnr"] else None,
        accuracy_ci=r["accuracy"][1:] if r["accuracy"] else None,
        weighted=True, n_eff_pass=r["tpr_n"], n_eff_fail=r["tnr_n"],
    )


def _ratio_f(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


_RATE_FIELDS = ("tpr", "tnr", "accuracy", "balanced_accuracy", "kappa", "fail_precision", "fail_recall",
                "fail_f1")


def require_columns(frame: pd.DataFrame, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise KeyError(f"column(s) {missing} not in the frame; it has {list(frame.columns)}")


def cell_key(key: tuple) -> tuple:
    """A groupby key with missing values as None, so keys from different frames match."""
    return tuple(None if _missing_scalar(v) else v for v in key)


def _missing_scalar(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def by_columns(by: str | Sequence[str]) -> list[str]:
    cols = [by] if isinstance(by, str) else list(by)
    if not cols:
        raise ValueError("by must name at least one column")
    return cols


def agreement_by(
    frame: pd.DataFrame,
    *,
    expert: str = "expert_verdict",
    judge: str = "judge_verdict",
    by: str | Sequence[str],
    confidence: float = 0.95,
    weight: str | None = None,
) -> pd.DataFrame:
    """Agreement per value of a dimension (or per combination of values when `by` lists 2+ columns).

    One row per cell with its n, n_excluded, the four counts, every figure of `agreement`, the Wilson
    bounds as `<figure>_ci_low/_ci_high`, `worst_ci_low` (the lower bound of the weaker of TPR and TNR)
    and `undefined` ("figure: reason; ..."). Undefined figures are NaN. A missing dimension value is a
    cell of its own. Rows are sorted by worst_ci_low ascending (cells where neither rate is defined
    first), then n: the lower bound is low when the judge is bad there *or* when the cell is too small to
    tell, so both kinds of cell come first. ``weight`` names a column of per-row weights (see agreement).
    """
    cols = by_columns(by)
    require_columns(frame, [expert, judge, *cols, *([weight] if weight else [])])
    check_confidence(confidence)
    records = []
    for key, group in frame.groupby(cols, dropna=False, sort=True):
        ws = None if weight is None else [None if pd.isna(x) else float(x) for x in group[weight]]
        a = agreement(group[expert], group[judge], confidence=confidence, weights=ws)
        rec: dict[str, Any] = dict(zip(cols, cell_key(key), strict=True))
        rec.update(n=a.n, n_excluded=a.n_excluded, tp=a.tp, fn=a.fn, fp=a.fp, tn=a.tn)
        for name in _RATE_FIELDS:
            rec[name] = getattr(a, name)
        for name in ("tpr", "tnr", "accuracy"):
            ci = getattr(a, f"{name}_ci")
            rec[f"{name}_ci_low"], rec[f"{name}_ci_high"] = ci if ci else (None, None)
        lows = [x for x in (rec["tpr_ci_low"], rec["tnr_ci_low"]) if x is not None]
        rec["worst_ci_low"] = min(lows) if lows else None
        rec["undefined"] = "; ".join(f"{k}: {v}" for k, v in a.undefined.items())
        records.append(rec)
    out = pd.DataFrame.from_records(records, columns=_by_columns_order(cols))
    for name in (*_RATE_FIELDS, "tpr_ci_low", "tpr_ci_high", "tnr_ci_low", "tnr_ci_high",
                 "accuracy_ci_low", "accuracy_ci_high", "worst_ci_low"):
        out[name] = out[name].astype(float)
    out = out.sort_values(["worst_ci_low", "n"], na_position="first", kind="stable")
    return out.reset_index(drop=True)


def _by_columns_order(cols: list[str]) -> list[str]:
    return [*cols, "n", "n_excluded", "tp", "fn", "fp", "tn", "tpr", "tpr_ci_low", "tpr_ci_high", "tnr",
            "tnr_ci_low", "tnr_ci_high", "accuracy", "accuracy_ci_low", "accuracy_ci_high",
            "balanced_accuracy", "kappa", "fail_precision", "fail_recall", "fail_f1", "worst_ci_low",
            "undefined"]
