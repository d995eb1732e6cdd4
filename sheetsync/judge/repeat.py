"""``judge --repeat K``: ask the judge about each row K times in all, to see whether it agrees with itself.

Ask 0 is the run's own verdict. Asks 1 … K−1 show the same few-shot examples in another order (shuffled
with the ask's number as seed) and pass the ask's number as the sampling seed, so at a temperature above 0
the model's own sampling varies too. Both are part of each call's cache key, so every re-ask is cached like
any call: running the same command again costs nothing, and K = 5 after K = 3 pays only asks 3 and 4.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from sheetsync import llm
from sheetsync.judge.prompt import JudgePrompt
from sheetsync.metrics import flip_rates
from sheetsync.store import Store


def shuffled(prompt: JudgePrompt, k: int) -> JudgePrompt:
    """The same prompt with its few-shot examples in the k-th shuffled order."""
    examples = list(prompt.examples)
    random.Random(f"sheetsync-repeat:{k}").shuffle(examples)
    return JudgePrompt(prompt.template_text, criteria=prompt.criteria, examples=examples, salt=prompt.salt,
                       source=prompt.source)


def reask(store: Store, run_id: str, prompt: JudgePrompt, make_calls: Any, targets: list[str],
          settings: llm.LLMSettings, repeat: int, *, progress: bool) -> dict[str, Any]:
    """Asks 1 … repeat−1 of every target row, stored as the run's re-asks; the flip rates over all asks.

    ``make_calls(prompt, settings)`` builds the calls for ``targets`` from a prompt (the runner's own
    ``judge_calls``), so a re-ask is rendered exactly like the first ask.
    """
    totals = {"calls_made": 0, "cache_hits": 0, "errors": 0}
    for k in range(1, repeat):
        ask_settings = replace(settings, seed=k)
        saved: list[tuple[str, int, str | None, str | None, str | None, bool]] = []

        def record(result: llm.Result, k: int = k, saved: list = saved) -> None:
            value = result.value or {}
            saved.append((result.key, k, value.get("verdict") if result.ok else None,
                           value.get("critique") if result.ok else None, result.error, result.cached))

        summary = llm.run(make_calls(shuffled(prompt, k), ask_settings), ask_settings, cache=store,
                          on_result=record, progress=progress, label=f"Re-asking ({k + 1} of {repeat})",
                          keep_results=False)
        store.save_repeats(run_id, saved)
        totals["calls_made"] += summary.calls_made
        totals["cache_hits"] += summary.cache_hits
        totals["errors"] += sum(1 for s in saved if s[4])
    first = store.run_verdicts(run_id)
    asks = {rid: [first.get(rid, {}).get("verdict"), *ks.values()] for rid, ks in store.repeats(run_id).items()}
    flips = flip_rates({rid: v for rid, v in asks.items() if rid in set(targets)})
    return {"repeat": repeat, **totals, "n_rows": flips["n_rows"], "n_flipped": flips["n_flipped"],
            "flip_rate": flips["flip_rate"], "flip_rate_ci": flips["flip_rate_ci"],
            "disagreement_rate": flips["disagreement_rate"],
            "flipped": sorted(rid for rid, r in flips["rows"].items() if r["flipped"])}
