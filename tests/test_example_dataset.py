"""Properties of the shipped example dataset (sheetsync/examples/support_assistant.csv).

The file is hand-written content; these tests keep edits from silently degrading it.
"""

from __future__ import annotations

import csv
import re
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "sheetsync" / "examples"
CSV_PATH = EXAMPLES / "support_assistant.csv"
README_PATH = EXAMPLES / "README.md"

COLUMNS = [
    "id",
    "feature",
    "scenario",
    "persona",
    "user_tier",
    "locale",
    "timestamp",
    "booking_facts",
    "policy_facts",
    "input",
    "output",
    "expert_verdict",
    "expert_critique",
    "root_cause",
]
DIMENSIONS = {"feature": (5, 6), "scenario": (4, 5), "persona": (3, 4)}
ROOT_CAUSES = {
    "hallucinated fact",
    "policy misapplied",
    "missed identity check",
    "wrong tone",
    "failed to escalate",
    "incomplete answer",
    "ignored context",
    "overpromised",
}
POLICY_CODE = re.compile(r"§\d+\.\d+")
SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Z'‘\"(])")


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return pd.read_csv(CSV_PATH, dtype=str, keep_default_na=False, encoding="utf-8")


def test_file_is_utf8_rfc4180_without_bom():
    raw = CSV_PATH.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8")
    with CSV_PATH.open(encoding="utf-8", newline="") as fh:
        records = list(csv.reader(fh, strict=True))
    assert records[0] == COLUMNS
    assert all(len(rec) == len(COLUMNS) for rec in records)
    assert text.endswith("\n")


def test_columns_and_size(df):
    assert list(df.columns) == COLUMNS
    assert 280 <= len(df) <= 320


def test_ids_unique_and_well_formed(df):
    assert df["id"].is_unique
    assert df["id"].str.fullmatch(r"NT-\d{4}").all()
    assert list(df["id"]) == [f"NT-{n:04d}" for n in range(1, len(df) + 1)]


@pytest.mark.parametrize("column", ["input", "output", "expert_critique", "booking_facts", "policy_facts"])
def test_no_empty_text(df, column):
    assert (df[column].str.strip() != "").all()


@pytest.mark.parametrize("column", ["input", "output"])
def test_texts_are_not_repeated(df, column):
    assert df[column].is_unique


def test_verdicts_and_fail_rate(df):
    assert set(df["expert_verdict"]) == {"pass", "fail"}
    fail_rate = (df["expert_verdict"] == "fail").mean()
    assert 0.30 <= fail_rate <= 0.50


@pytest.mark.parametrize("dimension", sorted(DIMENSIONS))
def test_every_dimension_value_has_passes_and_fails(df, dimension):
    low, high = DIMENSIONS[dimension]
    counts = pd.crosstab(df[dimension], df["expert_verdict"])
    assert low <= len(counts) <= high
    assert (counts["pass"] >= 2).all(), counts
    assert (counts["fail"] >= 2).all(), counts


def test_context_columns(df):
    assert set(df["user_tier"]) == {"Basic", "Silver", "Gold"}
    assert df["locale"].str.fullmatch(r"[a-z]{2}-[A-Z]{2}").all()
    assert df["locale"].nunique() >= 4
    stamps = [datetime.fromisoformat(ts.replace("Z", "+00:00")) for ts in df["timestamp"]]
    assert all(ts.year == 2026 and ts.tzinfo is not None for ts in stamps)
    assert stamps == sorted(stamps)
    assert df["booking_facts"].str.contains(r"^[\w ]+: ", regex=True).all()
    for facts, tier in zip(df["booking_facts"], df["user_tier"], strict=True):
        stated = re.search(r"\btier: (\w+)", facts)
        assert stated is None or stated.group(1) == tier, facts


def test_policy_facts_cover_cited_policy(df):
    for row in df.itertuples():
        lines = row.policy_facts.split("\n")
        assert 1 <= len(lines) <= 4, row.id
        assert all(POLICY_CODE.match(line) for line in lines), row.id
        listed = {POLICY_CODE.match(line).group() for line in lines}
        cited = set(POLICY_CODE.findall(row.expert_critique))
        assert cited <= listed, (row.id, cited - listed)


def test_root_causes(df):
    passes = df[df["expert_verdict"] == "pass"]
    fails = df[df["expert_verdict"] == "fail"]
    assert (passes["root_cause"] == "").all()
    assert (fails["root_cause"] != "").all()
    used = [cause for value in fails["root_cause"] for cause in value.split("; ")]
    assert set(used) <= ROOT_CAUSES
    assert 6 <= len(set(used)) <= 8
    assert all(used.count(cause) >= 2 for cause in set(used))
    assert all(len(value.split("; ")) <= 2 for value in fails["root_cause"])


def test_critiques_are_detailed(df):
    words = df["expert_critique"].str.split().str.len()
    assert (words >= 20).all()
    assert words.mean() >= 35
    for row in df.itertuples():
        sentences = SENTENCE_BREAK.split(row.expert_critique.strip())
        assert 2 <= len(sentences) <= 5, row.id
        assert row.expert_critique.strip().lower().rstrip(".!") not in {"good", "bad", "ok", "pass", "fail"}
        # When a critique opens with its verdict, it must agree with the label.
        first = row.expert_critique.split()[0].strip(".,:").lower()
        if first in {"pass", "fail"}:
            assert first == row.expert_verdict, row.id


def test_multi_turn_inputs_end_with_the_customer(df):
    multi = df[df["input"].str.startswith("Customer:")]
    assert len(multi) >= 3
    for text in multi["input"]:
        turns = text.split("\n")
        assert all(t.startswith(("Customer: ", "Assistant: ")) for t in turns)
        assert turns[-1].startswith("Customer: ")
    assert len(multi) < len(df) / 2


def test_spreadsheet_trap_rows_are_present(df):
    assert df["input"].str.startswith("=").any()
    assert df["output"].str.startswith("+").any()
    assert df["input"].str.startswith("-").any()
    assert df["input"].str.lower().str.contains("ignore previous instructions", regex=False).any()


def test_readme_counts_match_the_file(df):
    readme = README_PATH.read_text(encoding="utf-8")
    n_fail = int((df["expert_verdict"] == "fail").sum())
    n_pass = len(df) - n_fail
    assert f"**{len(df)} rows**: {n_pass} pass, {n_fail} fail" in readme
    assert "Apache-2.0" in readme
    for dimension in DIMENSIONS:
        counts = pd.crosstab(df[dimension], df["expert_verdict"])
        for value, row in counts.iterrows():
            assert f"| `{value}` | {row['pass']} | {row['fail']} | {row['pass'] + row['fail']} |" in readme
