"""``POST /v1/embeddings`` for the fake server: deterministic vectors in which texts sharing words are close.

A vector is the text's bag of words hashed into ``DIMENSIONS`` buckets, L2-normalised: similarity is real
(shared words, higher cosine), stable across runs and processes, and costs no model. What OpenAI refuses is
refused the same way (API reference, "Create embeddings": ``input`` is a string or an array of at most 2,048
strings, none of them empty; a bad ``input`` gets a 400 "'$.input' is invalid").
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

DIMENSIONS = 64
MAX_INPUTS = 2048
_WORD = re.compile(r"\w+", re.UNICODE)
_INVALID = ("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.")


def vector(text: str) -> list[float]:
    counts = [0.0] * DIMENSIONS
    for word in _WORD.findall(text.lower()):
        counts[int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big") % DIMENSIONS] += 1.0
    norm = math.sqrt(sum(c * c for c in counts)) or 1.0
    return [c / norm for c in counts]


def embeddings_reply(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) for one embeddings request."""
    inputs = body.get("input")
    texts = [inputs] if isinstance(inputs, str) else inputs
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return 400, _error("you must provide a model parameter", "model")
    if (not isinstance(texts, list) or not texts or len(texts) > MAX_INPUTS
            or not all(isinstance(t, str) and t for t in texts)):
        return 400, _error(_INVALID, None)
    data = [{"object": "embedding", "index": i, "embedding": vector(t)} for i, t in enumerate(texts)]
    tokens = sum(max(1, len(t) // 4) for t in texts)
    return 200, {"object": "list", "data": data, "model": model,
                 "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def _error(message: str, param: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}
