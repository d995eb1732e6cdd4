"""What a judge run would cost (``judge --dry-run``): the calls the cache cannot answer, their prompt tokens
and price, and, with similar examples, the embeddings still to compute. Nothing is called."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sheetsync import llm
from sheetsync.batch import BATCH_DISCOUNT
from sheetsync.store import Store

REPLY_TOKENS = 120  # a verdict and a short critique


def estimate_run(outcome: Any, calls: Iterable[llm.Call], targets: list[str], prompt: Any, settings: llm.LLMSettings,
                 store: Store, prices: dict[str, tuple[float, ...]], *, batch: bool) -> Any:
    """Fill the dry run's figures into ``outcome`` (a ``JudgeOutcome``) and return it."""
    start = 0 if settings.structured_output == "auto" else llm.LEVEL_NAMES.index(settings.structured_output)
    # a row not embedded yet has never been judged with its own neighbours: its call is needed, whatever the
    # fixed set standing in for its prompt finds in the cache
    vectors = getattr(prompt, "vectors", None)  # a SimilarPrompt's embedded rows
    unembedded = {rid for rid in targets if rid not in vectors} if vectors is not None else set()
    for call in calls:
        if call.key in unembedded or store.get(llm.cache_key(settings, call)) is None:
            outcome.calls_needed += 1
            outcome.estimated_prompt_tokens += llm.estimate_call_tokens(settings, call, start)
    outcome.token_method = llm.token_method(settings.model)
    outcome.estimated_cost = llm.estimate_cost(outcome.estimated_prompt_tokens, REPLY_TOKENS * outcome.calls_needed,
                                               settings.model, llm.price_table(prices))
    if batch and outcome.estimated_cost is not None:
        outcome.estimated_cost *= BATCH_DISCOUNT
    emb = outcome.embeddings
    if emb and outcome.estimated_cost is not None:
        extra = emb.get("estimated_cost")
        outcome.estimated_cost = None if extra is None and emb["needed"] else outcome.estimated_cost + (extra or 0.0)
    if emb and emb["needed"]:
        outcome.token_method += (f"; similar examples: {emb['needed']} texts to embed (~{emb['estimated_tokens']:,} "
                                 "tokens), prompts estimated with the fixed set")
    return outcome
