"""Capturing the AI system's responses: a --call function (sync, async, with or without the row), a
--command program and an OpenAI-compatible --endpoint (the local fake server). Every row is kept, failures
are recorded per row, and an interrupted run resumes without calling finished rows again."""

import csv
import json
import shlex
import sys
import time
from pathlib import Path

import pytest

from sheetsync.config import load_config
from sheetsync.errors import UserInputError
from sheetsync.respond import partial_path, respond
from sheetsync.testing.fake_openai import FakeOpenAI

FIXTURES = Path(__file__).parent / "fixtures"
TOY_CLI = f"{shlex.quote(sys.executable)} {shlex.quote(str(FIXTURES / 'toy_cli.py'))}"

ROWS = [
    {"id": "r1", "persona": "student", "input": "refund my ticket"},
    {"id": "r2", "persona": "retiree", "input": "EXPLODE on this one"},
    {"id": "r3", "persona": "commuter", "input": "seat change, please"},
    {"id": "r4", "persona": "student", "input": "lost ticket"},
    {"id": "r5", "persona": "retiree", "input": "train delayed"},
    {"id": "r6", "persona": "commuter", "input": "multi-line\ninput, with \"quotes\""},
]


def write_csv(path, rows):
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_csv(path):
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def toy(monkeypatch):
    """`toy_system` importable from the current directory, with fresh counters for each test."""
    monkeypatch.chdir(FIXTURES)
    monkeypatch.setattr(sys, "path", list(sys.path))
    sys.modules.pop("toy_system", None)
    yield
    sys.modules.pop("toy_system", None)


def calls() -> list[str]:
    return sys.modules["toy_system"].CALLS


@pytest.fixture
def cfg(tmp_path):
    return load_config(cwd=tmp_path)


@pytest.fixture
def inputs(tmp_path):
    return write_csv(tmp_path / "inputs.csv", ROWS)


# -- --call --------------------------------------------------------------------------------------------------


def test_call_keeps_every_row_and_column_and_records_errors(toy, cfg, inputs, tmp_path):
    out = tmp_path / "traces.csv"
    result = respond(cfg, inputs, out=out, call="toy_system:answer", progress=False)
    rows = read_csv(out)
    assert list(rows[0]) == ["id", "persona", "input", "output", "latency_s", "error"]
    assert [r["id"] for r in rows] == [r["id"] for r in ROWS]
    assert [(r["persona"], r["input"]) for r in rows] == [(r["persona"], r["input"]) for r in ROWS]
    by_id = {r["id"]: r for r in rows}
    assert by_id["r1"]["output"] == "[student] REFUND MY TICKET" and by_id["r1"]["error"] == ""
    assert by_id["r6"]["output"] == '[commuter] MULTI-LINE\nINPUT, WITH "QUOTES"'
    assert by_id["r2"]["output"] == "" and by_id["r2"]["error"].startswith("ValueError: cannot answer")
    assert all(float(r["latency_s"]) >= 0 for r in rows)
    assert result.called == 6 and result.reused == 0 and result.errors == [f"r2: {by_id['r2']['error']}"]
    assert not partial_path(out).exists()  # folded into the final file


def test_async_function_taking_only_the_input(toy, cfg, inputs, tmp_path):
    respond(cfg, inputs, out=tmp_path / "t.jsonl", call="toy_system:answer_async", progress=False)
    lines = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [x["output"] for x in lines] == [r["input"][::-1] for r in ROWS]
    assert set(lines[0]) == {"id", "persona", "input", "output", "latency_s", "error"}


def test_sync_functions_run_concurrently_and_time_out_per_row(toy, cfg, tmp_path):
    rows = [{"input": f"q{i}"} for i in range(8)] + [{"input": "SLEEP forever"}]
    data = write_csv(tmp_path / "in.csv", rows)
    started = time.perf_counter()
    result = respond(cfg, data, out=tmp_path / "t.csv", call="toy_system:slow_echo", concurrency=8, timeout=1.0,
                     progress=False)
    elapsed = time.perf_counter() - started
    assert sys.modules["toy_system"].MAX_ACTIVE >= 4 and elapsed < 4  # 8 x 0.2 s would take 1.6 s serially
    out = read_csv(tmp_path / "t.csv")
    assert out[-1]["error"] == "timed out after 1s" and out[-1]["output"] == ""
    assert [r["output"] for r in out[:8]] == [f"q{i}" for i in range(8)]
    assert result.generated_ids and len({r["id"] for r in out}) == 9  # no id column: stable content ids
    again = respond(cfg, data, out=tmp_path / "t2.csv", call="toy_system:answer_async", progress=False)
    assert [r["id"] for r in read_csv(tmp_path / "t2.csv")] == [r["id"] for r in out] and again.called == 9


def test_bad_call_specs_are_clear_errors(toy, cfg, inputs, tmp_path):
    cases = {
        "toy_system": "expected module:function",
        "no_such_module_xyz:f": "no module named 'no_such_module_xyz'",
        "toy_system:missing": "has no attribute 'missing'",
        "toy_system:NOT_CALLABLE": "is a int, not a function",
    }
    for spec, message in cases.items():
        with pytest.raises(UserInputError, match=message):
            respond(cfg, inputs, out=tmp_path / "t.csv", call=spec, progress=False)
    (FIXTURES / "broken_dep_tmp.py").write_text("import not_installed_dependency_xyz\n")
    try:
        with pytest.raises(UserInputError, match="importing broken_dep_tmp failed.*not_installed_dependency_xyz"):
            respond(cfg, inputs, out=tmp_path / "t.csv", call="broken_dep_tmp:f", progress=False)
    finally:
        (FIXTURES / "broken_dep_tmp.py").unlink()
    result = respond(cfg, inputs, out=tmp_path / "t.csv", call="toy_system:returns_none", progress=False)
    assert len(result.errors) == 6 and "returned None" in result.errors[0]


def test_argument_errors(toy, cfg, inputs, tmp_path):
    with pytest.raises(UserInputError, match="exactly one of"):
        respond(cfg, inputs, out=tmp_path / "t.csv", progress=False)
    with pytest.raises(UserInputError, match="exactly one of"):
        respond(cfg, inputs, out=tmp_path / "t.csv", call="toy_system:answer", command="cat", progress=False)
    no_input = write_csv(tmp_path / "bad.csv", [{"id": "1", "text": "hi"}])
    with pytest.raises(UserInputError, match=r"bad.csv: no input column.*columns: id, text"):
        respond(cfg, no_input, out=tmp_path / "t.csv", call="toy_system:answer", progress=False)
    dup = write_csv(tmp_path / "dup.csv", [{"id": "1", "input": "a"}, {"id": "1", "input": "b"}])
    with pytest.raises(UserInputError, match="duplicate id '1' on rows 2 and 3"):
        respond(cfg, dup, out=tmp_path / "t.csv", call="toy_system:answer", progress=False)
    with pytest.raises(UserInputError, match="same file"):
        respond(cfg, inputs, out=inputs, call="toy_system:answer", progress=False)
    with pytest.raises(UserInputError, match=r"\.csv or \.jsonl"):
        respond(cfg, inputs, out=tmp_path / "t.xlsx", call="toy_system:answer", progress=False)


# -- resume --------------------------------------------------------------------------------------------------


def test_interrupted_run_keeps_finished_rows_and_resumes(toy, cfg, tmp_path):
    rows = [{"id": f"r{i}", "input": "STOP here" if i == 3 else f"q{i}"} for i in range(6)]
    data = write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / "t.csv"
    with pytest.raises(KeyboardInterrupt):
        respond(cfg, data, out=out, call="toy_system:stop_on", concurrency=1, progress=False)
    assert not out.exists()  # the final file is only ever written whole
    kept = [json.loads(line) for line in partial_path(out).read_text().splitlines()]
    assert [k["id"] for k in kept] == ["r0", "r1", "r2"] and calls() == ["q0", "q1", "q2"]

    result = respond(cfg, data, out=out, call="toy_system:stop_on", concurrency=1, progress=False)
    assert calls()[3:] == ["STOP here", "q4", "q5"]  # only the rows not finished before
    assert result.reused == 3 and result.called == 3
    final = read_csv(out)
    assert [r["output"] for r in final] == ["ok q0", "ok q1", "ok q2", "ok STOP here", "ok q4", "ok q5"]
    assert not partial_path(out).exists()


def test_preseeded_partial_and_torn_line(toy, cfg, inputs, tmp_path):
    out = tmp_path / "t.csv"
    seeded = [{"id": "r1", "output": "SEEDED 1", "latency_s": 0.5, "error": ""},
              {"id": "r3", "output": "SEEDED 3", "latency_s": 0.5, "error": ""},
              {"id": "r4", "output": "", "latency_s": 0.1, "error": "boom"}]  # failed rows are retried
    from sheetsync.respond import _input_hash

    inputs_by_id = {r["id"]: r["input"] for r in ROWS}
    lines = [json.dumps({**s, "input_hash": _input_hash(inputs_by_id[s["id"]])}) for s in seeded]
    partial_path(out).write_text("\n".join(lines) + '\n{"id": "r5", "outp')  # a line torn by a crash
    result = respond(cfg, inputs, out=out, call="toy_system:answer", progress=False)
    assert sorted(calls()) == sorted(inputs_by_id[i] for i in ("r2", "r4", "r5", "r6"))
    final = {r["id"]: r for r in read_csv(out)}
    assert final["r1"]["output"] == "SEEDED 1" and final["r3"]["output"] == "SEEDED 3"
    assert final["r4"]["output"] == "[student] LOST TICKET" and final["r4"]["error"] == ""
    assert result.reused == 2 and result.called == 4


def test_rerun_calls_only_failed_and_changed_rows(toy, cfg, inputs, tmp_path):
    out = tmp_path / "t.csv"
    respond(cfg, inputs, out=out, call="toy_system:answer", progress=False)
    assert len(calls()) == 6
    again = respond(cfg, inputs, out=out, call="toy_system:answer", progress=False)
    assert calls()[6:] == ["EXPLODE on this one"] and again.reused == 5  # only the failed row, again
    changed = [dict(r) for r in ROWS]
    changed[0]["input"] = "refund my ticket NOW"
    write_csv(inputs, changed)
    third = respond(cfg, inputs, out=out, call="toy_system:answer", progress=False)
    assert calls()[7:] == ["refund my ticket NOW", "EXPLODE on this one"] and third.reused == 4


# -- --command -----------------------------------------------------------------------------------------------


def test_command_reads_stdin_writes_stdout_and_fails_per_row(cfg, inputs, tmp_path):
    rows = [*ROWS, {"id": "r7", "persona": "student", "input": "SLEEP please"}]
    write_csv(inputs, rows)
    started = time.perf_counter()
    result = respond(cfg, inputs, out=tmp_path / "t.csv", command=TOY_CLI, timeout=3, progress=False)
    assert time.perf_counter() - started < 15  # the hanging program was killed at its timeout
    out = {r["id"]: r for r in read_csv(tmp_path / "t.csv")}
    assert out["r1"]["output"] == "cli[r1]: REFUND MY TICKET"
    assert out["r6"]["output"] == 'cli[r6]: MULTI-LINE\nINPUT, WITH "QUOTES"'
    assert out["r2"]["error"].startswith("exit code 3:") and "boom: cannot handle" in out["r2"]["error"]
    assert out["r7"]["error"] == "timed out after 3s"
    assert len(out) == 7 and len(result.errors) == 2


def test_command_not_found(cfg, inputs, tmp_path):
    with pytest.raises(UserInputError, match="definitely-not-a-program-xyz: command not found"):
        respond(cfg, inputs, out=tmp_path / "t.csv", command="definitely-not-a-program-xyz --flag", progress=False)
    with pytest.raises(UserInputError, match="not found or not executable"):
        respond(cfg, inputs, out=tmp_path / "t.csv", command="./nope/run.sh", progress=False)


# -- --endpoint ----------------------------------------------------------------------------------------------


def echo_bot(request):
    return "bot: " + request["messages"][-1]["content"]


def test_endpoint_through_the_fake_server(cfg, inputs, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    system = tmp_path / "system.md"
    system.write_text("You are the train company's assistant.")
    with FakeOpenAI(responder=echo_bot) as fake:
        fake.fail_next("500", count=5, match="seat change")
        result = respond(cfg, inputs, out=tmp_path / "t.csv", endpoint=fake.base_url, model="my-bot-v2",
                         system_prompt=str(system), progress=False)
        assert fake.call_count == 6  # no retries: the failure is the row's error
        request = fake.chat_requests[0]
        assert request["model"] == "my-bot-v2"
        assert request["messages"][0] == {"role": "system", "content": "You are the train company's assistant."}
        out = {r["id"]: r for r in read_csv(tmp_path / "t.csv")}
        assert out["r1"]["output"] == "bot: refund my ticket"
        assert out["r3"]["output"] == "" and out["r3"]["error"].startswith("HTTP 500")
        assert result.errors == [f"r3: {out['r3']['error']}"]
        fake.reset()
        again = respond(cfg, inputs, out=tmp_path / "t.csv", endpoint=fake.base_url, model="my-bot-v2",
                        progress=False)
        assert fake.call_count == 1 and again.reused == 5  # only the failed row, now answered
        assert read_csv(tmp_path / "t.csv")[2]["output"] == "bot: seat change, please"


def test_endpoint_client_is_the_judges(cfg, inputs, tmp_path, monkeypatch):
    """respond --endpoint builds its client with the judge's factory (sheetsync.llm.make_client): the same
    requests on the wire, the lean HTTP/1.1 wire (sized by --concurrency) with the judge's prepared request,
    our timeout and no SDK retries."""
    import asyncio

    from sheetsync.llm import LLMSettings, chat_completion, make_client
    from sheetsync.llm.client import _replays
    from sheetsync.llm.wire import LeanTransport
    from sheetsync.respond import _endpoint_runner

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    with FakeOpenAI(responder=echo_bot) as fake:
        respond(cfg, inputs, out=tmp_path / "t.csv", endpoint=fake.base_url, model="my-bot-v2", concurrency=2,
                timeout=7, progress=False)
        assert fake.connections_opened <= 2  # six rows over two kept-alive connections
        judge = make_client(LLMSettings(base_url=fake.base_url, model="my-bot-v2", timeout=7, concurrency=2))
        body = {"model": "my-bot-v2", "messages": [{"role": "user", "content": "refund my ticket"}]}

        async def judge_once() -> None:
            try:
                await chat_completion(judge, body)
            finally:
                await judge.close()

        asyncio.run(judge_once())
        run, client = _endpoint_runner(fake.base_url, "my-bot-v2", None, 7.0, 3)

        async def rows() -> list[str]:
            try:
                return [await run(f"q{i}", {}, f"r{i}") for i in range(3)]
            finally:
                await client.close()

        assert asyncio.run(rows()) == [f"bot: q{i}" for i in range(3)]
        wire = client._client._transport
        requests = fake.requests
    from_respond = next(r for r in requests[:len(ROWS)] if r["body"] == body)  # respond's request for r1
    assert from_respond == requests[len(ROWS)]  # byte for byte the judge's: URL, body, every header
    assert from_respond["headers"]["authorization"] == "Bearer sk-test-not-a-real-key"
    assert from_respond["headers"]["x-stainless-read-timeout"] == "7"
    assert client.max_retries == 0 and client.timeout == 7.0
    assert isinstance(wire, LeanTransport) and wire.connections_opened == 1  # one row after another: kept alive
    assert _replays[client] is not None  # the judge's prepared request, not the SDK's per-call path
    _, remote = _endpoint_runner("https://llm.example.com/v1", "m", None, 7.0, 24)
    assert isinstance(remote._client._transport, LeanTransport) and remote._client._transport.max_idle == 24


def test_endpoint_needs_a_model_and_an_existing_system_prompt(cfg, inputs, tmp_path):
    with pytest.raises(UserInputError, match="--endpoint needs --model"):
        respond(cfg, inputs, out=tmp_path / "t.csv", endpoint="http://127.0.0.1:9/v1", progress=False)
    with pytest.raises(UserInputError, match="--system-prompt .*: file not found"):
        respond(cfg, inputs, out=tmp_path / "t.csv", endpoint="http://127.0.0.1:9/v1", model="m",
                system_prompt=str(tmp_path / "missing.md"), progress=False)


def test_generate_then_respond_end_to_end(cfg, tmp_path, monkeypatch, toy):
    """The dataset step as a user runs it: generated inputs, then the system's responses, ids kept."""
    from sheetsync.generate import generate

    (tmp_path / "dims.toml").write_text('[dimensions]\npersona = ["student", "retiree"]\nfeature = ["refund", "delay"]\n')

    def bot(request):
        user = request["messages"][-1]["content"]
        persona = user.split("persona: ")[1].split("\n")[0]
        feature = user.split("feature: ")[1].split("\n")[0]
        return {"inputs": [f"I am a {persona} asking about a {feature}", f"{feature}?? {persona} here, {len(user)}"]}

    with FakeOpenAI(responder=bot) as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
        gen = generate(cfg, tmp_path / "dims.toml", per_tuple=2, out=tmp_path / "inputs.csv", progress=False)
    assert gen.rows == 8
    result = respond(cfg, tmp_path / "inputs.csv", out=tmp_path / "traces.csv", call="toy_system:answer",
                     progress=False)
    traces = read_csv(tmp_path / "traces.csv")
    generated = read_csv(tmp_path / "inputs.csv")
    assert [t["id"] for t in traces] == [g["id"] for g in generated] and not result.generated_ids
    assert all(t["output"] == f"[{t['persona']}] {t['input'].upper()}" for t in traces)


def test_partial_rows_from_another_system_are_not_reused(toy, cfg, inputs, tmp_path):
    out = tmp_path / "t.csv"
    from sheetsync.respond import _input_hash

    line = {"id": "r1", "input_hash": _input_hash("refund my ticket"), "system": "command ./old_bot",
            "output": "OLD", "latency_s": 0.1, "error": ""}
    partial_path(out).write_text(json.dumps(line) + "\n")
    result = respond(cfg, inputs, out=out, call="toy_system:answer", progress=False)
    assert result.reused == 0 and read_csv(out)[0]["output"] == "[student] REFUND MY TICKET"
    again = respond(cfg, inputs, out=out, call="toy_system:answer", progress=False)
    assert again.reused == 5 and any("write to a new --out" in w for w in again.warnings)


def test_endpoint_credentials_never_printed_or_stored(tmp_path, monkeypatch):
    """`https://user:KEY@…` and `?api-key=…` in --endpoint: masked in stdout, stderr and the files written."""
    from click.testing import CliRunner

    from sheetsync.cli import cli

    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "in.csv", ROWS)
    key = "s3cr3t-endpoint-key-987"
    with FakeOpenAI(responder=lambda body: "an answer") as fake:
        fake.fail_next("500", match="EXPLODE", count=10)
        url = f"http://bob:{key}@127.0.0.1:{fake.port}/v1?api-key={key}"
        result = CliRunner().invoke(cli, ["respond", "in.csv", "--endpoint", url, "--model", "m", "--out", "t.csv"])
    assert result.exit_code == 0, result.output
    assert "***@127.0.0.1" in result.stdout and "api-key=***" in result.stdout
    written = (tmp_path / "t.csv").read_text()
    assert key not in result.stdout + result.stderr + written
