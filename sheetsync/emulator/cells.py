"""Cells: how a value is stored, how USER_ENTERED text is parsed, and how a value is rendered back.

A stored value is a plain Python object: ``str`` (stringValue), ``bool``, ``int``/``float`` (numberValue)
or :class:`Formula` (formulaValue). Formulas are stored, never evaluated: FORMULA renders their text, and
FORMATTED_VALUE / UNFORMATTED_VALUE render ``#NAME?`` (effectiveValue is a NAME error), so a formula that
slipped in through USER_ENTERED is visible to tests instead of looking like a harmless string.

A formula that does not parse in the spreadsheet's locale (``=SUM(1,2;3)``, or ``,`` between arguments in
de_DE) is accepted and stored, as Google does (googleapis/google-api-nodejs-client#1994: the cell shows an
error, the request succeeds), as a :class:`BrokenFormula` that renders ``#ERROR!`` ("Formula parse error.").
USER_ENTERED numbers follow the locale's decimal mark (``1,5`` is 1.5 in de_DE).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from sheetsync.emulator.locales import decimal_comma

MAX_CELL_CHARS = 50_000
_SWAP = str.maketrans(".,", ",.")
FORMULA_ERROR = "#NAME?"
_EPOCH = dt.date(1899, 12, 30)
_NUMBER_RE = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?([eE][+-]?\d+)?$")
_DATE_SLASH_RE = re.compile(r"^(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?$")
_DATE_ISO_RE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


class Formula(str):
    """Marks a stored value as a formula (its text, starting with ``=``)."""

    __slots__ = ()


class BrokenFormula(Formula):
    """A formula the spreadsheet's locale cannot parse: shown as ``#ERROR!``."""

    __slots__ = ()


PARSE_ERROR = "#ERROR!"


def in_locale(value: Any, locale: str | None) -> Any:
    """``value``, or a :class:`BrokenFormula` when it is a formula ``locale`` cannot parse."""
    if type(value) is Formula:
        from sheetsync.emulator.formulas import problem

        if problem(value, locale) is not None:
            return BrokenFormula(value)
    return value


class Cell:
    """One stored cell. Treated as immutable once placed in a grid, so cloning a sheet for an atomic
    batchUpdate only copies row lists, never cells."""

    __slots__ = ("value", "fmt", "dv", "note", "extra")

    def __init__(
        self,
        value: Any = None,
        fmt: dict | None = None,
        dv: dict | None = None,
        note: str | None = None,
        extra: dict | None = None,
    ) -> None:
        self.value = value
        self.fmt = fmt
        self.dv = dv
        self.note = note
        self.extra = extra

    def replace(self, **changes: Any) -> Cell:
        c = Cell(self.value, self.fmt, self.dv, self.note, self.extra)
        for k, v in changes.items():
            setattr(c, k, v)
        return c

    def is_empty(self) -> bool:
        return self.value is None and not self.fmt and self.dv is None and self.note is None and not self.extra

    def to_json(self) -> list:
        return [encode_value(self.value), self.fmt, self.dv, self.note, self.extra]

    @staticmethod
    def from_json(data: list) -> Cell:
        return Cell(decode_value(data[0]), data[1], data[2], data[3], data[4])


def encode_value(v: Any) -> Any:
    """JSON form for the state file: formulas are tagged so they come back as Formula."""
    if isinstance(v, BrokenFormula):
        return {"f": str(v), "broken": True}
    if isinstance(v, Formula):
        return {"f": str(v)}
    return v


def decode_value(v: Any) -> Any:
    if isinstance(v, dict):
        return BrokenFormula(v["f"]) if v.get("broken") else Formula(v["f"])
    return v


# ---- input -------------------------------------------------------------------------------------------


def from_extended(ev: dict | None, locale: str | None = None) -> Any:
    """ExtendedValue JSON -> stored value (None when unset); formulas are parsed in ``locale``."""
    if not ev:
        return None
    if ev.get("stringValue") is not None:
        return ev["stringValue"]
    if ev.get("numberValue") is not None:
        return _num(ev["numberValue"])
    if ev.get("boolValue") is not None:
        return bool(ev["boolValue"])
    if ev.get("formulaValue") is not None:
        f = ev["formulaValue"]
        return in_locale(Formula(f), locale) if f.startswith("=") else f
    return None


def _num(v: Any) -> int | float:
    f = float(v)
    if f.is_integer() and abs(f) < 1e15:
        return int(f)
    return f


def parse_raw(v: Any) -> Any:
    """RAW input: stored as-is (strings stay strings, even ``=1+1``)."""
    if isinstance(v, (bool, str)):
        return v
    return _num(v)


def parse_user_entered(v: Any, locale: str | None = None) -> tuple[Any, dict | None]:
    """USER_ENTERED input, parsed as if typed into the UI: returns (value, numberFormat or None).

    ``=...`` becomes a formula; ``'text`` keeps the text without the apostrophe; numbers (``007``,
    ``1,000``, ``1e3``, ``+1``), percentages, ``$`` amounts, ``TRUE``/``FALSE`` and dates (``1/2``,
    ``2024-01-15``) are converted.
    """
    if not isinstance(v, str):
        return parse_raw(v), None
    s = v
    if s.startswith("'"):
        return s[1:], None
    if len(s) > 1 and s.startswith("="):
        return in_locale(Formula(s), locale), None
    t = s.strip()
    if not t:
        return s, None
    if locale is not None and decimal_comma(locale) and any(ch.isdigit() for ch in t):
        swapped = t.translate(_SWAP)  # "1.000,5" reads as "1,000.5" does in en_US
        value, fmt = parse_user_entered(swapped)
        if not isinstance(value, str):
            return value, fmt
        return s, None
    up = t.upper()
    if up in ("TRUE", "FALSE"):
        return up == "TRUE", None
    if _NUMBER_RE.match(t) and any(ch.isdigit() for ch in t):
        return _num(t.replace(",", "")), None
    if t.endswith("%") and _NUMBER_RE.match(t[:-1]) and any(ch.isdigit() for ch in t):
        value = float(t[:-1].replace(",", "")) / 100
        return _num(value), {"type": "PERCENT", "pattern": "0%" if "." not in t else "0.00%"}
    if t.startswith("$") and _NUMBER_RE.match(t[1:]) and any(ch.isdigit() for ch in t):
        return _num(t[1:].replace(",", "")), {"type": "CURRENCY", "pattern": '"$"#,##0.00'}
    date = _parse_date(t)
    if date is not None:
        return date
    return s, None


def _parse_date(t: str) -> tuple[int, dict] | None:
    m = _DATE_ISO_RE.match(t)
    try:
        if m:
            d = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            return (d - _EPOCH).days, {"type": "DATE", "pattern": "yyyy-mm-dd"}
        m = _DATE_SLASH_RE.match(t)
        if m:
            year = int(m.group(3)) if m.group(3) else dt.date.today().year
            if year < 100:
                year += 2000 if year < 30 else 1900
            d = dt.date(year, int(m.group(1)), int(m.group(2)))
            return (d - _EPOCH).days, {"type": "DATE", "pattern": "M/d/yyyy"}
    except ValueError:
        return None
    return None


# ---- output ------------------------------------------------------------------------------------------


def extended(v: Any) -> dict | None:
    """Stored value -> ExtendedValue JSON (userEnteredValue)."""
    if v is None:
        return None
    if isinstance(v, Formula):
        return {"formulaValue": str(v)}
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, str):
        return {"stringValue": v}
    return {"numberValue": v}


def effective(v: Any) -> dict | None:
    if isinstance(v, BrokenFormula):
        return {"errorValue": {"type": "ERROR", "message": "Formula parse error."}}
    if isinstance(v, Formula):
        return {"errorValue": {"type": "NAME", "message": "The sheetsync emulator does not evaluate formulas."}}
    return extended(v)


def formatted(v: Any, fmt: dict | None) -> str:
    """FORMATTED_VALUE rendering of a stored value under the cell's number format."""
    if v is None:
        return ""
    if isinstance(v, Formula):
        return PARSE_ERROR if isinstance(v, BrokenFormula) else FORMULA_ERROR
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, str):
        return v
    nf = (fmt or {}).get("numberFormat") if fmt else None
    if nf:
        out = _apply_number_format(v, nf)
        if out is not None:
            return out
    return general_number(v)


def general_number(v: float | int) -> str:
    if isinstance(v, int):
        return str(v)
    if math.isnan(v) or math.isinf(v):
        return "#NUM!"
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    text = f"{v:.10g}"
    if "e" in text:
        mant, exp = text.split("e")
        return f"{mant}E{'+' if int(exp) >= 0 else '-'}{abs(int(exp)):02d}"
    return text


def _apply_number_format(v: float | int, nf: dict) -> str | None:
    kind = nf.get("type")
    pattern = nf.get("pattern") or ""
    if kind in ("DATE", "DATE_TIME"):
        try:
            d = _EPOCH + dt.timedelta(days=float(v))
        except (OverflowError, ValueError):
            return None
        p = pattern or "M/d/yyyy"
        return (
            p.replace("yyyy", f"{d.year:04d}")
            .replace("mm", f"{d.month:02d}")
            .replace("dd", f"{d.day:02d}")
            .replace("M", str(d.month))
            .replace("d", str(d.day))
        )
    if kind == "TEXT":
        return general_number(v)
    if kind in ("NUMBER", "PERCENT", "CURRENCY", "SCIENTIFIC") or pattern:
        scaled = v * 100 if kind == "PERCENT" or pattern.endswith("%") else v
        core = re.sub(r'"[^"]*"|[^#0.,]', "", pattern) or "0"
        decimals = len(core.split(".", 1)[1]) if "." in core else 0
        grouped = "," in core.split(".", 1)[0]
        text = f"{scaled:,.{decimals}f}" if grouped else f"{scaled:.{decimals}f}"
        prefix = "".join(re.findall(r'"([^"]*)"', pattern.split("#")[0].split("0")[0])) or (
            "$" if kind == "CURRENCY" and not pattern else ""
        )
        suffix = "%" if kind == "PERCENT" or pattern.endswith("%") else ""
        return prefix + text + suffix
    return None


def unformatted(v: Any) -> Any:
    if isinstance(v, Formula):
        return PARSE_ERROR if isinstance(v, BrokenFormula) else FORMULA_ERROR
    return v


def rendered(v: Any, fmt: dict | None, option: str) -> Any:
    """One cell for the values API under a valueRenderOption."""
    if option == "FORMATTED_VALUE":
        return formatted(v, fmt)
    if option == "FORMULA":
        if isinstance(v, Formula):
            return str(v)
        return "" if v is None else v
    return "" if v is None else unformatted(v)


def too_long(v: Any) -> bool:
    return isinstance(v, str) and len(v) > MAX_CELL_CHARS
