"""Refreshing the tabs with answer columns (Review, Calibration) together with whatever else a command
writes (the Judge tab, the report tabs), in ONE write.

Each tab is read first (one request each, by header and id): the answers found there are stored before
anything is written — no answer lives only in the sheet — and decide each row's Status. Then the tab is
updated in place (:mod:`sheetsync.answer_write`), and checked again after the write when rows were
rewritten in place. The Instructions tab is rewritten when the open criteria questions changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from sheetsync.annotate import instructions_spec
from sheetsync.answer_tab import AnswerSheet, AnswerTab, AnswerTabError, WantedRow, read_answer_tab
from sheetsync.answer_write import Prepared, prepare, verify
from sheetsync.backends.base import Workbook
from sheetsync.config import Config
from sheetsync.dataset import content_hash
from sheetsync.errors import UserInputError
from sheetsync.layout import TabSpec
from sheetsync.review.answers import observe, question_changes
from sheetsync.review.questions import questions_text
from sheetsync.store import Answer, Store, now

INSTRUCTIONS_KEY = "instructions_hash"  # push's: the Instructions tab as last written
INSTRUCTIONS_ROWS_KEY = "instructions_rows"  # push's: the row count it states


def hint_key(kind: str) -> str:
    return f"{kind}_columns"


def written_key(kind: str) -> str:
    """Meta key set once sheetsync wrote the tab: pull reads a tab only when there is one."""
    return f"{kind}_tab"


@dataclass
class Job:
    """One tab with answer columns to refresh: its layout, and the rows it should show given the tab as read
    and the latest answers."""

    tab: AnswerTab
    rows: Callable[[AnswerSheet | None, dict[str, Answer]], dict[str, WantedRow]]
    choices: tuple[str, ...]


@dataclass
class Refreshed:
    tabs: dict[str, int] = field(default_factory=dict)  # title -> rows it shows
    answers_seen: int = 0
    repaired: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def read_tab(wb: Workbook, store: Store, tab: AnswerTab) -> AnswerSheet | None:
    try:
        return read_answer_tab(wb, tab, json.loads(store.get_meta(hint_key(tab.kind)) or "{}"))
    except AnswerTabError as exc:
        raise UserInputError(f"{wb.url}: {exc}") from exc


def record_answers(store: Store, jobs: list[tuple[Job, AnswerSheet | None]]) -> int:
    """Store every new or changed answer of the tabs as read, with the questions they open and settle (one
    transaction). Returns how many answers were new or changed."""
    new: list[Answer] = []
    asked, settled = [], []
    stamp = now()
    open_questions = store.questions(open_only=True)
    for job, sheet in jobs:
        if sheet is None:
            continue
        found = observe(job.tab.kind, sheet, store.latest_answers(job.tab.kind))
        a, s = question_changes(found, open_questions, job.choices, stamp)
        new += found
        asked += a
        settled += s
    if new:
        store.save_review(answers=new, asked=asked, settled=settled)
    for job, sheet in jobs:
        if sheet is not None:
            store.set_meta(hint_key(job.tab.kind), json.dumps(sheet.hint()))
    return len(new)


def instructions_if_changed(cfg: Config, store: Store) -> TabSpec | None:
    """The Instructions tab with today's open questions, when that differs from what was last written."""
    layout = json.loads(store.get_meta("annotate_layout") or "{}")
    if not layout:
        return None
    rows = store.get_meta(INSTRUCTIONS_ROWS_KEY)
    spec = instructions_spec(cfg, n_rows=int(rows) if rows else len(store.shown()),
                             dimensions=list(layout.get("dimensions", [])), questions=questions_text(store))
    digest = content_hash(json.dumps(spec.blocks[0].values, ensure_ascii=False))
    return None if store.get_meta(INSTRUCTIONS_KEY) == digest else spec


def refresh(cfg: Config, store: Store, wb: Workbook, jobs: list[Job], extra: list[TabSpec]) -> Refreshed:
    """Read each job's tab, store its answers, then write ``extra`` and every job's update in one write."""
    out = Refreshed()
    sheets = [(job, read_tab(wb, store, job.tab)) for job in jobs]
    out.answers_seen = record_answers(store, sheets)
    prepared: list[Prepared] = []
    for job, sheet in sheets:
        wanted = job.rows(sheet, {**store.latest_answers(job.tab.kind)})
        prepared.append(prepare(job.tab, sheet, wanted))
        out.tabs[job.tab.title] = len(wanted)
    specs = list(extra) + [p.spec for p in prepared if p.spec is not None]
    instructions = instructions_if_changed(cfg, store)
    if instructions is not None:
        specs.append(instructions)
    if specs:
        wb.write(specs)
    if instructions is not None:
        store.set_meta(INSTRUCTIONS_KEY, content_hash(json.dumps(instructions.blocks[0].values, ensure_ascii=False)))
    for p in prepared:
        if p.spec is None:
            continue
        store.set_meta(written_key(p.tab.kind), p.tab.title)
        if not p.spec.replace and p.spec.blocks:
            out.repaired += verify(wb, p, out.warnings.append)
    shown = [rid for p in prepared if p.tab.kind == "review" for rid in p.wanted]
    if shown:
        store.record_verdicts_shown(shown)
    return out
