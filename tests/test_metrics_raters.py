"""Two raters' agreement against scikit-learn (κ) and statsmodels (κ's interval), a hand-computed case, and
the split of a change between two judge runs into the prompt's part and the labels' part."""

import math
import random

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import cohens_kappa

from sheetsync.metrics import change_between_runs, kappa_from_counts, rater_agreement


def _random_pairs(seed: int, n: int):
    rng = random.Random(seed)
    a = [rng.choice(["pass", "fail"]) for _ in range(n)]
    b = [x if rng.random() < 0.7 else rng.choice(["pass", "fail"]) for x in a]
    return a, b


@pytest.mark.parametrize("seed", range(25))
def test_kappa_equals_scikit_learn_and_its_interval_statsmodels(seed):
    a, b = _random_pairs(seed, 15 + seed * 7)
    r = rater_agreement(a, b)
    assert r.n == len(a) and r.n_excluded == 0
    if len(set(a) | set(b)) == 1:
        assert r.kappa is None and "kappa" in r.undefined
        return
    assert r.kappa == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    table = np.array([[r.both_pass, r.a_pass_b_fail], [r.a_fail_b_pass, r.both_fail]])
    ref = cohens_kappa(table)
    assert r.kappa == pytest.approx(ref.kappa, abs=1e-12)
    assert r.kappa_se == pytest.approx(ref.std_kappa, abs=1e-12)
    low, high = r.kappa_ci
    assert low == pytest.approx(max(-1.0, ref.kappa_low), abs=1e-12)
    assert high == pytest.approx(min(1.0, ref.kappa_upp), abs=1e-12)
    assert r.agreement == pytest.approx(sum(x == y for x, y in zip(a, b, strict=True)) / len(a))


def test_a_case_computed_by_hand():
    # 20 rows: both pass 9, a pass b fail 3, a fail b pass 2, both fail 6.
    # po = 15/20 = 0.75; a passes 12/20 = 0.6, b passes 11/20 = 0.55; pe = 0.6·0.55 + 0.4·0.45 = 0.51
    # κ = (0.75 − 0.51) / (1 − 0.51) = 0.24 / 0.49 = 0.489796
    r = kappa_from_counts(9, 3, 2, 6)
    assert r.kappa == pytest.approx(0.24 / 0.49)
    # Fleiss–Cohen–Everitt: term_a = 0.45(1 − 1.15·0.510204)² + 0.30(1 − 0.85·0.510204)²
    k = 0.24 / 0.49
    term_a = 0.45 * (1 - 1.15 * (1 - k)) ** 2 + 0.30 * (1 - 0.85 * (1 - k)) ** 2
    term_b = (1 - k) ** 2 * (0.15 * (0.55 + 0.4) ** 2 + 0.10 * (0.45 + 0.6) ** 2)
    term_c = (k - 0.51 * (1 - k)) ** 2
    se = math.sqrt((term_a + term_b - term_c) / (0.49**2 * 20))
    assert r.kappa_se == pytest.approx(se)
    assert r.kappa_ci == pytest.approx((k - 1.959963984540054 * se, k + 1.959963984540054 * se))
    assert (r.both_pass, r.a_pass_b_fail, r.a_fail_b_pass, r.both_fail) == (9, 3, 2, 6)


def test_undefined_figures_say_why_and_are_never_zero():
    empty = rater_agreement([], [])
    assert empty.n == 0 and empty.kappa is None and empty.agreement is None and "no rows" in empty.undefined["kappa"]
    same = rater_agreement(["pass"] * 4, ["pass"] * 4)
    assert same.agreement == 1.0 and same.kappa is None and "chance agreement is 1" in same.undefined["kappa"]
    perfect = rater_agreement(["pass", "fail"] * 3, ["pass", "fail"] * 3)
    assert perfect.kappa == 1.0 and perfect.kappa_ci is None and "no width" in perfect.undefined["kappa_ci"]
    missing = rater_agreement(["pass", None, "fail", ""], ["pass", "fail", None, "fail"])
    assert (missing.n, missing.n_excluded) == (1, 3)
    with pytest.raises(ValueError, match="same length"):
        rater_agreement(["pass"], [])
    with pytest.raises(ValueError, match="cannot read"):
        rater_agreement(["maybe"], ["pass"])


def test_a_change_splits_into_the_prompts_part_and_the_labels_part():
    # Run A: the judge fails r1..r4. The expert then relabels r3 and r4 to fail (toward the judge). Run B,
    # with a new prompt, also fails r5.
    labels_a = {"r1": "fail", "r2": "fail", "r3": "pass", "r4": "pass", "r5": "pass", "r6": "pass"}
    labels_b = {**labels_a, "r3": "fail", "r4": "fail"}
    verdicts_a = {"r1": "fail", "r2": "fail", "r3": "fail", "r4": "fail", "r5": "pass", "r6": "pass"}
    verdicts_b = {**verdicts_a, "r5": "fail"}
    c = change_between_runs(verdicts_a, labels_a, verdicts_b, labels_b)
    # TPR before: passes r3..r6, judge passed r5, r6 → 2/4. After (labels_b): passes r5, r6, judge passed r6 → 1/2.
    assert c["tpr"]["before"] == 0.5 and c["tpr"]["after"] == 0.5
    # TNR before: fails r1, r2 both caught → 1. After: fails r1..r4, all caught → 1. Accuracy: 4/6 → 5/6.
    assert c["accuracy"]["before"] == pytest.approx(4 / 6) and c["accuracy"]["after"] == pytest.approx(5 / 6)
    # Run A's verdicts on the new labels: accuracy 6/6 — the relabelling alone gave +2/6, the prompt −1/6.
    assert c["accuracy"]["labels"] == pytest.approx(2 / 6)
    assert c["accuracy"]["prompt"] == pytest.approx(-1 / 6)
    assert c["accuracy"]["total"] == pytest.approx(c["accuracy"]["labels"] + c["accuracy"]["prompt"])
    assert c["tpr"]["labels"] == pytest.approx(0.5) and c["tpr"]["prompt"] == pytest.approx(-0.5)
    assert (c["revised"], c["toward_judge"]) == (2, 2)


def test_errors_and_unlabelled_rows_never_count():
    c = change_between_runs({"r1": "error", "r2": "pass"}, {"r2": "pass"}, {"r1": "pass", "r2": "pass"}, {})
    assert c["n_a"] == 1 and c["n_b"] == 0 and c["tpr"]["after"] is None and c["tpr"]["total"] is None
