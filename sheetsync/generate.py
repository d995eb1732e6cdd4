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

import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sheetsync import llm
from sheetsync.chat_template import ChatTemplate
from sheetsync.config import Config
from sheetsync.dataset import write_records
from sheetsync.dedupe import Deduper, is_near_duplicate, normalise, row_id
from sheetsync.dimensions import (
    RESERVED_COLUMNS,
    CoverageWarning,
    Dimension,
    Dimensions,
    Value,
    enumerate_tuples,
    load_dimensions,
    parse_dimensions,
    parse_tuples,
)
from sheetsync.errors import UserInputError
from sheetsync.store import Store
from sheetsync.workspace import open_store, template_text

__all__ = ["RESERVED_COLUMNS", "CoverageWarning", "Deduper", "Dimension", "Dimensions", "GenerateResult", "Value",
           "enumerate_tuples", "generate", "is_near_duplicate", "load_dimensions", "normalise", "parse_dimensions",
           "parse_tuples", "row_id"]

PROMPT_FILE = "prompts/synthetic_inputs.md"

#: Diversity matters more than determinism here; the cache (keyed on this too) keeps re-runs stable.
GENERATE_TEMPERATURE = 1.0

#: Dry-run guess of completion tokens per requested input (a user message is typically 20-80 tokens).
EST_TOKENS_PER_INPUT = 60

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
    settings = _settings(cfg, model, seed)
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
        return _estimate(result, calls, settings, store, prices)

    summary = llm.run(calls, settings, cache=store, progress=progress, label="Generating inputs")
    result.calls_made, result.cache_hits = summary.calls_made, summary.cache_hits
    result.prompt_tokens, result.completion_tokens = summary.prompt_tokens, summary.completion_tokens
    result.estimated_cost = summary.estimated_cost(settings.model, prices)
    result.wall_time = summary.wall_time
    result.format_level, result.cached_tokens = summary.format_level, summary.cached_tokens
    result.errors_by_cause = dict(summary.errors_by_cause)

    rows = _new_inputs(choices, summary.results, per_tuple, result)
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


def _settings(cfg: Config, model: str | None, seed: int) -> llm.LLMSettings:
    """The judge's connection settings, with generation's own temperature, seed, reply size and output level."""
    return llm.LLMSettings(
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


def _estimate(result: GenerateResult, calls: list[llm.Call], settings: llm.LLMSettings, store: Store,
              prices: Any) -> GenerateResult:
    """A dry run: the calls not in the cache, their tokens and what they would cost."""
    start = 0 if settings.structured_output == "auto" else llm.LEVEL_NAMES.index(settings.structured_output)
    for call in calls:
        if store.get(llm.cache_key(settings, call)) is None:
            result.calls_needed += 1
            result.estimated_prompt_tokens += llm.estimate_call_tokens(settings, call, start)
    result.token_method = llm.token_method(settings.model)
    result.estimated_completion_tokens = result.calls_needed * result.per_tuple * EST_TOKENS_PER_INPUT
    result.estimated_cost = llm.estimate_cost(
        result.estimated_prompt_tokens, result.estimated_completion_tokens, settings.model, prices
    )
    return result


def _new_inputs(choices: list[dict[str, str]], replies: list[llm.Result], per_tuple: int,
                result: GenerateResult) -> list[dict[str, str]]:
    """The rows to write: at most ``per_tuple`` inputs per tuple, empty ones and duplicates (exact or near, of
    any earlier input) dropped and counted in ``result``, failed tuples listed in its errors."""
    dedupe = Deduper()
    rows: list[dict[str, str]] = []
    for choice, res in zip(choices, replies, strict=True):
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
    return rows
