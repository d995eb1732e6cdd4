"""How far the classifier's root causes can be trusted: measured against the expert's own root causes on
labelled fails it never saw as examples, and the counts it gives the judge's failures on unlabelled rows.

Measured rows are the dev and test rows the expert failed and gave a root cause: the classifier's examples
come from train only, so none of them is measured. The expert's causes are read through the taxonomy
(case, spaces and aliases of renamed or merged proposals aside); causes outside it count for no category,
so a category the classifier gives such a row is a false positive. A category is **verified** when it was
measured on at least ``[triage] min_support`` expert rows and its precision and recall both reach
``[report] floor``; otherwise it is marked unverified, or below the floor, beside its LLM count.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sheetsync.config import Config
from sheetsync.metrics import per_label_precision_recall
from sheetsync.store import Store
from sheetsync.taxonomy import Taxonomy

CLASSIFIER = "(classifier)"  # the runs table's judge name for classify runs (no [judges.NAME] starts with "(")
MEASURED_SPLITS = ("dev", "test")


def current_classifications(store: Store, tax: Taxonomy) -> dict[str, dict[str, Any]]:
    """Per row, the latest classification made with this taxonomy (older taxonomies' answers are stale)."""
    out: dict[str, dict[str, Any]] = {}
    for run in store.runs(CLASSIFIER):
        if json.loads(run["params"] or "{}").get("taxonomy") == tax.digest():
            out.update(store.run_classifications(run["run_id"]))
    return out


def canonical_set(tax: Taxonomy, causes: list[str] | tuple[str, ...]) -> set[str]:
    return {name for c in causes if (name := tax.canonical(c)) is not None}


def measure(cfg: Config, tax: Taxonomy, labelled: Mapping[str, tuple[str, str, tuple[str, ...]]],
            classified: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """``labelled``: id -> (expert verdict, split, the expert's causes as typed). Per category precision and
    recall with Wilson intervals, and a status; rows left out are counted with their reason."""
    ids = [rid for rid, (verdict, split, causes) in sorted(labelled.items())
           if verdict == "fail" and split in MEASURED_SPLITS and causes]
    no_cause = sum(1 for v, s, c in labelled.values() if v == "fail" and s in MEASURED_SPLITS and not c)
    done = [rid for rid in ids if (classified.get(rid) or {}).get("causes") is not None]
    truth = [canonical_set(tax, labelled[rid][2]) for rid in done]
    pred = [set(classified[rid]["causes"]) for rid in done]
    table = per_label_precision_recall(truth, pred, tax.names)
    per_cause = []
    for rec in table.to_dict(orient="records"):
        rec = {k: (None if isinstance(v, float) and v != v else v) for k, v in rec.items()}
        rec["status"] = _status(rec, cfg.triage.min_support, cfg.report.floor)
        rec["verified"] = rec["status"] == "verified"
        per_cause.append(rec)
    return {"n_measured": len(done), "n_not_classified": len(ids) - len(done), "n_without_expert_cause": no_cause,
            "n_outside_taxonomy": sum(1 for t in truth if not t), "exact_match": _exact(truth, pred),
            "per_cause": per_cause, "min_support": cfg.triage.min_support, "floor": cfg.report.floor,
            "row_ids": done}


def _exact(truth: list[set[str]], pred: list[set[str]]) -> float | None:
    return sum(1 for t, p in zip(truth, pred, strict=True) if t == p) / len(truth) if truth else None


def _status(rec: dict[str, Any], min_support: int, floor: float) -> str:
    if rec["support"] < min_support:
        return f"unverified: {rec['support']} expert row(s) have it (fewer than {min_support})"
    p, r = rec["precision"], rec["recall"]
    if p is None or r is None or p < floor or r < floor:
        shown = "/".join("n/a" if x is None else f"{x:.0%}" for x in (p, r))
        return f"below floor: precision/recall {shown} (floor {floor:.0%})"
    return "verified"


def llm_counts(tax: Taxonomy, judge_failed: list[str], classified: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """Per category, how many of the judge-failed unlabelled rows the classifier gave it."""
    counts = dict.fromkeys(tax.names, 0)
    done = [rid for rid in judge_failed if (classified.get(rid) or {}).get("causes") is not None]
    none = 0
    for rid in done:
        causes = classified[rid]["causes"]
        none += not causes
        for c in causes:
            if c in counts:
                counts[c] += 1
    return {"n_judge_failed": len(judge_failed), "n_classified": len(done), "n_no_category": none,
            "n_errors": sum(1 for rid in judge_failed if (classified.get(rid) or {}).get("error")),
            "counts": counts}
