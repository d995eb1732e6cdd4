"""sheetsync.metrics.corrected_success_rate(_by) against judgy 0.1.0 and hand arithmetic.

judgy draws its bootstrap indices from numpy's global RandomState, so `np.random.seed(s)` followed by
`judgy.estimate_success_rate(...)` is the reference for `corrected_success_rate(..., seed=s)`.
"""

from __future__ import annotations

import math

import judgy
import numpy as np
import pandas as pd
import pytest

from sheetsync.metrics import (
    CorrectedRate,
    JudgeNoBetterThanChance,
    NoValidBootstrapSamples,
    corrected_success_rate,
    corrected_success_rate_by,
    normalize_label,
)
from tests.test_metrics import tofueval

FAST = 2000  # bootstrap iterations where the exact count does not matter
NAN = float("nan")


def judgy_with_seed(seed, labels, preds, unlabeled, **kw):
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        return judgy.estimate_success_rate(labels, preds, unlabeled, **kw)
    finally:
        np.random.set_state(state)


def simulated(seed: int, n_test: int, n_unlabeled: int, pass_rate: float, tpr: float, tnr: float):
    rng = np.random.default_rng(seed)
    labels = (rng.random(n_test) < pass_rate).astype(int)
    correct = np.where(labels == 1, rng.random(n_test) < tpr, rng.random(n_test) < tnr)
    preds = np.where(correct, labels, 1 - labels)
    truth = rng.random(n_unlabeled) < pass_rate
    unl_correct = np.where(truth, rng.random(n_unlabeled) < tpr, rng.random(n_unlabeled) < tnr)
    unlabeled = np.where(unl_correct, truth, ~truth).astype(int)
    return labels.tolist(), preds.tolist(), unlabeled.tolist()


# ---------------------------------------------------------------- against judgy

SCENARIOS = [
    # seed, n_test, n_unlabeled, pass_rate, tpr, tnr
    (1, 200, 500, 0.7, 0.85, 0.8),
    (2, 50, 1000, 0.5, 0.9, 0.9),
    (3, 12, 40, 0.6, 0.8, 0.75),  # tiny: many resamples lack a class or beat chance by nothing
    (4, 300, 30, 0.9, 0.95, 0.6),
    (5, 80, 200, 0.2, 0.7, 0.95),
    (8, 8, 10, 0.5, 0.8, 0.8),  # 8 labelled rows: about 1 resample in 6 is skipped
    (6, 6, 10, 0.5, 0.9, 0.9),  # a perfect judge on 6 rows: every valid resample gives p_obs
]


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("seed", [0, 7])
def test_judgy_method_reproduces_judgy_exactly(scenario, seed):
    labels, preds, unlabeled = simulated(*scenario)
    expected = judgy_with_seed(seed, labels, preds, unlabeled, bootstrap_iterations=FAST)
    ours = corrected_success_rate(labels, preds, unlabeled, iterations=FAST, seed=seed)
    assert tuple(ours) == expected  # bit for bit: same θ, same resamples, same percentiles


def test_judgy_method_reproduces_judgy_at_default_settings_on_tofueval():
    df = tofueval()
    test, unl = df.iloc[:120], df.iloc[120:]
    as01 = lambda s: [int(normalize_label(v)) for v in s]  # noqa: E731
    expected = judgy_with_seed(0, as01(test["expert_verdict"]), as01(test["judge_verdict"]),
                               as01(unl["judge_verdict"]))
    ours = corrected_success_rate(test["expert_verdict"], test["judge_verdict"], unl["judge_verdict"])
    assert ours == expected
    theta, lower, upper = ours  # unpacks as a 3-tuple
    assert lower <= theta <= upper
    assert ours.n_test == 120 and ours.n_unlabeled == 80 and ours.iterations == 20000


@pytest.mark.parametrize("confidence", [0.5, 0.8, 0.9, 0.99])
def test_judgy_method_matches_judgy_at_other_confidence_levels(confidence):
    labels, preds, unlabeled = simulated(*SCENARIOS[0])
    expected = judgy_with_seed(3, labels, preds, unlabeled, bootstrap_iterations=FAST,
                               confidence_level=confidence)
    assert corrected_success_rate(labels, preds, unlabeled, iterations=FAST, seed=3,
                                  confidence=confidence) == expected


def test_different_seeds_agree_within_monte_carlo_tolerance():
    labels, preds, unlabeled = simulated(*SCENARIOS[0])
    runs = [corrected_success_rate(labels, preds, unlabeled, seed=s) for s in range(4)]
    assert len({r.theta for r in runs}) == 1  # the point estimate has no randomness
    assert len({r.lower for r in runs}) > 1  # the bounds do ...
    for r in runs:  # ... but by less than the Monte-Carlo error of a 2.5% quantile of 20000 draws
        assert r.lower == pytest.approx(runs[0].lower, abs=0.01)
        assert r.upper == pytest.approx(runs[0].upper, abs=0.01)


def test_seed_reproducibility_and_global_random_state_untouched():
    labels, preds, unlabeled = simulated(*SCENARIOS[1])
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a = corrected_success_rate(labels, preds, unlabeled, iterations=FAST, seed=5)
    b = corrected_success_rate(labels, preds, unlabeled, iterations=FAST, seed=5)
    assert a == b and a.to_dict() == b.to_dict()
    assert (np.random.get_state()[1] == before).all()
    for method in ("judgy", "full"):
        x = corrected_success_rate(labels, preds, unlabeled, iterations=FAST, seed=5, method=method)
        y = corrected_success_rate(labels, preds, unlabeled, iterations=FAST, seed=5, method=method)
        assert x == y


# ---------------------------------------------------------------- the point estimate by hand

def test_theta_hand_computed():
    # 10 expert passes, 8 judged pass: TPR = 0.8; 10 expert fails, 9 judged fail: TNR = 0.9.
    labels = [1] * 10 + [0] * 10
    preds = [1] * 8 + [0] * 2 + [0] * 9 + [1]
    unlabeled = [1] * 5 + [0] * 5  # p_obs = 0.5
    # theta = (0.5 + 0.9 - 1) / (0.8 + 0.9 - 1) = 0.4 / 0.7 = 4/7
    r = corrected_success_rate(labels, preds, unlabeled, iterations=FAST)
    assert r.theta == pytest.approx(4 / 7)
    assert (r.p_obs, r.tpr, r.tnr) == pytest.approx((0.5, 0.8, 0.9))
    assert r.theta_unclipped == pytest.approx(4 / 7)
    assert r.lower < 4 / 7 < r.upper


@pytest.mark.parametrize("passes, expected_raw, expected", [
    # TPR = 0.8, TNR = 0.9 as above, 10 unlabeled:
    (10, (1.0 + 0.9 - 1) / 0.7, 1.0),  # p_obs = 1:   0.9/0.7 = 1.2857 -> clipped to 1
    (0, (0.0 + 0.9 - 1) / 0.7, 0.0),   # p_obs = 0:  -0.1/0.7 = -0.1429 -> clipped to 0
    (1, (0.1 + 0.9 - 1) / 0.7, 0.0),   # p_obs = 0.1: exactly 0 (1 - TNR), the edge
    (9, (0.9 + 0.9 - 1) / 0.7, 1.0),   # p_obs = 0.9: 0.8/0.7 = 1.1429 -> clipped to 1
    (7, (0.7 + 0.9 - 1) / 0.7, 6 / 7),  # p_obs = 0.7: 0.6/0.7 = 0.857, inside, unchanged
])
def test_theta_is_clipped_to_unit_interval(passes, expected_raw, expected):
    labels = [1] * 10 + [0] * 10
    preds = [1] * 8 + [0] * 2 + [0] * 9 + [1]
    unlabeled = [1] * passes + [0] * (10 - passes)
    r = corrected_success_rate(labels, preds, unlabeled, iterations=FAST)
    assert r.theta == pytest.approx(expected, abs=1e-12)
    assert r.theta_unclipped == pytest.approx(expected_raw, abs=1e-12)
    assert 0 <= r.lower <= r.upper <= 1
    assert r == judgy_with_seed(0, labels, preds, unlabeled, bootstrap_iterations=FAST)


def test_perfect_judge_gives_the_observed_rate_with_a_degenerate_interval():
    # TPR = TNR = 1 in every resample that has both classes, so every bootstrap theta is p_obs (ties).
    labels = preds = [1, 1, 1, 0, 0]
    r = corrected_success_rate(labels, preds, [1, 1, 0, 1], iterations=FAST)
    assert tuple(r) == (0.75, 0.75, 0.75)
    assert r == judgy_with_seed(0, labels, preds, [1, 1, 0, 1], bootstrap_iterations=FAST)


# ---------------------------------------------------------------- errors, as judgy's

def judgy_error(*args, seed=0, **kw):
    with pytest.raises((ValueError, RuntimeError)) as err:
        judgy_with_seed(seed, *args, **kw)
    return err.value


@pytest.mark.parametrize("args, judgy_kw, our_kw", [
    (([1, 0], [1, 0], [1]), {"confidence_level": 0}, {"confidence": 0}),
    (([1, 0], [1, 0], [1]), {"confidence_level": 1}, {"confidence": 1}),
    (([1, 0], [1, 0], [1]), {"bootstrap_iterations": 0}, {"iterations": 0}),
    (([1, 0], [1], [1]), {}, {}),
    (([], [], [1]), {}, {}),
    (([1, 0], [1, 0], []), {}, {}),
    (([1, 1, 1], [1, 0, 1], [1]), {}, {}),  # no fails among the labels
    (([0, 0], [0, 1], [1]), {}, {}),  # no passes among the labels
    (([1, 1, 0, 0], [1, 0, 1, 0], [1]), {}, {}),  # TPR + TNR = 1: chance
    (([1, 1, 0, 0], [0, 0, 1, 1], [1]), {}, {}),  # TPR + TNR = 0: worse than chance
    (([1] * 3 + [0] * 3, [1, 1, 0] + [1, 1, 0], [1]), {}, {}),  # 2/3 + 1/3 = 1 exactly
])
def test_validation_errors_match_judgy(args, judgy_kw, our_kw):
    expected = judgy_error(*args, **judgy_kw)
    with pytest.raises(type(expected)) as err:
        corrected_success_rate(*args, **our_kw)
    ours = str(err.value)
    if "confidence_level" in str(expected) or "bootstrap_iterations" in str(expected):
        assert ("confidence" if "confidence" in str(expected) else "iterations") in ours
    else:
        assert ours.startswith(str(expected))  # judgy's words first, our detail after


def test_no_better_than_chance_says_so():
    with pytest.raises(JudgeNoBetterThanChance, match="no better than chance") as err:
        corrected_success_rate([1, 1, 0, 0], [1, 0, 1, 0], [1, 0], iterations=FAST)
    assert isinstance(err.value, ValueError)
    assert "TPR = 0.500, TNR = 0.500" in str(err.value)


def test_no_valid_bootstrap_sample_is_judgys_runtime_error():
    # 2 labelled rows and 1 resample: pick a seed whose one draw is a single row twice (one class only),
    # so no resample is valid.
    labels, preds = [1, 0], [1, 0]
    seed = next(s for s in range(100) if len(set(np.random.RandomState(s).randint(0, 2, size=2))) == 1)
    expected = judgy_error(labels, preds, [1], seed=seed, bootstrap_iterations=1)
    assert isinstance(expected, RuntimeError)
    with pytest.raises(NoValidBootstrapSamples) as err:
        corrected_success_rate(labels, preds, [1], iterations=1, seed=seed)
    assert isinstance(err.value, RuntimeError) and str(err.value).startswith(str(expected))


@pytest.mark.parametrize("kw", [{"method": "bayes"}, {"iterations": -5}, {"iterations": 2.5},
                                {"confidence": 95}])
def test_bad_options(kw):
    with pytest.raises(ValueError):
        corrected_success_rate([1, 0], [1, 0], [1], **kw)


# ---------------------------------------------------------------- label forms and missing values

def test_label_forms_and_missing_values_are_normalised_and_excluded():
    labels, preds, unlabeled = simulated(*SCENARIOS[4])
    plain = corrected_success_rate(labels, preds, unlabeled, iterations=FAST)
    words = {1: "PASS", 0: " fail"}
    messy_labels = [words[v] if i % 3 == 0 else (bool(v) if i % 3 == 1 else float(v))
                    for i, v in enumerate(labels)]
    messy_preds = [str(v) if i % 2 else words[v].lower() for i, v in enumerate(preds)]
    # add pairs with a missing side or a judge error, and missing/error unlabeled verdicts
    messy_labels += [None, "pass", NAN, "fail", ""]
    messy_preds += ["pass", None, "fail", "Error", "fail"]
    messy_unlabeled = [bool(v) for v in unlabeled] + [None, NAN, "error", ""]
    r = corrected_success_rate(pd.Series(messy_labels), np.array(messy_preds, dtype=object),
                               messy_unlabeled, iterations=FAST)
    assert r == plain  # same pairs after normalising and excluding, same seed: the same estimate
    assert (r.n_test_excluded, r.n_unlabeled_excluded) == (5, 4)
    assert (r.n_test, r.n_unlabeled) == (len(labels), len(unlabeled))


def test_all_labelled_pairs_missing_is_the_empty_error():
    with pytest.raises(ValueError, match="test_labels cannot be empty.*all 2"):
        corrected_success_rate([None, "pass"], ["pass", "error"], [1])
    with pytest.raises(ValueError, match="unlabeled_preds cannot be empty.*all 1"):
        corrected_success_rate([1, 0], [1, 0], ["error"])
    with pytest.raises(ValueError, match="'maybe'"):
        corrected_success_rate([1, "maybe"], [1, 0], [1])


def test_result_type():
    r = corrected_success_rate([1, 1, 0, 0, 1], [1, 1, 0, 0, 1], [1, 0], iterations=FAST)
    assert isinstance(r, CorrectedRate) and isinstance(r, tuple) and len(r) == 3
    assert r == (r.theta, r.lower, r.upper)
    with pytest.raises(AttributeError):
        r.theta = 0.3
    with pytest.raises(AttributeError):
        r.p_obs = 0.3
    assert r._replace(lower=0.1).lower == 0.1 and r._replace(lower=0.1).p_obs == r.p_obs
    d = r.to_dict()
    assert d["method"] == "judgy" and d["seed"] == 0 and d["n_bootstrap_valid"] <= FAST
    assert "p_obs=0.5" in repr(r)


# ---------------------------------------------------------------- method="full"

def brute_force_full(labels, preds, unlabeled, iterations, confidence, seed):
    """Reference: resample labelled pairs and unlabeled verdicts by index, one iteration at a time."""
    rng = np.random.default_rng(seed)
    labels, preds, unlabeled = map(np.asarray, (labels, preds, unlabeled))
    thetas = []
    for _ in range(iterations):
        i = rng.integers(0, len(labels), len(labels))
        lab, pre = labels[i], preds[i]
        u = unlabeled[rng.integers(0, len(unlabeled), len(unlabeled))]
        pos, neg = lab.sum(), len(lab) - lab.sum()
        if pos == 0 or neg == 0:
            continue
        tpr, tnr = (lab & pre).sum() / pos, ((1 - lab) & (1 - pre)).sum() / neg
        if tpr + tnr <= 1:
            continue
        thetas.append(min(1, max(0, (u.mean() + tnr - 1) / (tpr + tnr - 1))))
    alpha = 1 - confidence
    return np.percentile(thetas, [100 * alpha / 2, 100 * (1 - alpha / 2)])


@pytest.mark.parametrize("scenario", [SCENARIOS[0], SCENARIOS[3], (9, 40, 25, 0.6, 0.85, 0.85)])
def test_full_method_matches_brute_force_resampling_within_monte_carlo_tolerance(scenario):
    labels, preds, unlabeled = simulated(*scenario)
    ours = corrected_success_rate(labels, preds, unlabeled, iterations=8000, method="full", seed=1)
    low, high = brute_force_full(labels, preds, unlabeled, 8000, 0.95, seed=99)
    assert ours.theta == corrected_success_rate(labels, preds, unlabeled, iterations=FAST).theta
    assert ours.lower == pytest.approx(low, abs=0.02)
    assert ours.upper == pytest.approx(high, abs=0.02)


def test_full_method_is_wider_than_judgy_for_a_small_unlabeled_set():
    widths = {"judgy": [], "full": []}
    for seed in range(8):
        labels, preds, unlabeled = simulated(100 + seed, 200, 20, 0.6, 0.9, 0.85)
        for method in widths:
            r = corrected_success_rate(labels, preds, unlabeled, iterations=FAST, method=method, seed=seed)
            widths[method].append(r.upper - r.lower)
    # judgy holds p_obs (20 verdicts, SE about 0.11) fixed; "full" adds that noise on top.
    assert np.mean(widths["full"]) > 1.5 * np.mean(widths["judgy"])
    assert all(f >= j for f, j in zip(widths["full"], widths["judgy"], strict=True))


def test_full_method_on_a_large_unlabeled_set_is_close_to_judgy():
    labels, preds, unlabeled = simulated(11, 150, 20000, 0.6, 0.9, 0.85)
    j = corrected_success_rate(labels, preds, unlabeled, iterations=FAST)
    f = corrected_success_rate(labels, preds, unlabeled, iterations=FAST, method="full")
    assert f.upper - f.lower == pytest.approx(j.upper - j.lower, rel=0.15)


# ---------------------------------------------------------------- corrected_success_rate_by

def test_by_with_global_test_equals_per_cell_calls():
    df = tofueval()
    test, unl = df.iloc[:100], df.iloc[100:]
    table = corrected_success_rate_by(test, unl, by="model_name", iterations=FAST, seed=2)
    assert sorted(table["model_name"]) == sorted(unl["model_name"].unique())
    assert (table["test_scope"] == "global").all() and (table["n_test"] == 100).all()
    for _, row in table.iterrows():
        cell = unl[unl["model_name"] == row["model_name"]]
        r = corrected_success_rate(test["expert_verdict"], test["judge_verdict"], cell["judge_verdict"],
                                   iterations=FAST, seed=2)
        assert (row["theta"], row["lower"], row["upper"]) == tuple(r)
        assert (row["n_unlabeled"], row["p_obs"], row["tpr"], row["tnr"]) == (
            r.n_unlabeled, r.p_obs, r.tpr, r.tnr)
        assert row["reason"] == ""
    thetas = table["theta"].tolist()
    assert thetas == sorted(thetas)


def test_by_with_per_cell_test_and_undefined_cells():
    test = pd.DataFrame({
        "expert_verdict": ["pass", "fail", "pass", "fail", "pass", "pass", "pass", "fail"],
        "judge_verdict": ["pass", "fail", "pass", "fail", "pass", "fail", "pass", "pass"],
        "dim": ["a", "a", "a", "a", "b", "b", "c", "c"],
    })
    unl = pd.DataFrame({"judge_verdict": ["pass", "fail", "pass", "error", "pass", "pass"],
                        "dim": ["a", "a", "b", "b", "d", "d"]})
    table = corrected_success_rate_by(test, unl, by="dim", per_cell_test=True, iterations=FAST)
    rows = table.set_index("dim")
    assert set(rows.index) == {"a", "b", "c", "d"}
    assert (table["test_scope"] == "cell").all()
    # a: a perfect judge on 2 passes + 2 fails, p_obs = 1/2 -> theta = 0.5
    assert rows.loc["a", "theta"] == 0.5 and rows.loc["a", "n_test"] == 4 and rows.loc["a", "reason"] == ""
    # b: no fail among its labels; c: no unlabeled rows ... and TPR + TNR = 1 + 0 = 1;
    # d: no labelled rows
    assert "both positive and negative" in rows.loc["b", "reason"] and rows.loc["b", "n_unlabeled"] == 1
    assert "unlabeled_preds cannot be empty" in rows.loc["c", "reason"]
    assert "test_labels cannot be empty" in rows.loc["d", "reason"]
    for cell in "bcd":
        assert math.isnan(rows.loc[cell, "theta"]) and math.isnan(rows.loc[cell, "lower"])
    assert rows.loc["d", "p_obs"] == 1.0 and math.isnan(rows.loc["d", "tpr"])
    assert table["dim"].iloc[-1] == "a"  # undefined cells first


def test_by_with_a_chance_level_judge_reports_it_in_every_cell():
    test = pd.DataFrame({"expert_verdict": [1, 1, 0, 0], "judge_verdict": [1, 0, 1, 0]})
    unl = pd.DataFrame({"judge_verdict": [1, 0, 1], "dim": ["x", "y", None]})
    table = corrected_success_rate_by(test, unl, by="dim", iterations=FAST)
    assert len(table) == 3 and table["theta"].isna().all()
    assert table["reason"].str.contains("no better than chance").all()
    assert table["dim"].isna().sum() == 1  # a missing dimension value is a cell of its own


def test_by_pairs_of_dimensions_and_bad_labels():
    df = tofueval()
    table = corrected_success_rate_by(df.iloc[:100], df.iloc[100:], by=["model_name", "topic"],
                                      iterations=200)
    assert table["n_unlabeled"].sum() == 100
    assert len(table) == len(df.iloc[100:].groupby(["model_name", "topic"]))
    bad = df.iloc[:100].copy()
    bad.loc[bad.index[0], "expert_verdict"] = "maybe"
    with pytest.raises(ValueError, match="'maybe'"):
        corrected_success_rate_by(bad, df.iloc[100:], by="model_name", iterations=200)
    with pytest.raises(ValueError, match="method"):
        corrected_success_rate_by(df, df, by="model_name", method="nope")
