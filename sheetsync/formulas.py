"""Formulas sheetsync authors (conditional-format rules), written so they parse in the spreadsheet's locale.

Google parses a custom formula in a conditional format or a data validation "as if the user typed it into
a cell", in the spreadsheet's locale (ConditionValue.userEnteredValue, developers.google.com/sheets/api/
reference/rest/v4/spreadsheets/other#ConditionValue; support.google.com/docs/answer/3093357 for the
separators). Where the decimal mark is a comma (de_DE, fr_FR, pt_BR…) the argument separator is ``;``, so
``=AND(A2="x",N("sheetsync")=0)`` is refused or never fires there. Which locales those are is CLDR data
(Babel), not a list we keep. Excel and LibreOffice store formulas in the en-US form whatever the user's
locale, so only the Google backend translates.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=64)
def decimal_mark(locale: str) -> str:
    """The locale's decimal mark (``"."`` or ``","``); ``"."`` for a locale CLDR does not know."""
    from babel import Locale, UnknownLocaleError
    from babel.numbers import get_decimal_symbol

    try:
        return get_decimal_symbol(Locale.parse(locale.replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError):
        return "."


def localize_formula(formula: str, locale: str) -> str:
    """``formula`` (written the en-US way: ``,`` between arguments, ``.`` in numbers) as a person in
    ``locale`` would type it. Text inside double quotes is never changed (``""`` is a quote inside text)."""
    if decimal_mark(locale) != ",":
        return formula
    out: list[str] = []
    in_text = False
    for i, ch in enumerate(formula):
        if ch == '"':
            in_text = not in_text
        elif not in_text and ch == ",":
            ch = ";"
        elif not in_text and ch == "." and _between_digits(formula, i):
            ch = ","
        out.append(ch)
    return "".join(out)


def _between_digits(text: str, i: int) -> bool:
    return 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()
