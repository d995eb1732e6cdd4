"""Every figure of the report, computed with ``sheetsync.metrics`` on the rows ``data`` chose and kept as
JSON-safe values, so ``--json`` and the tabs show the same numbers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from sheetsync.config import Config
from sheetsync.metrics import (
    WILSON_FEW,
    Agreement,
    JudgeNoBetterThanChance,
    agreement,
    agreement_by,
    corrected_success_rate,
    corrected_success_rate_by,
    design_weights,
    root_cause_tally,
    weighted_rate,
    wilson_at,
)
from sheetsync.report.classifier import classifier_figures
from sheetsync.report.data import LABELLED_SPLITS, Data, dim_col
from sheetsync.report.records import dim_records, records
from sheetsync.report.revisions import (
    answer_figures,
    question_figures,
    rater_figures,
    revision_figures,
    split_changes,
)
from sheetsync.store import Store

METHOD = "lee"  # the interval the coverage study shows to cover (docs/coverage.md)
TREND_RUNS = 5
TOP_CAUSES = 5


@dataclass
class AgreementFigures:
    figures: dict[str, Any]
    headline: Agreement | None
    basis: str | None
    basis_frame: pd.DataFrame | None
    by_dimension: dict[str, pd.DataFrame]  # agreement_by per dimension over the scored rows (none if empty)


def compute(cfg: Config, data: Data, store: Store | None = None) -> tuple[dict[str, Any], AgreementFigures]:
    """The report's figures dict (key order is the ``--json`` order) and the agreement behind it. With the
    ``store``, also the expert's side: revisions, questions, answers, a second rater
    (:mod:`sheetsync.report.revisions`)."""
    fig: dict[str, Any] = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                           "targets": {"target": cfg.report.target, "floor": cfg.report.floor},
                           "method": METHOD, "counts": data.counts()}
    ag = _agreement_figures(data)
    fig["agreement"] = ag.figures
    split_changes(data, ag.figures["history"])
    if store is not None:
        fig["revisions"], fig["questions"] = revision_figures(store), question_figures(store)
        fig["answers"], fig["raters"] = answer_figures(store), rater_figures(cfg, store)
    fig["trust"] = _trust(ag.headline, ag.basis, ag.figures["reason"], cfg)
    fig["disagreements"] = _disagreements(data, ag)
    fig["root_causes"] = _root_causes(data)
    fig["error_analysis"] = _error_analysis(data, ag)
    fig["classifier"] = classifier_figures(cfg, data)
    fig["summary"] = _summary_figures(fig, data)
    from sheetsync.report.planning import extra_figures

    fig.update(extra_figures(cfg, data, fig, ag))
    fig["next_steps"] = _next_steps(fig)
    return fig, ag


# -- Agreement -----------------------------------------------------------------------------------------------


def weights_of(frame: pd.DataFrame) -> list[float | None]:
    """Each labelled row's weight: 1 / its probability of being drawn (equal when nothing to correct)."""
    return design_weights(frame["probability"].tolist()).weights


def _agree(frame: pd.DataFrame) -> Agreement:
    return agreement(frame["expert_verdict"].tolist(), frame["judge_verdict"].tolist(), weights=weights_of(frame))


def _agreement_figures(data: Data) -> AgreementFigures:
    scored = data.scored
    by_split = {s: _agree(scored[scored["split"] == s]) for s in LABELLED_SPLITS}
    by_split["dev+test"] = _agree(scored)
    basis = next((s for s in ("test", "dev") if by_split[s].n > 0), None)
    headline = by_split[basis] if basis else None
    weighted = scored.assign(_w=weights_of(scored)) if len(scored) else scored
    by_dim = {d: agreement_by(weighted, by=dim_col(d), weight="_w") for d in data.dims} if len(scored) else {}
    fig = {
        "basis": basis, "reason": _basis_reason(data, basis),
        "headline": headline.to_dict() if headline else None,
        "by_split": {k: a.to_dict() for k, a in by_split.items()},
        "by_dimension": {d: dim_records(table, d) for d, table in by_dim.items()},
        "not_yet_judged": {s: int(data.split(s)["judge_verdict"].isna().sum()) for s in LABELLED_SPLITS},
        "history": _history(data),
    }
    basis_frame = scored[scored["split"] == basis] if basis else None
    return AgreementFigures(fig, headline, basis, basis_frame, by_dim)


def _basis_reason(data: Data, basis: str | None) -> str:
    if basis == "test":
        return "measured on the test split: labels the prompt was not tuned on."
    if basis == "dev":
        why = ("no test label has a judge verdict yet" if len(data.split("test"))
               else "there are no labelled test rows yet")
        return (f"measured on the dev split ({why}): dev figures flatter a prompt tuned on them. Run "
                "`sheetsync judge --split test` for the final check.")
    if not data.n_pulls or not len(data.split("train", "dev", "test")):
        return ("no expert labels yet: label rows in the Annotate tab, run `sheetsync pull`, then "
                "`sheetsync judge --split dev`.")
    if not len(data.split(*LABELLED_SPLITS)):
        return "every labelled row is in train (the judge's examples): label more rows and `sheetsync pull`."
    if not data.runs:
        return "no judge run yet: run `sheetsync judge --split dev`."
    return ("no labelled dev or test row has a usable judge verdict yet (missing or errors): run "
            "`sheetsync judge --split dev`.")


def _params(run: dict[str, Any]) -> dict[str, Any]:
    try:
        params = json.loads(run.get("params") or "{}")
    except (TypeError, ValueError):
        return {}
    return params if isinstance(params, dict) else {}


def _history(data: Data) -> list[dict[str, Any]]:
    """One entry per judge run: its agreement on the labelled dev/test rows it judged, against today's labels."""
    labelled = data.split(*LABELLED_SPLITS).set_index("id")["expert_verdict"].to_dict()
    out = []
    for i, run in enumerate(data.runs, start=1):
        verdicts = run["verdicts"]
        ids = [rid for rid in verdicts if rid in labelled]
        a = agreement([labelled[r] for r in ids], [verdicts[r]["verdict"] or "error" for r in ids])
        out.append({
            "run": i, "run_id": run["run_id"], "started_at": run["started_at"], "model": run["model"],
            "prompt_hash": run["template_hash"], "split": run["split"], "status": run["status"],
            "n_judged": len(verdicts), "n": a.n, "n_excluded": a.n_excluded, "tpr": a.tpr, "tnr": a.tnr,
            "accuracy": a.accuracy, "kappa": a.kappa, "undefined": a.undefined,
            "format_level": _params(run).get("format_level", ""),
        })
    return out


def _trust(a: Agreement | None, basis: str | None, reason: str, cfg: Config) -> dict[str, Any]:
    """Can the judge stand in for the expert? Both TPR and TNR against the aim and the floor."""
    target, floor = cfg.report.target, cfg.report.floor
    if a is None or a.tpr is None or a.tnr is None:
        why = (reason if a is None
               else "; ".join(f"{k.upper()}: {a.undefined[k]}" for k in ("tpr", "tnr") if k in a.undefined) + ".")
        return {"status": "unknown", "sentence": f"Judge trust unknown: {why}", "basis": basis}
    worst = min(a.tpr, a.tnr)
    status = "trusted" if worst >= target else "borderline" if worst >= floor else "not trusted"
    head = {"trusted": "Judge trusted", "borderline": "Judge usable with care",
            "not trusted": "Judge not trusted yet"}[status]
    pos, neg = a.tp + a.fn, a.fp + a.tn
    sentence = (f"{head}: TPR {a.tpr:.1%} and TNR {a.tnr:.1%} on {a.n} {basis} labels ({pos} pass, {neg} fail) "
                f"vs aim {target:.0%}, floor {floor:.0%}.")
    lows = [ci[0] for ci in (a.tpr_ci, a.tnr_ci) if ci]
    if lows and min(lows) < floor:
        sentence += f" With this few labels the interval reaches down to {min(lows):.1%}: label more to be sure."
    if min(pos, neg) < WILSON_FEW:
        kind = "fails" if neg < pos else "passes"
        sentence += (f" On {min(pos, neg)} expert {kind}, Wilson's 95% interval can hold the true rate less often "
                     "than 95% of the time (about 89–92% in the simulation study, docs/coverage.md).")
    return {"status": status, "sentence": sentence, "basis": basis, "tpr": a.tpr, "tnr": a.tnr, "n": a.n}


# -- Disagreements and root causes ---------------------------------------------------------------------------


def _accuracy_by_value(data: Data, ag: AgreementFigures) -> dict[str, dict[str, tuple[float, int]]]:
    """dimension -> value -> (agreement rate, n) over the scored rows, for ordering disagreements."""
    out: dict[str, dict[str, tuple[float, int]]] = {}
    for d in data.dims:
        table = ag.by_dimension.get(d, pd.DataFrame())
        out[d] = {r[dim_col(d)]: (0.0 if pd.isna(r["accuracy"]) else float(r["accuracy"]), int(r["n"]))
                  for _, r in table.iterrows()}
    return out


def disagreements(data: Data) -> list[dict[str, Any]]:
    """The Disagreements tab's rows, worst dimension cells first (the Review tab lists the same rows)."""
    return _disagreements(data, _agreement_figures(data))


def _disagreements(data: Data, ag: AgreementFigures) -> list[dict[str, Any]]:
    """Rows where both gave a verdict and they differ, rows in the lowest-agreement dimension values first."""
    scored = data.scored
    rows = scored[scored["judge_verdict"].isin(["pass", "fail"]) & (scored["judge_verdict"] != scored["expert_verdict"])]
    acc = _accuracy_by_value(data, ag)
    out = []
    for _, r in rows.iterrows():
        cells = sorted((acc[d].get(r[dim_col(d)], (0.0, 0)) + (d, r[dim_col(d)]) for d in data.dims),
                       key=lambda c: (c[0], -c[1]))
        weakest = (f"{cells[0][2]}={cells[0][3]}: {cells[0][0]:.0%} agree (n={cells[0][1]})" if cells else "")
        out.append({"id": r["id"], "split": r["split"], "dimensions": {d: r[dim_col(d)] for d in data.dims},
                    "weakest_cell": weakest, "sort_key": [c[0] for c in cells],
                    "expert_verdict": r["expert_verdict"], "judge_verdict": r["judge_verdict"],
                    "expert_critique": r["expert_critique"], "judge_critique": r["judge_critique"],
                    "input": r["input"], "output": r["output"]})
    out.sort(key=lambda x: (x["sort_key"], x["split"] != "test", x["id"]))
    return out


def _root_causes(data: Data) -> dict[str, Any]:
    labelled = data.frame[data.frame["split"] != "unlabeled"]
    tally = root_cause_tally(labelled, verdict="expert_verdict", root_cause="root_cause")
    by_dim = {}
    for d in data.dims:
        long = root_cause_tally(labelled, verdict="expert_verdict", root_cause="root_cause", by=dim_col(d))
        by_dim[d] = dim_records(long, d)
    return {"n_failed": int(tally.attrs["n_failed"]), "n_labelled": len(labelled),
            "tally": records(tally), "by_dimension": by_dim}


# -- Error analysis and summary ------------------------------------------------------------------------------


def _corrected(basis: pd.DataFrame | None, unlabeled: pd.DataFrame, data: Data) -> tuple[dict | None, str]:
    """The corrected pass rate on every judged unlabeled row, or None and why not."""
    if basis is None:
        return None, ("the judge has not been measured against the expert yet (no judged dev/test labels): run "
                      "`sheetsync judge --split dev`, later `--split test`.")
    if not len(unlabeled):
        if not len(data.split("unlabeled")):
            return None, "every row is labelled: there are no unlabeled rows to estimate from."
        return None, ("the judge has not looked at the unlabeled rows yet: run "
                      "`sheetsync judge --split unlabeled`.")
    try:
        est = corrected_success_rate(basis["expert_verdict"].tolist(), basis["judge_verdict"].tolist(),
                                     unlabeled["judge_verdict"].tolist(), method=METHOD, weights=weights_of(basis))
    except JudgeNoBetterThanChance:
        return None, ("the judge is no better than chance on the labels (TPR + TNR ≤ 1), so its verdicts say "
                      "nothing about the pass rate. Improve the prompt (see Disagreements) and re-run "
                      "`sheetsync judge --split dev`.")
    except (ValueError, RuntimeError) as exc:
        return None, friendly(str(exc))
    return est.to_dict(), ""


def friendly(message: str) -> str:
    """A metrics error in the words of the fix; other messages unchanged."""
    if "both positive and negative" in message:
        return (f"the labels the judge is measured on need both a pass and a fail ({message.split('(')[-1]}: "
                "label more rows of the missing kind.")
    return message


def _error_analysis(data: Data, ag: AgreementFigures) -> dict[str, Any]:
    unl = data.unlabeled_judged
    overall, reason = _corrected(ag.basis_frame, unl, data)
    by_dim: dict[str, list[dict]] = {}
    if overall is not None and ag.basis_frame is not None:
        for d in data.dims:
            table = corrected_success_rate_by(ag.basis_frame.assign(_w=weights_of(ag.basis_frame)), unl,
                                              by=dim_col(d), method=METHOD, weight="_w")
            by_dim[d] = dim_records(table, d)
    return {"basis": ag.basis, "n_unlabeled": len(data.split("unlabeled")), "n_unlabeled_judged": len(unl),
            "overall": overall, "reason": reason, "by_dimension": by_dim}


def _summary_figures(fig: dict[str, Any], data: Data) -> dict[str, Any]:
    ea = fig["error_analysis"]
    labelled = data.frame[data.frame["split"] != "unlabeled"]
    ws = weights_of(labelled) if len(labelled) else []
    keep = [(v == "pass", w) for v, w in zip(labelled["expert_verdict"], ws, strict=True) if w is not None]
    expert_rate, n_eff = weighted_rate([k for k, _ in keep], [w for _, w in keep]) if keep else (None, 0.0)
    expert_ci = wilson_at(expert_rate, n_eff) if expert_rate is not None else None
    if ea["overall"]:
        o = ea["overall"]
        if o["upper"] - o["lower"] < 1e-9:  # never a zero-width interval: the words instead
            sentence = (f"Estimated pass rate {o['theta']:.1%} on {o['n_unlabeled']} unlabeled interactions, with no "
                        f"usable interval: {' '.join(o['caveats'])}")
        else:
            sentence = (f"Estimated pass rate {o['theta']:.1%} (95% interval {o['lower']:.1%}–{o['upper']:.1%}) on "
                        f"{o['n_unlabeled']} unlabeled interactions, corrected by the judge's {ea['basis']} figures.")
            if o["caveats"]:
                sentence += " Caution: " + " ".join(o["caveats"])
    else:
        sentence = f"Pass rate not estimated: {ea['reason']}"
    return {"corrected_pass_rate": ea["overall"], "reason": ea["reason"], "pass_rate_sentence": sentence,
            "expert_pass_rate": expert_rate,
            "expert_pass_rate_ci": expert_ci,
            "top_root_causes": fig["root_causes"]["tally"][:TOP_CAUSES],
            "trend": [h for h in fig["agreement"]["history"] if h["n"]][-TREND_RUNS:]}


def _next_steps(fig: dict[str, Any]) -> list[str]:
    """What to run next, most urgent first."""
    c, ag, trust = fig["counts"], fig["agreement"], fig["trust"]
    steps = []
    if not c["labelled"]:
        return ["Label rows in the Annotate tab (Pass/Fail, Critique, Root cause), then run `sheetsync pull`."]
    if c["stale_labels"]:
        steps.append(f"{c['stale_labels']} label(s) are stale (the row changed after labelling): ask the expert "
                     "to re-check them, then `sheetsync pull`.")
    if ag["basis"] is None:
        steps.append("Run `sheetsync judge --split dev` to measure the judge against the expert.")
    elif trust["status"] in ("not trusted", "borderline", "unknown"):
        steps.append("Read the Disagreements tab, edit the judge prompt (prompts/judge.md), re-run "
                     "`sheetsync judge --split dev`, then `sheetsync report`.")
    if ag["basis"] == "dev" and c["by_split"]["test"]:
        steps.append("When dev looks good, run `sheetsync judge --split test` once for the numbers to trust.")
    if ag["basis"] and c["by_split"]["unlabeled"] and not c["judged"]["unlabeled"]:
        steps.append("Run `sheetsync judge --split unlabeled` to estimate the pass rate on unlabeled rows.")
    questions = fig.get("questions", {}).get("open", [])
    if questions:
        steps.append(f"{len(questions)} criteria question(s) are open (answered “Unclear” on the Review tab): the "
                     "expert settles each there — Judge is right or My label stands, and why.")
    if fig["disagreements"]:
        steps.append(f"The Review tab lists {len(fig['disagreements'])} disagreement(s): ask the expert to answer "
                     "them (Judge is right / My label stands / Unclear), then `sheetsync pull`.")
    plan = fig.get("planning") or {}
    if ag["basis"] and not plan.get("stop") and fig.get("label_next"):
        steps.append(f"Label more: `sheetsync push DATA --sample 50 --focus uncertain` sends rows from the Label next "
                     f"list ({len(fig['label_next'])} candidates) mixed with random ones.")
    if not steps:
        steps.append("Nothing pressing: re-run `sheetsync report` after new labels or judge runs.")
    return steps
