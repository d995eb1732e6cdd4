"""Issue 15's statistics against references: weighted rates (statsmodels), Lee et al.'s interval (the
paper's formulas, written out here), McNemar (statsmodels), Bonett–Price's paired interval and the corrected
difference's MOVER interval (by hand, Wilson bounds from statsmodels), flip rates and label planning
(hand-computed), and the bias focused sampling introduces without weights and its removal with them (simulated truth known, through sheetsync's own sampler)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import DescrStatsW

from sheetsync.metrics import (
    agreement,
    best_split,
    corrected_difference,
    corrected_success_rate,
    design_weights,
    flip_rates,
    labels_needed_for_rate,
    lee_interval,
    mcnemar,
    paired_difference,
    rate_half_width,
    weighted_rate,
)
from sheetsync.sampling import draw, focus_sample, stratified_probabilities, stratified_sample
from tests.test_report import lee_reference


def test_lee_interval_is_the_papers_formula():
    for args in [(0.7, 0.8, 0.9, 500, 40, 60), (0.2, 0.95, 0.7, 30, 12, 8), (0.5, 1.0, 1.0, 1000, 5, 5)]:
        assert lee_interval(*args) == pytest.approx(lee_reference(*args), abs=1e-12)
    est = corrected_success_rate([1] * 60 + [0] * 40, [1] * 54 + [0] * 6 + [0] * 32 + [1] * 8,
                                 [1] * 70 + [0] * 30, method="lee")
    assert (est.lower, est.upper) == pytest.approx(lee_reference(0.7, 0.8, 0.9, 100, 40, 60), abs=1e-12)
    assert est.theta == pytest.approx((0.7 + 0.8 - 1) / (0.9 + 0.8 - 1)) and est.n_bootstrap_valid is None


def test_degenerate_estimates_are_said_in_words():
    # the case: a judge with TPR 12.5% on 5 unlabelled rows, all failed by it
    labels, preds = [1] * 8 + [0] * 8, [1] + [0] * 7 + [0] * 8
    est = corrected_success_rate(labels, preds, [0] * 5, method="lee")
    assert est.upper - est.lower > 0.3  # never "0.0% (0.0%–0.0%)"
    assert any("very few labels" in c for c in est.caveats)
    full = corrected_success_rate(labels, preds, [0] * 5, method="full", iterations=2000)
    assert any("resamples" in c for c in full.caveats)  # most resamples were discarded, and it says so
    clipped = corrected_success_rate([1] * 30 + [0] * 30, [1] * 27 + [0] * 3 + [0] * 27 + [1] * 3, [0] * 50,
                                     method="lee")
    assert clipped.theta == 0 and clipped.theta_unclipped < 0 and any("'very low'" in c for c in clipped.caveats)


def test_weighted_rates_match_statsmodels_and_equal_weights_change_nothing():
    rng = np.random.default_rng(3)
    expert = rng.random(200) < 0.6
    judge = np.where(rng.random(200) < 0.85, expert, ~expert)
    w = rng.choice([1.0, 4.0, 9.5], size=200)
    a = agreement(expert.tolist(), judge.tolist(), weights=w.tolist())
    pos = expert
    ref = DescrStatsW(judge[pos].astype(float), weights=w[pos])
    assert a.tpr == pytest.approx(ref.mean, rel=1e-12) and a.weighted
    rate, n_eff = weighted_rate(judge[pos], w[pos])
    var = float((w[pos] ** 2 * (judge[pos] - rate) ** 2).sum()) / float(w[pos].sum()) ** 2
    assert n_eff == pytest.approx(rate * (1 - rate) / var)
    plain = agreement(expert.tolist(), judge.tolist())
    same = agreement(expert.tolist(), judge.tolist(), weights=[3.0] * 200)
    assert same == plain and plain.tpr_ci == pytest.approx(
        proportion_confint(plain.tp, plain.tp + plain.fn, method="wilson"), abs=1e-12)


def test_design_weights_say_what_they_do():
    assert design_weights([None, None]).note.startswith("how these labels were chosen is not recorded")
    d = design_weights([0.5, 0.1, None])
    assert d.weighted and d.weights == [2.0, 10.0, None] and d.n_unknown == 1
    assert not design_weights([1.0, 1.0, None]).weighted


def test_mcnemar_matches_statsmodels():
    for b, c in [(3, 9), (0, 5), (30, 12), (0, 0), (20, 21)]:
        table = [[10, b], [c, 7]]
        for exact in (True, False):
            ours = mcnemar(b, c, exact=exact)
            if b + c == 0:
                assert ours["p_value"] == 1.0
                continue
            ref = sm_mcnemar(table, exact=exact, correction=True)
            assert ours["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
            assert ours["statistic"] == pytest.approx(ref.statistic, rel=1e-9)


def test_bonett_price_paired_interval_by_hand():
    """Bonett and Price (2012), adjusted Wald for paired proportions, written out; McNemar from statsmodels."""
    a = [True] * 40 + [True] * 5 + [False] * 12 + [False] * 13  # right in A
    b = [True] * 40 + [False] * 5 + [True] * 12 + [False] * 13  # right in B
    r = paired_difference(a, b)
    n, both, oa, ob, nei = 70, 40, 5, 12, 13
    z = 1.959963984540054
    p12, p21 = (oa + 1) / (n + 2), (ob + 1) / (n + 2)
    centre = p21 - p12
    half = z * math.sqrt((p12 + p21 - centre ** 2) / (n + 2))
    assert r["difference"] == pytest.approx((ob - oa) / n) and r["ci"] == pytest.approx((centre - half, centre + half))
    assert (r["rate_a"], r["rate_b"]) == pytest.approx(((both + oa) / n, (both + ob) / n))
    assert r["mcnemar"]["p_value"] == pytest.approx(sm_mcnemar([[both, oa], [ob, nei]], exact=True).pvalue)
    for same in ([True] * 20 + [False] * 20, [True] * 30 + [False] * 10):  # no change on 40 rows
        s = paired_difference(same, same)
        assert s["difference"] == 0 and s["ci"][1] - s["ci"][0] > 0.1  # never zero width


def test_corrected_difference_by_hand():
    """(p_B − p_A)/J with MOVER: the paired interval scaled by 1/J, J's interval from statsmodels' Wilson."""
    a = [True] * 60 + [False] * 40
    b = [True] * 55 + [False] * 5 + [True] * 20 + [False] * 20  # 5 worse, 20 better
    r = corrected_difference(a, b, tpr=0.9, tnr=0.8, n_pass=50, n_fail=40)
    j, raw = 0.7, (20 - 5) / 100
    lo_raw, hi_raw = paired_difference(a, b)["ci"]
    l1, u1 = proportion_confint(45, 50, method="wilson")
    l0, u0 = proportion_confint(32, 40, method="wilson")
    j_low, j_high = j - math.hypot(0.9 - l1, 0.8 - l0), j + math.hypot(u1 - 0.9, u0 - 0.8)
    d = raw / j
    low = d - math.hypot((raw - lo_raw) / j, d * (1 - j / j_high))
    high = d + math.hypot((hi_raw - raw) / j, d * (j / j_low - 1))
    assert r["difference"] == pytest.approx(d) and r["ci"] == pytest.approx((low, high))
    assert r["mcnemar"]["p_value"] == pytest.approx(sm_mcnemar([[55, 5], [20, 20]], exact=False).pvalue)
    # B worse: the stretched side is the lower one
    w = corrected_difference(b, a, tpr=0.9, tnr=0.8, n_pass=50, n_fail=40)
    assert w["difference"] == pytest.approx(-d) and w["ci"] == pytest.approx((-high, -low))
    # with a perfect judge known on many labels it is the paired interval itself
    exact = corrected_difference(a, b, tpr=1.0, tnr=1.0, n_pass=10**9, n_fail=10**9)
    assert exact["ci"] == pytest.approx((lo_raw, hi_raw), abs=1e-3)
    # identical versions: no change, but never a zero-width interval
    same = corrected_difference(a, a, tpr=0.9, tnr=0.8, n_pass=50, n_fail=40)
    assert same["difference"] == 0 and same["ci"][1] - same["ci"][0] > 0.03
    # a judge that may be no better than chance on so few labels: the far side is unbounded, and said so
    shaky = corrected_difference(a, b, tpr=0.7, tnr=0.6, n_pass=6, n_fail=5)
    assert shaky["ci"][1] == 1.0 and "chance" in shaky["caveat"]


def test_flip_rates_by_hand():
    f = flip_rates({"a": ["pass", "pass", "pass"], "b": ["pass", "fail", "fail"], "c": ["fail", "error", "fail"],
                    "d": ["pass"]})
    assert f["n_rows"] == 3 and f["n_flipped"] == 1 and f["flip_rate"] == pytest.approx(1 / 3)
    assert f["rows"]["b"]["disagreement"] == pytest.approx(2 * 1 * 2 / (3 * 2))
    assert f["disagreement_rate"] == pytest.approx((0 + 2 / 3 + 0) / 3)


def test_planning_by_hand():
    lo, hi = proportion_confint(45, 50, method="wilson")
    assert rate_half_width(0.9, 50) == pytest.approx((hi - lo) / 2)
    k = labels_needed_for_rate(0.9, 50, 0.05)
    assert rate_half_width(0.9, 50 + k) <= 0.05 < rate_half_width(0.9, 50 + k - 1)
    split = best_split(0.7, 0.6, 0.95, 10_000, 20, 80, 100)
    assert split["half_width"] <= split["half_width_even_split"] and split["fails"] > split["passes"]


def test_sampler_probabilities_are_the_draw_frequencies():
    frame = pd.DataFrame({"f": ["a"] * 6 + ["b"] * 3 + ["c"] * 11})
    probs = stratified_probabilities(frame, 7, ["f"])
    counts = np.zeros(len(frame))
    for seed in range(3000):
        for p in stratified_sample(frame, 7, ["f"], seed=seed)[0]:
            counts[p] += 1
    assert np.abs(counts / 3000 - probs).max() < 0.035
    flagged = [i % 3 == 0 for i in range(20)]
    d = draw(frame, 8, [], seed=0, flagged=flagged, random_share=0.25)
    counts = np.zeros(len(frame))
    for seed in range(3000):
        for p in focus_sample(frame, 8, flagged, random_share=0.25, seed=seed)[0]:
            counts[p] += 1
    for p, (_, _, prob) in d.rows.items():
        assert abs(counts[p] / 3000 - prob) < 0.035


def test_focused_sampling_bias_and_its_removal():
    """Population TPR 0.85, TNR 0.80, pass rate 0.70; 150 of 3,000 rows labelled per round through
    sheetsync's own focused sampler (70% judge fails, 30% random), 120 rounds."""
    rng = np.random.default_rng(15)
    tpr_truth, tnr_truth = 0.85, 0.80
    plain, weighted = [], []
    for rep in range(120):
        expert = rng.random(3000) < 0.7
        judge = np.where(np.where(expert, rng.random(3000) < tpr_truth, rng.random(3000) < tnr_truth), expert, ~expert)
        frame = pd.DataFrame({"i": range(3000)})
        d = draw(frame, 150, [], seed=rep, flagged=(~judge).tolist(), random_share=0.3)
        idx = np.array(d.positions)
        w = [1 / d.rows[p][2] for p in d.positions]
        e, j = ["pass" if x else "fail" for x in expert[idx]], ["pass" if x else "fail" for x in judge[idx]]
        plain.append(agreement(e, j).tpr)
        weighted.append(agreement(e, j, weights=w).tpr)
    plain_bias, w_bias = np.mean(plain) - tpr_truth, np.mean(weighted) - tpr_truth
    se = np.std(weighted) / np.sqrt(len(weighted))
    print(f"TPR truth {tpr_truth}: unweighted mean {np.mean(plain):.3f} (bias {plain_bias:+.3f}), "
          f"weighted mean {np.mean(weighted):.3f} (bias {w_bias:+.3f}, simulation error {se:.3f})")
    assert plain_bias < -0.25  # judge-fails are over-represented among the labelled passes
    assert abs(w_bias) < 3 * se + 0.005
