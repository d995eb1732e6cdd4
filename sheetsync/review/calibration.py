"""The Calibration tab: the rows where a second rater's label differs from the principal expert's, for the
principal expert to settle — Resolution (Rater is right / My label stands / Unclear) and Why, like the
Review tab. "Rater is right" means the principal expert changes their own label in Annotate: their label
stays the ground truth. A row closes once the two labels agree (either person changed theirs).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sheetsync.answer_tab import STATUS, AnswerSheet, AnswerTab, WantedRow
from sheetsync.config import Config
from sheetsync.raters import rater_labels, registered
from sheetsync.report.tabs.cells import cut
from sheetsync.review.answers import CALIBRATION_CHOICES, LABEL_STANDS, RATER_RIGHT, UNCLEAR, choice
from sheetsync.review.layouts import CALIBRATION_FIXED as FIXED
from sheetsync.review.layouts import calibration_tab
from sheetsync.review.refresh import Job, written_key
from sheetsync.store import Answer, Label, Store


def label_instance(name: str, label: Label) -> str:
    """What an answer on this row is about: the rater's label as it is (a new label reopens the row)."""
    return hashlib.sha256(f"{name}\x1f{label.verdict}\x1f{label.critique}".encode()).hexdigest()[:16]


def _status(name: str, mine: Label | None, theirs: Label | None, answer: Answer | None, instance: str) -> str:
    typed = answer.resolution.strip() if answer is not None else ""
    if mine is None or theirs is None:
        return "closed: one of the two labels is gone or stale — nothing to settle now"
    if mine.verdict == theirs.verdict:
        return f"closed: you and {name} now agree — nothing to do (you may delete this row)"
    if answer is not None and typed and answer.instance == instance:
        picked = choice(typed, CALIBRATION_CHOICES)
        if picked == RATER_RIGHT:
            return (f"answered: {name} is right — now change your label in the Annotate tab to "
                    f"{(theirs.verdict or '').capitalize()}")
        if picked == LABEL_STANDS:
            return "answered: your label stands (it stays the ground truth)"
        if picked == UNCLEAR:
            return "answered: unclear — an open criteria question (see the Instructions tab) until you settle it"
        return f"open: “{typed[:60]}” is not one of the choices — pick one from the dropdown"
    if typed:
        return f"reopened: {name} changed their label; your answer “{typed[:60]}” was for the one before — answer again"
    return "open"


def calibration_rows(tab: AnswerTab, store: Store, name: str, mine: dict[str, Label], theirs: dict[str, Label],
                     sheet: AnswerSheet | None, answers: dict[str, Answer], dims: list[str]) -> dict[str, WantedRow]:
    rows = store.rows()
    in_tab = sheet.by_id() if sheet is not None else {}
    differ = [i for i in sorted(set(mine) & set(theirs)) if mine[i].verdict != theirs[i].verdict]
    dim_headers = dict(zip(dims, [h for h in tab.shown if h not in FIXED], strict=True))
    out: dict[str, WantedRow] = {}
    for rid in differ + [i for i in in_tab if i not in differ]:
        m, t, row = mine.get(rid), theirs.get(rid), rows.get(rid, {})
        srow = in_tab.get(rid)
        instance = label_instance(name, t) if t is not None else (
            srow.key.instance if srow is not None and srow.key is not None and not srow.misplaced else "")
        answer = answers.get(rid)
        if (srow is None and answer is not None and answer.instance == instance and answer.resolution.strip()
                and choice(answer.resolution, CALIBRATION_CHOICES) != UNCLEAR):
            continue  # settled for this label, then deleted by the expert: done
        cells: dict[str, Any] = {
            "rater": name, "input": cut(row.get("input")), "output": cut(row.get("output")),
            "expert verdict": m.verdict if m else "", "expert critique": cut(m.critique if m else ""),
            "rater verdict": t.verdict if t else "", "rater critique": cut(t.critique if t else ""),
            STATUS: _status(name, m, t, answer, instance),
        }
        for d, header in dim_headers.items():
            cells[header] = (row.get("fields") or {}).get(d, "")
        out[rid] = WantedRow(rid, cells, instance)
    return out


def calibration_job(cfg: Config, store: Store) -> Job | None:
    """The Calibration tab's job, or None while no second rater disagrees and there is no tab yet."""
    raters = registered(store)
    if not raters:
        return None
    name = next(iter(raters))
    mine, theirs = store.fresh_labels()[0], rater_labels(cfg, name)
    differ = any(mine[i].verdict != theirs[i].verdict for i in set(mine) & set(theirs))
    if not differ and not store.get_meta(written_key("calibration")):
        return None
    dims = list(json.loads(store.get_meta("annotate_layout") or "{}").get("dimensions", []))
    tab = calibration_tab(cfg, dims)

    def wanted(sheet: AnswerSheet | None, answers: dict[str, Answer]):
        return calibration_rows(tab, store, name, mine, theirs, sheet, answers, dims)

    return Job(tab, wanted, CALIBRATION_CHOICES)
