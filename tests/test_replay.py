"""The replayed example judge: its recordings are what scripts/record_example_judge.py's rules give, they behave
like a judge being improved (most rows right, never all), and the server answers through the real openai
client like any OpenAI-compatible server — refusing rows it has no recording for."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import openai
import pandas as pd
import pytest

from sheetsync.demo import example_path
from sheetsync.replay import (
    CRITIQUE_MARK,
    REPLAY_MODEL,
    Recordings,
    ReplayServer,
    output_digest,
    recordings_path,
)

ROOT = Path(__file__).resolve().parents[1]


def recorder():
    spec = importlib.util.spec_from_file_location("record_example_judge", ROOT / "scripts" / "record_example_judge.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_recordings_file_is_what_the_rules_give():
    module = recorder()
    assert recordings_path().read_text(encoding="utf-8") == module.render(module.build())


def test_the_recordings_say_plainly_what_they_are():
    data = json.loads(recordings_path().read_text(encoding="utf-8"))
    assert data["about"].startswith("EXAMPLE DATA.") and "No model wrote them" in data["about"]
    assert "OPENAI_API_KEY or OPENAI_BASE_URL" in data["about"] and data["model"] == REPLAY_MODEL


@pytest.fixture(scope="module")
def example():
    return pd.read_csv(example_path(), dtype=str, keep_default_na=False)


def agreement(example: pd.DataFrame, rec: Recordings, iteration: int) -> tuple[float, float]:
    """TPR and TNR of one iteration's recorded verdicts against the example expert, over every row."""
    system = "\n".join(rec.lessons[: iteration - 1])
    got = {"pass": [0, 0], "fail": [0, 0]}
    for row in example.itertuples():
        user = f'<data-abc name="output">\n{row.output}\n</data-abc>'
        answer = rec.answer(system, user)
        got[row.expert_verdict][answer["verdict"] == row.expert_verdict] += 1
    return got["pass"][1] / sum(got["pass"]), got["fail"][1] / sum(got["fail"])


def test_the_judge_improves_over_the_iterations_and_is_never_perfect(example):
    rec = Recordings.load()
    assert len(rec.answers) == len(example)
    figures = [agreement(example, rec, k) for k in (1, 2, 3)]
    (tpr1, tnr1), (tpr2, tnr2), (tpr3, tnr3) = figures
    assert tnr1 < tnr2 < tnr3 and tpr1 < tpr2
    assert 0.5 < tnr1 < 0.8 and 0.85 < tnr3 < 0.97 and 0.85 < tpr3 < 0.99


def test_critiques_agree_with_their_verdicts():
    rec = Recordings.load()
    for versions in rec.answers.values():
        for v in versions:
            assert v["critique"].startswith("Checked §"), v  # the policy lines the row comes with
            assert v["critique"].endswith("Passes.") == (v["verdict"] == "pass"), v


def test_the_server_answers_through_the_openai_client(example):
    row = example.iloc[1]  # a fail the first prompt misses and the second catches
    rec = Recordings.load()
    user = f'Judge this.\n<data-0a1b2c name="output">\n{row["output"]}\n</data-0a1b2c>'
    with ReplayServer(rec) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-no-key-required")
        assert [m.id for m in client.models.list()] == [REPLAY_MODEL]

        def ask(system: str) -> dict:
            reply = client.chat.completions.create(
                model=REPLAY_MODEL, messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                response_format={"type": "json_object"})
            return json.loads(reply.choices[0].message.content)

        first, second = ask("the default prompt"), ask("the default prompt\n" + rec.lessons[0])
        assert (first["verdict"], second["verdict"]) == ("pass", "fail") and row["expert_verdict"] == "fail"
        assert first["critique"].startswith(CRITIQUE_MARK + "Checked §")  # wherever it is shown, it says so
        with pytest.raises(openai.NotFoundError, match="no recorded answer for this interaction.*OPENAI_API_KEY"):
            client.chat.completions.create(
                model=REPLAY_MODEL,
                messages=[{"role": "user", "content": '<data-1 name="output">\nsomething else\n</data-1>'}])
        assert server.calls == 2
    assert output_digest(row["output"]) in rec.answers
