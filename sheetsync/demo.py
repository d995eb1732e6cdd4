"""``sheetsync demo``: the whole loop on the bundled example, with nothing but Python.

It sets up a workspace, pushes a stratified sample of the example to a local .xlsx (or a Google/emulator
spreadsheet) for the expert, plays the example expert by filling in their labels for those rows (and says
so), pulls, runs the judge — three prompt iterations on dev, the final check on test, then the rows nobody
labelled — writes the report tabs, and says what to open and what to look at first.

The judge is the replayed example judge (``sheetsync.replay``: recorded answers served by a local
OpenAI-compatible server) unless an LLM is configured. Running the demo again in the same folder changes
nothing: it finds the rows, labels and judge runs it made and writes the report again.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pandas as pd

from sheetsync.annotate import CRITIQUE, ROOT_CAUSE, VERDICT
from sheetsync.config import load_config
from sheetsync.demo_judge import JudgeRuns, llm_configured, run_judge
from sheetsync.label_import import fill_expert_cells
from sheetsync.pull import pull
from sheetsync.push import push
from sheetsync.replay import REPLAY_MODEL, REPLAY_NOTE
from sheetsync.workspace import init_workspace, open_store, open_workspace_workbook

__all__ = ["example_path", "llm_configured", "run_demo"]

EXAMPLE = "support_assistant.csv"
LABELS = ["expert_verdict", "expert_critique", "root_cause"]
DIMENSIONS = ["feature", "scenario", "persona"]
CONTEXT = ["user_tier", "locale", "timestamp", "booking_facts", "policy_facts"]
SAMPLE = 120  # rows the example expert labels: a stratified sample, every combination of DIMENSIONS first
SEED = 14
BANNER = ("EXAMPLE DATA: the fictional Nordlys Travel support assistant, written for sheetsync (no real customers "
          "or bookings). The expert's labels are the example's.")
CRITERIA = (
    "Did the assistant resolve the customer's request correctly under Nordlys Travel's policies "
    "(facts right, identity verified before account details, nothing promised that policy does not allow, "
    "escalated when required), in a concise, friendly tone?"
)
LOOK_FIRST = (  # (tab setting, why to look at it), in the order to read them
    ("summary", "the headline: the estimated pass rate on the rows nobody labelled, and whether the judge "
                "can be trusted"),
    ("agreement", "the judge against the expert: TPR/TNR with intervals, and the history of the prompt "
                  "iterations (the chart: is it converging?)"),
    ("disagreements", "where the judge and the expert differ, critiques side by side: what the next prompt "
                      "edit should fix"),
    ("judge", "every verdict and critique beside the expert's"),
    ("review", "where the expert answers the judge, row by row: Judge is right, My label stands, or Unclear"),
    ("root_causes", "why the AI fails, from the expert's root causes"),
    ("error_analysis", "failure rates by feature, scenario and persona on the unlabelled rows"),
    ("annotate", "the expert's workbench (with Instructions)"),
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
    text = text.replace('banner = ""', f'banner = "{BANNER}"', 1)
    text = text.replace("[prices]\n", f'[prices]\n"{REPLAY_MODEL}" = [0.0, 0.0]  # the demo\'s recorded answers\n', 1)
    toml.write_text(text, encoding="utf-8")


def run_demo(out: str | Path, *, spreadsheet: str | None = None, echo: Callable[[str], None] = print,
             progress: bool = True) -> dict:
    """Run the loop in ``out`` and return what was made (paths, counts, figures)."""
    root = Path(out).resolve()
    root.mkdir(parents=True, exist_ok=True)
    example = pd.read_csv(example_path(), dtype=str, keep_default_na=False)
    causes = sorted({c.strip() for cell in example["root_cause"] for c in cell.split(";") if c.strip()})
    fresh = not (root / "sheetsync.toml").exists()
    init_workspace(root)
    if fresh:
        _configure(root, spreadsheet or "annotations.xlsx", causes)
    data = root / "traces.csv"
    example.drop(columns=LABELS).to_csv(data, index=False)
    cfg = load_config(root / "sheetsync.toml")
    store = open_store(cfg)
    made: dict = {"workspace": str(root), "rows": len(example)}

    echo(f"1. Workspace: {root} (sheetsync.toml, prompts/judge.md). Example data: {len(example)} interactions "
         "of the fictional Nordlys Travel support assistant, with an example expert's labels.")
    if store.rows():
        wb = open_workspace_workbook(cfg, store, spreadsheet)
        url = wb.url
        echo(f"2. The example is already in {url} (pushed by an earlier demo run): nothing to push.")
    else:
        result = push(cfg, data, spreadsheet=spreadsheet, store=store, sample=SAMPLE, stratify_by=tuple(DIMENSIONS),
                      seed=SEED)
        url = result.url
        echo(f"2. Pushed a stratified sample of {len(result.added)} of the {len(example)} interactions to {url} "
             f"for the expert (`sheetsync push traces.csv --sample {SAMPLE} --stratify-by {' '.join(DIMENSIONS)}`): "
             f"every combination of {', '.join(DIMENSIONS)} first. The other {len(example) - len(result.added)} "
             "stay unlabelled, for the judge to count.")
        wb = open_workspace_workbook(cfg, store, spreadsheet)

    labels = {
        r["id"]: {VERDICT: "Pass" if r["expert_verdict"] == "pass" else "Fail", CRITIQUE: r["expert_critique"],
                  ROOT_CAUSE: r["root_cause"]}
        for r in example.to_dict(orient="records")
    }
    filled = fill_expert_cells(cfg, labels, workbook=wb, store=store)
    echo(f"3. Played the example expert: filled {filled} empty Pass/Fail, Critique and Root cause cells of those "
         "rows with the example's labels (in real use, the expert does this in the sheet; their cells are never "
         "overwritten)")

    summary = pull(cfg, spreadsheet=spreadsheet, store=store)
    echo(f"4. Pulled {summary.labelled} labels ({summary.passes} pass, {summary.fails} fail) into "
         f"{cfg.state_dir / 'state.db'}")
    made["labels"] = summary.labelled

    if store.runs():
        echo("5. The judge runs of an earlier demo run are in the store: not run again.")
        runs = JudgeRuns(model=store.runs()[-1]["model"], replayed=store.runs()[-1]["model"] == REPLAY_MODEL)
    else:
        runs = run_judge(cfg, store, root, spreadsheet=spreadsheet, echo=echo, progress=progress)
    made["judge"] = {"model": runs.model, "replayed": runs.replayed, "runs": runs.runs}

    from sheetsync.report import report

    rep = report(cfg, spreadsheet=spreadsheet, store=store)
    made["report"] = rep.to_dict()
    echo(f"6. Wrote the report tabs ({', '.join([*rep.figures.get('review_tabs', []), *(s.title for s in rep.specs)])})")
    _headline(rep.figures, example, store, echo, made)
    echo("")
    _what_to_open(cfg, wb, url, runs, echo)
    made["url"] = url
    made["tabs"] = wb.tab_titles()
    return made


def _headline(fig: dict, example: pd.DataFrame, store, echo: Callable[[str], None], made: dict) -> None:
    """The corrected pass rate, beside the example's own labels for the rows the judge counted."""
    echo(f"   {fig['trust']['sentence']}")
    echo(f"   {fig['summary']['pass_rate_sentence']}")
    labelled = set(store.fresh_labels()[0])
    hidden = example[~example["id"].isin(labelled)]
    if len(hidden):
        truth = float((hidden["expert_verdict"] == "pass").mean())
        made["hidden_pass_rate"] = truth
        echo(f"   The example also holds its expert's labels for those {len(hidden)} rows, which the demo kept "
             f"from the judge: {truth:.1%} pass (known only because this is an example).")


def _what_to_open(cfg, wb, url: str, runs: JudgeRuns, echo: Callable[[str], None]) -> None:
    tabs = set(wb.tab_titles())
    echo(f"Open {url}. Look first at:")
    for key, why in LOOK_FIRST:
        title = getattr(cfg.tabs, key)
        if title in tabs:
            echo(f"  {title:<15} {why}")
    if runs.replayed:
        echo(f"The judge was the {REPLAY_NOTE}: run `sheetsync demo` again in a new folder then, or "
             f"`sheetsync judge --split dev` in {Path(cfg.source).parent if cfg.source else '.'}.")
