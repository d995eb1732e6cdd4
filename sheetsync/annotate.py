"""The expert's two tabs, described as layout specs: Instructions, and Annotate (one interaction per row,
everything needed to judge it on one screen, the expert's fields at the right)."""

from __future__ import annotations

from dataclasses import dataclass

from sheetsync.config import Config
from sheetsync.layout import (
    EXPERT_BLUE,
    FAIL_RED,
    HEADER_GREY,
    MUTED_GREY,
    PASS_GREEN,
    WARN_AMBER,
    Block,
    CellValue,
    ConditionalFormat,
    Protection,
    Range,
    Style,
    TabSpec,
    Validation,
    column_letter,
)

VERDICT = "Pass/Fail"
CRITIQUE = "Critique"
ROOT_CAUSE = "Root cause"
NOTES = "Notes"
STATUS = "Status"
HASH = "sheetsync hash"
EXPERT_HEADERS = (VERDICT, CRITIQUE, ROOT_CAUSE, NOTES)

STALE = "stale: input/output changed after it was labelled — re-check the label, then clear this cell"
REMOVED = "not in the latest dataset (kept, with its label)"


@dataclass(frozen=True)
class AnnotateColumns:
    """The Annotate tab's headers in their sheet order, and which are data (sheetsync's) vs the expert's."""

    headers: list[str]
    id_header: str
    data_headers: list[str]  # written by sheetsync: id, dimensions, context, input, output, status, hash
    dimensions: list[str]
    input_header: str
    output_header: str

    def index(self, header: str) -> int:
        return self.headers.index(header)


def default_columns(id_col: str, dimensions: list[str], context: list[str], input_col: str, output_col: str):
    data = [id_col, *dimensions, *context, input_col, output_col, STATUS]
    headers = [*data, *EXPERT_HEADERS, HASH]
    return AnnotateColumns(
        headers=headers,
        id_header=id_col,
        data_headers=[*data, HASH],
        dimensions=list(dimensions),
        input_header=input_col,
        output_header=output_col,
    )


def width_for(header: str, cols: AnnotateColumns) -> int:
    if header in (cols.input_header, cols.output_header):
        return 420
    if header == CRITIQUE:
        return 380
    if header in (NOTES, STATUS):
        return 200
    if header == VERDICT:
        return 90
    if header == ROOT_CAUSE:
        return 170
    if header == cols.id_header:
        return 110
    return 140


def annotate_spec(
    cfg: Config,
    cols: AnnotateColumns,
    blocks: list[Block],
    n_rows: int,
    *,
    replace: bool,
    top: int = 0,
) -> TabSpec:
    """The Annotate tab with its formatting, for a grid of ``n_rows`` rows (header included).

    Formatting follows the headers' current positions, so it stays right after the expert moves columns;
    ``top`` is the header's row (0 unless someone inserted rows above it).
    """
    h = cols.headers
    n_cols = len(h)
    at = {name: i for i, name in enumerate(h)}
    data_end = n_rows
    first = top + 1  # first data row
    body = lambda c: Range(first, c, data_end, c + 1)  # noqa: E731 - a one-column slice below the header
    verdict_col = column_letter(at[VERDICT])
    critique_col = column_letter(at[CRITIQUE])
    status_col = column_letter(at[STATUS])

    known = {*cols.data_headers, *EXPERT_HEADERS}
    styles = [
        Style(Range(top, 0, first, n_cols), bold=True, background=HEADER_GREY, wrap=True, valign="middle"),
        Style(Range(first, 0, data_end, n_cols), wrap=True, valign="top"),
    ]
    for name in EXPERT_HEADERS:
        styles.append(Style(body(at[name]), background=EXPERT_BLUE))
        styles.append(Style(Range(top, at[name], first, at[name] + 1), background="#C9DAF8", bold=True))
    styles.append(Style(body(at[STATUS]), italic=True, color="#7F6000"))
    styles.append(Style(body(at[VERDICT]), halign="center", bold=True))

    protections = [Protection(Range(top, 0, first, n_cols), "sheetsync: header row (columns are matched by these names)")]
    ref = first + 1  # A1 row number of the first data row, for the formulas
    for name in cols.data_headers:
        protections.append(
            Protection(body(at[name]), f"sheetsync: {name} is written by sheetsync — edit the dataset instead")
        )

    root_causes = tuple(cfg.labels.root_causes)
    validations = [
        Validation(
            body(at[VERDICT]),
            (cfg.labels.pass_label, cfg.labels.fail_label),
            strict=True,
            input_message="Did the AI achieve the outcome the user needed? Pass or Fail.",
        ),
    ]
    if root_causes:
        validations.append(
            Validation(
                body(at[ROOT_CAUSE]),
                root_causes,
                strict=False,
                input_message="Pick one, or type a new root cause (several: separate with ;).",
            )
        )
    fail = cfg.labels.fail_label.lower().replace('"', "")
    pas = cfg.labels.pass_label.lower().replace('"', "")
    conditional = [
        ConditionalFormat(body(at[VERDICT]), f'=LOWER(TRIM(${verdict_col}{ref}))="{pas}"', PASS_GREEN),
        ConditionalFormat(body(at[VERDICT]), f'=LOWER(TRIM(${verdict_col}{ref}))="{fail}"', FAIL_RED),
        ConditionalFormat(
            body(at[CRITIQUE]),
            f'=AND(LOWER(TRIM(${verdict_col}{ref}))="{fail}",LEN(TRIM(${critique_col}{ref}))=0)',
            WARN_AMBER,
        ),
        ConditionalFormat(Range(first, 0, data_end, n_cols), f'=LEFT(${status_col}{ref},5)="stale"', WARN_AMBER),
    ]
    return TabSpec(
        title=cfg.tabs.annotate,
        blocks=blocks,
        n_rows=max(n_rows, 2),
        n_cols=n_cols,
        replace=replace,
        column_widths={i: width_for(name, cols) for i, name in enumerate(h) if name in known},
        row_height=160,
        frozen_rows=first,
        frozen_cols=1,
        hidden_columns=(at[HASH],),
        styles=styles,
        validations=validations,
        protections=protections,
        conditional_formats=conditional,
        basic_filter=Range(top, 0, data_end, n_cols),
        index=1,
    )


def instructions_spec(cfg: Config, *, n_rows: int, dimensions: list[str]) -> TabSpec:
    """What the expert reads first: the one question, how to fill each field, what a good critique is."""
    lab = cfg.labels
    rows: list[list[CellValue]] = [
        ["How to annotate"],
        [""],
        ["The one question", lab.criteria],
        ["Where", f"Tab “{cfg.tabs.annotate}”: one interaction per row ({n_rows} rows). "
                  "Read the context columns, the input and the output, then fill the blue columns."],
        [VERDICT, f"{lab.pass_label} or {lab.fail_label} — nothing in between. If you hesitate, decide: "
                  "would you be happy if a customer received this answer?"],
        [CRITIQUE, "Explain your verdict so a new colleague could learn from it: what the AI did, what it "
                   "should have done, and why it matters (cite the fact or policy). "
                   f"Write a critique for passes too. At least {lab.min_critique_words} words."],
        [ROOT_CAUSE, "For a fail, the main reason (pick from the list or type a new one; several: separate "
                     "with ;). Root causes are discovered as you go — add new ones freely."],
        [NOTES, "Anything else: doubts, ideas, questions for the engineer."],
        [STATUS, "Written by sheetsync. “stale” means the input or output changed after you labelled "
                 "it: re-check the label (change it if needed), then clear the Status cell. Rows that left "
                 "the dataset are kept with your label."],
        [""],
        ["Good critique", "FAIL — The customer has a Flex fare, which allows free changes, but the assistant "
                          "quoted the €60 Standard change fee. It should have confirmed the change is free and "
                          "offered to rebook. Charging a fee that does not apply costs trust and money."],
        ["Weak critique", "Wrong fee."],
        [""],
        ["You may", "sort, filter, hide, resize and move rows and columns; sheetsync finds every row by its id "
                    "and every column by its header. Please don't edit the grey columns or the header."],
    ]
    if dimensions:
        rows.append(["Dimensions", "Columns " + ", ".join(dimensions) + " describe each case; use the "
                                   "filter to look at one slice at a time."])
    return TabSpec.table(
        cfg.tabs.instructions,
        rows,
        column_widths={0: 160, 1: 720},
        styles=[
            Style(Range(0, 0, 1, 2), bold=True, font_size=14),
            Style(Range(2, 0, len(rows), 1), bold=True, valign="top"),
            Style(Range(2, 1, len(rows), 2), wrap=True, valign="top"),
            Style(Range(10, 1, 11, 2), background=PASS_GREEN),
            Style(Range(11, 1, 12, 2), background=MUTED_GREY),
        ],
        index=0,
    )


@dataclass
class SheetRow:
    """One row of the Annotate tab as found in the sheet, wherever the expert moved it."""

    row: int  # 0-based position in the grid
    id: str
    cells: dict[str, str]  # header -> text


@dataclass
class ParsedAnnotate:
    header_row: int
    headers: list[str]  # as found, in sheet order ("" for unnamed columns)
    rows: list[SheetRow]
    n_rows: int  # rows in use, header included

    def col(self, header: str) -> int | None:
        return self.headers.index(header) if header in self.headers else None


def parse_annotate(grid: list[list[str]], *, id_header: str, tab: str) -> ParsedAnnotate:
    """Find the header row and every row by id. Raises ``ValueError`` with a fix-it message when the tab
    cannot be read safely (header or id column gone, a header or an id repeated)."""
    header_row = next(
        (i for i, row in enumerate(grid[:20]) if id_header in [c.strip() for c in row] and VERDICT in
         [c.strip() for c in row]),
        None,
    )
    if header_row is None:
        raise ValueError(
            f"tab “{tab}”: no header row with “{id_header}” and “{VERDICT}” in the first 20 rows. "
            "Restore the header row (undo the change in the sheet), then run the command again."
        )
    headers = [c.strip() for c in grid[header_row]]
    named = [h for h in headers if h]
    repeated = sorted({h for h in named if named.count(h) > 1})
    if repeated:
        raise ValueError(f"tab “{tab}”: header(s) {', '.join(repeated)} appear twice; rename or delete the copy.")
    id_at = headers.index(id_header)
    rows: list[SheetRow] = []
    seen: dict[str, int] = {}
    dupes: list[str] = []
    last_used = header_row
    for r in range(header_row + 1, len(grid)):
        line = grid[r]
        if any(c.strip() for c in line):
            last_used = r
        rid = line[id_at].strip() if id_at < len(line) else ""
        cells = {h: (line[i] if i < len(line) else "") for i, h in enumerate(headers) if h}
        if not rid:
            if any(cells.get(h, "").strip() for h in EXPERT_HEADERS):
                rows.append(SheetRow(r, "", cells))  # labelled but unidentifiable: reported by pull
            continue
        if rid in seen:
            dupes.append(f"{rid} (rows {seen[rid] + 1} and {r + 1})")
        seen[rid] = r
        rows.append(SheetRow(r, rid, cells))
    if dupes:
        raise ValueError(
            f"tab “{tab}”: id(s) appear on more than one row: {', '.join(dupes[:10])}. "
            "Delete the duplicate rows (keep the one with the expert's label), then run the command again."
        )
    return ParsedAnnotate(header_row, headers, rows, last_used + 1)
