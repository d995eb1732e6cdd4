"""The report tabs, one module each, in the order they appear in the workbook."""

from __future__ import annotations

from typing import Any

from sheetsync.config import Config
from sheetsync.layout import TabSpec
from sheetsync.metrics import Agreement
from sheetsync.report.data import Data
from sheetsync.report.tabs.agreement import agreement_tab
from sheetsync.report.tabs.disagreements import disagreements_tab
from sheetsync.report.tabs.error_analysis import error_analysis_tab
from sheetsync.report.tabs.root_causes import root_causes_tab
from sheetsync.report.tabs.summary import summary_tab


def build_tabs(cfg: Config, data: Data, fig: dict[str, Any], headline: Agreement | None) -> list[TabSpec]:
    return [
        summary_tab(cfg, fig),
        agreement_tab(cfg, fig, headline),
        disagreements_tab(cfg, data.dims, fig),
        root_causes_tab(cfg, fig),
        error_analysis_tab(cfg, fig),
    ]
