"""What must hold after every scenario, written once, in the words of the issue. Each check adds what it
found to a :class:`Findings`; labels are counted as they are checked (the suite prints the totals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sheetsync.annotate import KEY, REMOVED, STATUS, VERDICT
from sheetsync.annotate_sheet import parse_key
from sheetsync.store import Store
from tests.attack.expert import EXPERT_FIELDS, ScriptedExpert, View, row_of

DATA_COLUMNS = ("feature", "tier", "input", "output")


@dataclass
class Findings:
    """Problems found in one scenario, and the label counts for the suite's tally."""

    scenario: str
    problems: list[str] = field(default_factory=list)
    labels_checked: int = 0
    labels_lost: int = 0

    def lost(self, what: str) -> None:
        self.labels_lost += 1
        self.problems.append(f"{self.scenario}: LABEL LOST OR CHANGED: {what}")

    def problem(self, what: str) -> None:
        self.problems.append(f"{self.scenario}: {what}")


def _short(text: str | None) -> str:
    return repr(text if text is None or len(text) < 90 else text[:60] + f"…({len(text)} chars)")


def _ids(v: View, x: ScriptedExpert) -> dict[str, list[int]]:
    idc = v.col(x.ledger.header("id"))
    out: dict[str, list[int]] = {}
    for r in range(1, len(v.grid)):
        if v.cell(r, idc):
            out.setdefault(v.cell(r, idc), []).append(r)
    return out


# ------------------------------------------------------------------------------------------- the sheet


def labels_stay_beside_their_ids(x: ScriptedExpert, found: Findings, *, imported: dict[str, dict[str, str]]) -> None:
    """Every label the expert gave is in the sheet beside the same id, byte for byte; no other id shows a
    label (a label moved to another id would show up there). ``imported`` are labels an import may or may
    not have written yet (rows that show either nothing or exactly them)."""
    v = x.view()
    if v is None:
        if x.ledger.labels:
            found.lost("the Annotate tab is gone")
        return
    rows = _ids(v, x)
    for rid, label in x.ledger.labels.items():
        found.labels_checked += 1
        where = rows.get(rid, [])
        if len(where) != 1:
            found.lost(f"{rid} is on {len(where)} rows")
            continue
        now = x.expert_texts(v, where[0])
        for h in EXPERT_FIELDS:
            if now[h] != label.texts.get(h, ""):
                found.lost(f"{rid}'s {h} is {_short(now[h])}, the expert typed {_short(label.texts.get(h, ''))}")
    for rid, where in rows.items():
        if rid in x.ledger.labels:
            continue
        for r in where:
            now = x.expert_texts(v, r)
            if any(now.values()) and now != {h: imported.get(rid, {}).get(h, "") for h in EXPERT_FIELDS}:
                found.lost(f"{rid} (row {r + 1}) shows a label the expert never gave it: "
                           + ", ".join(f"{h}={_short(t)}" for h, t in now.items() if t))


def rows_without_id_are_kept(x: ScriptedExpert, found: Findings) -> None:
    """Labels typed where there is no id stay there, exactly (they are reported, never dropped)."""
    v = x.view()
    if v is None or not x.ledger.orphans:
        return
    idc = v.col(x.ledger.header("id"))
    shown = [x.expert_texts(v, r) for r in range(1, len(v.grid)) if not v.cell(r, idc)]
    for orphan in x.ledger.orphans:
        found.labels_checked += 1
        want = {h: orphan.get(h, "") for h in EXPERT_FIELDS}
        if want not in shown:
            found.lost(f"the label typed below the data ({_short(orphan.get('Critique'))}) is gone or changed")


def own_objects_unchanged(x: ScriptedExpert, found: Findings) -> None:
    """No object the expert made (chart, rule, dropdown, filter, tab, headerless column, hidden rows) changed."""
    for what, before in x.ledger.own_objects.items():
        if what == "header":
            continue
        now = x.own_object_now(what)
        if now != before:
            found.problem(f"the expert's own {what} changed: was {_short(str(before))}, now {_short(str(now))}")
    v = x.view()
    if v is None:
        return
    if x.ledger.own_column:
        probe = next(iter(x.ledger.own_column))
        r0 = row_of(v, probe, x.ledger.header("id"))
        col = next((c for c in range(len(v.header)) if r0 is not None and v.cell(r0, c) == x.ledger.own_column[probe]),
                   None)
        for rid, want in x.ledger.own_column.items():
            r = row_of(v, rid, x.ledger.header("id"))
            if col is None or r is None or v.cell(r, col) != want or v.header[col] != "":
                found.problem(f"the expert's headerless column lost {rid}'s note {_short(want)}")
                break
    if x.ledger.hidden:
        with x.em.lock:
            sheet = x._sheet()
            for rid in x.ledger.hidden:
                r = row_of(v, rid, x.ledger.header("id"))
                if r is None or not (sheet.row_props.get(r) or {}).get("hiddenByUser"):
                    found.problem(f"the row of {rid}, which the expert hid, is visible again")


def nothing_written_since(x: ScriptedExpert, before: Any, found: Findings) -> None:
    """The command stopped before writing: every tab is as the expert left it."""
    if x.spreadsheet_json() != before:
        found.problem("the command stopped with a message, but the spreadsheet changed after the expert's edit")


# ------------------------------------------------------------------- after a push (the next push, at least)


def every_row_shows_its_own_text(x: ScriptedExpert, dataset: list[dict[str, str]], found: Findings) -> None:
    """Every row's key names its own id and its cells show that id's data; every dataset row once."""
    v = x.view()
    if v is None:
        found.problem("no Annotate tab after a push")
        return
    rows = _ids(v, x)
    kc, sc = v.col(KEY), v.col(STATUS)
    if kc is None or sc is None:
        found.problem(f"after a push the tab has no {'“sheetsync key”' if kc is None else '“Status”'} column")
        return
    by_id = {r["id"]: r for r in dataset}
    for rid in by_id:
        if len(rows.get(rid, [])) != 1:
            found.problem(f"dataset row {rid} is shown {len(rows.get(rid, []))} times")
    for rid, where in rows.items():
        for r in where:
            key = parse_key(v.cell(r, kc))
            if key is None or key.id != rid:
                found.problem(f"row {r + 1} ({rid}) has key {_short(v.cell(r, kc))}: not its own")
            rec = by_id.get(rid)
            if rec is None:
                if v.cell(r, sc) != REMOVED:
                    found.problem(f"{rid} left the dataset but its Status is {_short(v.cell(r, sc))}")
                continue
            for h in DATA_COLUMNS:
                if v.cell(r, v.col(h)) != rec[h]:
                    found.problem(f"row {r + 1} ({rid}) shows another {h}: {_short(v.cell(r, v.col(h)))}")


def no_half_built_tabs(x: ScriptedExpert, found: Findings) -> None:
    with x.em.lock:
        ss = x.em.state.spreadsheets.get(x.key)
        left = [s.title for s in ss.sheets if "sheetsync: building" in s.title] if ss else []
    if left:
        found.problem(f"a half-built tab is still there after a successful command: {left}")


# ------------------------------------------------------------------------------------------ the store


def store_holds_what_the_sheet_holds(x: ScriptedExpert, store: Store, found: Findings) -> None:
    """The latest pull holds every label of the sheet, byte for byte, under its id."""
    v = x.view()
    labels = store.labels()
    for rid, label in x.ledger.labels.items():
        found.labels_checked += 1
        got = labels.get(rid)
        want = label.texts
        stored = None if got is None else {VERDICT: got.raw_verdict, "Critique": got.critique,
                                           "Root cause": got.root_cause, "Notes": got.notes}
        if stored != {h: want.get(h, "") for h in EXPERT_FIELDS}:
            found.lost(f"the store's latest pull has {rid} as {_short(str(stored))}, the sheet {_short(str(want))}")
    for rid, got in labels.items():
        if rid not in x.ledger.labels and (got.raw_verdict or got.critique or got.root_cause or got.notes.strip()):
            found.lost(f"the store's latest pull gives {rid} a label the expert never gave it: {_short(got.critique)}")
    del v


def fresh_labels_are_what_the_expert_saw(x: ScriptedExpert, store: Store, found: Findings) -> None:
    """A label counts (``Store.fresh_labels``) only for the content the expert was looking at when they gave
    or re-checked it; and a label given for the row's current content is counted."""
    fresh, _ = store.fresh_labels()
    rows = store.rows()
    for rid, label in x.ledger.labels.items():
        row = rows.get(rid)
        if row is None or not row["in_dataset"]:
            continue
        counts = rid in fresh
        should = label.given_for == row["content_hash"] and _verdict(label)
        if counts and not should:
            found.lost(f"{rid}'s label counts for content the expert did not see (given beside other text, "
                       "or before the row changed, and not re-checked)")
        elif should and not counts:
            found.lost(f"{rid}'s label was given for the row as it is, but the store does not count it")


def _verdict(label: Any) -> bool:
    from sheetsync.verdicts import normalize_verdict

    try:
        return normalize_verdict(label.texts.get(VERDICT, ""), pass_label="Pass", fail_label="Fail") is not None
    except ValueError:
        return False


def rows_without_id_are_reported(x: ScriptedExpert, summary: dict[str, Any] | None, found: Findings) -> None:
    if summary is None:
        return
    if len(summary.get("labels_without_id", [])) != len(x.ledger.orphans):
        found.problem(f"pull reported {summary.get('labels_without_id')} as labels without an id; the expert typed "
                      f"{len(x.ledger.orphans)} such label(s)")


def deleted_labels_stay_in_the_store(x: ScriptedExpert, store: Store, found: Findings) -> None:
    """A label whose row the expert deleted is still in the store's history (no label lives only in the sheet)."""
    for rid, label in x.ledger.deleted.items():
        found.labels_checked += 1
        kept = any((lb := store.labels(p).get(rid)) is not None and lb.critique == label.texts.get("Critique", "")
                   for p in range(1, (store.latest_pull_id() or 0) + 1))
        if not kept:
            found.lost(f"{rid}'s label, whose row the expert deleted, is in no pull of the store")
