"""What a ``--spreadsheet`` value names, checked before any backend is opened.

A path ending in ``.xlsx`` is a local workbook; a Google Sheets URL or key is that spreadsheet; anything
else is a Google title, found or created via Drive. A value that is almost one of the first two — a file
name ending in ``.xls`` or ``.xslx``, a path without ``.xlsx``, a Sheets URL copied without its id — would
otherwise silently become the title of a new Google spreadsheet: it is refused with the likely fix.
"""

from __future__ import annotations

import re

from sheetsync.errors import ConfigError

# The id in a spreadsheet's URL (docs.google.com/spreadsheets/d/ID/edit, or the emulator's own pages).
_URL_ID = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)|/_emulator/spreadsheets/([A-Za-z0-9_-]+)")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://|^(docs|drive|sheets)\.google\.com", re.IGNORECASE)
_EXCEL_LIKE = {"xls", "xlsm", "xlsb", "xlt", "xltx", "xltm", "ods", "fods", "numbers", "gsheet", "bak"}
_DATA_LIKE = {"csv", "tsv", "txt", "json", "jsonl", "ndjson", "parquet", "xml"}
_ADDRESS = "https://docs.google.com/spreadsheets/d/ID/edit"


def check_locator(value: str, source: str) -> str:
    """``value`` without surrounding spaces, or ``ConfigError`` saying what it is and what to pass instead.
    ``source`` names where it came from (``--spreadsheet``, ``sheetsync.toml: spreadsheet``…; empty:
    the caller says it)."""
    text = value.strip()
    if not text or text.lower().endswith(".xlsx"):
        return text
    if _URL.search(text):
        return _check_url(text, source)
    name = re.split(r"[/\\]", text)[-1]
    stem, dot, ext = name.rpartition(".")
    ext = ext.lower()
    if dot and stem and (ext in _EXCEL_LIKE or ext in _DATA_LIKE or _one_edit_from(ext, "xlsx")):
        fixed = text[: len(text) - len(ext)] + "xlsx"
        if ext in _DATA_LIKE:
            fix = (f"It is a data file: push it with `sheetsync push {text}` and name the workbook with "
                   "--spreadsheet NAME.xlsx (or a Google Sheets URL or title).")
        elif ext in _EXCEL_LIKE:
            fix = ("sheetsync works on .xlsx workbooks: save it as one (Excel: Save As → Excel Workbook; "
                   f"LibreOffice: Save As → Excel 2007-365) and pass `{fixed}`.")
        else:
            fix = f"Did you mean `{fixed}`?"
        raise ConfigError(f"{_where(source)}`{text}` looks like a file but does not end in .xlsx, so it would be "
                          f"taken as the title of a Google spreadsheet. {fix}")
    if "/" in text or "\\" in text:
        raise ConfigError(
            f"{_where(source)}`{text}` looks like a path but does not end in .xlsx. A local workbook is a path "
            "ending in .xlsx (e.g. out/labels.xlsx); for a Google spreadsheet whose title holds a slash, pass "
            "its URL."
        )
    return text


def _check_url(url: str, source: str) -> str:
    found = _URL_ID.search(url)
    if found and (found.group(1) or found.group(2)) != "e":
        return url
    if "/spreadsheets/d/e/" in url:
        problem = "is a link published to the web (read-only), not the spreadsheet itself"
    elif "/spreadsheets" in url and "docs.google.com" in url.lower():
        problem = "has no spreadsheet id: it is the Google Sheets home page or a link cut short"
    else:
        problem = "is not a Google Sheets spreadsheet URL"
    raise ConfigError(
        f"{_where(source)}`{url}` {problem}. Open the spreadsheet and copy the address from the browser's address "
        f"bar: it looks like {_ADDRESS} (the key, the ID part, works on its own too)."
    )


def _where(source: str) -> str:
    return f"{source}: " if source else ""


def _one_edit_from(word: str, target: str) -> bool:
    """``word`` is ``target`` with one letter added, dropped, changed, or two neighbours swapped."""
    if not word.isalpha() or abs(len(word) - len(target)) > 1:
        return False
    if len(word) == len(target):
        diff = [i for i, (a, b) in enumerate(zip(word, target, strict=True)) if a != b]
        return len(diff) == 1 or (
            len(diff) == 2 and diff[1] == diff[0] + 1 and word[diff[0]] == target[diff[1]]
            and word[diff[1]] == target[diff[0]]
        )
    short, long = sorted((word, target), key=len)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))
