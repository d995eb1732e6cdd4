"""``sheetsync judge --examples compare``: the fixed few-shot set against examples chosen per row by
similarity, on the same rows (dev, unless told otherwise), with the same prompt and model.

Both runs are ordinary judge runs (cached, recorded in the history); this only lines them up: TPR and TNR of
each, and per row which of them agreed with the expert — the rows only one got right are the evidence that
one is better, and McNemar's exact test says how much that evidence is worth.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from sheetsync.config import Config
from sheetsync.judge.inputs import _load, _require_store
from sheetsync.judge.runner import JudgeOutcome, judge
from sheetsync.judge.specs import judge_spec


@dataclass
class ExamplesComparison:
    split: str
    fixed: JudgeOutcome
    similar: JudgeOutcome
    paired: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: ``b`` rows right only with one, ``c`` only with the other."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def compare_examples(cfg: Config, *, split: str = "dev", judge_name: str | None = None, dry_run: bool = False,
                     **kw: Any) -> ExamplesComparison:
    """Judge ``split`` with the fixed set, then with similar examples, and pair them up row by row."""
    store = kw.pop("store", None) or _require_store(cfg, "nothing to judge")
    fixed = judge(cfg, split=split, examples="fixed", judge_name=judge_name, dry_run=dry_run, store=store, **kw)
    similar = judge(cfg, split=split, examples="similar", judge_name=judge_name, dry_run=dry_run, store=store, **kw)
    out = ExamplesComparison(split, fixed, similar)
    if dry_run or not fixed.run_id or not similar.run_id:
        return out
    truth = {rid: it.verdict for rid, it in _load(cfg, store, judge_spec(cfg, judge_name)).items.items()}
    a, b = store.run_verdicts(fixed.run_id), store.run_verdicts(similar.run_id)
    rows = [rid for rid in a if truth.get(rid) and a[rid]["verdict"] and (b.get(rid) or {}).get("verdict")]
    right_a = {rid: a[rid]["verdict"] == truth[rid] for rid in rows}
    right_b = {rid: b[rid]["verdict"] == truth[rid] for rid in rows}
    only_fixed = sorted(r for r in rows if right_a[r] and not right_b[r])
    only_similar = sorted(r for r in rows if right_b[r] and not right_a[r])
    out.paired = {"n": len(rows), "both_right": sum(1 for r in rows if right_a[r] and right_b[r]),
                  "only_fixed_right": len(only_fixed), "only_similar_right": len(only_similar),
                  "both_wrong": sum(1 for r in rows if not right_a[r] and not right_b[r]),
                  "mcnemar_p": mcnemar_exact(len(only_fixed), len(only_similar)),
                  "only_fixed_ids": only_fixed[:20], "only_similar_ids": only_similar[:20]}
    return out
