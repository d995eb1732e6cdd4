"""The figures of each ``[judges.NAME]`` (step 7): agreement with its ground truth (derived from the expert's
root causes, :mod:`sheetsync.judge.specs`) by split, and the corrected rate of its failure mode on the
unlabelled rows — the same metrics and the same choices as the judge's (basis test, else dev; train never
scored; errors excluded and counted)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from sheetsync.config import Config
from sheetsync.judge.specs import judge_spec
from sheetsync.metrics import agreement, split_root_causes
from sheetsync.report.data import LABELLED_SPLITS, Data
from sheetsync.report.figures import _corrected

DISAGREEMENTS_SHOWN = 20


def judges_figures(cfg: Config, data: Data) -> dict[str, dict[str, Any]]:
    return {name: _one(cfg, data, name) for name in cfg.judges}


def _one(cfg: Config, data: Data, name: str) -> dict[str, Any]:
    spec = judge_spec(cfg, name)
    latest = data.judges.get(name, {}).get("latest", {})
    runs = data.judges.get(name, {}).get("runs", [])
    f = data.frame.copy()
    f["expert_verdict"] = [
        spec.truth(v, tuple(split_root_causes(rc)), data.taxonomy) if v else None
        for v, rc in zip(f["expert_verdict"], f["root_cause"], strict=True)
    ]
    f["judge_verdict"] = [None if rid not in latest else (latest[rid]["verdict"] or "error") for rid in f["id"]]
    f["judge_critique"] = [(latest.get(rid) or {}).get("critique") or "" for rid in f["id"]]
    labelled = f[f["split"].isin(LABELLED_SPLITS)]
    truth = labelled[labelled["expert_verdict"].isin(["pass", "fail"])]
    scored = truth[truth["judge_verdict"].notna()]
    by_split = {s: agreement(scored[scored["split"] == s]["expert_verdict"].tolist(),
                             scored[scored["split"] == s]["judge_verdict"].tolist()) for s in LABELLED_SPLITS}
    by_split["dev+test"] = agreement(scored["expert_verdict"].tolist(), scored["judge_verdict"].tolist())
    basis = next((s for s in ("test", "dev") if by_split[s].n > 0), None)
    basis_frame = scored[scored["split"] == basis] if basis else None
    unl = f[(f["split"] == "unlabeled") & f["judge_verdict"].notna()]
    overall, reason = _corrected(basis_frame, unl, data)
    if not runs:
        reason = f"not run yet: `sheetsync judge --judge {_quote(name)} --split dev`, later test and unlabeled."
    wrong = scored[scored["judge_verdict"].isin(["pass", "fail"]) & (scored["judge_verdict"] != scored["expert_verdict"])]
    return {
        "kind": spec.kind, "root_cause": spec.root_cause, "criterion": spec.criterion,
        "assertion": spec.assertion, "other_failures": spec.other_failures, "runs": len(runs),
        "last_run": runs[-1]["started_at"] if runs else None,
        "ground_truth": {
            "fail": int((labelled["expert_verdict"] == "fail").sum()),
            "pass": int((labelled["expert_verdict"] == "pass").sum()),
            "left_out": int(((labelled["expert_verdict"] == "") | labelled["expert_verdict"].isna()).sum()),
        },
        "basis": basis, "headline": by_split[basis].to_dict() if basis else None,
        "by_split": {k: a.to_dict() for k, a in by_split.items()},
        "corrected": overall, "reason": reason, "n_unlabeled_judged": len(unl),
        "failure_rate": None if overall is None else {"rate": 1 - overall["theta"], "lower": 1 - overall["upper"],
                                                      "upper": 1 - overall["lower"], "observed": 1 - overall["p_obs"]},
        "disagreements": _disagreements(wrong),
    }


def _disagreements(wrong: pd.DataFrame) -> list[dict[str, Any]]:
    rows = wrong.sort_values(["split", "id"], ascending=[False, True]).head(DISAGREEMENTS_SHOWN)
    return [{"id": r["id"], "split": r["split"], "truth": r["expert_verdict"], "judge": r["judge_verdict"],
             "expert_critique": r["expert_critique"], "judge_critique": r["judge_critique"]}
            for _, r in rows.iterrows()]


def _quote(name: str) -> str:
    return name if name.replace("_", "").replace("-", "").isalnum() else f'"{name}"'
