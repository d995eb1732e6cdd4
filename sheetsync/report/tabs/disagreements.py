"""The Disagreements tab: every row where the judge and the expert differ, weakest dimension cells first."""

from __future__ import annotations

from typing import Any

from sheetsync.config import Config
from sheetsync.conversation import cell_text
from sheetsync.layout import FAIL_RED, PASS_GREEN, CellValue, ConditionalFormat, Range, TabSpec, column_letter
from sheetsync.report.tabs.cells import MAX_TEXT, cut
from sheetsync.report.tabs.grid import Grid
from sheetsync.textfit import column_px


def disagreements_tab(cfg: Config, dims: list[str], fig: dict[str, Any]) -> TabSpec:
    header = ["id", "split", *dims, *(["weakest cell"] if dims else []), "expert verdict", "judge verdict",
              "expert critique", "judge critique", "input", "output"]
    rows: list[list[CellValue]] = [
        [x["id"], x["split"], *(x["dimensions"][d] for d in dims), *([x["weakest_cell"]] if dims else []),
         x["expert_verdict"], x["judge_verdict"], cut(x["expert_critique"]), cut(x["judge_critique"]),
         shown(x["input"]), shown(x["output"])]
        for x in fig["disagreements"]
    ]
    g = Grid()
    _, n = g.table(header, rows)
    ev = 2 + len(dims) + (1 if dims else 0)  # expert verdict column
    widths = {0: 90, 1: 60, **{2 + i: column_px(d, [str(x["dimensions"][d]) for x in fig["disagreements"]],
                                             high=160) for i, d in enumerate(dims)},
              ev: 70, ev + 1: 70, ev + 2: 300,
              ev + 3: 300, ev + 4: 280, ev + 5: 340}
    if dims:
        widths[ev - 1] = 150
    if n == 1:
        g.note(_no_disagreements(fig))
    else:
        g.style(0, 0, 1, len(header), wrap=True, valign="top")
        g.style(1, ev + 2, n, ev + 6, wrap=True, valign="top")
        g.style(1, 0, n, ev + 2, valign="top", wrap=True)
        for col in (ev, ev + 1):
            ref = f"${column_letter(col)}2"
            g.cfs += [ConditionalFormat(Range(1, col, n, col + 1), f'={ref}="fail"', FAIL_RED),
                      ConditionalFormat(Range(1, col, n, col + 1), f'={ref}="pass"', PASS_GREEN)]
    return g.spec(cfg.tabs.disagreements, widths, frozen_rows=1, frozen_cols=1,
                  row_height=120 if n > 1 else None,
                  basic_filter=Range(0, 0, n, len(header)) if n > 1 else None)


def shown(text: str | None) -> str:
    """The interaction as the Annotate tab shows it (tool results folded, long documents cut), shorter."""
    return cell_text(text or "", MAX_TEXT)[0]


def _no_disagreements(fig: dict[str, Any]) -> str:
    ag = fig["agreement"]
    if ag["basis"] is None:
        return f"Nothing to compare yet: {ag['reason']}"
    n = ag["by_split"]["dev+test"]["n"]
    return f"No disagreements: the judge agrees with the expert on all {n} scored dev/test rows."
