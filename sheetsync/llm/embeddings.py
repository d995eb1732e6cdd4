"""Embeddings from an OpenAI-compatible ``POST /v1/embeddings``, cached like calls: for choosing few-shot
examples similar to the row under evaluation (``[judge] examples = "similar"``).

Each text's vector is cached by everything that determines it (server, model, text), so a re-run embeds
nothing and a grown dataset costs only its new rows. Texts go in batches of ``BATCH`` per request (OpenAI
accepts up to 2,048 inputs a request, each under the model's limit of 8,192 tokens, and refuses an empty
string: embeddings API reference); a text is cut to ``MAX_CHARS`` first and an empty one is sent as a
space. The SDK's own retries (429, 5xx, timeouts) apply; a server that does not offer the endpoint (a 404, as
llama.cpp started without ``--embeddings`` answers) is a clear error naming the setting to change.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sheetsync.errors import UserInputError
from sheetsync.llm.calls import Cache, LLMSettings, normalise_base_url, resolve_base_url
from sheetsync.llm.costs import estimate_cost, price_table
from sheetsync.llm.outage import ServerUnavailable
from sheetsync.redact import redact

BATCH = 64
MAX_CHARS = 8000  # ~2,000 tokens: well inside every embedding model's input limit
#: USD per 1M input tokens (OpenAI list prices, 2025; the workspace's [prices] override them).
EMBEDDING_PRICES: dict[str, tuple[float, ...]] = {
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
    "text-embedding-ada-002": (0.10, 0.0),
}


@dataclass
class Embedded:
    vectors: list[list[float]]
    requests: int = 0
    cache_hits: int = 0
    tokens: int = 0
    needed: list[int] = field(default_factory=list)  # positions not in the cache (what a dry run would send)


def embedding_key(settings: LLMSettings, model: str, text: str) -> str:
    material = {"v": 1, "kind": "embedding", "base_url": normalise_base_url(resolve_base_url(settings)),
                "model": model, "input": _clip(text)}
    return "emb:" + hashlib.sha256(json.dumps(material, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _clip(text: str) -> str:
    return text[:MAX_CHARS] if text.strip() else " "


def embed(texts: list[str], settings: LLMSettings, model: str, cache: Cache, *, dry_run: bool = False) -> Embedded:
    """The vector of each text, in order (cached ones from ``cache``). With ``dry_run`` nothing is sent:
    ``needed`` lists the texts that would be, and ``vectors`` holds only the cached ones (others empty)."""
    keys = [embedding_key(settings, model, t) for t in texts]
    out = Embedded(vectors=[[] for _ in texts])
    for i, key in enumerate(keys):
        hit = cache.get(key)
        if hit is not None:
            out.vectors[i] = hit["vector"]
            out.cache_hits += 1
        else:
            out.needed.append(i)
    if dry_run or not out.needed:
        return out
    client = _client(settings)
    for start in range(0, len(out.needed), BATCH):
        chunk = out.needed[start:start + BATCH]
        data, tokens = _request(client, settings, model, [_clip(texts[i]) for i in chunk])
        out.requests += 1
        out.tokens += tokens
        for i, vector in zip(chunk, data, strict=True):
            out.vectors[i] = vector
            cache.put(keys[i], {"vector": vector, "model": model})
    return out


def estimate_embedding_cost(texts: list[str], model: str, prices: dict[str, tuple[float, ...]] | None) -> tuple[int, float | None]:
    """Approximate tokens (4 characters each) of these texts, and their cost at the model's price."""
    tokens = sum(max(1, len(_clip(t)) // 4) for t in texts)
    return tokens, estimate_cost(tokens, 0, model, {**EMBEDDING_PRICES, **price_table(prices)})


def _client(settings: LLMSettings) -> Any:
    from sheetsync.batch import make_sync_client  # the same base URL and key rules as every other call

    return make_sync_client(settings)


def _request(client: Any, settings: LLMSettings, model: str, inputs: list[str]) -> tuple[list[list[float]], int]:
    import openai

    try:
        response = client.embeddings.create(model=model, input=inputs, encoding_format="float")
    except openai.NotFoundError as exc:
        raise UserInputError(
            f"{resolve_base_url(settings)}: the server does not offer /v1/embeddings for {model!r} ({redact(str(exc))}). "
            "Set [judge] examples = \"fixed\", or [judge] embedding_model to a model it serves (llama.cpp: start "
            "it with --embeddings)."
        ) from exc
    except openai.APIStatusError as exc:
        raise UserInputError(f"{resolve_base_url(settings)}: /v1/embeddings refused the request: "
                             f"{redact(str(exc))}") from exc
    except openai.APIConnectionError as exc:
        raise ServerUnavailable(f"{resolve_base_url(settings)}: no answer from /v1/embeddings ({exc}); nothing was "
                             "judged. Check the server, then run the command again (embeddings already made are "
                             "kept).") from exc
    rows = sorted(response.data, key=lambda d: d.index)
    if len(rows) != len(inputs):
        raise UserInputError(f"{resolve_base_url(settings)}: /v1/embeddings answered {len(rows)} vectors for "
                             f"{len(inputs)} inputs.")
    usage = getattr(response, "usage", None)
    return [list(map(float, d.embedding)) for d in rows], int(getattr(usage, "prompt_tokens", 0) or 0)
