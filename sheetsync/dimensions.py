"""The dimensions file for ``sheetsync generate`` (features, scenarios, personas...) and the combinations
("tuples") of their values that the generator is asked about: every one, or a sample that still covers every
value."""

from __future__ import annotations

import itertools
import math
import random
import tomllib
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sheetsync.errors import UserInputError

#: Columns generate writes besides one per dimension; a dimension may not take these names.
RESERVED_COLUMNS = ("id", "input")


class CoverageWarning(UserWarning):
    """Fewer tuples were asked for than needed to show every value of every dimension."""


# ---------------------------------------------------------------------------------------------------------
# Dimensions


@dataclass(frozen=True)
class Value:
    name: str
    description: str = ""


@dataclass(frozen=True)
class Dimension:
    name: str
    values: tuple[Value, ...]
    description: str = ""

    def value(self, name: str) -> Value:
        return next(v for v in self.values if v.name == name)


@dataclass(frozen=True)
class Dimensions:
    """The parsed dimensions file: an optional description of the AI system and the dimensions, in file order."""

    dimensions: tuple[Dimension, ...]
    about: str = ""
    source: str = ""

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    @property
    def combinations(self) -> int:
        return math.prod(len(d.values) for d in self.dimensions)

    def __getitem__(self, name: str) -> Dimension:
        return next(d for d in self.dimensions if d.name == name)


def load_dimensions(path: str | Path) -> Dimensions:
    """Read a dimensions file (``.toml``, or ``.yaml``/``.yml`` when PyYAML is installed) and validate it.

    Shape (TOML shown; YAML mirrors it)::

        about = "What the AI system is"          # optional, given to the generator
        [dimensions]
        persona = ["novice", "expert"]            # a list of values...
        [dimensions.scenario]                     # ...or a table with an optional description
        description = "The situation"
        values = ["clear", { name = "vague", description = "key facts missing" }]

    ``values`` may also be a table of ``name = "description"``. Every problem raises ``UserInputError``
    naming the file and the key, before any call is made.
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: dimensions file not found (`sheetsync init` writes an example, dimensions.toml).")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserInputError(f"{path}: not UTF-8 text ({exc.reason}). Re-save it as UTF-8.") from exc
    if suffix == ".toml":
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UserInputError(f"{path}: not valid TOML ({exc}).") from exc
    elif suffix in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            raise UserInputError(
                f"{path}: reading YAML needs PyYAML, which is not installed (pip install pyyaml). "
                "Or write the same structure as TOML: see the dimensions.toml that `sheetsync init` writes."
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UserInputError(f"{path}: not valid YAML ({exc}).") from exc
    else:
        raise UserInputError(f"{path}: unsupported dimensions file type {suffix or '(none)'}; use .toml or .yaml.")
    return parse_dimensions(data, source=str(path))


def parse_dimensions(data: Any, *, source: str = "dimensions") -> Dimensions:
    """Validate already-parsed data (see ``load_dimensions``); errors name ``source`` and the key."""

    def fail(key: str, problem: str) -> UserInputError:
        return UserInputError(f"{source}: {key}: {problem}")

    if not isinstance(data, dict):
        raise UserInputError(f"{source}: expected a table with `dimensions` (and optionally `about`).")
    unknown = sorted(set(data) - {"about", "dimensions"})
    if unknown:
        raise UserInputError(
            f"{source}: unknown top-level key(s) {', '.join(unknown)}; put dimensions under [dimensions] "
            "(e.g. [dimensions.persona])."
        )
    about = data.get("about", "")
    if not isinstance(about, str):
        raise fail("about", "expected text describing the AI system.")
    raw_dims = data.get("dimensions")
    if not isinstance(raw_dims, dict) or not raw_dims:
        raise fail("dimensions", "expected a table with at least one dimension, e.g. persona = [\"novice\", \"expert\"].")

    dimensions: list[Dimension] = []
    seen_columns: dict[str, str] = {}
    for raw_name, spec in raw_dims.items():
        name = str(raw_name).strip()
        key = f"dimensions.{raw_name}"
        if not name:
            raise fail(key, "a dimension needs a name.")
        if name.lower() in RESERVED_COLUMNS:
            raise fail(key, f"`{name}` is a column generate writes itself; rename the dimension.")
        if name.lower() in seen_columns:
            raise fail(key, f"same column name as dimensions.{seen_columns[name.lower()]} (names are not case-sensitive).")
        seen_columns[name.lower()] = str(raw_name)
        description = ""
        if isinstance(spec, dict):
            extra = sorted(set(spec) - {"values", "description"})
            if extra:
                raise fail(key, f"unknown key(s) {', '.join(extra)}; expected `values` and optionally `description`.")
            if "values" not in spec:
                raise fail(key, "missing `values` (a list of value names, or a table of name = description).")
            description = spec.get("description", "")
            if not isinstance(description, str):
                raise fail(f"{key}.description", "expected text.")
            raw_values = spec["values"]
            key = f"{key}.values"
        else:
            raw_values = spec
        values = _parse_values(raw_values, key, fail)
        dimensions.append(Dimension(name, tuple(values), description.strip()))
    return Dimensions(tuple(dimensions), about.strip(), source)


def _parse_values(raw: Any, key: str, fail: Any) -> list[Value]:
    items: list[tuple[str, Any]]
    if isinstance(raw, dict):
        items = [(f"{key}.{k}", {"name": k, "description": v}) for k, v in raw.items()]
    elif isinstance(raw, list):
        items = [(f"{key}[{i}]", v) for i, v in enumerate(raw)]
    else:
        raise fail(key, f"expected a list of values, got {type(raw).__name__}.")
    if not items:
        raise fail(key, "no values: give at least one.")
    values: list[Value] = []
    seen: dict[str, str] = {}
    for item_key, item in items:
        if isinstance(item, dict):
            extra = sorted(set(item) - {"name", "description"})
            if extra:
                raise fail(item_key, f"unknown key(s) {', '.join(extra)}; expected `name` and `description`.")
            name, description = item.get("name"), item.get("description", "")
        else:
            name, description = item, ""
        if isinstance(name, bool) or not isinstance(name, str | int | float):
            raise fail(item_key, f"expected a value name (text), or a table with name and description; got {name!r}.")
        if description is None:
            description = ""
        if not isinstance(description, str):
            raise fail(item_key, f"the description must be text, got {description!r}.")
        name = str(name).strip()
        if not name:
            raise fail(item_key, "empty value name.")
        folded = name.casefold()
        if folded in seen:
            raise fail(item_key, f"duplicate value {name!r} (also {seen[folded]}).")
        seen[folded] = item_key
        values.append(Value(name, description.strip()))
    return values


# ---------------------------------------------------------------------------------------------------------
# Tuples


def parse_tuples(tuples: str | int) -> str | int:
    """``"all"`` or a positive count, from the CLI's text or a number."""
    if isinstance(tuples, int) and not isinstance(tuples, bool):
        value = tuples
    elif isinstance(tuples, str) and tuples.strip().lower() == "all":
        return "all"
    elif isinstance(tuples, str) and tuples.strip().isdigit():
        value = int(tuples.strip())
    else:
        raise UserInputError(f"--tuples {tuples!r}: expected `all` or a positive number of tuples.")
    if value < 1:
        raise UserInputError(f"--tuples {value}: expected `all` or a positive number of tuples.")
    return value


def enumerate_tuples(dims: Dimensions, *, tuples: str | int = "all", seed: int = 0) -> list[dict[str, str]]:
    """Every combination of values (``"all"``), or ``N`` distinct combinations that cover every value.

    Sampling: each dimension deals its values from its own stream of shuffled full passes, and tuple ``i``
    takes the ``i``-th value of every stream. Why this covers everything when ``N >= M`` (the most values
    any dimension has): a dimension with ``s <= M`` values shows all of them in its first ``s`` deals, and
    the first ``M`` tuples are pairwise distinct because the largest dimension deals ``M`` different
    values to them, so none of them is dropped as a repeat. Later deals keep every value's frequency
    balanced; a repeat is replaced by a random unseen combination. ``N < M`` cannot cover: a
    ``CoverageWarning`` says so. Tuples come back in the order of ``"all"`` (file order), not sample order.
    """
    tuples = parse_tuples(tuples)
    sizes = [len(d.values) for d in dims.dimensions]
    total = math.prod(sizes)
    if tuples == "all" or tuples >= total:
        if tuples != "all" and tuples > total:
            warnings.warn(f"asked for {tuples} tuples but only {total} combinations exist; using all of them.",
                          CoverageWarning, stacklevel=2)
        return [_as_dict(dims, idx) for idx in itertools.product(*(range(s) for s in sizes))]
    n = tuples
    widest = max(sizes)
    if n < widest:
        short = [f"{d.name} ({len(d.values)} values)" for d in dims.dimensions if len(d.values) > n]
        warnings.warn(
            f"{n} tuples cannot show every value of {', '.join(short)}: use --tuples {widest} or more "
            "(or all) to cover every value.",
            CoverageWarning,
            stacklevel=2,
        )
    rng = random.Random(seed)
    streams = [_deal(rng, s) for s in sizes]
    chosen: set[tuple[int, ...]] = set()
    while len(chosen) < n:
        candidate = tuple(next(stream) for stream in streams)
        if candidate in chosen:
            candidate = _unseen(rng, sizes, chosen, total)
        chosen.add(candidate)
    return [_as_dict(dims, idx) for idx in sorted(chosen)]


def _deal(rng: random.Random, size: int) -> Iterator[int]:
    """Endless shuffled full passes over ``range(size)``: balanced, and covering within ``size`` deals."""
    while True:
        order = list(range(size))
        rng.shuffle(order)
        yield from order


def _unseen(rng: random.Random, sizes: Sequence[int], chosen: set[tuple[int, ...]], total: int) -> tuple[int, ...]:
    """A uniformly random combination not yet chosen (rejection while the space is mostly free)."""
    if len(chosen) * 2 < total:
        while True:
            candidate = tuple(rng.randrange(s) for s in sizes)
            if candidate not in chosen:
                return candidate
    free = [c for c in itertools.product(*(range(s) for s in sizes)) if c not in chosen]
    return rng.choice(free)


def _as_dict(dims: Dimensions, idx: Sequence[int]) -> dict[str, str]:
    return {d.name: d.values[i].name for d, i in zip(dims.dimensions, idx, strict=True)}
