"""The root-cause figures of step 6, kept apart by who assigned each cause: the expert (labelled fails) and
the classifier (the judge's failures on unlabelled rows), with the classifier's measured precision and
recall beside its counts (:mod:`sheetsync.triage.measure`), so an LLM count is never read as the expert's."""

from __future__ import annotations

from typing import Any

from sheetsync.config import Config
from sheetsync.metrics import split_root_causes
from sheetsync.report.data import Data, dim_col
from sheetsync.triage.measure import canonical_set, llm_counts, measure


def classifier_figures(cfg: Config, data: Data) -> dict[str, Any]:
    tax = data.taxonomy
    f = data.frame
    labelled = {r["id"]: (r["expert_verdict"], r["split"], tuple(split_root_causes(r["root_cause"])))
                for r in f[f["split"] != "unlabeled"].to_dict(orient="records")}
    failed = [v for v in labelled.values() if v[0] == "fail"]
    expert = dict.fromkeys(tax.names, 0)
    for _verdict, _split, causes in failed:
        for name in canonical_set(tax, causes):
            expert[name] += 1
    unl = f[(f["split"] == "unlabeled") & (f["judge_verdict"] == "fail")]
    judge_failed = unl["id"].tolist()
    counts = llm_counts(tax, judge_failed, data.classified)
    m = measure(cfg, tax, labelled, data.classified)
    rows = []
    for rec in m["per_cause"]:
        name = rec["label"]
        llm = counts["counts"][name]
        rows.append({
            "root_cause": name, "definition": next(c.definition for c in tax.categories if c.name == name),
            "expert_count": expert[name], "expert_share": expert[name] / len(failed) if failed else None,
            "llm_count": llm, "llm_share": llm / counts["n_classified"] if counts["n_classified"] else None,
            **{k: rec[k] for k in ("support", "predicted", "tp", "fp", "fn", "precision", "precision_low",
                                   "precision_high", "recall", "recall_low", "recall_high", "f1", "status",
                                   "verified")},
        })
    by_dim: dict[str, list[dict[str, Any]]] = {}
    for d in data.dims:
        out = []
        for value, group in unl.groupby(dim_col(d), sort=True):
            c = llm_counts(tax, group["id"].tolist(), data.classified)
            out.append({"value": value, "n_judge_failed": c["n_judge_failed"], "n_classified": c["n_classified"],
                        **c["counts"]})
        by_dim[d] = out
    return {
        "taxonomy": tax.names, "n_expert_failed": len(failed),
        "n_expert_outside_taxonomy": sum(1 for v in failed if v[2] and not canonical_set(tax, v[2])),
        **{k: counts[k] for k in ("n_judge_failed", "n_classified", "n_no_category", "n_errors")},
        "measured": {k: m[k] for k in ("n_measured", "n_not_classified", "n_without_expert_cause",
                                       "n_outside_taxonomy", "exact_match", "min_support", "floor")},
        "causes": rows, "by_dimension": by_dim, "reason": _reason(data, counts, m),
    }


def _reason(data: Data, counts: dict[str, Any], m: dict[str, Any]) -> str:
    """Why the LLM-assigned columns are empty, in the words of the fix ("" when they are not)."""
    if counts["n_classified"] or m["n_measured"]:
        return ""
    if not counts["n_judge_failed"]:
        return ("no unlabelled row has a judge fail yet: run `sheetsync judge --split unlabeled`, then "
                "`sheetsync classify`.")
    return "the judge's failures have no root causes yet: run `sheetsync classify` (after `sheetsync triage`)."
