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
    PageSetup,
    Protection,
    Range,
    Style,
    TabSpec,
    Validation,
    column_letter,
)
from sheetsync.textfit import column_px, fit_rows, typical_row_px
from sheetsync.verdicts import FAIL_WORDS, PASS_WORDS

VERDICT = "Pass/Fail"
CRITIQUE = "Critique"
ROOT_CAUSE = "Root cause"
NOTES = "Notes"
STATUS = "Status"
KEY = "sheetsync key"  # hidden: "<content hash>.<display hash>:<id>" (see sheetsync.annotate_sheet)
LEGACY_KEY = "sheetsync hash"  # the key column's header before sheetsync 0.2 (content hash only)
EXPERT_HEADERS = (VERDICT, CRITIQUE, ROOT_CAUSE, NOTES)

STALE = "stale: input/output changed after it was labelled — re-check the label, then clear this cell"
REMOVED = "not in the latest dataset (kept, with its label)"


@dataclass(frozen=True)
class AnnotateColumns:
    """The Annotate tab's headers in their sheet order, and which are data (sheetsync's) vs the expert's."""

    headers: list[str]
    id_header: str
    data_headers: list[str]  # written by sheetsync: id, dimensions, context, input, output, status, key
    dimensions: list[str]
    input_header: str
    output_header: str

    def index(self, header: str) -> int:
        return self.headers.index(header)


def spelled(cell: str, label: str, words: frozenset[str]) -> str:
    """A formula true when ``cell`` holds ``label`` or any other spelling pull reads the same way
    (``sheetsync.verdicts``: ``P``, ``✓``, ``yes``… any case, spaces and a full stop aside)."""
    typed = f'LOWER(TRIM(SUBSTITUTE({cell},".","")))'
    spellings = sorted({label.lower().replace('"', ""), *words})
    return "OR(" + ",".join(f'{typed}="{w}"' for w in spellings) + ")"


def default_columns(id_col: str, dimensions: list[str], context: list[str], input_col: str, output_col: str):
    data = [id_col, *dimensions, *context, input_col, output_col, STATUS]
    headers = [*data, *EXPERT_HEADERS, KEY]
    return AnnotateColumns(
        headers=headers,
        id_header=id_col,
        data_headers=[*data, KEY],
        dimensions=list(dimensions),
        input_header=input_col,
        output_header=output_col,
    )


ROW_HEIGHT = 160  # px: rows are one height (appended rows land where the write finds room), fit to the data


def width_for(header: str, cols: AnnotateColumns, fitted: dict[str, int] | None = None) -> int:
    """A column's width: the expert's columns and the input/output fixed; dimensions and context as wide as
    what they hold (``fitted``, from ``fit_to_data``), else 140 px."""
    if fitted and header in fitted and header not in (cols.input_header, cols.output_header, cols.id_header):
        return fitted[header]
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


def fit_to_data(cols: AnnotateColumns, records: list[dict[str, str]]) -> tuple[dict[str, int], int]:
    """Widths for the dimension and context columns, and one row height, from a sample of the rows shown."""
    fitted = {h: column_px(h, [r.get(h, "") for r in records]) for h in cols.data_headers
              if h not in (cols.input_header, cols.output_header, cols.id_header, STATUS, KEY)}
    shown = {h: width_for(h, cols, fitted) for h in (*fitted, cols.input_header, cols.output_header)}
    return fitted, typical_row_px(records, shown)


def annotate_spec(
    cfg: Config,
    cols: AnnotateColumns,
    blocks: list[Block],
    n_rows: int,
    *,
    replace: bool,
    top: int = 0,
    append_rows: list[list[CellValue]] | None = None,
    insert_columns: tuple[int, ...] = (),
    widths: dict[str, int] | None = None,
    row_height: int = ROW_HEIGHT,
) -> TabSpec:
    """The Annotate tab with its formatting, for a grid of ``n_rows`` rows (header included).

    Formatting follows the headers' current positions, so it stays right after the expert moves columns;
    ``top`` is the header's row (0 unless someone inserted rows above it). Formatting, validation and
    protection run to the end of the tab, so they also cover the rows appended in this write wherever
    they land, and any row the expert adds later.
    """
    h = cols.headers
    n_cols = len(h)
    at = {name: i for i, name in enumerate(h)}
    first = top + 1  # first data row
    known = {*cols.data_headers, *EXPERT_HEADERS}
    protections = [Protection(Range(top, 0, first, n_cols), "sheetsync: header row (columns are matched by these names)")]
    for name in cols.data_headers:
        protections.append(
            Protection(_body(first, at[name]), f"sheetsync: {name} is written by sheetsync — edit the dataset instead")
        )
    return TabSpec(
        title=cfg.tabs.annotate,
        blocks=blocks,
        n_rows=max(n_rows, 2),
        n_cols=n_cols,
        replace=replace,
        column_widths={i: width_for(name, cols, widths) for i, name in enumerate(h) if name in known},
        row_height=row_height,
        frozen_rows=first,
        frozen_cols=1,
        hidden_columns=(at[KEY],),
        styles=_styles(at, top, n_cols),
        validations=_validations(cfg, at, first),
        protections=protections,
        conditional_formats=_conditional_formats(cfg, at, first, n_cols),
        basic_filter=Range(top, 0, None, n_cols),
        index=1,
        append_rows=append_rows or [],
        insert_columns=insert_columns,
        page=PageSetup(repeat=(top, first)),
    )


def _body(first: int, col: int) -> Range:
    """A column below the header, to the end of the tab (so rows appended later are covered too)."""
    return Range(first, col, None, col + 1)


def _styles(at: dict[str, int], top: int, n_cols: int) -> list[Style]:
    """Grey bold headers, wrapped text, the expert's columns in blue, Status in brown italics."""
    first = top + 1
    styles = [
        Style(Range(top, 0, first, n_cols), bold=True, background=HEADER_GREY, wrap=True, valign="middle"),
        Style(Range(first, 0, None, n_cols), wrap=True, valign="top"),
    ]
    for name in EXPERT_HEADERS:
        styles.append(Style(_body(first, at[name]), background=EXPERT_BLUE))
        styles.append(Style(Range(top, at[name], first, at[name] + 1), background="#C9DAF8", bold=True))
    styles.append(Style(_body(first, at[STATUS]), italic=True, color="#7F6000"))
    styles.append(Style(_body(first, at[VERDICT]), halign="center", bold=True))
    return styles


def _validations(cfg: Config, at: dict[str, int], first: int) -> list[Validation]:
    """The Pass/Fail dropdown (strict), and the root causes as suggestions the expert may type past."""
    validations = [
        Validation(
            _body(first, at[VERDICT]),
            (cfg.labels.pass_label, cfg.labels.fail_label),
            strict=True,
            input_message="Did the AI achieve the outcome the user needed? Pass or Fail.",
        ),
    ]
    if cfg.labels.root_causes:
        validations.append(
            Validation(
                _body(first, at[ROOT_CAUSE]),
                tuple(cfg.labels.root_causes),
                strict=False,
                input_message="Pick one, or type a new root cause (several: separate with ;).",
            )
        )
    return validations


def _conditional_formats(cfg: Config, at: dict[str, int], first: int, n_cols: int) -> list[ConditionalFormat]:
    """Every accepted spelling of a pass in green and of a fail in red, a fail without critique and a stale
    row in amber (formulas relative to the first data row, written in the spreadsheet's locale later)."""
    ref = first + 1  # A1 row number of the first data row
    cell = f"${column_letter(at[VERDICT])}{ref}"
    is_pass = spelled(cell, cfg.labels.pass_label, PASS_WORDS)
    is_fail = spelled(cell, cfg.labels.fail_label, FAIL_WORDS)
    critique, status = column_letter(at[CRITIQUE]), column_letter(at[STATUS])
    return [
        ConditionalFormat(_body(first, at[VERDICT]), f"={is_pass}", PASS_GREEN),
        ConditionalFormat(_body(first, at[VERDICT]), f"={is_fail}", FAIL_RED),
        ConditionalFormat(_body(first, at[CRITIQUE]), f"=AND({is_fail},LEN(TRIM(${critique}{ref}))=0)", WARN_AMBER),
        ConditionalFormat(Range(first, 0, None, n_cols), f'=LEFT(${status}{ref},5)="stale"', WARN_AMBER),
    ]


def instructions_spec(cfg: Config, *, n_rows: int, dimensions: list[str], questions: list[str] | None = None) -> TabSpec:
    """What the expert reads first: the one question, how to fill each field, what a good critique is, and
    the criteria questions still open (the expert's "Unclear" answers on the Review tab)."""
    lab = cfg.labels
    rows: list[list[CellValue]] = [
        ["How to annotate"],
        [cfg.report.banner],
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
    rows.append([cfg.tabs.review, "Where the judge disagrees with you, once it has run. Read its critique, then "
                                  "answer in Resolution: “Judge is right” (then change your label here, in "
                                  f"“{cfg.tabs.annotate}”), “My label stands”, or “Unclear” (the criteria need a "
                                  "decision); say why in Why. Answered rows turn grey."])
    if questions:
        rows.append([""])
        rows.append(["Open questions", "Criteria questions you marked Unclear on the Review tab, until you settle "
                                       "them there (choose Judge is right or My label stands, and say why):"])
        rows += [["", q] for q in questions]
    return fit_rows(TabSpec.table(
        cfg.tabs.instructions,
        rows,
        column_widths={0: 160, 1: 720},
        merges=[Range(1, 0, 2, 2)] if cfg.report.banner else [],
        page=PageSetup(),
        styles=[
            Style(Range(0, 0, 1, 2), bold=True, font_size=14),
            *([Style(Range(1, 0, 2, 2), bold=True, wrap=True, background=WARN_AMBER)] if cfg.report.banner else []),
            Style(Range(2, 0, len(rows), 1), bold=True, valign="top"),
            Style(Range(2, 1, len(rows), 2), wrap=True, valign="top"),
            Style(Range(10, 1, 11, 2), background=PASS_GREEN),
            Style(Range(11, 1, 12, 2), background=MUTED_GREY),
        ],
        index=0,
    ))
