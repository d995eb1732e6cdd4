"""The demo's judge runs: three prompt iterations on dev, the final check on test, then the unlabelled rows.

The judge is the replayed example judge (``sheetsync.replay``) unless an LLM is configured
(``OPENAI_API_KEY`` or ``OPENAI_BASE_URL``): then the same runs go to that model. Either way the real runner
does the work — prompts, calls over HTTP, cache, run history, the Judge tab.

The iterations are the edits an engineer makes after reading the Disagreements tab: iteration 1 is the prompt
``sheetsync init`` writes, each later one adds a lesson to its "How to judge" list (the lessons are stored
with the recordings, so the replayed judge knows which prompt it is answering). ``prompts/judge.md`` ends as
the last iteration, so the next `sheetsync judge` starts from the best prompt.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sheetsync.config import Config
from sheetsync.replay import REPLAY_MODEL, REPLAY_NOTE, ReplayServer, recordings_path
from sheetsync.store import Store
from sheetsync.workspace import template_text

ANCHOR = "- Write your critique first"  # the lessons go into the list above this line of the default prompt


def llm_configured() -> bool:
    return bool(os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"))


@dataclass
class Iteration:
    number: int
    prompt: str  # path relative to the workspace
    what: str


@dataclass
class JudgeRuns:
    model: str
    replayed: bool
    runs: list[dict] = field(default_factory=list)  # one per judge run: split, iteration, agreement, counts


def iterations(root: Path) -> list[Iteration]:
    """Write the prompt of each iteration (prompts/judge-N.md, and prompts/judge.md = the last one)."""
    about = json.loads(recordings_path().read_text(encoding="utf-8"))["iterations"]
    base = template_text("judge.md")
    if ANCHOR not in base:
        raise RuntimeError(f"the default judge prompt lost its line {ANCHOR!r}: the demo's lessons go above it")
    out: list[Iteration] = []
    lessons: list[str] = []
    for it in about:
        if it["lesson"]:
            lessons.append(it["lesson"])
        text = base.replace(ANCHOR, "".join(f"{lesson}\n" for lesson in lessons) + ANCHOR, 1)
        rel = f"prompts/judge-{it['iteration']}.md"
        (root / rel).write_text(text, encoding="utf-8")
        out.append(Iteration(it["iteration"], rel, it["what"]))
    (root / "prompts" / "judge.md").write_text((root / out[-1].prompt).read_text(encoding="utf-8"), encoding="utf-8")
    return out


@contextlib.contextmanager
def _judge_server(replayed: bool) -> Iterator[None]:
    """The replayed judge on a local port, reached through OPENAI_BASE_URL for the length of the runs."""
    if not replayed:
        yield
        return
    before = os.environ.get("OPENAI_BASE_URL")
    with ReplayServer() as server:
        os.environ["OPENAI_BASE_URL"] = server.base_url
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("OPENAI_BASE_URL", None)
            else:
                os.environ["OPENAI_BASE_URL"] = before


def run_judge(cfg: Config, store: Store, root: Path, *, spreadsheet: str | None, echo: Callable[[str], None],
              progress: bool) -> JudgeRuns:
    """Iterations 1..N on dev, the last one on test and on the unlabelled rows; say each result."""
    from sheetsync.judge import judge

    replayed = not llm_configured()
    runs = JudgeRuns(model=REPLAY_MODEL if replayed else cfg.judge.model, replayed=replayed)
    who = f"the {REPLAY_NOTE}" if replayed else f"{runs.model} (your LLM)"
    echo(f"5. The judge: {who}")
    steps = [(it, "dev") for it in iterations(root)]
    steps.append((steps[-1][0], "test"))
    if len(store.rows()) > len(store.fresh_labels()[0]):
        steps.append((steps[-1][0], "unlabeled"))
    with _judge_server(replayed):
        for it, split in steps:
            outcome = judge(cfg, split=split, model=runs.model if replayed else None, prompt_file=it.prompt,
                            spreadsheet=spreadsheet, store=store, progress=progress and not replayed)
            agr = outcome.agreement or {}
            runs.runs.append({"iteration": it.number, "split": split, "rows": outcome.n_rows,
                              "errors": len(outcome.errors), "agreement": agr, "warnings": outcome.warnings})
            if split == "unlabeled":
                echo(f"   judged the {outcome.n_rows} unlabelled rows with iteration {it.number} "
                     f"({len(outcome.errors)} errors)")
            else:
                step = f"iteration {it.number} ({it.what})" if split == "dev" else "the final check"
                echo(f"   {split:<4} {step}: TPR {_fmt(agr.get('tpr'))}, TNR {_fmt(agr.get('tnr'))} on "
                     f"{agr.get('n', 0)} labels ({len(outcome.errors)} errors)")
    return runs


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
