"""The rows the report is computed on: one frame from the local store, with each row's fresh label, split
and latest judge verdict, so every figure and tab reads the same choices."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from sheetsync.config import Config
from sheetsync.errors import UserInputError
from sheetsync.judge.splits import split_of
from sheetsync.review.guidance import guidance_rows
from sheetsync.sampling import PROBABILITY_COLUMN
from sheetsync.store import Store
from sheetsync.store.location import nothing_to_report
from sheetsync.taxonomy import load_taxonomy
from sheetsync.triage.measure import current_classifications

BLANK = "(blank)"
LABELLED_SPLITS = ("dev", "test")


@dataclass
class Data:
    frame: pd.DataFrame  # one row per pushed row in the dataset
    dims: list[str]  # dimension names; their frame columns are dim_col(name)
    runs: list[dict[str, Any]]  # store.runs() in order, each with its "verdicts" (store.run_verdicts)
    n_stale: int
    n_pulls: int
    #: run_id -> the expert's verdicts (fresh, dev/test rows of today's splits) when the run was made: the
    #: labels its figures were first measured against (sheetsync.report.revisions splits a change with them).
    labels_then: dict[str, dict[str, str]] = field(default_factory=dict)
    taxonomy: Any = None  # sheetsync.taxonomy.Taxonomy: the config's causes and the expert's accepted proposals
    classified: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> the classifier's latest answer
    judges: dict[str, dict[str, Any]] = field(default_factory=dict)  # [judges.NAME] -> latest verdicts and runs
    flips: dict[str, dict[str, Any]] = field(default_factory=dict)  # judge --repeat: per row (label_next.flips)
    label_next: list[dict[str, Any]] = field(default_factory=list)  # label_next.candidates, best first

    def split(self, *names: str) -> pd.DataFrame:
        return self.frame[self.frame["split"].isin(names)]

    @property
    def scored(self) -> pd.DataFrame:
        """Labelled dev/test rows the judge has looked at (verdict or error)."""
        s = self.split(*LABELLED_SPLITS)
        return s[s["judge_verdict"].notna()]

    @property
    def unlabeled_judged(self) -> pd.DataFrame:
        u = self.split("unlabeled")
        return u[u["judge_verdict"].notna()]

    def counts(self) -> dict[str, Any]:
        split_counts = {s: int((self.frame["split"] == s).sum()) for s in ("train", "dev", "test", "unlabeled")}
        labelled = self.frame[self.frame["split"] != "unlabeled"]
        return {
            "rows": len(self.frame), "labelled": len(labelled),
            "labelled_pass": int((labelled["expert_verdict"] == "pass").sum()),
            "labelled_fail": int((labelled["expert_verdict"] == "fail").sum()),
            "stale_labels": self.n_stale, "pulls": self.n_pulls, "runs": len(self.runs),
            "by_split": split_counts,
            "judged": {s: int(self.split(s)["judge_verdict"].notna().sum()) for s in split_counts},
            "judge_errors": int((self.frame["judge_verdict"] == "error").sum()),
        }


def _probability(provenance: dict[str, Any] | None, fields: dict[str, Any]) -> float | None:
    """A row's chance of being labelled: of being drawn by push (its provenance) times, when ``sheetsync import
    --sample`` drew it from a larger export first, its chance there (two-phase sampling); None if unknown."""
    p = (provenance or {}).get("probability")
    if p is None:
        return None
    source = fields.get(PROBABILITY_COLUMN)
    try:
        q = float(source) if source not in (None, "") else 1.0
    except (TypeError, ValueError):
        return None
    return p * q if 0 < q <= 1 else None


def dim_col(name: str) -> str:
    """Dimensions get their own column namespace, so a dimension called "split" cannot clash."""
    return f"dim:{name}"


def _dim_value(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == "":
        return BLANK
    return str(value)


def load(cfg: Config, store: Store) -> Data:
    """One record per pushed row still in the dataset, with its fresh label, split and latest verdict."""
    rows = store.rows()
    if not rows:
        raise UserInputError(nothing_to_report(cfg))
    layout = json.loads(store.get_meta("annotate_layout") or "{}")
    dims = list(layout.get("dimensions") or cfg.columns.dimensions)
    (labels, stale), latest = store.fresh_labels(), store.latest_verdicts()
    provenance = store.provenance()
    n_stale = len(stale)
    taught = guidance_rows(cfg, store, labels)
    records = []
    for rid, row in rows.items():
        if not row["in_dataset"]:
            continue
        label = labels.get(rid)
        fresh = label is not None
        v = latest.get(rid)
        rec: dict[str, Any] = {
            "id": rid,
            "split": ("train" if rid in taught else split_of(rid, cfg.judge.train, cfg.judge.dev)) if fresh
            else "unlabeled",
            "expert_verdict": label.verdict if fresh else None,
            "expert_critique": label.critique if fresh else "",
            "root_cause": label.root_cause if fresh else "",
            "judge_verdict": None if v is None else (v["verdict"] or "error"),
            "judge_critique": (v or {}).get("critique") or "",
            "judge_error": (v or {}).get("error") or "",
            "run_id": (v or {}).get("run_id"),
            "drawn_by": (provenance.get(rid) or {}).get("method", ""),
            "probability": _probability(provenance.get(rid), row["fields"]),
            "input": row["input"], "output": row["output"],
        }
        for d in dims:
            rec[dim_col(d)] = _dim_value(row["fields"].get(d))
        records.append(rec)
    columns = ["id", "split", "expert_verdict", "expert_critique", "root_cause", "judge_verdict", "judge_critique",
               "judge_error", "run_id", "drawn_by", "probability", "input", "output", *(dim_col(d) for d in dims)]
    frame = pd.DataFrame.from_records(records, columns=columns).astype(object)
    frame = frame.where(frame.notna(), None)
    runs = [{**run, "verdicts": store.run_verdicts(run["run_id"])} for run in store.runs()]
    scored = set(frame.loc[frame["split"].isin(LABELLED_SPLITS), "id"])
    tax = load_taxonomy(cfg, store)
    judges = {name: {"latest": store.latest_verdicts(name), "runs": store.runs(name)} for name in cfg.judges}
    from sheetsync.label_next import candidates, flips

    dim_values = {r["id"]: {d: r[dim_col(d)] for d in dims} for r in records}
    labelled = {r["id"] for r in records if r["split"] != "unlabeled"}
    return Data(frame, dims, runs, n_stale, store.pull_count(), labels_then(store, runs, rows, scored),
                taxonomy=tax, classified=current_classifications(store, tax), judges=judges, flips=flips(store),
                label_next=candidates(store, dim_values, labelled, dims))


def labels_then(store: Store, runs: list[dict[str, Any]], rows: dict[str, dict[str, Any]],
                scored: set[str]) -> dict[str, dict[str, str]]:
    """For each run, the verdicts of the latest pull before it (recorded with the run; older runs: the last
    pull made before the run started), counted like today's labels: given for the row as it is now, on a
    row scored today."""
    pulls = store.pulls()
    cache: dict[int, dict[str, str]] = {}
    out = {}
    for run in runs:
        pull_id = _params(run).get("pull_id")
        if pull_id is None:
            pull_id = max((p["pull_id"] for p in pulls if p["pulled_at"] <= run["started_at"]), default=None)
        if pull_id is None:
            out[run["run_id"]] = {}
            continue
        if pull_id not in cache:
            cache[pull_id] = {i: lb.verdict for i, lb in store.labels(pull_id).items()
                              if i in scored and lb.verdict in ("pass", "fail")
                              and lb.content_hash == rows.get(i, {}).get("content_hash")}
        out[run["run_id"]] = cache[pull_id]
    return out


def _params(run: dict[str, Any]) -> dict[str, Any]:
    try:
        params = json.loads(run.get("params") or "{}")
    except (TypeError, ValueError):
        return {}
    return params if isinstance(params, dict) else {}
