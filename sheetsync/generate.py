"""``sheetsync generate``: synthetic user inputs over dimensions (features, scenarios, personas...).

Why dimensions: a dataset drawn from whatever users happened to type under-represents the situations
where an AI fails. Naming the axes along which requests differ and asking an LLM for realistic inputs for
each combination ("tuple") of values gives a dataset that reaches every corner, and the dimension columns
later slice the judge's results.

The LLM is asked for user inputs only, never for the AI's responses (``sheetsync respond`` gets those
from the real system). Calls go through ``sheetsync.llm`` with the workspace store as the cache, so an
unchanged re-run makes no calls and an interrupted one resumes; a failed tuple is reported, not fatal.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
import random
import re
import tomllib
import unicodedata
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sheetsync import llm
from sheetsync.chat_template import ChatTemplate
from sheetsync.config import Config
from sheetsync.dataset import write_records
from sheetsync.errors import UserInputError
from sheetsync.store import Store
from sheetsync.workspace import open_store, template_text

PROMPT_FILE = "prompts/synthetic_inputs.md"

#: Columns generate writes besides one per dimension; a dimension may not take these names.
RESERVED_COLUMNS = ("id", "input")

#: Diversity matters more than determinism here; the cache (keyed on this too) keeps re-runs stable.
GENERATE_TEMPERATURE = 1.0

#: Dry-run guess of completion tokens per requested input (a user message is typically 20-80 tokens).
EST_TOKENS_PER_INPUT = 60

#: Near-duplicate thresholds, on normalised text (see ``is_near_duplicate``).
JACCARD_THRESHOLD = 0.8
RATIO_THRESHOLD = 0.9
DICE_GATE = 0.5  # word overlap (Dice) below which the difflib test is skipped

INPUTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "inputs": {
            "type": "array",
            "items": {"type": "string", "description": "One message exactly as the user would send it."},
        }
    },
    "required": ["inputs"],
    "additionalProperties": False,
}


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


# ---------------------------------------------------------------------------------------------------------
# Near-duplicates

_PUNCT = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Text as compared for duplicates: Unicode NFKC, case-folded, punctuation dropped, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def is_near_duplicate(a: str, b: str) -> bool:
    """Whether two NORMALISED texts say the same thing with cosmetic differences.

    Two complementary tests, because each misses what the other catches:

    * token-set Jaccard >= 0.8: the same words, reordered or with one or two added/removed among many;
    * ``difflib`` ratio >= 0.9: the same text with a small edit (``how do i`` vs ``how can i``, a typo, a
      changed number), which Jaccard under-rates on short inputs. It runs only for pairs sharing at least
      half their words (Dice >= 0.5), which a small edit passes; texts that differ in most words yet
      score 0.9 (many scattered typos) are not what this is for. The gate keeps thousands of inputs fast.
    """
    return _near(a, set(a.split()), b, set(b.split()), None)


def _near(a: str, ta: set[str], b: str, tb: set[str], matcher: difflib.SequenceMatcher | None) -> bool:
    """``is_near_duplicate`` with the token sets precomputed; ``matcher``, if given, already has ``b`` as seq2."""
    if a == b:
        return True
    shared = len(ta & tb)
    if shared >= JACCARD_THRESHOLD * (len(ta) + len(tb) - shared) > 0:
        return True
    la, lb = len(a), len(b)
    if 2 * min(la, lb) < RATIO_THRESHOLD * (la + lb):
        return False  # even a perfect match of the shorter text could not reach the ratio
    if 2 * shared < DICE_GATE * (len(ta) + len(tb)):
        return False
    if matcher is None:
        matcher = difflib.SequenceMatcher(None, b=b, autojunk=False)
    matcher.set_seq1(a)
    return (
        matcher.real_quick_ratio() >= RATIO_THRESHOLD
        and matcher.quick_ratio() >= RATIO_THRESHOLD
        and matcher.ratio() >= RATIO_THRESHOLD
    )


class Deduper:
    """Keeps the first of every group of exact or near-duplicate texts, in the order they are offered.

    Only earlier texts sharing enough words can be near duplicates (both tests imply Dice >= ``DICE_GATE``),
    so candidates come from a word index instead of comparing against everything kept.
    """

    def __init__(self) -> None:
        self._exact: set[str] = set()
        self._kept: list[tuple[str, set[str]]] = []
        self._postings: dict[str, list[int]] = {}

    def check(self, text: str) -> str | None:
        """``None`` if ``text`` is new (and remember it), else ``"exact"`` or ``"near"``."""
        norm = normalise(text)
        if not norm or norm in self._exact:
            return "exact"
        tokens = set(norm.split())
        shared: Counter[int] = Counter()
        for token in tokens:
            shared.update(self._postings.get(token, ()))
        matcher = difflib.SequenceMatcher(None, b=norm, autojunk=False)  # analyses the new text once
        for index, count in shared.items():
            other, other_tokens = self._kept[index]
            if 2 * count >= DICE_GATE * (len(tokens) + len(other_tokens)) and _near(
                other, other_tokens, norm, tokens, matcher
            ):
                return "near"
        self._exact.add(norm)
        for token in tokens:
            self._postings.setdefault(token, []).append(len(self._kept))
        self._kept.append((norm, tokens))
        return None


def row_id(choice: dict[str, str], text: str) -> str:
    """Stable id from the tuple and the normalised input: the same input for the same tuple keeps its id
    across runs (and cosmetic re-wordings by the cache-less LLM do not, on purpose)."""
    material = json.dumps([sorted(choice.items()), normalise(text)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------------------
# Prompt


class InputsPrompt:
    """The synthetic-inputs template: system message above ``=== user ===``, the tuple below it."""

    def __init__(self, template: str, *, source: str = "template") -> None:
        self._chat = ChatTemplate(template, source=source)
        self.source = source
        self.template_hash = self._chat.hash

    def messages(self, dims: Dimensions, choice: dict[str, str], k: int) -> list[dict[str, str]]:
        items = []
        for d in dims.dimensions:
            value = d.value(choice[d.name])
            items.append({"dimension": d.name, "dimension_description": d.description, "value": value.name,
                          "description": value.description})
        return self._chat.render(about=dims.about, k=k, dimensions=dims.dimensions, tuple=items)


def load_prompt(cfg: Config) -> InputsPrompt:
    """The workspace's ``prompts/synthetic_inputs.md`` if present, else the package default."""
    path = cfg.path(PROMPT_FILE)
    if path.is_file():
        return InputsPrompt(path.read_text(encoding="utf-8"), source=str(path))
    return InputsPrompt(template_text("synthetic_inputs.md"), source="default synthetic_inputs.md")


# ---------------------------------------------------------------------------------------------------------
# The workflow


@dataclass
class GenerateResult:
    out: str
    model: str
    dimensions: list[str]
    n_tuples: int
    per_tuple: int
    dry_run: bool = False
    rows: int = 0  # inputs written
    duplicates_dropped: int = 0  # exact + near
    exact_duplicates: int = 0
    near_duplicates: int = 0
    calls_made: int = 0
    cache_hits: int = 0
    calls_needed: int = 0  # dry run: tuples not in the cache
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated_prompt_tokens: int = 0  # dry run
    estimated_completion_tokens: int = 0  # dry run
    estimated_cost: float | None = None
    wall_time: float = 0.0
    template: str = ""
    errors: list[str] = field(default_factory=list)  # "persona=novice, scenario=vague: reason"
    errors_by_cause: dict[str, int] = field(default_factory=dict)
    format_level: str = ""  # the structured-output level the run ended on
    cached_tokens: int = 0
    token_method: str = ""  # how the dry run's tokens were counted
    failure: str | None = None  # nothing written, or more than [judge] max_error_share of the tuples failed
    uncovered: dict[str, list[str]] = field(default_factory=dict)  # dimension -> values with no input written
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _label(choice: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in choice.items())


def generate(
    cfg: Config,
    dims_path: str | Path,
    *,
    per_tuple: int = 3,
    tuples: str | int = "all",
    model: str | None = None,
    out: str | Path = "inputs.csv",
    dry_run: bool = False,
    seed: int = 0,
    progress: bool = True,
    store: Store | None = None,
) -> GenerateResult:
    """Ask the LLM for ``per_tuple`` user inputs per tuple, drop duplicates, write ``out`` (CSV) atomically.

    Columns: ``id``, one per dimension (file order), ``input``. ``seed`` picks the sampled tuples and is
    sent to the model, so a new seed gives fresh inputs while the same seed re-reads the cache. Model,
    timeout, retries and concurrency come from ``[judge]`` unless ``model`` is given.
    """
    if per_tuple < 1:
        raise UserInputError(f"--per-tuple {per_tuple}: ask for at least 1 input per tuple.")
    out_path = Path(out)
    if out_path.suffix.lower() != ".csv":
        raise UserInputError(f"--out {out}: generate writes CSV; name the file *.csv.")
    dims = load_dimensions(dims_path)
    prompt = load_prompt(cfg)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CoverageWarning)
        choices = enumerate_tuples(dims, tuples=tuples, seed=seed)
    settings = llm.LLMSettings(
        model=model or cfg.judge.model,
        timeout=cfg.judge.timeout,
        max_retries=cfg.judge.max_retries,
        concurrency=cfg.judge.concurrency,
        temperature=GENERATE_TEMPERATURE,
        seed=seed,
        max_tokens=cfg.generate.max_tokens or None,
        structured_output=cfg.generate.structured_output,
        outage_wait=cfg.judge.outage_wait,
        probe_interval=cfg.judge.probe_interval,
    )
    result = GenerateResult(out=str(out_path), model=settings.model, dimensions=dims.names, n_tuples=len(choices),
                            per_tuple=per_tuple, dry_run=dry_run, template=prompt.source)
    result.warnings.extend(str(w.message) for w in caught if issubclass(w.category, CoverageWarning))
    if len(choices) > 2000:
        result.warnings.append(f"{len(choices)} tuples: consider --tuples N (N >= the largest dimension covers "
                               "every value) to start smaller.")
    calls = [llm.Call(str(i), prompt.messages(dims, c, per_tuple), INPUTS_SCHEMA, "user_inputs")
             for i, c in enumerate(choices)]
    store = store or open_store(cfg)
    prices = llm.price_table(cfg.prices)

    if dry_run:
        start = 0 if settings.structured_output == "auto" else llm.LEVEL_NAMES.index(settings.structured_output)
        for call in calls:
            if store.get(llm.cache_key(settings, call)) is None:
                result.calls_needed += 1
                result.estimated_prompt_tokens += llm.estimate_call_tokens(settings, call, start)
        result.token_method = llm.token_method(settings.model)
        result.estimated_completion_tokens = result.calls_needed * per_tuple * EST_TOKENS_PER_INPUT
        result.estimated_cost = llm.estimate_cost(
            result.estimated_prompt_tokens, result.estimated_completion_tokens, settings.model, prices
        )
        return result

    summary = llm.run(calls, settings, cache=store, progress=progress, label="Generating inputs")
    result.calls_made, result.cache_hits = summary.calls_made, summary.cache_hits
    result.prompt_tokens, result.completion_tokens = summary.prompt_tokens, summary.completion_tokens
    result.estimated_cost = summary.estimated_cost(settings.model, prices)
    result.wall_time = summary.wall_time
    result.format_level, result.cached_tokens = summary.format_level, summary.cached_tokens
    result.errors_by_cause = dict(summary.errors_by_cause)

    dedupe = Deduper()
    rows: list[dict[str, str]] = []
    for choice, res in zip(choices, summary.results, strict=True):
        if not res.ok:
            result.errors.append(f"{_label(choice)}: {res.error}")
            continue
        kept = 0
        for text in (res.value or {}).get("inputs", []):
            if kept >= per_tuple:
                break  # the model wrote more than asked: keep the budgeted number
            text = text.strip() if isinstance(text, str) else ""
            verdict = dedupe.check(text) if text else "empty"
            if verdict == "exact":
                result.exact_duplicates += 1
            elif verdict == "near":
                result.near_duplicates += 1
            elif verdict is None:
                rows.append({"id": row_id(choice, text), **choice, "input": text})
                kept += 1
        if kept == 0:
            result.warnings.append(f"no new input for {_label(choice)} (all empty or duplicates of earlier ones).")
    result.duplicates_dropped = result.exact_duplicates + result.near_duplicates
    result.rows = len(rows)
    for d in dims.dimensions:
        present = {r[d.name] for r in rows}
        missing = [v.name for v in d.values if v.name not in present]
        if missing:
            result.uncovered[d.name] = missing
    from sheetsync.judge.runner import failure_summary

    result.failure = failure_summary(len(calls), len(result.errors), result.errors_by_cause, cfg.judge.max_error_share)
    if not rows:
        result.failure = result.failure or "no input was written (every reply was empty or a duplicate)."
        return result  # an empty file would only hide the failure from the next step
    write_records(out_path, ["id", *dims.names, "input"], rows)
    return result


