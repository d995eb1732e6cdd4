"""How a setting is declared and checked: each field of a config section carries its rules beside it.

    concurrency: int = setting(8, at_least(1), at_most(256))

A value from ``sheetsync.toml`` or a ``SHEETSYNC_*`` variable is first converted by the field's type
(strictly: ``2.7`` is not a whole number, ``"maybe"`` is not a yes/no), then the field's rules run, then
the section's rules that relate several fields (``together``). Every problem names its key; the loader
adds where the value came from and reports them all at once.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from sheetsync.errors import ConfigError

Rule = Callable[[Any], str | None]
"""A field's rule: what is wrong with the value (``"must be at least 1"``), or ``None``."""

Together = Callable[[Any], Iterator["Problem"]]
"""A section's rule over several fields: yields a ``Problem`` per conflict."""


@dataclass(frozen=True)
class Problem:
    attrs: tuple[str, ...]  # the fields involved (the first is where the value to fix is)
    message: str  # what is wrong and what to do; the loader puts the key and value before it
    standalone: bool = False  # the message names the keys itself (a relation between several fields)


def setting(default: Any, *rules: Rule, key: str | None = None) -> Any:
    """A section field with its rules; ``key`` is its name in sheetsync.toml when that differs."""
    return field(default=default, metadata={"rules": rules, "key": key})


class Section:
    """A config section (``[judge]``…): a frozen dataclass whose fields are :func:`setting` s.

    Constructing one with a bad value raises ``SectionError`` listing every problem, so a config built in
    code is held to the same rules as one read from a file.
    """

    name: ClassVar[str]
    together: ClassVar[tuple[Together, ...]] = ()

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise SectionError(type(self), problems, {})

    @classmethod
    def key(cls, attr: str) -> str:
        """The field's name in sheetsync.toml."""
        meta = next(f.metadata for f in fields(cls) if f.name == attr)  # type: ignore[arg-type]
        return meta.get("key") or attr

    @classmethod
    def label(cls, attr: str) -> str:
        return f"[{cls.name}] {cls.key(attr)}"

    @classmethod
    def rule_broken(cls, attr: str, value: Any) -> str | None:
        """What the first of the field's rules that ``value`` breaks says, or ``None``."""
        meta = next(f.metadata for f in fields(cls) if f.name == attr)  # type: ignore[arg-type]
        return next((m for m in (rule(value) for rule in meta.get("rules", ())) if m), None)

    def problems(self) -> list[Problem]:
        found = []
        for f in fields(self):  # type: ignore[arg-type]
            message = self.rule_broken(f.name, getattr(self, f.name))
            if message:
                found.append(Problem((f.name,), message))
        if not found:  # relations are only meaningful between values that are each valid
            for check in self.together:
                found.extend(check(self))
        return found


class SectionError(ConfigError):
    """Problems in one section, with the raw values (by field) as written, for the loader to place."""

    def __init__(self, section: type[Section], problems: list[Problem], raw: dict[str, Any]):
        self.section, self.problems, self.raw = section, problems, raw
        super().__init__("; ".join(f"{section.label(p.attrs[0])}: {p.message}" for p in problems))


def convert(hint: Any, value: Any, *, from_env: bool) -> Any:
    """``value`` (TOML, or environment text when ``from_env``) as the type ``hint``; ``ValueError`` saying
    what was expected."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):  # X | None: the environment cannot say None, nor TOML
        return convert(next(a for a in args if a is not type(None)), value, from_env=from_env)
    if origin is typing.Literal:
        if value not in args:
            raise ValueError(f"expected one of {', '.join(repr(a) for a in args)}")
        return value
    if origin is tuple:
        if isinstance(value, str):  # "a, b" from the environment (or TOML): a list of names
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ValueError("expected a list of text, e.g. [\"a\", \"b\"]")
        return tuple(value)
    if hint is bool:
        return _boolean(value, from_env)
    if hint is int:
        return _whole(value, from_env)
    if hint is float:
        return _number(value, from_env)
    if hint is str:
        if not isinstance(value, str):
            raise ValueError("expected text (in quotes)")
        return value
    return value  # a type without a converter here: the field's rules check it


_YES, _NO = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _boolean(value: Any, from_env: bool) -> bool:
    if isinstance(value, bool):
        return value
    if from_env and isinstance(value, str) and value.strip().lower() in _YES | _NO:
        return value.strip().lower() in _YES
    raise ValueError("expected true or false" + (" (or 1/0, yes/no, on/off)" if from_env else ""))


def _whole(value: Any, from_env: bool) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if from_env and isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValueError("expected a whole number")


def _number(value: Any, from_env: bool) -> float:
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif from_env and isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise ValueError("expected a number")
    return number


def read_section(
    cls: type[Section], raw: Any, env: dict[str, str | None], where: str
) -> tuple[Section | None, list[str]]:
    """The section from its TOML table (``raw``) with ``SHEETSYNC_<SECTION>_<FIELD>`` variables on top, and
    every problem as a message naming where the value came from (``where``: the file) and its key."""
    if not isinstance(raw, dict):
        return None, [f"{where}: [{cls.name}] must be a table (a [{cls.name}] heading with key = value lines)."]
    attrs = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    by_key = {cls.key(a): a for a in attrs} | {a: a for a in attrs}
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}  # attr -> the environment variable it came from (absent: the file)
    problems = []
    for key, value in raw.items():
        if key not in by_key:
            known = ", ".join(sorted(cls.key(a) for a in attrs))
            problems.append(f"{where}: unknown setting `{key}` in [{cls.name}] (known: {known}).")
            continue
        values[by_key[key]] = value
    for attr in attrs:
        var = f"SHEETSYNC_{cls.name.upper()}_{attr.upper()}"
        if env.get(var):
            values[attr], origin[attr] = env[var], var

    def say(attr: str, message: str, raw_value: Any) -> str:
        if attr in origin:
            return f"{origin[attr]}={raw_value} is not valid ({cls.label(attr)}): {message}."
        return f"{where}: {cls.label(attr)} = {raw_value!r} is not valid: {message}."

    types_ = typing.get_type_hints(cls)
    converted = {}
    for attr, value in values.items():
        try:
            converted[attr] = convert(types_[attr], value, from_env=attr in origin)
        except ValueError as exc:
            problems.append(say(attr, str(exc), value))
            continue
        message = cls.rule_broken(attr, converted[attr])
        if message:
            problems.append(say(attr, message, value))
    if problems:
        return None, problems
    try:
        return cls(**converted), []
    except SectionError as exc:
        for p in exc.problems:
            attr = next((a for a in p.attrs if a in values), p.attrs[0])
            if p.standalone:
                problems.append(f"{origin.get(attr, where)}: {p.message}.")
            else:
                problems.append(say(attr, p.message, values.get(attr, getattr(cls(), attr))))
        return None, problems


# -- rules ------------------------------------------------------------------------------------------------


def at_least(low: float) -> Rule:
    return lambda v: None if v >= low else f"must be at least {low:g}"


def at_most(high: float) -> Rule:
    return lambda v: None if v <= high else f"must be at most {high:g}"


def positive(v: float) -> str | None:
    return None if v > 0 else "must be more than 0"


def fraction(v: float) -> str | None:
    return None if 0 <= v <= 1 else "must be between 0 and 1"


def between(low: float, high: float) -> Rule:
    return lambda v: None if low <= v <= high else f"must be between {low:g} and {high:g}"


def one_of(*choices: str) -> Rule:
    return lambda v: None if v in choices else f"choose one of {', '.join(choices)}"


def not_blank(v: str) -> str | None:
    return None if v.strip() else "must not be empty"


def no_control_characters(v: str) -> str | None:
    bad = next((c for c in v if ord(c) < 32 or 127 <= ord(c) < 160), None)
    return None if bad is None else f"must not contain the control character U+{ord(bad):04X}"


def trimmed(v: str) -> str | None:
    return None if v == v.strip() else "must not start or end with a space"


def without(chars: str, why: str) -> Rule:
    """No character of ``chars`` (shown in the message with ``why``)."""

    def rule(v: str) -> str | None:
        bad = sorted({c for c in v if c in chars})
        return None if not bad else f"must not contain {' or '.join(repr(c) for c in bad)} ({why})"

    return rule


def each(*rules: Rule) -> Rule:
    """Every item of a list passes ``rules``."""

    def rule(items: tuple[Any, ...]) -> str | None:
        for n, item in enumerate(items, start=1):
            for r in rules:
                message = r(item)
                if message:
                    return f"item {n} ({item!r}) {message}"
        return None

    return rule


def unique(normalize: Callable[[str], str] = lambda s: s) -> Rule:
    """No two items the same once ``normalize`` d."""

    def rule(items: tuple[str, ...]) -> str | None:
        seen: dict[str, str] = {}
        for item in items:
            if normalize(item) in seen:
                return f"lists {seen[normalize(item)]!r} and {item!r}, which are the same"
            seen[normalize(item)] = item
        return None

    return rule


def distinct(*attrs: str, normalize: Callable[[str], str], why: str) -> Together:
    """These fields (default: all of the section's) hold different values once ``normalize`` d; ``why``
    says what would break otherwise."""

    def check(section: Section) -> Iterator[Problem]:
        seen: dict[str, str] = {}
        for attr in attrs or [f.name for f in fields(section)]:  # type: ignore[arg-type]
            value = normalize(getattr(section, attr))
            if value in seen:
                yield Problem((attr, seen[value]), f"the same as {type(section).label(seen[value])}: {why}")
            else:
                seen[value] = attr

    return check
