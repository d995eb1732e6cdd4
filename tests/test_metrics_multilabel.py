"""Per-label precision and recall of the root-cause classifier, against scikit-learn and statsmodels."""

import math
import random

import pytest
from sklearn.metrics import precision_recall_fscore_support
from sklearn.preprocessing import MultiLabelBinarizer
from statsmodels.stats.proportion import proportion_confint

from sheetsync.metrics import per_label_precision_recall

LABELS = ["fee", "invented", "tone", "escalation", "never"]


def sample(seed, n=80):
    rng = random.Random(seed)
    truth, pred = [], []
    for _ in range(n):
        t = {lab for lab in LABELS[:4] if rng.random() < 0.3}
        p = {lab for lab in t if rng.random() < 0.8} | {lab for lab in LABELS[:4] if rng.random() < 0.1}
        truth.append(t)
        pred.append(p)
    return truth, pred


@pytest.mark.parametrize("seed", range(5))
def test_matches_sklearn_and_statsmodels(seed):
    truth, pred = sample(seed)
    table = per_label_precision_recall(truth, pred, LABELS).set_index("label")
    mlb = MultiLabelBinarizer(classes=LABELS)
    y_true, y_pred = mlb.fit_transform(truth), mlb.transform(pred)
    p, r, f, support = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    for i, lab in enumerate(LABELS):
        row = table.loc[lab]
        assert row["support"] == support[i]
        if row["predicted"]:
            assert row["precision"] == pytest.approx(p[i], abs=1e-12)
            low, high = proportion_confint(row["tp"], row["predicted"], alpha=0.05, method="wilson")
            assert (row["precision_low"], row["precision_high"]) == pytest.approx((low, high), abs=1e-9)
        else:
            assert math.isnan(row["precision"]) and "never predicted" in row["undefined"]
        if row["support"]:
            assert row["recall"] == pytest.approx(r[i], abs=1e-12)
            low, high = proportion_confint(row["tp"], row["support"], alpha=0.05, method="wilson")
            assert (row["recall_low"], row["recall_high"]) == pytest.approx((low, high), abs=1e-9)
        if row["predicted"] and row["support"]:
            assert row["f1"] == pytest.approx(f[i], abs=1e-12)
    assert table.loc["never", "undefined"] == "never predicted; no expert row has it"


def test_labels_outside_the_list_are_ignored_and_lengths_must_match():
    table = per_label_precision_recall([{"a", "x"}], [{"a", "y"}], ["a"])
    assert table.loc[0, ["tp", "fp", "fn"]].tolist() == [1, 0, 0]
    with pytest.raises(ValueError, match="differ in length"):
        per_label_precision_recall([{"a"}], [], ["a"])
