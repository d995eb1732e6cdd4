"""How well a multi-label classifier (root causes) agrees with the expert, one label at a time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from ._agreement import wilson_interval


def per_label_precision_recall(
    truth: Sequence[Iterable[str]],
    predicted: Sequence[Iterable[str]],
    labels: Sequence[str],
    *,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per label: support (rows the expert gave it), predicted (rows the classifier gave it), tp, fp, fn,
    precision = tp / predicted, recall = tp / support, f1, with Wilson intervals for precision and recall.

    Each position is one row; ``truth[i]`` and ``predicted[i]`` are that row's sets of labels (empty: none).
    Labels outside ``labels`` are ignored. An undefined figure (no prediction, no support) is NaN, with the
    reason in ``undefined``; it is never 0. Equal to scikit-learn's ``precision_recall_fscore_support``
    (``average=None``) on the binarised sets wherever both are defined (sklearn reports 0 for undefined).
    """
    if len(truth) != len(predicted):
        raise ValueError(f"truth and predicted differ in length ({len(truth)} vs {len(predicted)})")
    true_sets = [set(t) for t in truth]
    pred_sets = [set(p) for p in predicted]
    rows: list[dict[str, Any]] = []
    for label in labels:
        tp = sum(1 for t, p in zip(true_sets, pred_sets, strict=True) if label in t and label in p)
        fp = sum(1 for t, p in zip(true_sets, pred_sets, strict=True) if label not in t and label in p)
        fn = sum(1 for t, p in zip(true_sets, pred_sets, strict=True) if label in t and label not in p)
        support, given = tp + fn, tp + fp
        precision = tp / given if given else float("nan")
        recall = tp / support if support else float("nan")
        undefined = "; ".join(why for why, bad in (("never predicted", not given), ("no expert row has it",
                                                                                      not support)) if bad)
        f1 = 2 * tp / (2 * tp + fp + fn) if (given and support) else float("nan")
        p_ci = wilson_interval(tp, given, confidence)
        r_ci = wilson_interval(tp, support, confidence)
        rows.append({"label": label, "n": len(true_sets), "support": support, "predicted": given, "tp": tp,
                     "fp": fp, "fn": fn, "precision": precision,
                     "precision_low": p_ci[0] if p_ci else float("nan"),
                     "precision_high": p_ci[1] if p_ci else float("nan"),
                     "recall": recall, "recall_low": r_ci[0] if r_ci else float("nan"),
                     "recall_high": r_ci[1] if r_ci else float("nan"), "f1": f1, "undefined": undefined})
    columns = ["label", "n", "support", "predicted", "tp", "fp", "fn", "precision", "precision_low",
               "precision_high", "recall", "recall_low", "recall_high", "f1", "undefined"]
    return pd.DataFrame(rows, columns=columns)
