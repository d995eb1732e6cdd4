"""``sheetsync pull``: read the expert's labels back (one read of the columns it needs), validate them, and
keep every pull.

The expert's texts are stored exactly as typed (they are trimmed only to compare them); each label is
stored with the content it was given for (:mod:`sheetsync.attribution`), so a label beside text that is
not its row's, or given before the row's content changed, is never counted for the row as it is now.
A tab that cannot be read safely — a column sheetsync needs renamed, deleted or repeated — stops the
pull before anything is stored.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sheetsync.annotate import CRITIQUE, KEY, NOTES, ROOT_CAUSE, STALE, STATUS, VERDICT
from sheetsync.annotate_sheet import AnnotateSheet, SheetRow, SheetStructureError, read_annotate
from sheetsync.attribution import LabelState, observe, shown_content
from sheetsync.backends import Workbook
from sheetsync.config import Config, Labels
from sheetsync.dataset import write_records
from sheetsync.errors import UserInputError
from sheetsync.raters import pull_raters, rater_labels, registered
from sheetsync.review.pulled import read_sheets, record, with_provenance
from sheetsync.store import Label, Store
from sheetsync.taxonomy import fold
from sheetsync.triage.tab import pull_decisions
from sheetsync.verdicts import normalize_verdict
from sheetsync.workspace import existing_store, open_store, open_workspace_workbook

LAYOUT_KEY = "annotate_layout"
HINT_KEY = "annotate_columns"
EXPORT_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".json")


@dataclass
class PullSummary:
    """What a pull found. Lists hold ids (or "row N" for rows without an id)."""

    url: str
    pull_id: int
    rows: int = 0
    labelled: int = 0
    unlabelled: int = 0
    passes: int = 0
    fails: int = 0
    fails_without_critique: list[str] = field(default_factory=list)
    terse_critiques: list[str] = field(default_factory=list)
    unknown_verdicts: list[str] = field(default_factory=list)  # "id (row N): 'text'"
    unknown_root_causes: dict[str, list[str]] = field(default_factory=dict)  # cause -> ids
    changed_since_last_pull: list[str] = field(default_factory=list)  # "id: pass → fail"
    stale: list[str] = field(default_factory=list)
    beside_other_text: list[str] = field(default_factory=list)  # labelled while the row showed another's text
    labels_without_id: list[str] = field(default_factory=list)  # "row N"
    warnings: list[str] = field(default_factory=list)
    exported_to: str | None = None
    taxonomy: dict = field(default_factory=dict)  # the root causes after the expert's proposal decisions
    review: dict = field(default_factory=dict)  # answers, revisions, reminders, questions (sheetsync.review.pulled)
    raters: list[dict] = field(default_factory=list)  # each second rater's pull and agreement with the expert

    def to_dict(self) -> dict:
        return asdict(self)


def pull(
    cfg: Config,
    *,
    spreadsheet: str | None = None,
    out: str | Path | None = None,
    store: Store | None = None,
    workbook: Workbook | None = None,
    with_review: bool = True,
) -> PullSummary:
    """Read the Annotate tab's id, Status, key and expert columns, match rows by id and columns by header,
    validate and store the labels; then (``with_review``) the answers on the Review and Calibration tabs,
    the label revisions, and every second rater's workbook (:mod:`sheetsync.review.pulled`)."""
    if out is not None and Path(out).suffix.lower() not in EXPORT_SUFFIXES:
        raise UserInputError(f"{out}: --out must end in .csv, .jsonl or .json.")
    store = store or existing_store(cfg)
    wb = workbook or open_workspace_workbook(cfg, store, spreadsheet, create=False)
    sheet = _read_annotate(cfg, wb, store)
    decided = pull_decisions(cfg, wb, store)  # the Root-cause proposals tab, once triage wrote it (one read)
    store = store or open_store(cfg)  # the labels are kept from here on

    lab = cfg.labels
    known_causes = decided.known()
    previous = store.labels()
    states_before, shown = store.label_states(), store.shown()
    key_missing = KEY in sheet.missing
    states: dict[str, LabelState | None] = {}
    labels: list[Label] = []
    summary = PullSummary(url=wb.url, pull_id=0)
    if sheet.missing:
        summary.warnings.append(
            f"the tab has no {' or '.join(f'“{m}”' for m in sheet.missing)} column (renamed or deleted?): "
            "labels are attributed from what sheetsync last wrote; `sheetsync push` puts the column back."
        )
    for srow in sheet.rows:
        cells = srow.expert
        where = f"row {srow.row + 1}"
        if not srow.id:
            if srow.labelled:
                hint_id = f" (its hidden key names {srow.key.id!r})" if srow.key else ""
                summary.labels_without_id.append(where + hint_id)
            continue
        verdict = _check(summary, srow, where, lab, known_causes, previous.get(srow.id))
        remembered = shown.get(srow.id, ("", ""))[0] or None
        state = observe(srow, states_before.get(srow.id), shown_content(srow, key_missing=key_missing,
                                                                         remembered=remembered),
                        flags_readable=STATUS not in sheet.missing)
        states[srow.id] = state
        if state is not None and not state.given_for and srow.labelled:
            summary.beside_other_text.append(srow.id)
        labels.append(
            Label(
                id=srow.id, verdict=verdict, raw_verdict=cells[VERDICT], critique=cells[CRITIQUE],
                root_cause=cells[ROOT_CAUSE],
                notes=cells[NOTES], content_hash=state.given_for if state is not None else "",
            )
        )
    sheets = read_sheets(cfg, store, wb) if with_review else []  # read before anything is stored
    raters = registered(store) if with_review else {}
    rater_verdicts = {i: lb.verdict for i, lb in rater_labels(cfg, next(iter(raters))).items()} if raters else {}
    labels = with_provenance(labels, previous, store.verdicts_shown())
    with store.transaction():  # the pull, the answers and revisions it found, the tabs' layouts: together or not
        summary.pull_id = store.save_pull(wb.locator, labels, states, decided.decisions)
        store.set_meta(HINT_KEY, json.dumps(sheet.hint()))
        if with_review:
            summary.review = record(store, sheets, previous, labels, summary.pull_id, rater_verdicts).to_dict()
    if with_review:
        summary.raters, problems = pull_raters(cfg, store)
        summary.warnings += problems
    summary.taxonomy = decided.summary()
    summary.warnings += decided.warnings
    if out is not None:
        summary.exported_to = str(export_labels(labels, Path(out)))
    return summary


def _read_annotate(cfg: Config, wb: Workbook, store: Store | None) -> AnnotateSheet:
    """The Annotate tab's id, Status, key and expert columns, found by the headers push last wrote (the
    store's layout and column hint), or a message naming what is wrong: a pull never guesses a column."""
    tab = cfg.tabs.annotate
    layout = json.loads(store.get_meta(LAYOUT_KEY) or "{}") if store else {}
    hint = json.loads(store.get_meta(HINT_KEY) or "{}") if store else {}
    try:
        sheet = read_annotate(wb, tab, id_header=layout.get("id", cfg.columns.id), hint=hint)
    except SheetStructureError as exc:
        raise UserInputError(f"{wb.url}: {exc}") from exc
    if sheet is None:
        raise UserInputError(f"{wb.url}: there is no “{tab}” tab. Run `sheetsync push DATA` first.")
    return sheet


def _check(summary: PullSummary, srow: SheetRow, where: str, lab: Labels, known_causes: set[str],
           before: Label | None) -> str | None:
    """The row's verdict ("pass", "fail" or None), counted into the summary with what the engineer should
    know about it: an unknown verdict word or root cause, a fail without critique, a terse critique, a
    stale flag, a verdict changed since the last pull."""
    cells = srow.expert
    raw, critique = cells[VERDICT], cells[CRITIQUE]
    try:
        verdict = normalize_verdict(raw, pass_label=lab.pass_label, fail_label=lab.fail_label)
    except ValueError:
        verdict = None
        summary.unknown_verdicts.append(f"{srow.id} ({where}): {raw!r}")
    summary.rows += 1
    if verdict is None:
        summary.unlabelled += 1 if not raw.strip() else 0
    else:
        summary.labelled += 1
        if verdict == "pass":
            summary.passes += 1
        else:
            summary.fails += 1
            if not critique.strip():
                summary.fails_without_critique.append(srow.id)
        if critique.strip() and len(critique.split()) < lab.min_critique_words:
            summary.terse_critiques.append(srow.id)
    for part in _split_causes(cells[ROOT_CAUSE]):
        if fold(part) not in known_causes:
            summary.unknown_root_causes.setdefault(part, []).append(srow.id)
    if srow.status.startswith(STALE[:5]):
        summary.stale.append(srow.id)
    if before is not None and before.verdict and verdict and before.verdict != verdict:
        summary.changed_since_last_pull.append(f"{srow.id}: {before.verdict} → {verdict}")
    return verdict


def _split_causes(cell: str) -> list[str]:
    parts = [" ".join(p.split()) for p in cell.replace("|", ";").replace(",", ";").split(";")]
    return [p for p in parts if p]


def export_labels(labels: list[Label], path: Path) -> Path:
    """Write labels as CSV, JSONL or JSON, by the file's extension (atomically)."""
    rows = [
        {"id": lb.id, "verdict": lb.verdict or "", "raw_verdict": lb.raw_verdict, "critique": lb.critique,
         "root_cause": lb.root_cause, "notes": lb.notes}
        for lb in labels
    ]
    return write_records(path, ["id", "verdict", "raw_verdict", "critique", "root_cause", "notes"], rows)


__all__ = ["STATUS", "PullSummary", "export_labels", "pull"]
