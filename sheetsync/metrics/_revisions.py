"""How much of a change in the judge's figures between two runs came from the prompt and how much from the
expert revising labels.

Agreement is always measured against labels, and labels move: the expert reads the judge's critiques and
changes some. A run that scores better than the one before may have a better prompt — or the expert may
have relabelled rows toward the judge. With ``L_a``/``L_b`` the labels when runs A and B were made and
``V_a``/``V_b`` their verdicts, the change in any rate splits exactly into two steps::

    rate(V_b, L_b) − rate(V_a, L_a)  =  [rate(V_b, L_b) − rate(V_a, L_b)]   # the prompt: same labels
                                      + [rate(V_a, L_b) − rate(V_a, L_a)]   # the labels: same verdicts

Each term is computed on the rows that have both a verdict and a label in it, so rows labelled for the
first time between the runs count in the labels' part.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._agreement import Agreement, agreement

RATES = ("tpr", "tnr", "accuracy")


def _on(verdicts: Mapping[str, Any], labels: Mapping[str, Any]) -> Agreement:
    ids = [i for i in verdicts if i in labels]
    return agreement([labels[i] for i in ids], [verdicts[i] for i in ids])


def _diff(x: float | None, y: float | None) -> float | None:
    return None if x is None or y is None else x - y


def change_between_runs(
    verdicts_a: Mapping[str, Any], labels_a: Mapping[str, Any],
    verdicts_b: Mapping[str, Any], labels_b: Mapping[str, Any],
) -> dict[str, Any]:
    """The change from run A to run B in TPR, TNR and accuracy: ``total`` = ``prompt`` + ``labels`` (see the
    module docstring), each None when a rate it needs is undefined. Also the n of each of the three
    agreements, and how many rows' verdict labels differ between ``labels_a`` and ``labels_b``
    (``revised``), of which ``toward_judge`` now say what run A's judge said."""
    then, now, mixed = _on(verdicts_a, labels_a), _on(verdicts_b, labels_b), _on(verdicts_a, labels_b)
    out: dict[str, Any] = {"n_a": then.n, "n_b": now.n, "n_a_on_new_labels": mixed.n}
    for rate in RATES:
        a, b, m = getattr(then, rate), getattr(now, rate), getattr(mixed, rate)
        out[rate] = {"before": a, "after": b, "total": _diff(b, a), "prompt": _diff(b, m), "labels": _diff(m, a)}
    revised = [i for i in labels_a if i in labels_b and labels_a[i] != labels_b[i]]
    out["revised"] = len(revised)
    out["toward_judge"] = sum(1 for i in revised if verdicts_a.get(i) == labels_b[i])
    return out
