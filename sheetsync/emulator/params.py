"""Query-string parameters as Google reads them: repeated keys, Python-style booleans (``True``/``False``,
case-insensitive, as gspread sends them) and enum values checked with Google's wording."""

from __future__ import annotations

from urllib.parse import parse_qs

from sheetsync.emulator.errors import invalid_argument


class Params:
    def __init__(self, query: str) -> None:
        self.raw = parse_qs(query, keep_blank_values=True)

    def get(self, name: str, default: str | None = None) -> str | None:
        vals = self.raw.get(name)
        return vals[0] if vals else default

    def all(self, name: str) -> list[str]:
        return list(self.raw.get(name, []))

    def bool(self, name: str, default: bool = False) -> bool:
        v = self.get(name)
        if v is None or v == "":
            return default
        low = v.lower()
        if low in ("true", "1"):
            return True
        if low in ("false", "0"):
            return False
        raise invalid_argument(f"Invalid value at '{_snake(name)}' (TYPE_BOOL), \"{v}\"")

    def int(self, name: str, default: int | None = None) -> int | None:
        v = self.get(name)
        if v is None:
            return default
        try:
            return int(v)
        except ValueError:
            raise invalid_argument(f"Invalid value at '{_snake(name)}' (TYPE_INT32), \"{v}\"") from None

    def enum(self, name: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
        v = self.get(name)
        if v is None or v == "":
            return default
        if v not in allowed:
            type_name = name[:1].upper() + name[1:]
            raise invalid_argument(
                f"Invalid value at '{_snake(name)}' (type.googleapis.com/google.apps.sheets.v4.{type_name}), \"{v}\""
            )
        return v


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)
