"""Few-shot examples chosen per row (``[judge] examples = "similar"``): the train rows most similar to the row
under evaluation, by cosine similarity of embeddings (``sheetsync.llm.embeddings``, cached like calls).

Still only train rows, still balanced — fails and passes alternate, each in order of similarity, within the
same count and size caps as the fixed set — so the only change measured against the fixed set is *which*
examples a row sees. The price: the system message now differs between rows with different neighbours, so
the server's prompt cache reuses less of it (rows with the same neighbours still share it byte for byte).
"""

from __future__ import annotations

import copy
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

from sheetsync import llm
from sheetsync.judge.prompt import Item, JudgePrompt
from sheetsync.llm.embeddings import embed, estimate_embedding_cost


def row_text(it: Item) -> str:
    """What is embedded for a row: its context, input and output (what the judge reads)."""
    return "\n".join([*(f"{k}: {v}" for k, v in it.context.items()), it.input, it.output])


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def nearest_examples(row: Item, vector: list[float], train: list[Item], vectors: dict[str, list[float]], *,
                     max_examples: int, max_chars: int) -> list[Item]:
    """Balanced fail/pass examples (fail first), each side nearest first, within the caps; never the row."""
    def order(it: Item) -> tuple[float, str]:
        return (-_cosine(vector, vectors[it.id]), hashlib.sha256(f"example:{it.id}".encode()).hexdigest())

    usable = [it for it in train if it.id != row.id and it.verdict in ("pass", "fail") and it.critique.strip()
              and vectors.get(it.id)]
    queues = [sorted((it for it in usable if it.verdict == v), key=order) for v in ("fail", "pass")]
    chosen: list[Item] = []
    used, turn = 0, 0
    while len(chosen) < max_examples and any(queues):
        queue = queues[turn % 2] or queues[(turn + 1) % 2]
        it = queue.pop(0)
        turn += 1
        if used + it.size() > max_chars:
            continue
        chosen.append(it)
        used += it.size()
    return chosen


@dataclass
class SimilarPrompt:
    """Renders each row with its own nearest examples; one ``JudgePrompt`` per distinct example set, so rows
    sharing neighbours share a byte-identical system message."""

    base: JudgePrompt
    train: list[Item]
    vectors: dict[str, list[float]]
    max_examples: int
    max_chars: int
    _by_set: dict[tuple[str, ...], JudgePrompt] = field(default_factory=dict)

    @property
    def examples(self) -> list[Item]:
        return self.base.examples

    @property
    def template_hash(self) -> str:
        return self.base.template_hash

    @property
    def template_text(self) -> str:
        return self.base.template_text

    def examples_for(self, row: Item) -> list[Item]:
        vector = self.vectors.get(row.id)
        if not vector:  # not embedded (a dry run): the fixed set stands in for the estimate
            return self.base.examples
        return nearest_examples(row, vector, self.train, self.vectors, max_examples=self.max_examples,
                                max_chars=self.max_chars)

    def messages(self, row: Item) -> list[dict[str, str]]:
        chosen = self.examples_for(row)
        key = tuple(e.id for e in chosen)
        prompt = self._by_set.get(key)
        if prompt is None:
            prompt = copy.copy(self.base)  # the parsed template is shared; only the examples differ
            prompt.examples, prompt._system = chosen, None
            if len(self._by_set) > 512:
                self._by_set.clear()
            self._by_set[key] = prompt
        return prompt.messages(row)


def similar_prompt(base: JudgePrompt, train: list[Item], targets: list[Item], settings: llm.LLMSettings, model: str,
                   cache: llm.Cache, *, max_examples: int, max_chars: int, dry_run: bool,
                   prices: dict[str, tuple[float, ...]] | None) -> tuple[SimilarPrompt, dict[str, Any]]:
    """The per-row prompt, after embedding the train rows and the targets (only the uncached ones are sent);
    and what the embedding cost: requests, cached, tokens, and for a dry run the estimate."""
    rows = {it.id: it for it in (*train, *targets)}
    ids = list(rows)
    got = embed([row_text(rows[i]) for i in ids], settings, model, cache, dry_run=dry_run)
    vectors = {i: v for i, v in zip(ids, got.vectors, strict=True) if v}
    info: dict[str, Any] = {"model": model, "texts": len(ids), "cached": got.cache_hits, "requests": got.requests,
                            "tokens": got.tokens, "needed": len(got.needed)}
    if dry_run:
        info["estimated_tokens"], info["estimated_cost"] = estimate_embedding_cost(
            [row_text(rows[ids[i]]) for i in got.needed], model, prices)
    return SimilarPrompt(base, train, vectors, max_examples, max_chars), info
