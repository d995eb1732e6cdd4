"""Real expert labels (TofuEval, see tests/fixtures/README.md) through the whole round trip on Google Sheets:
multi-line explanations, quotes inside cells and multi-label root causes come back exactly as written."""

import csv
from pathlib import Path

import pandas as pd

from sheetsync.config import load_config
from sheetsync.metrics import root_cause_tally
from sheetsync.pull import pull
from sheetsync.push import push
from sheetsync.store import Store
from sheetsync.workspace import init_workspace
from tests.test_roundtrip_google import GoogleExpert

FIXTURES = [Path(__file__).parent / "fixtures" / name
            for name in ("tofueval_mediasum_first60.csv", "tofueval_mediasum_sample.csv")]


def test_tofueval_labels_survive_the_round_trip(tmp_path, monkeypatch, sheets_emulator, gspread_client):
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", sheets_emulator.address)
    source = pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in FIXTURES], ignore_index=True)
    source.insert(0, "id", source["doc_id"] + "/" + source["model_name"] + "/" + source["sent_idx"])
    source = source.drop_duplicates("id")
    data = source.rename(columns={"summ_sent": "output", "topic": "input"})
    data[["id", "input", "output", "doc_id", "model_name"]].to_csv(tmp_path / "summaries.csv", index=False,
                                                                   quoting=csv.QUOTE_ALL)
    init_workspace(tmp_path, spreadsheet="TofuEval review")
    toml = tmp_path / "sheetsync.toml"
    toml.write_text(toml.read_text().replace("context = []", 'context = ["doc_id"]')
                    .replace("dimensions = []", 'dimensions = ["model_name"]'))
    cfg = load_config(toml)
    push(cfg, tmp_path / "summaries.csv")

    labels = {
        r["id"]: ("Pass" if r["sent_label"] == "yes" else "Fail", r["exp"], r["type"])
        for r in source.to_dict(orient="records")
    }
    GoogleExpert(gspread_client, title="TofuEval review").label(labels)
    summary = pull(cfg)
    assert summary.fails == (source["sent_label"] == "no").sum()
    assert summary.passes == (source["sent_label"] == "yes").sum()
    stored = Store.for_workspace(cfg.state_dir).labels()
    assert any("\n" in exp for _, exp, _ in labels.values()) and any('"' in exp for _, exp, _ in labels.values())
    for rid, (verdict, exp, cause) in labels.items():
        got = stored[rid]
        assert (got.verdict, got.critique, got.root_cause) == (verdict.lower(), exp.strip(), cause.strip()), rid
    # multi-label root causes are tallied per cause
    frame = pd.DataFrame([{"expert_verdict": lb.verdict, "root_cause": lb.root_cause} for lb in stored.values()])
    tally = root_cause_tally(frame).set_index("root_cause")["count"]
    expected = pd.Series([c.strip() for cell in source.loc[source["sent_label"] == "no", "type"]
                          for c in cell.split(",") if c.strip()]).value_counts()
    for cause, count in expected.items():
        assert tally[cause] == count, cause
