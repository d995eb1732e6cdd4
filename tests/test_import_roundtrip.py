"""Each export format's fixture end to end: `sheetsync import` → push to the Sheets emulator (read back through
the real gspread client) → the expert labels → pull → the judge through the real openai client against
the local fake server. Ids, roles, tool calls and links are checked where the expert sees them (folded)
and where the judge sees them (in full)."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sheetsync.cli import cli
from sheetsync.config import load_config
from sheetsync.judge import judge, split_of
from sheetsync.pull import pull
from sheetsync.push import push
from sheetsync.store import Store
from sheetsync.workspace import init_workspace
from tests.fake_llm import fake_llm
from tests.test_roundtrip_google import GoogleExpert

FIXTURES = Path(__file__).parent / "fixtures" / "traces"
TITLE = "Trace labels"
LS = "https://smith.langchain.com/o/a3c8e2f1-0b4d-4e6a-9f12-7c5b3d9e1a20/projects/p/6e2b9d41-3f5a-4c8e-b1d7-0a9c4e2f8b63/r/"

# format, fixture, extra import options, then per row id: what the Annotate tab must show, what the judge
# must be sent, and the link
CASES = {
    "openai": ("openai_chat.jsonl", ["--dimensions", "feature", "persona"], {
        "chatcmpl-BsK2pLq8Zt0aW1": {
            "cell": ['assistant: → search_flights(from="OSL", to="BCN", date="2026-05-12")',
                     "← search_flights: {flights: 3 items} [folded: 562 characters]", "DY1880 at 08:40"],
            "full": ['"id": "LH863", "carrier": "Lufthansa"'], "hidden": ["Lufthansa"], "link": ""},
        "resp_68a1f0c2e4b8819": {
            "cell": ['assistant: → get_baggage_rules(flight="NL 418", cabin="economy")',
                     "← get_baggage_rules: {", "[image: https://cdn.nordlys.example/uploads/bag-2231.jpg]"],
            "full": ['"personal_item": {"max_cm": [40, 30, 15]}'], "link": ""},
        "conv-0193": {"cell": ["user: My flight was cancelled.", "assistant: I'm sorry about that.", "user: Booking NX7QPL."],
                      "full": ["full refund to your card within 7 days"], "link": ""},
    }),
    "otel": ("otel_genai.jsonl", ["--dimensions", "app.feature", "app.persona",
                                  "--link", "http://localhost:6006/projects/UHJvamVjdDox/traces/{id}"], {
        "5b8efff798038103d269b633813fc60c": {
            "cell": ['assistant: → get_booking(booking="K2LM9Q")', "← get_booking: {booking: \"K2LM9Q\"",
                     "[folded:", "[document 1] kb/fares/go-light.md (score 0.91)", "… [cut by sheetsync:"],
            "full": ['"notes": "xxxxxxxx', "Refunds are not possible except for taxes. " * 30],
            "hidden": ['"notes": "xxxxxxxx', "Refunds are not possible except for taxes. " * 30],
            "link": "http://localhost:6006/projects/UHJvamVjdDox/traces/5b8efff798038103d269b633813fc60c"},
        "0af7651916cd43dd8448eb211c80319c": {"cell": ["Do you allow pets in the cabin"], "full": ["EUR 45 each way"],
                                             "link": "http://localhost:6006/projects/UHJvamVjdDox/traces/0af7651916cd43dd8448eb211c80319c"},
    }),
    "langsmith": ("langsmith_runs.jsonl", ["--dimensions", "feature", "persona"], {
        "1f0c3a5e-8b2d-4c11-9a77-3e5d2b8f6a01": {
            "cell": ['assistant: → find_hotel(city="Bergen", checkin="2026-07-02", nights=2, max_price_nok=1800)',
                     '← find_hotel: {"hotels": [{"name": "Hotel Bryggen"', "[document 1] kb/hotels/cancellation.md"],
            "full": ['"name": "Citybox Bergen", "price_nok": 990'],
            "link": LS + "1f0c3a5e-8b2d-4c11-9a77-3e5d2b8f6a01?trace_id=1f0c3a5e-8b2d-4c11-9a77-3e5d2b8f6a01"
                         "&start_time=2026-05-11T09:00:00.000000"},
        "2e7d9f10-4c6b-4a3e-8d21-5f0a9b8c7d02": {"cell": ["What is the cabin bag allowance on Go Light?"],
                                                 "full": ["One cabin bag up to 8 kg"],
                                                 "link": LS + "2e7d9f10-4c6b-4a3e-8d21-5f0a9b8c7d02?trace_id="
                                                              "2e7d9f10-4c6b-4a3e-8d21-5f0a9b8c7d02"},
    }),
    "langfuse": ("langfuse_traces.json", ["--dimensions", "feature", "persona"], {
        "lf-trace-7781": {"cell": ['assistant: → flight_status(flight="NL 212", date="2026-05-09")',
                                   '← flight_status: {"scheduled_arr": "14:05"', "[document 1] kb/eu261.md (score 0.88)"],
                          "full": ["EUR 600 beyond, unless extraordinary circumstances"],
                          "link": "https://cloud.langfuse.com/project/clx8proj0001/traces/lf-trace-7781"},
        "lf-trace-7782": {"cell": ["Can I pick a seat for free on Go Light?"], "full": ["assigned at check-in"],
                          "link": "https://cloud.langfuse.com/project/clx8proj0001/traces/lf-trace-7782"},
    }),
}


def answer(request):
    user = request["messages"][-1]["content"]
    return {"critique": "The answer follows the fare rules it was given, and says so.", "verdict":
            "fail" if "Lufthansa" in user else "pass"}


@pytest.fixture
def fake(monkeypatch):
    with fake_llm(monkeypatch, responder=answer) as server:
        yield server


@pytest.mark.parametrize("fmt", list(CASES))
def test_each_format_goes_import_push_pull_judge(fmt, tmp_path, monkeypatch, sheets_emulator, gspread_client, fake):
    fixture, options, expected = CASES[fmt]
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", sheets_emulator.address)
    monkeypatch.chdir(tmp_path)
    init_workspace(tmp_path, spreadsheet=TITLE)
    out = CliRunner().invoke(cli, ["import", fmt, str(FIXTURES / fixture), "--out", "traces.jsonl", *options])
    assert out.exit_code == 0, out.output
    assert f"Imported {len(expected)} interaction(s)" in out.output
    # the printed [columns] block is what makes the expert see everything: put it in sheetsync.toml
    block = out.output.split("[columns]\n", 1)[1].split("Next:")[0]
    toml = tmp_path / "sheetsync.toml"
    text = toml.read_text()
    for line in block.strip().splitlines():
        key = line.strip().split(" = ")[0]
        text = text.replace(f"{key} = []", line.strip(), 1)
    toml.write_text(text)
    cfg = load_config(toml)
    assert "trace_url" in cfg.columns.context and "model" in cfg.columns.dimensions

    push(cfg, tmp_path / "traces.jsonl")
    expert = GoogleExpert(gspread_client, TITLE)
    shown = expert.rows()
    assert set(shown) == set(expected)
    for rid, want in expected.items():
        row = shown[rid]
        cells = row["input"] + "\n" + row["output"] + "\n" + row["documents"]
        for piece in want["cell"]:
            assert piece in cells, (rid, piece, cells)
        for piece in want.get("hidden", ()):
            assert piece not in cells, (rid, "the cell should fold or cut this", piece)
        assert row["trace_url"] == want["link"]

    first = sorted(expected)[0]
    expert.label({first: ("Pass", "Quotes the fare rules it was given and asks before booking anything, as it must.",
                          "")})
    summary = pull(cfg)
    assert summary.labelled == 1

    outcome = judge(cfg, split="all", progress=False)
    assert not outcome.errors
    judged_ids = {rid for rid in expected if not (rid == first and split_of(rid) == "train")}
    sent = {rid: next(b["messages"][-1]["content"] for b in fake.chat_requests if rid_in(b, expected[rid]))
            for rid in judged_ids}
    for rid, want in ((r, expected[r]) for r in judged_ids):
        for piece in want["full"]:  # the judge reads the whole trace: nothing folded, nothing cut
            assert piece in sent[rid], (rid, piece)
        assert "[folded:" not in sent[rid] and "cut by sheetsync" not in sent[rid]
    stored = Store.for_workspace(cfg.state_dir).rows()
    assert all(piece in stored[rid]["output"] + stored[rid]["fields"]["documents"]
               for rid, want in expected.items() for piece in want["full"])

    judged = {r["id"]: r for r in _tab(gspread_client, "Judge")}
    assert set(judged) == judged_ids
    for rid, row in judged.items():  # the Judge tab shows the interaction as the Annotate tab does
        assert row["output"] == shown[rid]["output"] and row["input"] == shown[rid]["input"]


def rid_in(body, want):
    user = body["messages"][-1]["content"]
    return all(piece in user for piece in want["full"])


def _tab(client, name):
    grid = client.open(TITLE).worksheet(name).get_all_values()
    return [dict(zip(grid[0], r, strict=False)) for r in grid[1:]]


def test_mapping_reads_paths_from_columns_map(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    init_workspace(tmp_path, spreadsheet="labels.xlsx")
    toml = tmp_path / "sheetsync.toml"
    toml.write_text(toml.read_text().replace("map = []", 'map = ["id = $.trace.id", "trace_url = $.trace.url", '
                                             '"feature = $.ctx.feature", "locale = $.ctx.locale?", '
                                             '"input = $.request.messages", "output = $.response.text"]')
                    .replace("context = []", 'context = ["locale", "trace_url"]')
                    .replace("dimensions = []", 'dimensions = ["feature"]'))
    out = CliRunner().invoke(cli, ["import", "mapping", str(FIXTURES / "homegrown.jsonl"), "--out", "traces.csv"])
    assert out.exit_code == 0, out.output
    cfg = load_config(toml)
    result = push(cfg, tmp_path / "traces.csv")
    assert sorted(result.added) == ["hg-0001", "hg-0002"]
    rows = Store.for_workspace(cfg.state_dir).rows()
    assert rows["hg-0001"]["input"] == "Har dere fly til Alta i morgen?"
    assert rows["hg-0001"]["fields"] == {"feature": "booking", "locale": "nb-NO",
                                         "trace_url": "https://logs.nordlys.example/t/hg-0001"}
    assert rows["hg-0002"]["fields"]["locale"] == ""  # optional path: missing is empty

    bad = tmp_path / "bad.jsonl"
    lines = (FIXTURES / "homegrown.jsonl").read_text().splitlines()
    record = json.loads(lines[1])
    del record["response"]
    bad.write_text(lines[0] + "\n" + json.dumps(record) + "\n")
    out = CliRunner().invoke(cli, ["import", "mapping", str(bad), "--out", "again.jsonl"])
    assert out.exit_code == 2
    assert "bad.jsonl: line 2: no value at `$.response.text` (column output)" in out.output
    assert not (tmp_path / "again.jsonl").exists()
