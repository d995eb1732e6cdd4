"""Where workbooks live. ``open_workbook`` picks the backend from the name: a path ending in ``.xlsx``
is a local file; anything else is a Google spreadsheet (URL, key or title)."""

from __future__ import annotations

import os

from sheetsync.backends.base import Grid, Identity, Workbook
from sheetsync.config import Config

__all__ = ["Grid", "Identity", "Workbook", "is_local", "open_workbook"]


def is_local(spreadsheet: str) -> bool:
    return spreadsheet.lower().endswith(".xlsx")


def open_workbook(spreadsheet: str, cfg: Config, *, create: bool = True) -> Workbook:
    """Open (or, for a title or a new path, create on first write) the named workbook."""
    if is_local(spreadsheet):
        from sheetsync.backends.xlsx import XlsxWorkbook

        return XlsxWorkbook(cfg.path(spreadsheet))
    from sheetsync.backends.google import open_google_workbook
    from sheetsync.backends.google_pacing import Pacing

    g = cfg.google
    wb = open_google_workbook(
        spreadsheet,
        credentials_file=str(cfg.path(cfg.google.credentials)) if cfg.google.credentials else None,
        oauth_client_file=str(cfg.path(cfg.google.oauth_client)) if cfg.google.oauth_client else None,
        emulator_host=os.environ.get("SHEETS_EMULATOR_HOST") or None,
        create=create,
        timeout=g.timeout,
        folder=g.folder,
        pacing=Pacing(g.reads_per_minute, g.writes_per_minute, g.quota_wait_max),
    )
    wb.max_request_bytes = g.max_request_bytes
    return wb
