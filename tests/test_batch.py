"""The Batch API path (``--batch``) through the real openai client against the fake server's files/batches:
every row judged and cached, cached rows never sent, per-line and whole-batch failures recorded as row errors,
resume by batch id without paying twice, splitting, and the CLI end to end."""

import gc
import logging
import weakref

import pytest
from click.testing import CliRunner

from sheetsync import llm
from sheetsync.batch import BatchSummary, run_batch
from sheetsync.batch_files import FilePlanner, request_line
from sheetsync.cli import cli
from sheetsync.errors import ConfigError, UserInputError
from sheetsync.judge import judge, split_of
from sheetsync.judge.prompt import ANSWER_SCHEMA
from sheetsync.judge.runner import BATCH_OPEN_KEY
from sheetsync.push import push
from sheetsync.store import Store
from sheetsync.testing.fake_openai import messages_text
from tests.fake_llm import fake_llm
from tests.test_judge import N, labelled_workspace, perfect_judge, rows, write_csv

UNLABELED = 6  # rows pushed after the expert labelled the first N


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """tests/test_judge.py's labelled workspace, plus a few rows pushed after labelling (the unlabeled split)."""
    monkeypatch.chdir(tmp_path)
    cfg = labelled_workspace(tmp_path)
    write_csv(tmp_path / "data.csv", rows(N + UNLABELED))
    push(cfg, tmp_path / "data.csv")
    return cfg


@pytest.fixture
def fake(monkeypatch):
    with fake_llm(monkeypatch, responder=perfect_judge, batch_polls_to_complete=2) as server:
        yield server


def make_call(i: int, prefix: str = "row") -> llm.Call:
    return llm.Call(f"{prefix}{i}", [{"role": "system", "content": "Judge it."},
                                     {"role": "user", "content": f"{prefix} {i}: {'BAD' if i % 3 == 0 else 'Sure'}:"}],
                    ANSWER_SCHEMA, "judgement")


def make_calls(n: int, prefix: str = "row") -> list[llm.Call]:
    return [make_call(i, prefix) for i in range(n)]


def batch(calls, fake, cache=None, **kwargs) -> tuple[BatchSummary, list[str], list[llm.Result]]:
    """run_batch against the fake with no waiting; returns the summary, stored id strings and delivered results."""
    stored: list[str] = []
    seen: list[llm.Result] = []
    settings = llm.LLMSettings(base_url=fake.base_url, api_key="sk-test-not-a-real-key")
    kwargs = {"poll_interval": 0.0, "progress": False, **kwargs}
    summary = run_batch(calls, settings, cache=cache, on_result=seen.append, store_batch_id=stored.append, **kwargs)
    return summary, stored, seen


def ids_where(split: str) -> list[str]:
    return [f"c{i:03d}" for i in range(N) if split_of(f"c{i:03d}") == split]


def test_batch_judges_every_row_fills_the_cache_and_a_live_rerun_makes_no_calls(workspace, fake):
    out = judge(workspace, split="all", batch=True, poll_interval=0, progress=False)
    assert out.n_rows == N + UNLABELED - len(ids_where("train"))
    assert not out.errors and out.calls_made == out.n_rows and out.cache_hits == 0
    assert fake.call_count == 0 and fake.files_uploaded == 1 and fake.batches_created == 1
    assert len(fake.batch_requests) == out.n_rows
    body = fake.batch_requests[0]
    assert body["response_format"]["type"] == "json_schema" and body["temperature"] == 0.0
    assert out.agreement["tpr"] == 1.0 and out.agreement["tnr"] == 1.0

    store = Store.for_workspace(workspace.state_dir)
    batch_id = next(iter(fake.batches))
    assert store.get_meta(f"judge_batch:{out.run_id}") == batch_id and store.get_meta(BATCH_OPEN_KEY) == ""
    verdicts = store.run_verdicts(out.run_id)
    assert len(verdicts) == out.n_rows and all(v["verdict"] in ("pass", "fail") for v in verdicts.values())

    live = judge(workspace, split="all", progress=False)
    assert fake.call_count == 0 and live.calls_made == 0 and live.cache_hits == live.n_rows


def test_cached_rows_are_not_sent_and_identical_calls_go_once(workspace, fake):
    dev = judge(workspace, split="dev", progress=False)  # live: fills the cache for dev
    assert fake.call_count == dev.n_rows
    out = judge(workspace, split="all", batch=True, poll_interval=0, progress=False)
    assert out.cache_hits == dev.n_rows and out.calls_made == out.n_rows - dev.n_rows
    assert len(fake.batch_requests) == out.calls_made
    assert not any(f"answer number {int(rid[1:])}\n" in messages_text(b) for rid in ids_where("dev")
                   for b in fake.batch_requests)

    twins = make_calls(3) + [llm.Call("copy-of-row1", make_calls(3)[1].messages, ANSWER_SCHEMA, "judgement")]
    summary, _, seen = batch(twins, fake)
    assert len(fake.batch_requests) == out.calls_made + 3  # the copy shares row1's line
    assert [r.key for r in summary.results] == ["row0", "row1", "row2", "copy-of-row1"]
    assert summary.results[3].value == summary.results[1].value and len(seen) == 4


def test_per_line_errors_become_row_errors_and_are_retried_next_time(fake):
    calls = make_calls(8)
    fake.fail_next("500", match="row 2:")
    fake.fail_next("context", match="row 4:")
    fake.fail_next("malformed", match="row 5:")
    fake.script("row 6:", "this is not JSON at all")
    cache = llm.MemoryCache()
    summary, _, seen = batch(calls, fake, cache=cache)
    errors = {r.key: r.error for r in summary.results if r.error}
    assert set(errors) == {"row2", "row4", "row5", "row6"} and summary.errors == 4
    assert "HTTP 500" in errors["row2"] and "context length" in errors["row4"]
    assert "no readable result" in errors["row5"] and "unparsable reply" in errors["row6"]
    assert all(r.value is None for r in summary.results if r.error)  # never counted as pass or fail
    assert {r.value["verdict"] for r in summary.results if r.ok} == {"pass", "fail"}
    assert len(cache) == 4 and len(seen) == 8

    fake.reset()
    fake.script("row 6:", {"critique": "Fine now.", "verdict": "pass"})
    again, _, _ = batch(calls, fake, cache=cache)
    assert again.cache_hits == 4 and len(fake.batch_requests) == 4 and again.errors == 0


@pytest.mark.parametrize("ending", ["failed", "expired"])
def test_a_failed_or_expired_batch_makes_every_row_an_error_with_the_reason(fake, ending):
    fake.end_batch_as(ending)
    cache = llm.MemoryCache()
    summary, stored, seen = batch(make_calls(5), fake, cache=cache)
    assert summary.errors == 5 and len(seen) == 5 and len(cache) == 0
    assert list(summary.statuses.values()) == [ending] and stored == summary.batch_ids
    for result in summary.results:
        assert result.value is None and ending in result.error.replace("batch_expired", "expired")
    if ending == "failed":
        assert "failed validation" in summary.results[0].error


def test_a_failed_batch_in_the_judge_records_errors_not_verdicts(workspace, fake):
    fake.end_batch_as("failed")
    out = judge(workspace, split="dev", batch=True, poll_interval=0, progress=False)
    assert len(out.errors) == out.n_rows and out.agreement["n"] == 0
    assert out.agreement["n_excluded"] == out.n_rows
    verdicts = Store.for_workspace(workspace.state_dir).run_verdicts(out.run_id)
    assert all(v["verdict"] is None and "failed" in v["error"] for v in verdicts.values())


def test_interrupted_while_waiting_then_resumed_by_id_without_a_second_upload(fake):
    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    calls, cache = make_calls(6), llm.MemoryCache()
    with pytest.raises(KeyboardInterrupt):
        batch(calls, fake, cache=cache, sleep=interrupt)
    assert fake.files_uploaded == 1 and fake.batches_created == 1 and len(cache) == 0
    batch_id = next(iter(fake.batches))

    more = calls + make_calls(2, prefix="late")  # rows the first batch does not cover go in a new one
    summary, stored, seen = batch(more, fake, cache=cache, resume_batch_id=batch_id)
    assert summary.errors == 0 and len(seen) == 8 and len(cache) == 8
    assert fake.files_uploaded == 2 and fake.batches_created == 2
    assert len(fake.batch_requests) == 8  # nobody paid twice
    assert summary.batch_ids[0] == batch_id and stored[-1] == ",".join(summary.batch_ids)

    again, _, _ = batch(calls, fake, cache=cache, resume_batch_id=batch_id)  # already cached: nothing to do
    assert again.cache_hits == 6 and fake.batches_created == 2


def test_judge_refuses_a_fresh_batch_while_one_is_uncollected_and_cli_resumes_it(workspace, fake, monkeypatch):
    from sheetsync.judge import runner

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    real = runner.run_batch
    monkeypatch.setattr(runner, "run_batch", lambda *args, **kw: real(*args, **kw, sleep=interrupt))
    with pytest.raises(KeyboardInterrupt):
        judge(workspace, split="unlabeled", batch=True, poll_interval=0, progress=False)
    monkeypatch.setattr(runner, "run_batch", real)
    store = Store.for_workspace(workspace.state_dir)
    batch_id = next(iter(fake.batches))
    assert store.runs()[-1]["status"] == "interrupted" and store.get_meta(BATCH_OPEN_KEY) == batch_id
    with pytest.raises(UserInputError, match=f"--resume-batch {batch_id}"):
        judge(workspace, split="unlabeled", batch=True, poll_interval=0, progress=False)

    ran = CliRunner().invoke(cli, ["judge", "--split", "unlabeled", "--resume-batch", batch_id, "--poll-interval", "0"])
    assert ran.exit_code == 0, ran.output
    assert f"Judged {UNLABELED} unlabeled rows" in ran.output
    assert fake.files_uploaded == 1 and fake.batches_created == 1
    assert store.get_meta(BATCH_OPEN_KEY) == ""


def test_large_inputs_are_split_into_several_batches(fake):
    summary, stored, _ = batch(make_calls(7), fake, max_requests=3)
    assert len(summary.batch_ids) == 3 and fake.batches_created == 3 and summary.errors == 0
    assert stored == [",".join(summary.batch_ids[:k]) for k in (1, 2, 3)]
    small = make_calls(2, prefix="small")
    settings = llm.LLMSettings(base_url=fake.base_url)
    one_line = len(request_line(settings, small[0], llm.cache_key(settings, small[0])))
    huge = llm.Call("huge", [{"role": "user", "content": "x" * 5000}], ANSWER_SCHEMA, "judgement")
    by_size, _, _ = batch([*small, huge], fake, max_bytes=one_line + 10)  # room for one small line per file
    assert len(by_size.batch_ids) == 2 and [r.ok for r in by_size.results] == [True, True, False]
    assert "larger than a batch file" in by_size.results[2].error
    planner = FilePlanner(max_requests=10, max_bytes=100)
    placed = [planner.place(custom_id, size) for custom_id, size in [*((f"id{i}", 40) for i in range(5)), ("huge", 500)]]
    assert placed == [True] * 5 + [False]
    assert planner.chunks == [["id0", "id1"], ["id2", "id3"], ["id4"]] and planner.too_big == ["huge"]


def test_calls_are_iterated_once_and_each_dropped_before_the_next_is_made(fake):
    """A one-shot generator (no len()) is enough, and run_batch does not hold the Calls: when the generator
    runs out, before anything is uploaded, at most the last Call is still alive. Holding all of them
    (~16 KB of prompt each) is what made --batch runs grow with the row count."""
    made: list[weakref.ref[llm.Call]] = []
    at_end: list[tuple[int, int]] = []  # (calls still alive, files uploaded) when the generator ran out

    def one_shot():
        for i in range(30):
            call = make_call(i % 25)  # the last 5 repeat earlier calls: sent once, answered for both rows
            made.append(weakref.ref(call))
            yield call
            del call
        gc.collect()
        at_end.append((sum(ref() is not None for ref in made), fake.files_uploaded))

    summary, stored, seen = batch(one_shot(), fake, cache=llm.MemoryCache(), max_requests=10)
    assert len(at_end) == 1 and at_end[0][0] <= 1 and at_end[0][1] == 0
    assert summary.total == 30 and summary.errors == 0 and len(seen) == 30
    assert [r.key for r in summary.results] == [f"row{i % 25}" for i in range(30)]
    assert summary.results[29].value == summary.results[4].value
    assert len(fake.batch_requests) == 25 and fake.batches_created == 3 and summary.requests == 25


def test_resume_when_the_input_file_cannot_be_read_assumes_the_batch_covers_every_row(fake, caplog):
    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    calls, cache = make_calls(4), llm.MemoryCache()
    with pytest.raises(KeyboardInterrupt):
        batch(calls, fake, cache=cache, sleep=interrupt)
    batch_id = next(iter(fake.batches))
    del fake.files[fake.batches[batch_id]["input_file_id"]]
    with caplog.at_level(logging.WARNING, logger="sheetsync.batch"):
        summary, stored, _ = batch(calls, fake, cache=cache, resume_batch_id=batch_id)
    assert "assuming it covers every row" in caplog.text
    assert summary.errors == 0 and len(cache) == 4 and summary.requests == 4
    assert fake.files_uploaded == 1 and stored == [batch_id]


def test_a_server_without_the_batch_api_is_a_config_error(fake):
    settings = llm.LLMSettings(base_url=fake.base_url + "/no-batches", api_key="sk-x")
    with pytest.raises(ConfigError, match="does not offer the Batch API"):
        run_batch(make_calls(1), settings, cache=None, store_batch_id=lambda ids: None, poll_interval=0,
                  progress=False)


def test_cancelled_batch_rows_are_errors(fake):
    import openai

    client = openai.OpenAI(base_url=fake.base_url, api_key="sk-x")

    def cancel_on_first_poll(seconds: float) -> None:
        for batch_id in fake.batches:
            client.batches.cancel(batch_id)

    summary, _, _ = batch(make_calls(4), fake, sleep=cancel_on_first_poll)
    seen = [r.error or "" for r in summary.results]
    assert list(summary.statuses.values()) == ["cancelled"]
    assert sum("cancelled" in e for e in seen) == 2 and summary.errors == 2  # half ran before the cancel


def test_cli_judge_unlabeled_batch_end_to_end(workspace, fake, tmp_path):
    ran = CliRunner().invoke(cli, ["judge", "--split", "unlabeled", "--batch", "--poll-interval", "0"])
    assert ran.exit_code == 0, ran.output
    assert f"Judged {UNLABELED} unlabeled rows" in ran.output and f"{UNLABELED} calls" in ran.output
    assert "resume it with --resume-batch batch_fake" in ran.stderr
    assert "sk-test" not in ran.output + ran.stderr
    assert fake.batches_created == 1 and fake.call_count == 0 and len(fake.batch_requests) == UNLABELED
    import openpyxl

    tab = openpyxl.load_workbook(tmp_path / "labels.xlsx")["Judge"]
    judged = {r[0]: r for r in tab.iter_rows(min_row=2, values_only=True)}
    assert {f"c{i:03d}" for i in range(N, N + UNLABELED)} <= set(judged)
