"""sheetsync.metrics root-cause splitting and tallies, on hand-built frames and the TofuEval slice."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sheetsync.metrics import NONE_GIVEN, root_cause_tally, split_root_causes

FIXTURE = Path(__file__).parent / "fixtures" / "tofueval_mediasum_sample.csv"


@pytest.mark.parametrize("cell, expected", [
    ("Tone", ["Tone"]),
    ("  Tone  ", ["Tone"]),
    ("Tone, Length", ["Tone", "Length"]),
    ("Tone;Length|Format", ["Tone", "Length", "Format"]),
    ("wrong   date\tformat ;  missing\ncontext", ["wrong date format", "missing context"]),
    ("Tone, tone, TONE", ["Tone"]),  # same cause in three cases: once, first spelling
    ("Tone,, ;|  ,", ["Tone"]),
    ("Length | Tone | Length", ["Length", "Tone"]),
    ("Mis-Referencing", ["Mis-Referencing"]),  # hyphens and slashes are not separators
    ("Tense/Modality Error, Extrinsic Information", ["Tense/Modality Error", "Extrinsic Information"]),
    ("", []), ("   ", []), (",;|", []), (None, []), (float("nan"), []), (np.nan, []), (pd.NA, []),
    (42, ["42"]),
])
def test_split_root_causes(cell, expected):
    assert split_root_causes(cell) == expected


def hand_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "expert_verdict": ["fail", "FAIL", "fail", "fail", "pass", "fail", None, "fail", 0],
        "root_cause": ["Tone, Length", "tone", "Length|Format", None, "Tone", "  ", "Tone", "length ;tone", "format"],
        "dim": ["a", "a", "b", "b", "a", "c", "a", None, "c"],
    })


def test_tally_hand_computed():
    table = root_cause_tally(hand_frame())
    # failed rows: 1, 2, 3, 4, 6, 8, 9 -> 7 (row 5 passed, row 7 has no verdict).
    # Tone: rows 1, 2, 8 = 3 (spellings "Tone" ×1, "tone" ×2 -> shown as "tone")
    # Length: rows 1, 3, 8 = 3 ("Length" ×2, "length" ×1 -> "Length")
    # Format: rows 3, 9 = 2 ("Format" ×1, "format" ×1: a tie, the first seen wins -> "Format")
    # none given: rows 4 and 6 = 2
    assert table.to_dict("list") == {
        "root_cause": ["Length", "tone", "Format", NONE_GIVEN],  # 3-3 tie in alphabetical order
        "count": [3, 3, 2, 2],
        "percent": pytest.approx([300 / 7, 300 / 7, 200 / 7, 200 / 7]),
    }
    assert table.attrs["n_failed"] == 7
    assert table["percent"].sum() > 100  # multi-label rows count under each of their causes


def test_tally_by_dimension_hand_computed():
    table = root_cause_tally(hand_frame(), by="dim")
    got = {(d, c): (n, k, p) for d, n, c, k, p in
           table[["dim", "n_failed", "root_cause", "count", "percent"]].itertuples(index=False)}
    assert got == {
        # a: failed rows 1, 2 -> Tone ×2 (shown in the frame-wide spelling "tone"), Length ×1
        ("a", "tone"): (2, 2, pytest.approx(100.0)),
        ("a", "Length"): (2, 1, pytest.approx(50.0)),
        # b: failed rows 3, 4 -> Length, Format, and one without a cause
        ("b", "Length"): (2, 1, pytest.approx(50.0)),
        ("b", "Format"): (2, 1, pytest.approx(50.0)),
        ("b", NONE_GIVEN): (2, 1, pytest.approx(50.0)),
        # c: failed rows 6 (no cause) and 9 (format)
        ("c", "Format"): (2, 1, pytest.approx(50.0)),
        ("c", NONE_GIVEN): (2, 1, pytest.approx(50.0)),
        # missing dimension: row 8 -> Length, Tone
        (None, "Length"): (1, 1, pytest.approx(100.0)),
        (None, "tone"): (1, 1, pytest.approx(100.0)),
    }
    assert table["n_failed"].tolist() == sorted(table["n_failed"], reverse=True)
    pivot = table.pivot(index="dim", columns="root_cause", values="count")
    assert pivot.loc["a", "tone"] == 2


def test_tally_without_failures_and_with_only_unexplained_failures():
    passes = pd.DataFrame({"expert_verdict": ["pass", "pass"], "root_cause": ["Tone", None], "dim": ["a", "b"]})
    empty = root_cause_tally(passes)
    assert empty.empty and list(empty.columns) == ["root_cause", "count", "percent"]
    assert empty.attrs["n_failed"] == 0
    by = root_cause_tally(passes, by="dim")
    assert by.empty and "root_cause" in by.columns
    unexplained = root_cause_tally(pd.DataFrame({"expert_verdict": ["fail"] * 3, "root_cause": [None, "", " ; "]}))
    assert unexplained.to_dict("list") == {"root_cause": [NONE_GIVEN], "count": [3], "percent": [100.0]}


def test_tally_reads_judge_verdicts_and_rejects_bad_ones():
    frame = pd.DataFrame({"judge_verdict": ["fail", "error", "pass"], "why": ["Tone", "Length", "Format"]})
    table = root_cause_tally(frame, verdict="judge_verdict", root_cause="why")
    assert table["root_cause"].tolist() == ["Tone"]  # the errored row is not a failure
    with pytest.raises(ValueError, match="'nope'"):
        root_cause_tally(pd.DataFrame({"expert_verdict": ["nope"], "root_cause": ["x"]}))
    with pytest.raises(KeyError, match="root_cause"):
        root_cause_tally(pd.DataFrame({"expert_verdict": ["fail"]}))


def tofueval() -> pd.DataFrame:
    df = pd.read_csv(FIXTURE)
    df["expert_verdict"] = df["sent_label"].map({"yes": "pass", "no": "fail"})
    return df


def test_tally_on_tofueval_matches_an_independent_count():
    df = tofueval()
    failed = df[df["sent_label"] == "no"]
    # Reference: pandas' own string splitting (the TofuEval types are comma-separated, consistently cased).
    reference = Counter(failed["type"].dropna().str.split(",").explode().str.strip())
    none_given = int(failed["type"].isna().sum())
    table = root_cause_tally(df, root_cause="type")
    got = dict(zip(table["root_cause"], table["count"], strict=True))
    expected = dict(reference)
    if none_given:
        expected[NONE_GIVEN] = none_given
    assert got == expected
    assert table.attrs["n_failed"] == len(failed)
    assert table["percent"].tolist() == pytest.approx([100 * c / len(failed) for c in table["count"]])
    assert sum(reference.values()) > len(failed) - none_given  # the slice has multi-label cells
    assert table["percent"].sum() > 100


def test_tally_on_tofueval_by_model_sums_to_the_overall_tally():
    df = tofueval()
    overall = root_cause_tally(df, root_cause="type").set_index("root_cause")["count"]
    by = root_cause_tally(df, root_cause="type", by="model_name")
    assert by.groupby("root_cause")["count"].sum().sort_index().equals(overall.sort_index())
    per_model = by.drop_duplicates("model_name").set_index("model_name")["n_failed"]
    reference = df[df["sent_label"] == "no"].groupby("model_name").size()
    assert per_model.sort_index().equals(reference.sort_index())
    two = root_cause_tally(df, root_cause="type", by=["model_name", "topic"])
    assert two["count"].sum() == overall.sum()
