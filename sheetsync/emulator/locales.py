"""Spreadsheet locales, and the one thing about them the emulator models: which character is the decimal
mark, and so which separates function arguments.

Google parses formulas "as if the user typed into a cell" (ConditionValue.userEnteredValue in the
sheets.v4 discovery document), in the spreadsheet's locale (``properties.locale``, SpreadsheetProperties).
In a locale whose decimal mark is ``,`` the argument separator is ``;`` (support.google.com/docs/answer/3093357
as listed in ../shared/notes/google-reality.md; googleapis/google-api-nodejs-client#1994 (tr_TR);
google-marketing-solutions/advanced-bidding-manager#1 (de_DE)). In the others ``,`` separates arguments and
``;`` is accepted too (mricon/ingress-fieldplan#5: "Google now accepts semicolons in all locales").

Which locales use a decimal comma is taken from the Unicode CLDR number symbols (``decimal`` in
``numbers.json``), the data Google's i18n libraries follow [inference: Google publishes no table of its
own]. A bare language code (``de``) takes its language's usual mark; the regional exceptions below are the
CLDR ones for the locales Google Sheets offers.
"""

from __future__ import annotations

import re

DEFAULT_LOCALE = "en_US"

#: Languages whose CLDR decimal symbol is "," (in their main region).
COMMA_LANGUAGES = frozenset({
    "af", "az", "be", "bg", "bs", "ca", "cs", "da", "de", "el", "es", "et", "eu", "fi", "fo", "fr",
    "gl", "hr", "hu", "hy", "id", "is", "it", "ka", "kk", "ky", "lt", "lv", "mk", "mn", "nb", "nl", "nn", "no",
    "pl", "pt", "ro", "ru", "sk", "sl", "sq", "sr", "sv", "tr", "uk", "uz", "vi",
})
#: Regions where a comma language writes "." (CLDR): Swiss German and Italian, most of Spanish America.
DOT_EXCEPTIONS = frozenset({
    "de_CH", "de_LI", "it_CH", "es_MX", "es_US", "es_419", "es_PR", "es_DO", "es_GT", "es_HN", "es_NI", "es_PA",
    "es_PE", "es_SV",
})
#: Regions where a "." language writes "," (CLDR): English in South Africa and several European countries.
COMMA_EXCEPTIONS = frozenset({"en_ZA", "en_BE", "en_DK", "en_NL", "en_DE", "en_AT", "en_FI", "en_SE", "en_SI"})

_LOCALE_RE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2}|_\d{3})?$")


def valid(locale: str) -> bool:
    """ISO 639 language, optionally ``_`` + region, the formats SpreadsheetProperties.locale documents."""
    return bool(_LOCALE_RE.match(locale))


def decimal_comma(locale: str | None) -> bool:
    loc = locale or DEFAULT_LOCALE
    if loc in DOT_EXCEPTIONS:
        return False
    if loc in COMMA_EXCEPTIONS:
        return True
    return loc.partition("_")[0] in COMMA_LANGUAGES


def separators(locale: str | None) -> tuple[str, tuple[str, ...]]:
    """(decimal mark, argument separators accepted)."""
    return (",", (";",)) if decimal_comma(locale) else (".", (",", ";"))
