"""Cell text both ways: what XML and Excel's escapes stand for, and a value as a person sees it.

Nothing here changes text: decoding follows the XML specification and ECMA-376 (entities, character
references, XML's line-end normalisation of raw line breaks, Excel's ``_xHHHH_`` escapes); encoding writes
what XML cannot carry as those same escapes, so every value reads back exactly as it was written.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any

MAX_CELL_CHARS = 32767  # Excel's limit for the text of one cell

_ENTITY = re.compile(rb"&(#x[0-9A-Fa-f]+|#[0-9]+|lt|gt|amp|quot|apos);")
_ENTITY_VALUES = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"', b"apos": "'"}
_X_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
def unescape_text(raw: bytes) -> str:
    """XML character data (the bytes between tags) → the text it stands for, Excel's escapes included."""
    if b"\r" in raw:  # XML 1.0 §2.11: a parser sees every raw line end as "\n"
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    raw_text = _ENTITY.sub(_entity, raw).decode("utf-8") if b"&" in raw else raw.decode("utf-8")
    if "_x" in raw_text:
        raw_text = _X_ESCAPE.sub(_x_char, raw_text)
    return raw_text


# What XML 1.0 cannot carry (control characters, lone surrogates, U+FFFE/U+FFFF) and "\r" (XML parsing
# turns a raw one into "\n"): written as Excel's own ``_xHHHH_`` escapes, which Excel, LibreOffice and this
# reader decode back to the very character. A literal "_xHHHH_" in the text gets its "_" escaped
# (``_x005F_``), so it reads back as typed.
_NEEDS_ESCAPE = re.compile("[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ud800-\udfff\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)")


def escape_text(text: str) -> str:
    """Text → what to put in a cell's XML so that any reader following ECMA-376 gets ``text`` back exactly
    (the XML serializer still escapes ``<``, ``&``…)."""
    if "_x" not in text and (text.isprintable() or _NEEDS_ESCAPE.search(text) is None):
        return text  # isprintable is one C pass; most text needs nothing
    return _NEEDS_ESCAPE.sub(_escape_char, text)


def _escape_char(m: re.Match[str]) -> str:
    return f"_x{ord(m.group(0)):04X}_"


def _entity(m: re.Match[bytes]) -> bytes:
    name = m.group(1)
    if name.startswith(b"#x"):
        return chr(int(name[2:], 16)).encode("utf-8", "surrogatepass")
    if name.startswith(b"#"):
        return chr(int(name[1:])).encode("utf-8", "surrogatepass")
    return _ENTITY_VALUES[name].encode()


def _x_char(m: re.Match[str]) -> str:
    return chr(int(m.group(1), 16))


def cell_text(value: Any) -> str:
    """A cell value as the person sees it: what the Google backend's FORMATTED_VALUE-like reads give."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.15g}"  # Excel shows 15 significant digits: 0.1+0.2 reads "0.3"
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    text = getattr(value, "text", None)  # ArrayFormula and friends
    return text if isinstance(text, str) else str(value)
