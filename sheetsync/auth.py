"""``sheetsync auth check``: who sheetsync acts as, and whether it can reach the spreadsheet."""

from __future__ import annotations

from sheetsync.config import Config
from sheetsync.workspace import existing_store, open_workspace_workbook


def check(cfg: Config, *, spreadsheet: str | None = None) -> list[str]:
    """Lines for people: the identity (never a secret), then the spreadsheet's reachability and tabs."""
    wb = open_workspace_workbook(cfg, existing_store(cfg), spreadsheet, create=False)
    who = wb.identity()
    lines = [f"identity: {who.who} ({who.kind})", f"spreadsheet: {who.where}"]
    titles = wb.tab_titles()
    lines.append("reachable: yes" + (f"; tabs: {', '.join(titles)}" if titles else "; no tabs yet"))
    return lines
