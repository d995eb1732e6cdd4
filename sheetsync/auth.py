"""``sheetsync auth check``: who sheetsync acts as, whether it can reach the spreadsheet, and what would
go wrong on the first push (a service account with nowhere to create it, a login without a quota
project) — said before the push fails, with what to do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sheetsync.config import Config
from sheetsync.errors import BackendError
from sheetsync.workspace import existing_store, open_workspace_workbook


@dataclass
class CheckResult:
    lines: list[str]  # for stdout: identity, spreadsheet, reachability
    warnings: list[str] = field(default_factory=list)  # for stderr: what will fail and how to fix it


def check(cfg: Config, *, spreadsheet: str | None = None) -> CheckResult:
    """The identity (never a secret), then the spreadsheet's reachability and tabs — or, when a title
    names no spreadsheet yet, what the first push will do."""
    try:
        wb = open_workspace_workbook(cfg, existing_store(cfg), spreadsheet, create=False)
    except BackendError as err:
        from sheetsync.backends.google import SpreadsheetNotFound

        if not isinstance(err, SpreadsheetNotFound):
            raise
        return _before_first_push(err)
    who = wb.identity()
    lines = [f"identity: {who.who} ({who.kind})", f"spreadsheet: {who.where}"]
    titles = wb.tab_titles()
    lines.append("reachable: yes" + (f"; tabs: {', '.join(titles)}" if titles else "; no tabs yet"))
    principal: Any = getattr(wb, "principal", None)
    return CheckResult(lines, list(getattr(principal, "warnings", ())))


def _before_first_push(missing: Any) -> CheckResult:
    from sheetsync.backends.google_drive import folder_problem
    from sheetsync.backends.google_errors import storage_quota_error

    p = missing.principal
    where = f" in the folder {missing.folder}" if missing.folder else ""
    lines = [f"identity: {p.who} ({p.kind})",
             f"spreadsheet: none named {missing.title!r} yet; the first push creates it{where}"]
    warnings = list(p.warnings)
    if missing.folder:
        problem = folder_problem(missing.client, missing.folder, p)
        if problem:
            warnings.append(f"the first push will fail: {problem}")
        else:
            lines.append(f"folder: {missing.folder} (new files can be added)")
    elif p.kind == "service account":
        warnings.append(f"the first push will fail: {storage_quota_error(p, missing.title, '')}")
    return CheckResult(lines, warnings)
