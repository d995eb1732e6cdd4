"""sheetsync import, piece by piece: malformed records refused with their place, streaming without holding
the file, traces put back together from parts in any order, sampling at the source that is reproducible
and whose recorded probabilities are the real ones, and conversations readable in a cell."""

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

import sheetsync.datastream as datastream
from sheetsync.cli import cli
from sheetsync.config import load_config
from sheetsync.conversation import cell_text, render_turns, summarise
from sheetsync.datastream import iter_records
from sheetsync.errors import UserInputError
from sheetsync.importers import import_traces
from sheetsync.importers.assemble import Assembler
from sheetsync.sampling import PROBABILITY_COLUMN, StreamSample

FIXTURES = Path(__file__).parent / "fixtures" / "traces"


@pytest.fixture
def cfg(tmp_path):
    return load_config(cwd=tmp_path)


def lines(name):
    return (FIXTURES / name).read_text().splitlines()


def run_import(*args):
    return CliRunner().invoke(cli, ["import", *map(str, args)])


# -- refusing malformed records ----------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "fixture", "break_it", "message"), [
    ("openai", "openai_chat.jsonl", lambda r: r["request"].pop("messages"),
     "line 1: `request` has neither `messages` (Chat Completions) nor `input` (Responses)"),
    ("openai", "openai_chat.jsonl", lambda r: r["response"]["choices"][0].update(message="hello"),
     "line 1: `response.choices[0].message` is not a message"),
    ("otel", "otel_genai.jsonl", lambda r: r["resourceSpans"][0]["scopeSpans"][0]["spans"][1].pop("traceId"),
     "line 1: span 2 has no `traceId` or `spanId`"),
    ("langsmith", "langsmith_runs.jsonl", lambda r: r.pop("run_type"), "line 1: no `id` or `run_type`"),
])
def test_a_malformed_record_is_refused_with_its_line_and_nothing_is_written(tmp_path, fmt, fixture, break_it, message):
    records = [json.loads(x) for x in lines(fixture)]
    break_it(records[0])
    export = tmp_path / fixture
    export.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    out = run_import(fmt, export, "--out", tmp_path / "traces.jsonl")
    assert out.exit_code == 2, out.output
    assert f"{export}: {message}" in out.output and "Nothing was written" in out.output
    assert "Traceback" not in out.output
    assert not (tmp_path / "traces.jsonl").exists() and not list(tmp_path.glob(".traces*"))


def test_langfuse_json_array_names_the_record(tmp_path):
    traces = json.loads((FIXTURES / "langfuse_traces.json").read_text())
    traces[1] = {"id": "lf-x", "name": "no input or output"}
    export = tmp_path / "lf.json"
    export.write_text(json.dumps(traces, indent=1))
    line = [n for n, text in enumerate(export.read_text().splitlines(), start=1) if text == " {"][1]
    out = run_import("langfuse", export, "--out", tmp_path / "t.jsonl")
    assert out.exit_code == 2
    assert f"{export}: record 2 (line {line}): no `id` with `input`/`output`/`observations`" in out.output


def test_a_trace_without_messages_is_refused_naming_it(tmp_path, cfg):
    records = [json.loads(x) for x in lines("otel_genai.jsonl")]
    export = tmp_path / "spans.jsonl"
    export.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "ab" * 16, "spanId": "01" * 8, "name": "GET /health", "attributes": []}]}]}]}) + "\n"
        + json.dumps(records[0]) + "\n")
    with pytest.raises(UserInputError, match=r"spans.jsonl: line 1: trace abab.* has no span with gen_ai.input.messages"):
        import_traces(cfg, "otel", export, tmp_path / "t.jsonl")


def test_json_problems_keep_datafiles_strictness(tmp_path, monkeypatch):
    monkeypatch.setattr(datastream, "_CHUNK", 5)  # records straddle every refill of the buffer
    path = tmp_path / "export.json"
    path.write_text('[\n {"id": 1, "t": "' + "x" * 50 + '"},\n {"id": 2, "v": NaN}\n]')
    with pytest.raises(UserInputError, match=r"record 2 \(line 3\): `v` is NaN"):
        list(iter_records(path))
    path.write_text('[\n {"id": 1},\n {"id": 2, "id": 3}\n]')
    with pytest.raises(UserInputError, match=r"record 2 \(line 3\): the key 'id' appears twice"):
        list(iter_records(path))
    path.write_text('[\n {"id": 1}\n {"id": 2}\n]')
    with pytest.raises(UserInputError, match=r"line 3: expected , or \] between records"):
        list(iter_records(path))
    path.write_text('[{"id": 1}, {"id": "never closed}]')
    with pytest.raises(UserInputError, match=r"line 1: not valid JSON \(Unterminated string"):
        list(iter_records(path))
    path.write_text(json.dumps([{"id": i, "text": "é" * i} for i in range(300)], indent=2))
    got = list(iter_records(path))
    assert [r["id"] for _, r in got] == list(range(300)) and got[299][1]["text"] == "é" * 299
    assert got[1][0] == "record 2 (line 6)"


def test_duplicate_ids_are_refused(tmp_path, cfg):
    line = lines("openai_chat.jsonl")[2]
    export = tmp_path / "dup.jsonl"
    export.write_text(line + "\n" + line + "\n")
    with pytest.raises(UserInputError, match="the id 'conv-0193' belongs to two interactions"):
        import_traces(cfg, "openai", export, tmp_path / "t.jsonl")
    assert not (tmp_path / "t.jsonl").exists()


def test_options_are_checked_before_reading(tmp_path, cfg):
    export = FIXTURES / "openai_chat.jsonl"
    with pytest.raises(UserInputError, match=r"--stratify-by segment: not an imported column; choose from model, tags"):
        import_traces(cfg, "openai", export, tmp_path / "t.jsonl", sample=2, stratify_by=("segment",))
    with pytest.raises(UserInputError, match="has no {id}"):
        import_traces(cfg, "openai", export, tmp_path / "t.jsonl", link="https://x.example/trace")
    with pytest.raises(UserInputError, match="ending in .jsonl, .csv or .json"):
        import_traces(cfg, "openai", export, tmp_path / "t.xlsx")
    with pytest.raises(UserInputError, match=r"needs \[columns\] map"):
        import_traces(cfg, "mapping", export, tmp_path / "t.jsonl")


# -- traces from parts -------------------------------------------------------------------------------------


def test_spans_in_any_order_make_the_same_trace(tmp_path, cfg):
    """Roots first or last, split over lines: the same rows; a span whose root never comes is counted."""
    records = [json.loads(x) for x in lines("otel_genai.jsonl")]
    spans = [s for r in records for s in r["resourceSpans"][0]["scopeSpans"][0]["spans"]]
    resource = records[0]["resourceSpans"][0]["resource"]
    stray = {**spans[0], "traceId": "cd" * 16, "spanId": "99" * 8}

    def export(order, name):
        path = tmp_path / name
        path.write_text("".join(json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [s]}]}]})
                                + "\n" for s in order))
        return path

    a = import_traces(cfg, "otel", export(spans, "a.jsonl"), tmp_path / "a.out.jsonl")
    b = import_traces(cfg, "otel", export([stray, *reversed(spans)], "b.jsonl"), tmp_path / "b.out.jsonl")
    rows_a = {json.loads(x)["id"]: json.loads(x) for x in (tmp_path / "a.out.jsonl").read_text().splitlines()}
    rows_b = {json.loads(x)["id"]: json.loads(x) for x in (tmp_path / "b.out.jsonl").read_text().splitlines()}
    assert rows_a == rows_b and len(rows_a) == 2
    assert a.warnings == [] and b.warnings == ["1 span(s)/run(s) were left out: their trace's root never came within "
                                               "50,000 parts of them (is the export cut, or unsorted?)."]


def test_the_assembler_holds_only_its_window():
    asm = Assembler(window=10)
    done = []
    for i in range(1000):
        done += [g.trace_id for g in asm.add(f"t{i}", {"n": i}, root=True, where=f"line {i}")]
        assert len(asm._open) <= 10
    done += [g.trace_id for g in asm.finish()]
    assert done == [f"t{i}" for i in range(1000)]


# -- sampling at the source --------------------------------------------------------------------------------


def test_stream_sample_is_reproducible_and_independent_of_order():
    keys = [f"id-{i}" for i in range(5000)]
    shuffled = random.Random(3).sample(keys, len(keys))
    picks = []
    for order in (keys, shuffled):
        s = StreamSample(50, seed=7)
        for k in order:
            s.offer(k, k)
        picks.append(sorted(d.item for d in s.drawn(stratified=False)[0]))
    assert picks[0] == picks[1] and len(picks[0]) == 50
    other = StreamSample(50, seed=8)
    for k in keys:
        other.offer(k, k)
    assert sorted(d.item for d in other.drawn(stratified=False)[0]) != picks[0]


def test_stratified_stream_sample_covers_every_stratum_and_its_probabilities_are_the_real_ones():
    """Over many seeds, how often each row is drawn matches the probability recorded for it (to within
    four standard errors), for a rare stratum, a mid one and a big one."""
    sizes = {"rare": 2, "mid": 30, "big": 368}
    rows = [(f"{s}-{i}", s) for s, n in sizes.items() for i in range(n)]
    n, rounds = 20, 3000
    hits, probability = Counter(), {}
    for seed in range(rounds):
        s = StreamSample(n, seed=seed)
        for key, stratum in rows:
            s.offer(key, key, (stratum,))
        drawn, warnings = s.drawn(stratified=True)
        assert not warnings and len(drawn) == n and {d.stratum for d in drawn} == {(k,) for k in sizes}
        for d in drawn:
            hits[d.item] += 1
            probability[d.item] = d.probability
    for stratum, size in sizes.items():
        expected = 1 / size + (1 - 1 / size) * (n - 3) / (len(rows) - 3)
        for i in range(size):
            assert probability.get(f"{stratum}-{i}", expected) == pytest.approx(expected)
        observed = sum(hits[f"{stratum}-{i}"] for i in range(size)) / (size * rounds)
        assert abs(observed - expected) < 4 * (expected * (1 - expected) / (size * rounds)) ** 0.5, stratum


def test_fewer_slots_than_strata_is_said():
    s = StreamSample(2, seed=1)
    for i in range(30):
        s.offer(str(i), i, (i % 5,))
    drawn, warnings = s.drawn(stratified=True)
    assert len(drawn) == 2 and len({d.stratum for d in drawn}) == 2
    assert all(d.probability == pytest.approx(2 / 5 / 6) for d in drawn)
    assert warnings == ["--sample 2 is smaller than the 5 combinations of the --stratify-by columns: 3 combinations "
                        "are not shown."]


def test_import_sample_writes_each_rows_probability(tmp_path, cfg):
    base = json.loads(lines("openai_chat.jsonl")[2])
    export = tmp_path / "big.jsonl"
    with export.open("w") as fh:
        for i in range(400):
            rec = {**base, "id": f"conv-{i:04d}", "metadata": {"feature": ["refunds", "booking"][i % 2 or i % 7 != 0],
                                                                "persona": "student"}}
            fh.write(json.dumps(rec) + "\n")
    r = import_traces(cfg, "openai", export, tmp_path / "s.csv", sample=10, stratify_by=("feature",), seed=3,
                      dimensions=("feature",))
    assert (r.records, r.interactions, r.written) == (400, 400, 10)
    import csv

    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    assert len(rows) == 10 and {row["feature"] for row in rows} == {"refunds", "booking"}
    n_refunds = sum(1 for i in range(400) if not (i % 2 or i % 7 != 0))
    for row in rows:
        size = n_refunds if row["feature"] == "refunds" else 400 - n_refunds
        assert float(row[PROBABILITY_COLUMN]) == pytest.approx(1 / size + (1 - 1 / size) * 8 / 398, rel=1e-5)
    again = import_traces(cfg, "openai", export, tmp_path / "s2.csv", sample=10, stratify_by=("feature",), seed=3,
                          dimensions=("feature",))
    assert again.written == 10 and (tmp_path / "s2.csv").read_text() == (tmp_path / "s.csv").read_text()
    # push keeps each row's probability in the store (not on the sheet), for the estimates that weight by it
    from sheetsync.push import push
    from sheetsync.store import Store
    from sheetsync.workspace import init_workspace

    init_workspace(tmp_path, spreadsheet="labels.xlsx")
    cfg = load_config(tmp_path / "sheetsync.toml")
    push(cfg, tmp_path / "s.csv")
    stored = Store.for_workspace(cfg.state_dir).rows()
    assert {rid: r["fields"][PROBABILITY_COLUMN] for rid, r in stored.items()} == {
        row["id"]: row[PROBABILITY_COLUMN] for row in rows}


# -- readable in a cell ------------------------------------------------------------------------------------


def test_a_conversation_reads_as_turns_and_folds_in_a_cell():
    result = json.dumps({"flights": [{"id": f"F{i}", "price": 100 + i} for i in range(40)], "currency": "EUR"})
    text = render_turns([
        {"role": "user", "content": [{"type": "text", "text": "Oslo to Barcelona?"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 4096}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "search_flights", "arguments": '{"from": "OSL", "to": "BCN"}'}},
            {"id": "c2", "type": "function", "function": {"name": "weather", "arguments": "not json"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": result},
        {"role": "tool", "tool_call_id": "c2", "content": "Sunny, 24 °C."},
        {"role": "assistant", "content": "F0 is cheapest.\n\nIt is sunny there."},
    ])
    assert text == ("user: Oslo to Barcelona?\n[image: inline image/png, 3 KB]\n\n"
                    'assistant: → search_flights(from="OSL", to="BCN")\n→ weather(not json)\n\n'
                    f"← search_flights: {result}\n\n← weather: Sunny, 24 °C.\n\n"
                    "assistant: F0 is cheapest.\n\nIt is sunny there.")
    cell, cut = cell_text(text, 50_000)
    assert not cut
    assert f"← search_flights: {{flights: 40 items, currency: \"EUR\"}} [folded: {len(result):,} characters]" in cell
    assert "← weather: Sunny, 24 °C." in cell and cell.endswith("assistant: F0 is cheapest.\n\nIt is sunny there.")
    assert cell_text("plain text, → not a call\n\nat the start", 100) == ("plain text, → not a call\n\nat the start", False)
    long, cut = cell_text("x" * 60_000, 50_000)
    assert cut and len(long) == 50_000 and long.endswith("full text in .sheetsync/state.db]")


def test_summaries_say_the_shape():
    assert summarise('[{"a": 1}, {"a": 2}]') == '[2 items: {…}, …]'
    assert summarise("first line\nsecond") == "first line"
    assert summarise('{"ok": true, "items": []}') == "{ok: true, items: 0 items}"


def test_import_never_loads_pandas(tmp_path):
    """The point of streaming: pandas (and the whole-file frame it would build) stays out of `sheetsync import`."""
    import subprocess
    import sys

    code = ("import sys; from click.testing import CliRunner; from sheetsync.cli import cli; "
            f"r = CliRunner().invoke(cli, ['import', 'openai', {str(FIXTURES / 'openai_chat.jsonl')!r}, '--out', "
            f"{str(tmp_path / 't.jsonl')!r}, '--sample', '2']); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('pandas', 'numpy', 'openai', 'openpyxl', 'gspread') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert done.stdout.strip() == "[]"
