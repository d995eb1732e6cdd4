"""How a figure shows in a cell: undefined never looks like 0, long text is cut, rates get a verdict."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from sheetsync.config import Config
from sheetsync.layout import FAIL_RED, PASS_GREEN, WARN_AMBER, CellValue

RATE = "0.0%"
KAPPA = "0.00"
DELTA = "+0.0%;-0.0%;0.0%"  # a change in a rate, with its sign
NA = "n/a"
MAX_TEXT = 5000  # long inputs/outputs are cut on report tabs; the full text is on the Annotate tab


def v(x: Any) -> CellValue:
    """A figure for a cell: undefined shows as "n/a" (the reason is written beside it), never as 0."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return NA
    return float(x) if isinstance(x, float | np.floating) else x


def ci(interval: Sequence[float] | None) -> list[CellValue]:
    """An interval's two bounds, or two blank cells when there is none."""
    return [interval[0], interval[1]] if interval else ["", ""]


def bound(x: Any) -> CellValue:
    """One interval bound: blank when there is none."""
    return v(x) if x is not None else ""


def status(rate: float | None, cfg: Config) -> tuple[str, str | None]:
    """A rate against the aim and floor: the words and the colour for its cell."""
    if rate is None:
        return "unknown", None
    if rate >= cfg.report.target:
        return "on target", PASS_GREEN
    if rate >= cfg.report.floor:
        return "below target", WARN_AMBER
    return "below floor", FAIL_RED


def short_time(stamp: str | None) -> str:
    return (stamp or "")[:16].replace("T", " ")


def cut(text: Any) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= MAX_TEXT else s[:MAX_TEXT] + " … (cut: full text on the Annotate tab)"
