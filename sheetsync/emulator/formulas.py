"""A small, honest formula checker: tokenizes a formula as Sheets would read it in a locale and checks
its shape. It never evaluates anything.

It knows: strings (``"a ""quoted"" b"``), numbers with the locale's decimal mark (``1.5`` / ``1,5``) and
exponents, booleans, error literals (``#N/A``), cell references and ranges (``A1``, ``$B$2:C9``, ``A:A``,
``3:3``, ``Sheet1!A1``, ``'My tab'!A1:B2``), names, function calls, parentheses, array literals ``{...}``,
the operators ``+ - * / ^ & = <> < > <= >= %`` and the argument separators of the locale
(:func:`sheetsync.emulator.locales.separators`). Anything else is a parse error, which is what a wrong
separator (``,`` in de_DE), an unbalanced parenthesis, an unterminated string or a dangling operator
gives in Google Sheets ("Formula parse error"). Function names are not checked (Google shows ``#NAME?``
for an unknown one, which is not a parse error).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sheetsync.emulator.locales import separators

_CELL = r"\$?[A-Za-z]{1,3}\$?\d+"
_COL = r"\$?[A-Za-z]{1,3}"
_ROW = r"\$?\d+"
_REF = rf"(?:{_CELL}:{_CELL}|{_CELL}:{_COL}|{_COL}:{_COL}|{_ROW}:{_ROW}|{_CELL})"
_SHEET = r"(?:'(?:[^']|'')+'|[A-Za-z_][A-Za-z0-9_.]*)!"
_REF_RE = re.compile(rf"(?:{_SHEET})?{_REF}(?![A-Za-z0-9_(])")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_ERROR_RE = re.compile(r"#(?:N/A|NULL!|DIV/0!|VALUE!|REF!|NAME\?|NUM!|ERROR!)")
_OPS = ("<>", "<=", ">=", "+", "-", "*", "/", "^", "&", "=", "<", ">")


class FormulaError(ValueError):
    """A formula Sheets could not parse; ``position`` is the 0-based index in the formula text."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True)
class Token:
    kind: str  # num, str, bool, err, ref, name, func, op, sep, colsep, lparen, rparen, lbrace, rbrace, pct
    text: str
    pos: int


def tokenize(formula: str, locale: str | None) -> list[Token]:
    """Tokens of ``formula`` (which starts with ``=`` or ``+``, not included)."""
    if not formula or formula[0] not in "=+":
        raise FormulaError("a formula starts with '=' or '+'", 0)
    decimal, seps = separators(locale)
    num_re = re.compile(rf"\d+(?:{re.escape(decimal)}\d*)?(?:[eE][+-]?\d+)?|{re.escape(decimal)}\d+(?:[eE][+-]?\d+)?")
    out: list[Token] = []
    i, n = 1, len(formula)
    while i < n:
        ch = formula[i]
        if ch in " \t\r\n":
            i += 1
            continue
        if ch == '"':
            j = i + 1
            while True:
                j = formula.find('"', j)
                if j < 0:
                    raise FormulaError("unterminated string", i)
                if j + 1 < n and formula[j + 1] == '"':
                    j += 2
                    continue
                break
            out.append(Token("str", formula[i:j + 1], i))
            i = j + 1
            continue
        m = _ERROR_RE.match(formula, i)
        if m:
            out.append(Token("err", m.group(), i))
            i = m.end()
            continue
        m = _REF_RE.match(formula, i)
        if m and not (m.group().isdigit()):
            out.append(Token("ref", m.group(), i))
            i = m.end()
            continue
        m = num_re.match(formula, i)
        if m:
            out.append(Token("num", m.group(), i))
            i = m.end()
            if i < n and (formula[i].isdigit() or formula[i] in ".,") and formula[i] not in seps:
                raise FormulaError(f"unexpected {formula[i]!r} in a number (the decimal mark here is {decimal!r})", i)
            continue
        m = _NAME_RE.match(formula, i)
        if m:
            j = m.end()
            k = j
            while k < n and formula[k] in " \t":
                k += 1
            word = m.group()
            if k < n and formula[k] == "(":
                out.append(Token("func", word, i))
            elif word.upper() in ("TRUE", "FALSE"):
                out.append(Token("bool", word, i))
            else:
                out.append(Token("name", word, i))
            i = j
            continue
        if ch in seps:
            out.append(Token("sep", ch, i))
            i += 1
            continue
        if ch == "\\" and decimal == ",":  # the column separator of array literals in comma locales
            out.append(Token("colsep", ch, i))
            i += 1
            continue
        simple = {"(": "lparen", ")": "rparen", "{": "lbrace", "}": "rbrace", "%": "pct"}
        if ch in simple:
            out.append(Token(simple[ch], ch, i))
            i += 1
            continue
        op = next((o for o in _OPS if formula.startswith(o, i)), None)
        if op is not None:
            out.append(Token("op", op, i))
            i += len(op)
            continue
        if ch in ",;\\":
            hint = f" (arguments are separated by {' or '.join(repr(s) for s in seps)} in locale {locale})"
            raise FormulaError(f"{ch!r} is not a separator here{hint}", i)
        raise FormulaError(f"unexpected {ch!r}", i)
    return out


class _Parser:
    def __init__(self, tokens: list[Token], end: int) -> None:
        self.toks = tokens
        self.i = 0
        self.end = end

    def peek(self) -> Token | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> Token:
        t = self.peek()
        if t is None:
            raise FormulaError("the formula ends too early", self.end)
        self.i += 1
        return t

    def expr(self) -> None:
        self.unary()
        while (t := self.peek()) is not None and t.kind == "op":
            self.take()
            self.unary()

    def unary(self) -> None:
        while (t := self.peek()) is not None and t.kind == "op" and t.text in "+-":
            self.take()
        self.primary()
        while (t := self.peek()) is not None and t.kind == "pct":
            self.take()

    def primary(self) -> None:
        t = self.take()
        if t.kind in ("num", "str", "bool", "err", "ref", "name"):
            return
        if t.kind == "lparen":
            self.expr()
            self.close("rparen", t)
            return
        if t.kind == "func":
            self.take()  # its "("
            self.arguments(t)
            return
        if t.kind == "lbrace":
            self.array(t)
            return
        raise FormulaError(f"unexpected {t.text!r}", t.pos)

    def arguments(self, func: Token) -> None:
        if (t := self.peek()) is not None and t.kind == "rparen":
            self.take()
            return
        while True:
            t = self.peek()
            if t is None:
                raise FormulaError(f"{func.text}( is never closed", func.pos)
            if t.kind not in ("sep", "rparen"):  # an argument may be empty: =IF(A1,,1)
                self.expr()
            t = self.take()
            if t.kind == "rparen":
                return
            if t.kind != "sep":
                raise FormulaError(f"expected a separator or ')' after an argument of {func.text}, not {t.text!r}", t.pos)

    def array(self, brace: Token) -> None:
        while True:
            self.expr()
            t = self.take()
            if t.kind == "rbrace":
                return
            if t.kind not in ("sep", "colsep"):
                raise FormulaError(f"unexpected {t.text!r} in an array literal", t.pos)

    def close(self, kind: str, opener: Token) -> None:
        t = self.peek()
        if t is None or t.kind != kind:
            raise FormulaError(f"{opener.text!r} is never closed", opener.pos)
        self.take()


def check(formula: str, locale: str | None) -> None:
    """Raise :class:`FormulaError` unless ``formula`` parses in ``locale``."""
    tokens = tokenize(formula, locale)
    if not tokens:
        raise FormulaError("an empty formula", len(formula))
    p = _Parser(tokens, len(formula))
    p.expr()
    extra = p.peek()
    if extra is not None:
        what = "')' without '('" if extra.kind == "rparen" else repr(extra.text)
        raise FormulaError(f"unexpected {what}", extra.pos)


def problem(formula: str, locale: str | None) -> str | None:
    """Why ``formula`` does not parse in ``locale``, or None when it does."""
    try:
        check(formula, locale)
    except FormulaError as err:
        return f"{err} (at character {err.position + 1})"
    return None


def condition_problem(condition: dict, locale: str | None) -> str | None:
    """Why a BooleanCondition's values would not parse in ``locale`` (CUSTOM_FORMULA values, and any value
    written as a formula), or None."""
    custom = condition.get("type") == "CUSTOM_FORMULA"
    for value in condition.get("values") or []:
        text = value.get("userEnteredValue")
        if not isinstance(text, str) or not (custom or text.startswith("=")):
            continue
        why = problem(text if text[:1] in "=+" else "=" + text, locale)
        if why:
            return f"Invalid ConditionValue.userEnteredValue: {text} (formula parse error in locale {locale}: {why})"
    return None
