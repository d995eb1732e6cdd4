"""Every `sheetsync` command in the README runs, in the README's order, against the Sheets emulator and the
local fake LLM server, and the README's Python example runs too. A README that drifts from the code fails."""

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from sheetsync.cli import cli
from sheetsync.demo import example_path
from sheetsync.testing.fake_openai import FakeOpenAI
from tests.expert import Expert
from tests.test_roundtrip_google import GoogleExpert

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
NOT_RUN_HERE = {
    "sheetsync emulator": "serves until interrupted: tests/test_commands.py runs it in a subprocess",
}
PLACEHOLDER_URL = "http://localhost:8000/v1"
TRACE_EXPORTS = {"openai_logs.jsonl": "openai_chat.jsonl", "spans.jsonl": "otel_genai.jsonl",
                 "runs.jsonl": "langsmith_runs.jsonl", "langfuse_traces.json": "langfuse_traces.json",
                 "export.jsonl": "homegrown.jsonl"}  # the README's export names -> tests/fixtures/traces


def sections() -> list[tuple[str, list[str]]]:
    """(heading, commands) for every README section with `sheetsync` commands in a bash block."""
    out = []
    for part in re.split(r"\n(?=#{2,3} )", README):
        heading = part.splitlines()[0]
        commands = []
        for block in re.findall(r"```bash\n(.*?)```", part, re.S):
            for line in block.splitlines():
                line = re.split(r"\s{2,}#", line)[0].strip()
                if line.startswith("sheetsync ") and not any(line.startswith(k) for k in NOT_RUN_HERE):
                    commands.append(line)
        if commands:
            out.append((heading, commands))
    return out


def argv(line: str, fake_url: str) -> list[str]:
    import shlex

    args = shlex.split(line.replace(PLACEHOLDER_URL, fake_url))[1:]
    return [*args, "--poll-interval", "0"] if "--batch" in args else args  # the fake finishes at once


@pytest.fixture
def fake_llm(monkeypatch):
    example = pd.read_csv(example_path(), dtype=str, keep_default_na=False)
    verdict_of = dict(zip(example["output"], example["expert_verdict"], strict=True))

    def responder(request):
        body = json.dumps(request.get("response_format") or {}) + request["messages"][0]["content"]
        user = request["messages"][-1]["content"]
        if "axial coding" in body:  # triage: two categories over the critiques it was sent
            refs = re.findall(r"\n(C\d+):\n", "\n" + user)
            return {"categories": [{"name": "Policy misapplied", "definition": "A rule applied wrongly.",
                                    "critique_ids": refs[::2]},
                                   {"name": "Invented facts", "definition": "Facts not in the context.",
                                    "critique_ids": refs[1::2]}]}
        if "You assign root causes" in body:  # classify
            return {"reason": "As the expert would say.", "root_causes": ["policy misapplied"]}
        if "critique" in body:  # the judge: agrees with the example expert (the fake knows the answers)
            verdict = next((v for out, v in verdict_of.items() if out.strip() and out.strip() in user), "pass")
            return {"critique": "As the expert would say.", "verdict": verdict}
        if "inputs" in body:  # generate: a few distinct user inputs per tuple
            seed = abs(hash(user)) % 10_000
            return {"inputs": [f"Question {seed}-{k} about my booking, please help quickly." for k in range(3)]}
        return f"An answer to: {user[:40]}"  # respond --endpoint: the team's AI

    with FakeOpenAI(responder=responder) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        yield server


def workspace_files(where: Path) -> None:
    shutil.copy(example_path(), where / "traces.csv")
    pd.read_csv(where / "traces.csv", dtype=str, keep_default_na=False).to_json(
        where / "traces.jsonl", orient="records", lines=True
    )
    (where / "app.py").write_text("def answer(text):\n    return 'Sure: ' + text[:50]\n")
    (where / "my_bot.py").write_text("import sys\nprint('Bot says: ' + sys.stdin.read()[:50])\n")


def test_readme_commands_run_in_order(tmp_path, monkeypatch, sheets_emulator, fake_llm, gspread_client):
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", sheets_emulator.address)
    runner = CliRunner()
    found = sections()
    assert [h for h, _ in found][0] == "## The loop"
    ran = 0
    for heading, commands in found:
        # the dataset section starts a workspace of its own (its `respond --out traces.csv` would replace the
        # main example); every other section works in the main workspace the loop built
        # the import section too: its exports are the fixtures, its [columns] the section's toml block
        where = tmp_path / ("traces" if "sheetsync import" in heading else "dataset" if heading.startswith("### 0.")
                            else "main")
        where.mkdir(exist_ok=True)
        monkeypatch.chdir(where)
        if not (where / "traces.csv").exists():
            workspace_files(where)
            if where.name in ("dataset", "traces"):
                assert runner.invoke(cli, ["init"]).exit_code == 0
            if where.name == "traces":
                trace_workspace(where, heading)
        for line in commands:
            if "--judge " in line:
                add_readme_judges(where)
            result = runner.invoke(cli, argv(line, fake_llm.base_url))
            assert result.exit_code == 0, f"{heading}: `{line}` exited {result.exit_code}:\n{result.output}"
            ran += 1
            if line.startswith("sheetsync push traces.csv --share"):
                label_as_the_example_expert(gspread_client)
    assert ran >= 25


def add_readme_judges(where: Path) -> None:
    """The README's [judges.NAME] tables into the workspace's config, and its checks.py beside it, as a reader
    following the README would add them."""
    toml = where / "sheetsync.toml"
    if re.search(r"^\[judges\.", toml.read_text(), re.M):  # (the template's examples are comments)
        return
    block = next(b for b in re.findall(r"```toml\n(.*?)```", README, re.S) if "[judges." in b)
    toml.write_text(toml.read_text() + "\n" + block)
    code = next(b for b in re.findall(r"```python\n(.*?)```", README, re.S) if b.startswith("# checks.py"))
    (where / "checks.py").write_text(code)


def trace_workspace(where: Path, heading: str) -> None:
    """The README's trace exports (the test fixtures) and its [columns] block in sheetsync.toml."""
    for name, fixture in TRACE_EXPORTS.items():
        shutil.copy(ROOT / "tests" / "fixtures" / "traces" / fixture, where / name)
    part = next(p for p in re.split(r"\n(?=#{2,3} )", README) if p.startswith(heading))
    block = re.search(r"```toml\n\[columns\]\n(.*?)```", part, re.S).group(1)
    toml = (where / "sheetsync.toml").read_text()
    for setting in re.split(r"\n(?=\w+ = )", block.strip()):
        key = setting.split(" = ", 1)[0]
        toml = toml.replace(f"{key} = []", re.sub(r"\s+#.*$", "", setting), 1)
    (where / "sheetsync.toml").write_text(toml)


def label_as_the_example_expert(gspread_client):
    """Three rows in four, as an expert labels a part: the rest is what `judge --split unlabeled` counts."""
    example = pd.read_csv(example_path(), dtype=str, keep_default_na=False)
    GoogleExpert(gspread_client, title="Support assistant labels").label({
        r["id"]: ("Pass" if r["expert_verdict"] == "pass" else "Fail", r["expert_critique"], r["root_cause"])
        for i, r in enumerate(example.to_dict(orient="records")) if i % 4
    })


def test_readme_python_example_runs(tmp_path, monkeypatch, fake_llm):
    monkeypatch.chdir(tmp_path)
    workspace_files(tmp_path)
    CliRunner().invoke(cli, ["init", "--spreadsheet", "labels.xlsx"])
    CliRunner().invoke(cli, ["push", "traces.csv"])  # the expert has labelled a first round already
    example = pd.read_csv(example_path(), dtype=str, keep_default_na=False)
    Expert(tmp_path / "labels.xlsx").label({
        r["id"]: ("Pass" if r["expert_verdict"] == "pass" else "Fail", r["expert_critique"], r["root_cause"])
        for r in example.to_dict(orient="records")
    })
    code = re.search(r"## Python API.*?```python\n(.*?)```", README, re.S).group(1)
    exec(compile(code, "README.md (Python API)", "exec"), {})
    assert (tmp_path / "labels.xlsx").exists()


def test_readme_names_the_two_commands():
    assert "scripts/demo" in README and "scripts/test" in README
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()
