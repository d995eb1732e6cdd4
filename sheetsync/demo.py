"""``sheetsync demo``: the whole loop on the bundled example, with nothing but Python.

It sets up a workspace, pushes the example to a local .xlsx (or a Google/emulator spreadsheet), plays the
example expert by filling in their labels (and says so), pulls, runs the judge when an LLM is configured,
writes the report tabs, and says what to open.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pandas as pd

from sheetsync.annotate import CRITIQUE, ROOT_CAUSE, VERDICT
from sheetsync.config import load_config
from sheetsync.pull import pull
from sheetsync.push import fill_expert_cells, push
from sheetsync.workspace import init_workspace, open_store, open_workspace_workbook

EXAMPLE = "support_assistant.csv"
DIMENSIONS = ["feature", "scenario", "persona"]
CONTEXT = ["user_tier", "locale", "timestamp", "booking_facts", "policy_facts"]
CRITERIA = (
    "Did the assistant resolve the customer's request correctly under Nordlys Travel's policies "
    "(facts right, identity verified before account details, nothing promised that policy does not allow, "
    "escalated when required), in a concise, friendly tone?"
)


def example_path() -> Path:
    return Path(str(resources.files("sheetsync").joinpath("examples", EXAMPLE)))


def _configure(root: Path, spreadsheet: str, root_causes: list[str]) -> None:
    toml = root / "sheetsync.toml"
    text = toml.read_text(encoding="utf-8")
    causes = ", ".join(f'"{c}"' for c in root_causes)
    text = text.replace("context = []", "context = [" + ", ".join(f'"{c}"' for c in CONTEXT) + "]", 1)
    text = text.replace("dimensions = []", "dimensions = [" + ", ".join(f'"{c}"' for c in DIMENSIONS) + "]", 1)
    text = text.replace('input = ""', 'input = "input"', 1).replace('output = ""', 'output = "output"', 1)
    start = text.index("root_causes = [")
    end = text.index("]", start) + 1
    text = text[:start] + f"root_causes = [{causes}]" + text[end:]
    start = text.index("criteria = ")
    end = text.index("\n", start)
    text = text[:start] + f'criteria = "{CRITERIA}"' + text[end:]
    text = text.replace('spreadsheet = ""', f'spreadsheet = "{spreadsheet}"', 1)
    toml.write_text(text, encoding="utf-8")


def llm_configured() -> bool:
    return bool(os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"))


def run_demo(out: str | Path, *, spreadsheet: str | None = None, echo: Callable[[str], None] = print,
             progress: bool = True) -> dict:
    """Run the loop in ``out`` and return what was made (paths, counts, figures)."""
    root = Path(out).resolve()
    root.mkdir(parents=True, exist_ok=True)
    example = pd.read_csv(example_path(), dtype=str, keep_default_na=False)
    causes = sorted({c.strip() for cell in example["root_cause"] for c in cell.split(";") if c.strip()})
    target = spreadsheet or "annotations.xlsx"
    fresh = not (root / "sheetsync.toml").exists()
    init_workspace(root)
    if fresh:
        _configure(root, target, causes)
    data = root / "traces.csv"
    example.drop(columns=["expert_verdict", "expert_critique", "root_cause"]).to_csv(data, index=False)
    cfg = load_config(root / "sheetsync.toml")
    store = open_store(cfg)
    made: dict = {"workspace": str(root)}

    echo(f"1. Workspace: {root} (sheetsync.toml, prompts/judge.md)")
    result = push(cfg, data, spreadsheet=spreadsheet, store=store)
    echo(f"2. Pushed {len(example)} interactions of the Nordlys Travel support assistant to {result.url} "
         f"({len(result.added)} new, {result.updated} updated)")

    wb = open_workspace_workbook(cfg, store, spreadsheet)
    labels = {
        r["id"]: {VERDICT: "Pass" if r["expert_verdict"] == "pass" else "Fail", CRITIQUE: r["expert_critique"],
                  ROOT_CAUSE: r["root_cause"]}
        for r in example.to_dict(orient="records")
    }
    filled = fill_expert_cells(cfg, labels, workbook=wb, store=store)
    echo(f"3. Played the example expert: filled {filled} empty Pass/Fail, Critique and Root cause cells with the "
         "bundled expert's labels (in real use, the expert does this in the sheet; their cells are never "
         "overwritten)")

    summary = pull(cfg, spreadsheet=spreadsheet, store=store)
    echo(f"4. Pulled {summary.labelled} labels ({summary.passes} pass, {summary.fails} fail) into "
         f"{cfg.state_dir / 'state.db'}")
    made["labels"] = summary.labelled

    if llm_configured():
        from sheetsync.judge import judge

        for split in ("dev", "test"):
            outcome = judge(cfg, split=split, spreadsheet=spreadsheet, store=store, progress=progress)
            agr = outcome.agreement or {}
            echo(f"5. Judged the {split} split with {outcome.model}: TPR {_fmt(agr.get('tpr'))}, "
                 f"TNR {_fmt(agr.get('tnr'))} on {agr.get('n', 0)} labels ({len(outcome.errors)} errors)")
            made[f"judge_{split}"] = agr
    else:
        echo("5. Skipped the judge: no LLM configured. To enable it, set OPENAI_API_KEY (OpenAI) or "
             "OPENAI_BASE_URL (a local OpenAI-compatible server such as Ollama: "
             "OPENAI_BASE_URL=http://localhost:11434/v1 with [judge] model = \"llama3.1\"), then run "
             f"`sheetsync demo --out {out}` again or `sheetsync judge --split dev` in {root}.")

    try:
        from sheetsync.report import report
    except ImportError:  # reports arrive with their own issue
        report = None
    if report is not None:
        rep = report(cfg, spreadsheet=spreadsheet, store=store)
        echo(f"6. Wrote the report tabs ({', '.join(s.title for s in rep.specs)})")
        made["report"] = rep.to_dict()
    echo("")
    echo(f"Open {result.url}: the Instructions and Annotate tabs are the expert's workbench"
         + ("; Judge, Agreement, Disagreements, Root causes, Error analysis and Summary are for the engineer "
            "and stakeholders." if report is not None else "."))
    made["url"] = result.url
    return made


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


