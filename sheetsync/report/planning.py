"""The report's figures for what to do next: how the labels were chosen (and weighted), how many more labels
each figure needs, the judge's self-consistency, the rows to label next, and whether the latest judge run
changed anything — every number from ``sheetsync.metrics``, JSON-safe, shown on the Summary and Agreement
tabs and in ``report --json``."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sheetsync.config import Config
from sheetsync.metrics import (
    best_split,
    design_weights,
    labels_needed_for_corrected,
    labels_needed_for_rate,
    paired_difference,
    rate_half_width,
)
from sheetsync.report.data import LABELLED_SPLITS, Data, dim_col

BUDGETS = (20, 100)  # "after k more labels": the label budgets the Summary shows
LABEL_NEXT = 20  # rows the Summary lists (report --json has them all)


def extra_figures(cfg: Config, data: Data, fig: dict[str, Any], ag: Any) -> dict[str, Any]:
    return {"design": _design(data, ag), "planning": _planning(cfg, fig), "consistency": _consistency(data),
            "label_next": _label_next(data), "run_comparison": _run_comparison(data, ag)}


def _design(data: Data, ag: Any) -> dict[str, Any]:
    labelled = data.frame[data.frame["split"] != "unlabeled"]
    basis = ag.basis_frame
    d = design_weights(basis["probability"].tolist()) if basis is not None else None
    return {"drawn_by": dict(Counter(m or "unknown" for m in labelled["drawn_by"])),
            "weighted": bool(d and d.weighted), "n_unknown_probability": d.n_unknown if d else 0,
            "note": d.note if d else ""}


def _rate_plan(rate: float | None, n: float | None, target: float) -> dict[str, Any] | None:
    if rate is None or not n:
        return None
    return {"rate": rate, "n": n, "half_width": rate_half_width(rate, n),
            "after": {str(k): rate_half_width(rate, n + k) for k in BUDGETS},
            "labels_needed": labels_needed_for_rate(rate, n, target)}


def _planning(cfg: Config, fig: dict[str, Any]) -> dict[str, Any]:
    """Expected interval widths after more labels, and when to stop (``[report] half_width``)."""
    target = cfg.report.half_width
    a = fig["agreement"]["headline"]
    out: dict[str, Any] = {"target_half_width": target, "tpr": None, "tnr": None, "corrected": None, "stop": False,
                           "sentence": ""}
    if a:
        out["tpr"], out["tnr"] = _rate_plan(a["tpr"], a["n_eff_pass"], target), _rate_plan(a["tnr"], a["n_eff_fail"], target)
    o = fig["error_analysis"]["overall"]
    if o:
        args = (o["p_obs"], o["tnr"], o["tpr"], o["n_unlabeled"], o["n_eff_fail"], o["n_eff_pass"])
        out["corrected"] = {"half_width": (o["upper"] - o["lower"]) / 2,
                            "best_split": {str(k): best_split(*args, k) for k in BUDGETS},
                            "labels_needed": labels_needed_for_corrected(*args, target)}
    out["stop"], out["sentence"] = _stop(out, target)
    return out


def _stop(plan: dict[str, Any], target: float) -> tuple[bool, str]:
    parts, done = [], True
    for key, name in (("tpr", "TPR"), ("tnr", "TNR")):
        p = plan[key]
        if p is None:
            done = False
            continue
        if p["labels_needed"] == 0:
            parts.append(f"{name} is known to ±{p['half_width']:.1%}")
        else:
            done = False
            kind = "passes" if key == "tpr" else "fails"
            more = "far more" if p["labels_needed"] is None else f"about {p['labels_needed']} more"
            parts.append(f"{name} needs {more} expert {kind} to reach ±{target:.0%}")
    c = plan["corrected"]
    if c is None:
        done = False
    elif c["labels_needed"] is None:
        done = False
        parts.append("the corrected pass rate cannot reach that with labels alone (the judge is too close to "
                     "chance, or there are too few unlabelled rows)")
    elif c["labels_needed"]["budget"] == 0:
        parts.append(f"the corrected pass rate is known to ±{c['half_width']:.1%}")
    else:
        done = False
        need = c["labels_needed"]
        parts.append(f"the corrected pass rate needs about {need['budget']} more labels (best as {need['fails']} "
                     f"fails and {need['passes']} passes) to reach ±{target:.0%}")
    head = f"Stop labelling: every interval is under ±{target:.0%}." if done else "Keep labelling:"
    return done, head + " " + "; ".join(parts) + "." if parts else head


def _consistency(data: Data) -> dict[str, Any] | None:
    """The judge's flip rates from its re-asks (``judge --repeat K``): overall and per dimension value."""
    if not data.flips:
        return None
    usable = {rid: r for rid, r in data.flips.items() if r["asks"] >= 2}
    overall = _summarise(usable)
    frame = data.frame.set_index("id")
    by_dim: dict[str, list[dict[str, Any]]] = {}
    for d in data.dims:
        cells: dict[str, dict[str, dict[str, Any]]] = {}
        for rid, r in usable.items():
            if rid in frame.index:
                cells.setdefault(str(frame.at[rid, dim_col(d)]), {})[rid] = r
        by_dim[d] = [{"value": v, **_summarise(rs)} for v, rs in sorted(cells.items())]
    return {**overall, "by_dimension": by_dim,
            "flipped_ids": sorted(rid for rid, r in usable.items() if r["flipped"])}


def _summarise(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from sheetsync.metrics import wilson_interval

    n, flipped = len(rows), sum(r["flipped"] for r in rows.values())
    return {"n_rows": n, "n_flipped": flipped, "flip_rate": flipped / n if n else None,
            "flip_rate_ci": wilson_interval(flipped, n) if n else None,
            "disagreement_rate": sum(r["disagreement"] or 0 for r in rows.values()) / n if n else None}


def _label_next(data: Data) -> list[dict[str, Any]]:
    frame = data.frame.set_index("id")
    return [{**c, "dimensions": {d: frame.at[c["id"], dim_col(d)] for d in data.dims}} for c in data.label_next]


def _run_comparison(data: Data, ag: Any) -> dict[str, Any] | None:
    """The latest judge run against the one before it on the same labelled rows: the change in TPR and TNR
    with Bonett–Price's paired interval and McNemar's test, and whether the model or prompt changed since the
    run validated on test."""
    labelled = data.split(*LABELLED_SPLITS).set_index("id")["expert_verdict"].to_dict()
    judged = [r for r in data.runs if any(rid in labelled for rid in r["verdicts"])]
    out: dict[str, Any] = {"pair": None, "validation_warning": _validation_warning(data)}
    if len(judged) < 2:
        return out
    old, new = judged[-2], judged[-1]
    shared = [rid for rid in new["verdicts"] if rid in old["verdicts"] and rid in labelled
              and old["verdicts"][rid]["verdict"] and new["verdicts"][rid]["verdict"]]
    if not shared:
        return out
    result: dict[str, Any] = {"a": _run_brief(old), "b": _run_brief(new), "n": len(shared)}
    for name, kind in (("tpr", "pass"), ("tnr", "fail")):
        ids = [rid for rid in shared if labelled[rid] == kind]
        result[name] = paired_difference([old["verdicts"][r]["verdict"] == kind for r in ids],
                                         [new["verdicts"][r]["verdict"] == kind for r in ids])
    out["pair"] = result
    return out


def _run_brief(run: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": run["run_id"], "model": run["model"], "prompt_hash": run["template_hash"], "split": run["split"]}


def _validation_warning(data: Data) -> str:
    """Set when the run whose verdicts count the unlabelled rows used another model or prompt than the latest
    run validated on test: its TPR/TNR were never measured, so the correction rests on another judge's."""
    tested = [r for r in data.runs if r["split"] in ("test", "all")]
    unl_ids = set(data.split("unlabeled")["id"])
    counting = [r for r in data.runs if any(rid in unl_ids for rid in r["verdicts"])]
    if not tested or not counting:
        return ""
    t, u = tested[-1], counting[-1]
    changed = [what for what, k in (("model", "model"), ("prompt", "template_hash")) if t[k] != u[k]]
    if not changed:
        return ""
    return (f"the unlabeled rows were judged with another {' and '.join(changed)} ({u['model']}, prompt "
            f"{(u['template_hash'] or '')[:10]}) than the run validated on test ({t['model']}, prompt "
            f"{(t['template_hash'] or '')[:10]}): re-run `sheetsync judge --split test` with it before trusting "
            "the corrected pass rate.")
