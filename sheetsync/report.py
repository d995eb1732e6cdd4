"""``sheetsync report``: the figures stakeholders decide from, written as report tabs in one write.

``build_report`` is pure: it reads the local store and returns every figure plus the tab specs, no backend
I/O. ``report`` writes all tabs with ONE ``Workbook.write`` (one batchUpdate on Google, one file write on
xlsx); each tab is ``replace=True``, so a re-run rebuilds the tabs in place instead of adding new ones.

The statistics all come from ``sheetsync.metrics``; this module only chooses the rows they are computed
on and lays the results out. The choices, in one place:

- Rows: every pushed row still in the dataset. A label counts when it is fresh (its content hash is the
  row's, as in the judge runner); stale labels are left out (counted) and the row counts as unlabeled.
- Train rows are the judge's few-shot examples and never count in agreement figures. Root causes use
  every fresh label, train included: they describe the product's failures, not the judge.
- The judge's verdict for a row is the latest one (``Store.latest_verdicts``); a judge error is kept as
  the "error" marker, so the metrics exclude and count it.
- Trust basis: the test split when it has judged labels, else dev (optimistic once the prompt was tuned
  on it), and the report says which. Headline agreement, the ``--fail-under`` gate and the correction of
  pass rates all use this one basis.
- Corrected pass/fail rates use ``method="full"``: the bootstrap resamples the unlabeled verdicts as well
  as the labelled pairs, so the interval covers both sources of noise. judgy's method holds the observed
  rate fixed and gives too narrow an interval when the unlabeled sample (or a dimension cell) is small.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from sheetsync.config import Config
from sheetsync.errors import SheetsyncError, UserInputError
from sheetsync.judge.splits import split_of
from sheetsync.layout import (
    FAIL_RED,
    HEADER_GREY,
    PASS_GREEN,
    WARN_AMBER,
    CellValue,
    Chart,
    ConditionalFormat,
    Range,
    Style,
    TabSpec,
    column_letter,
)
from sheetsync.metrics import (
    Agreement,
    JudgeNoBetterThanChance,
    agreement,
    agreement_by,
    corrected_success_rate,
    corrected_success_rate_by,
    root_cause_tally,
    wilson_interval,
)
from sheetsync.store import Store
from sheetsync.workspace import open_store, open_workspace_workbook

RATE = "0.0%"
KAPPA = "0.00"
NA = "n/a"
SMALL_CELL = 10  # cells with fewer rows are shown in grey: too few to say much
GREY_TEXT = "#8A8A8A"
NOTE_TEXT = "#5F6368"
BLANK = "(blank)"
METHOD = "full"
LABELLED_SPLITS = ("dev", "test")
TREND_RUNS = 5
TOP_CAUSES = 5
_CHART_ROWS = 17  # rows a 320 px chart covers at the default row height, plus one
_MAX_TEXT = 5000  # long inputs/outputs are cut on report tabs; the full text is on the Annotate tab

MEANINGS = {
    "tpr": "TPR (pass recall) = of the interactions the expert passed, the share the judge also passed. "
           "Low TPR: the judge fails good answers.",
    "tnr": "TNR (fail recall) = of the interactions the expert failed, the share the judge also failed. "
           "Low TNR: the judge lets bad answers through.",
    "kappa": "κ (Cohen's kappa) = agreement beyond chance: 0 is chance, 1 is perfect. Fail precision/recall/F1"
             " = the judge as a failure detector, as most tools report it.",
    "ci": "95% low/high = Wilson interval: with this many labels the true rate is likely in this range.",
    "corrected": "Corrected pass rate = the judge's pass rate on the unlabeled interactions, corrected for "
                 "the mistakes it makes on the expert's labels (Rogan–Gladen), with a 95% bootstrap interval.",
}


class NotMeasurable(SheetsyncError):
    """A ``--fail-under`` gate the data cannot decide (no judged labels, or TPR/TNR undefined): a CI gate
    must never pass by default."""


# ---------------------------------------------------------------------------------------------- the result


@dataclass
class Report:
    """Every figure (``figures``, JSON-safe) and the report tabs (``specs``); ``url`` once written."""

    figures: dict[str, Any]
    specs: list[TabSpec]
    headline: Agreement | None = None
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Every figure as plain JSON values: undefined figures are None with the reason beside them."""
        return _json_safe({**self.figures, "url": self.url, "tabs": [s.title for s in self.specs]})

    @property
    def basis(self) -> str | None:
        """The split the judge is measured on: "test", else "dev", else None (nothing judged yet)."""
        return self.figures["agreement"]["basis"]

    def gate(self, threshold: float) -> list[str]:
        """Why the judge fails ``--fail-under threshold`` (TPR or TNR on the basis split below it); empty
        when it passes. Raises NotMeasurable when TPR or TNR cannot be computed."""
        a = self.headline
        if a is None:
            raise NotMeasurable(f"--fail-under: {self.figures['agreement']['reason']}")
        failures = []
        for name, label in (("tpr", "TPR"), ("tnr", "TNR")):
            value = getattr(a, name)
            if value is None:
                raise NotMeasurable(f"--fail-under: {label} on {self.basis} is undefined ({a.undefined[name]}).")
            if value < threshold:
                failures.append(f"{label} {value:.1%} on {self.basis} (n={a.n}) is below {threshold:.1%}")
        return failures

    def lines(self) -> list[str]:
        """A few lines for people, for the CLI."""
        f = self.figures
        out = [f["trust"]["sentence"], f["summary"]["pass_rate_sentence"]]
        causes = f["root_causes"]["tally"][:3]
        if causes:
            out.append("Top root causes: " + ", ".join(f"{c['root_cause']} ({c['count']})" for c in causes))
        out += [f"Next: {s}" for s in f["next_steps"]]
        return out


# ---------------------------------------------------------------------------------------------- entry points


def report(cfg: Config, *, spreadsheet: str | None = None, store: Store | None = None,
           write: bool = True) -> Report:
    """Build the report and (``write``) put every report tab in the workbook with one write."""
    store = store or open_store(cfg)
    rep = build_report(cfg, store)
    if write:
        wb = open_workspace_workbook(cfg, store, spreadsheet)
        wb.write(rep.specs)
        rep.url = wb.url
    return rep


def build_report(cfg: Config, store: Store) -> Report:
    """Figures and tab specs from the store alone (no backend I/O)."""
    data = _load(cfg, store)
    fig: dict[str, Any] = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                           "targets": {"target": cfg.report.target, "floor": cfg.report.floor},
                           "method": METHOD, "counts": data.counts()}
    ag = _agreement_figures(data)
    fig["agreement"] = ag.figures
    fig["trust"] = _trust(ag.headline, ag.basis, ag.figures["reason"], cfg)
    fig["disagreements"] = _disagreements(data)
    fig["root_causes"] = _root_causes(data)
    fig["error_analysis"] = _error_analysis(data, ag)
    fig["summary"] = _summary_figures(data, fig)
    fig["next_steps"] = _next_steps(data, fig)
    specs = [
        _summary_tab(cfg, data, fig),
        _agreement_tab(cfg, data, fig, ag.headline),
        _disagreements_tab(cfg, data, fig),
        _root_causes_tab(cfg, data, fig),
        _error_analysis_tab(cfg, data, fig),
    ]
    return Report(figures=fig, specs=specs, headline=ag.headline)


# ---------------------------------------------------------------------------------------------- data


@dataclass
class _Data:
    frame: pd.DataFrame  # one row per pushed row in the dataset
    dims: list[str]  # dimension names; their frame columns are dim_col(name)
    runs: list[dict[str, Any]]  # store.runs() in order, each with its "verdicts" (store.run_verdicts)
    n_stale: int
    n_pulls: int

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


def dim_col(name: str) -> str:
    """Dimensions get their own column namespace, so a dimension called "split" cannot clash."""
    return f"dim:{name}"


def _dim_value(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == "":
        return BLANK
    return str(value)


def _load(cfg: Config, store: Store) -> _Data:
    """One record per pushed row still in the dataset, with its fresh label, split and latest verdict."""
    rows = store.rows()
    if not rows:
        raise UserInputError("nothing to report: no rows in the local store. Run `sheetsync push DATA` first.")
    layout = json.loads(store.get_meta("annotate_layout") or "{}")
    dims = list(layout.get("dimensions") or cfg.columns.dimensions)
    labels, latest = store.labels(), store.latest_verdicts()
    records, n_stale = [], 0
    for rid, row in rows.items():
        if not row["in_dataset"]:
            continue
        label = labels.get(rid)
        fresh = label is not None and label.verdict in ("pass", "fail")
        if fresh and label.content_hash and label.content_hash != row["content_hash"]:
            fresh, n_stale = False, n_stale + 1
        v = latest.get(rid)
        rec: dict[str, Any] = {
            "id": rid,
            "split": split_of(rid, cfg.judge.train, cfg.judge.dev) if fresh else "unlabeled",
            "expert_verdict": label.verdict if fresh else None,
            "expert_critique": label.critique if fresh else "",
            "root_cause": label.root_cause if fresh else "",
            "judge_verdict": None if v is None else (v["verdict"] or "error"),
            "judge_critique": (v or {}).get("critique") or "",
            "judge_error": (v or {}).get("error") or "",
            "run_id": (v or {}).get("run_id"),
            "input": row["input"], "output": row["output"],
        }
        for d in dims:
            rec[dim_col(d)] = _dim_value(row["fields"].get(d))
        records.append(rec)
    columns = ["id", "split", "expert_verdict", "expert_critique", "root_cause", "judge_verdict", "judge_critique",
               "judge_error", "run_id", "input", "output", *(dim_col(d) for d in dims)]
    frame = pd.DataFrame.from_records(records, columns=columns).astype(object)
    frame = frame.where(frame.notna(), None)
    runs = [{**run, "verdicts": store.run_verdicts(run["run_id"])} for run in store.runs()]
    return _Data(frame, dims, runs, n_stale, store.pull_count())


# ---------------------------------------------------------------------------------------------- figures


@dataclass
class _AgreementFigures:
    figures: dict[str, Any]
    headline: Agreement | None
    basis: str | None
    basis_frame: pd.DataFrame | None


def _agree(frame: pd.DataFrame) -> Agreement:
    return agreement(frame["expert_verdict"].tolist(), frame["judge_verdict"].tolist())


def _agreement_figures(data: _Data) -> _AgreementFigures:
    scored = data.scored
    by_split = {s: _agree(scored[scored["split"] == s]) for s in LABELLED_SPLITS}
    by_split["dev+test"] = _agree(scored)
    basis = next((s for s in ("test", "dev") if by_split[s].n > 0), None)
    headline = by_split[basis] if basis else None
    by_dim = {d: _records(agreement_by(scored, by=dim_col(d))) for d in data.dims} if len(scored) else {}
    fig = {
        "basis": basis, "reason": _basis_reason(data, basis),
        "headline": headline.to_dict() if headline else None,
        "by_split": {k: a.to_dict() for k, a in by_split.items()},
        "by_dimension": {d: [_rename_dim(r, d) for r in recs] for d, recs in by_dim.items()},
        "not_yet_judged": {s: int(data.split(s)["judge_verdict"].isna().sum()) for s in LABELLED_SPLITS},
        "history": _history(data),
    }
    basis_frame = scored[scored["split"] == basis] if basis else None
    return _AgreementFigures(fig, headline, basis, basis_frame)


def _basis_reason(data: _Data, basis: str | None) -> str:
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


def _history(data: _Data) -> list[dict[str, Any]]:
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
    return {"status": status, "sentence": sentence, "basis": basis, "tpr": a.tpr, "tnr": a.tnr, "n": a.n}


def _accuracy_by_value(data: _Data) -> dict[str, dict[str, tuple[float, int]]]:
    """dimension -> value -> (agreement rate, n) over the scored rows, for ordering disagreements."""
    scored = data.scored
    out: dict[str, dict[str, tuple[float, int]]] = {}
    for d in data.dims:
        table = agreement_by(scored, by=dim_col(d)) if len(scored) else pd.DataFrame()
        out[d] = {r[dim_col(d)]: (0.0 if pd.isna(r["accuracy"]) else float(r["accuracy"]), int(r["n"]))
                  for _, r in table.iterrows()}
    return out


def _disagreements(data: _Data) -> list[dict[str, Any]]:
    """Rows where both gave a verdict and they differ, rows in the lowest-agreement dimension values first."""
    scored = data.scored
    rows = scored[scored["judge_verdict"].isin(["pass", "fail"]) & (scored["judge_verdict"] != scored["expert_verdict"])]
    acc = _accuracy_by_value(data)
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


def _root_causes(data: _Data) -> dict[str, Any]:
    labelled = data.frame[data.frame["split"] != "unlabeled"]
    tally = root_cause_tally(labelled, verdict="expert_verdict", root_cause="root_cause")
    by_dim = {}
    for d in data.dims:
        long = root_cause_tally(labelled, verdict="expert_verdict", root_cause="root_cause", by=dim_col(d))
        by_dim[d] = [_rename_dim(r, d) for r in _records(long)]
    return {"n_failed": int(tally.attrs["n_failed"]), "n_labelled": len(labelled),
            "tally": _records(tally), "by_dimension": by_dim}


def _corrected(basis: pd.DataFrame | None, unlabeled: pd.DataFrame, data: _Data) -> tuple[dict | None, str]:
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
                                     unlabeled["judge_verdict"].tolist(), method=METHOD)
    except JudgeNoBetterThanChance:
        return None, ("the judge is no better than chance on the labels (TPR + TNR ≤ 1), so its verdicts say "
                      "nothing about the pass rate. Improve the prompt (see Disagreements) and re-run "
                      "`sheetsync judge --split dev`.")
    except (ValueError, RuntimeError) as exc:
        return None, _friendly(str(exc))
    return est.to_dict(), ""


def _friendly(message: str) -> str:
    if "both positive and negative" in message:
        return (f"the labels the judge is measured on need both a pass and a fail ({message.split('(')[-1]}: "
                "label more rows of the missing kind.")
    return message


def _error_analysis(data: _Data, ag: _AgreementFigures) -> dict[str, Any]:
    unl = data.unlabeled_judged
    overall, reason = _corrected(ag.basis_frame, unl, data)
    by_dim: dict[str, list[dict]] = {}
    if overall is not None and ag.basis_frame is not None:
        for d in data.dims:
            table = corrected_success_rate_by(ag.basis_frame, unl, by=dim_col(d), method=METHOD)
            by_dim[d] = [_rename_dim(r, d) for r in _records(table)]
    return {"basis": ag.basis, "n_unlabeled": len(data.split("unlabeled")), "n_unlabeled_judged": len(unl),
            "overall": overall, "reason": reason, "by_dimension": by_dim}


def _summary_figures(data: _Data, fig: dict[str, Any]) -> dict[str, Any]:
    ea = fig["error_analysis"]
    c = fig["counts"]
    expert_ci = wilson_interval(c["labelled_pass"], c["labelled"]) if c["labelled"] else None
    if ea["overall"]:
        o = ea["overall"]
        sentence = (f"Estimated pass rate {o['theta']:.1%} (95% interval {o['lower']:.1%}–{o['upper']:.1%}) on "
                    f"{o['n_unlabeled']} unlabeled interactions, corrected by the judge's {ea['basis']} figures.")
    else:
        sentence = f"Pass rate not estimated: {ea['reason']}"
    return {"corrected_pass_rate": ea["overall"], "reason": ea["reason"], "pass_rate_sentence": sentence,
            "expert_pass_rate": c["labelled_pass"] / c["labelled"] if c["labelled"] else None,
            "expert_pass_rate_ci": expert_ci,
            "top_root_causes": fig["root_causes"]["tally"][:TOP_CAUSES],
            "trend": [h for h in fig["agreement"]["history"] if h["n"]][-TREND_RUNS:]}


def _next_steps(data: _Data, fig: dict[str, Any]) -> list[str]:
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
    if not steps:
        steps.append("Nothing pressing: re-run `sheetsync report` after new labels or judge runs.")
    return steps


# ---------------------------------------------------------------------------------------------- tab building


class _Grid:
    """Rows laid out top to bottom with their formatting, so each tab builder reads like the tab."""

    def __init__(self) -> None:
        self.rows: list[list[CellValue]] = []
        self.styles: list[Style] = []
        self.cfs: list[ConditionalFormat] = []
        self.charts: list[Chart] = []

    @property
    def row(self) -> int:
        return len(self.rows)

    def line(self, *cells: CellValue, **style: Any) -> int:
        r = self.row
        self.rows.append(list(cells))
        if style:
            self.styles.append(Style(Range(r, 0, r + 1, max(len(cells), 1)), **style))
        return r

    def title(self, text: str) -> int:
        return self.line(text, bold=True, font_size=14)

    def heading(self, text: str) -> int:
        if self.rows and self.rows[-1]:
            self.line()
        return self.line(text, bold=True, font_size=11)

    def note(self, text: str) -> int:
        return self.line(text, italic=True, color=NOTE_TEXT)

    def pad_to(self, row: int) -> None:
        while self.row < row:
            self.line()

    def table(self, header: Sequence[str], rows: Sequence[Sequence[CellValue]],
              formats: dict[int, str] | None = None) -> tuple[int, int]:
        """Header + rows; returns (header row, end row) with end exclusive."""
        h = self.line(*header, bold=True, background=HEADER_GREY)
        for r in rows:
            self.rows.append(list(r))
        end = self.row
        for col, fmt in (formats or {}).items():
            if end > h + 1:
                self.styles.append(Style(Range(h + 1, col, end, col + 1), number_format=fmt))
        return h, end

    def cell_style(self, r: int, c: int, **style: Any) -> None:
        self.styles.append(Style(Range(r, c, r + 1, c + 1), **style))

    def rate_colours(self, r0: int, r1: int, col: int, cfg: Config) -> None:
        """Green at or above the aim, amber between floor and aim, red below the floor; text cells untouched."""
        if r1 <= r0:
            return
        ref = f"{column_letter(col)}{r0 + 1}"
        rng = Range(r0, col, r1, col + 1)
        t, f = cfg.report.target, cfg.report.floor
        self.cfs += [
            ConditionalFormat(rng, f"=AND(ISNUMBER({ref}),{ref}>={t})", PASS_GREEN),
            ConditionalFormat(rng, f"=AND(ISNUMBER({ref}),{ref}>={f},{ref}<{t})", WARN_AMBER),
            ConditionalFormat(rng, f"=AND(ISNUMBER({ref}),{ref}<{f})", FAIL_RED),
        ]

    def spec(self, title: str, widths: dict[int, int], **kw: Any) -> TabSpec:
        return TabSpec.table(title, self.rows or [[""]], replace=True, column_widths=widths, styles=self.styles,
                             conditional_formats=self.cfs, charts=self.charts, **kw)


def _v(x: Any) -> CellValue:
    """A figure for a cell: undefined shows as "n/a" (the reason is written beside it), never as 0."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return NA
    return float(x) if isinstance(x, float | np.floating) else x


def _ci(ci: Sequence[float] | None) -> list[CellValue]:
    return [ci[0], ci[1]] if ci else ["", ""]


def _status(rate: float | None, cfg: Config) -> tuple[str, str | None]:
    if rate is None:
        return "unknown", None
    if rate >= cfg.report.target:
        return "on target", PASS_GREEN
    if rate >= cfg.report.floor:
        return "below target", WARN_AMBER
    return "below floor", FAIL_RED


def _short_time(stamp: str | None) -> str:
    return (stamp or "")[:16].replace("T", " ")


def _cut(text: Any) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= _MAX_TEXT else s[:_MAX_TEXT] + " … (cut: full text on the Annotate tab)"


# -- Agreement -----------------------------------------------------------------------------------------------


_HEADLINE_ROWS = (
    ("tpr", "TPR (pass recall)"), ("tnr", "TNR (fail recall)"), ("accuracy", "Accuracy"),
    ("balanced_accuracy", "Balanced accuracy"), ("kappa", "Cohen's κ"), ("fail_precision", "Fail precision"),
    ("fail_recall", "Fail recall (= TNR)"), ("fail_f1", "Fail F1"),
)


def _headline_block(g: _Grid, a: Agreement, basis: str, cfg: Config) -> None:
    h, end = g.table(["figure", "value", "95% low", "95% high", "vs target", "why undefined"], [])
    for name, label in _HEADLINE_ROWS:
        value = getattr(a, name)
        ci = getattr(a, f"{name}_ci", None) if name in ("tpr", "tnr", "accuracy") else None
        status, colour = _status(value, cfg) if name in ("tpr", "tnr") else ("", None)
        r = g.line(label, _v(value), *_ci(ci), status, a.undefined.get(name, ""))
        g.cell_style(r, 1, number_format=KAPPA if name == "kappa" else RATE, bold=name in ("tpr", "tnr"))
        g.styles.append(Style(Range(r, 2, r + 1, 4), number_format=RATE))
        if colour:
            g.styles.append(Style(Range(r, 1, r + 1, 2), background=colour))
            g.styles.append(Style(Range(r, 4, r + 1, 5), background=colour))
    g.line("n (rows with both verdicts)", a.n)
    g.line("n excluded (judge errors)", a.n_excluded)
    for key in ("tpr", "tnr", "kappa", "ci"):
        g.note(MEANINGS[key])
    g.heading("Confusion matrix (rows: the expert, columns: the judge)")
    h, end = g.table(["", "judge pass", "judge fail", "total"], [
        ["expert pass", a.tp, a.fn, a.tp + a.fn],
        ["expert fail", a.fp, a.tn, a.fp + a.tn],
        ["total", a.tp + a.fp, a.fn + a.tn, a.n],
    ])
    g.cell_style(h + 1, 1, background=PASS_GREEN)
    g.cell_style(h + 2, 2, background=PASS_GREEN)
    g.cell_style(h + 1, 2, background=FAIL_RED)
    g.cell_style(h + 2, 1, background=FAIL_RED)
    g.styles.append(Style(Range(h + 1, 0, end, 1), bold=True))
    g.note(f"Green: the judge agrees with the expert. Red: it does not ({a.fn} good answers failed, {a.fp} bad "
           f"answers passed). Judge errors are not in the matrix ({a.n_excluded}).")


_SPLIT_HEADER = ["split", "n", "TPR", "95% low", "95% high", "TNR", "95% low", "95% high", "accuracy", "κ",
                 "fail precision", "fail F1", "excluded", "why undefined"]


def _undefined_text(undefined: dict[str, str]) -> str:
    """"tpr, tnr: reason; kappa: other reason": each reason once, after the figures it leaves undefined."""
    by_reason: dict[str, list[str]] = {}
    for name, reason in undefined.items():
        if not name.endswith("_ci"):
            by_reason.setdefault(reason, []).append(name)
    return "; ".join(f"{', '.join(names)}: {reason}" for reason, names in by_reason.items())


def _split_row(name: str, a: dict[str, Any]) -> list[CellValue]:
    und = _undefined_text(a["undefined"])
    return [name, a["n"], _v(a["tpr"]), *_ci(a["tpr_ci"]), _v(a["tnr"]), *_ci(a["tnr_ci"]), _v(a["accuracy"]),
            _v(a["kappa"]), _v(a["fail_precision"]), _v(a["fail_f1"]), a["n_excluded"], und]


def _dimension_rows(records: list[dict[str, Any]]) -> list[list[CellValue]]:
    return [[r["value"], r["n"], _v(r["tpr"]), _v(r["tpr_ci_low"]) if r["tpr_ci_low"] is not None else "",
             _v(r["tpr_ci_high"]) if r["tpr_ci_high"] is not None else "", _v(r["tnr"]),
             _v(r["tnr_ci_low"]) if r["tnr_ci_low"] is not None else "",
             _v(r["tnr_ci_high"]) if r["tnr_ci_high"] is not None else "", _v(r["accuracy"]), _v(r["kappa"]),
             _v(r["fail_precision"]), _v(r["fail_f1"]), r["n_excluded"], r["undefined"]] for r in records]


_RATE_COLS = {2: RATE, 3: RATE, 4: RATE, 5: RATE, 6: RATE, 7: RATE, 8: RATE, 9: KAPPA, 10: RATE, 11: RATE}


def _agreement_tab(cfg: Config, data: _Data, fig: dict[str, Any], a: Agreement | None) -> TabSpec:
    ag = fig["agreement"]
    g = _Grid()
    g.title("Agreement: the judge vs the expert")
    if a is None:
        g.line(f"No agreement figures yet: {ag['reason']}", bold=True, background=WARN_AMBER)
    else:
        g.note(f"Headline {ag['reason']} {a.n} rows with both verdicts ({a.n_excluded} excluded). Train rows "
               f"are the judge's examples and never count. Aim {cfg.report.target:.0%}, floor "
               f"{cfg.report.floor:.0%}.")
        g.line()
        _headline_block(g, a, ag["basis"], cfg)
    chart_row = 3
    if ag["history"]:  # the convergence chart sits right of the headline; keep the next section below it
        g.pad_to(chart_row + _CHART_ROWS)

    g.heading("By split")
    h, end = g.table(_SPLIT_HEADER, [_split_row(s, ag["by_split"][s]) for s in ("dev", "test", "dev+test")],
                     _RATE_COLS)
    for col in (2, 5):
        g.rate_colours(h + 1, end, col, cfg)
    waiting = {s: n for s, n in ag["not_yet_judged"].items() if n}
    if waiting:
        g.note("Labelled rows the judge has not seen yet: " + ", ".join(f"{n} {s}" for s, n in waiting.items())
               + " (run `sheetsync judge --split <split>`).")
    for d, recs in ag["by_dimension"].items():
        g.heading(f"By {d} (dev + test; weakest first: lowest lower bound of TPR/TNR, small cells included)")
        h, end = g.table([d, *_SPLIT_HEADER[1:]], _dimension_rows(recs), _RATE_COLS)
        for col in (2, 5):
            g.rate_colours(h + 1, end, col, cfg)

    g.heading("History of judge runs (is the prompt converging?)")
    hist = ag["history"]
    h, end = g.table(
        ["run", "started", "model", "prompt", "split", "status", "n", "TPR", "TNR", "accuracy", "κ", "excluded"],
        [[f"#{x['run']} {x['split']}", _short_time(x["started_at"]), x["model"], (x["prompt_hash"] or "")[:10],
          x["split"], x["status"], x["n"], _v(x["tpr"]), _v(x["tnr"]), _v(x["accuracy"]), _v(x["kappa"]),
          x["n_excluded"]] for x in hist],
        {7: RATE, 8: RATE, 9: RATE, 10: KAPPA},
    )
    for col in (7, 8):
        g.rate_colours(h + 1, end, col, cfg)
    if not hist:
        g.note("No judge runs yet: run `sheetsync judge --split dev`.")
    else:
        g.note("Each run is scored against today's labels on the labelled dev/test rows it judged; runs over "
               "unlabeled rows only have no figures.")
        g.charts.append(Chart("line", "TPR and TNR per judge run", domain=Range(h, 0, end, 1),
                              series=(Range(h, 7, end, 8), Range(h, 8, end, 9)), anchor=(chart_row, 8),
                              x_title="judge run", y_title="rate"))
    return g.spec(cfg.tabs.agreement, {0: 230, 1: 120, **{c: 90 for c in range(2, 13)}, 5: 110, 13: 320})


# -- Disagreements -------------------------------------------------------------------------------------------


def _disagreements_tab(cfg: Config, data: _Data, fig: dict[str, Any]) -> TabSpec:
    dims = data.dims
    header = ["id", "split", *dims, *(["weakest cell"] if dims else []), "expert verdict", "judge verdict",
              "expert critique", "judge critique", "input", "output"]
    rows: list[list[CellValue]] = [header]
    for x in fig["disagreements"]:
        rows.append([x["id"], x["split"], *(x["dimensions"][d] for d in dims),
                     *([x["weakest_cell"]] if dims else []), x["expert_verdict"], x["judge_verdict"],
                     _cut(x["expert_critique"]), _cut(x["judge_critique"]), _cut(x["input"]), _cut(x["output"])])
    n = len(rows)
    ev = 2 + len(dims) + (1 if dims else 0)  # expert verdict column
    widths = {0: 110, 1: 70, **{2 + i: 110 for i in range(len(dims))}, ev: 90, ev + 1: 90, ev + 2: 320,
              ev + 3: 320, ev + 4: 300, ev + 5: 360}
    if dims:
        widths[ev - 1] = 200
    styles = [Style(Range(0, 0, 1, len(header)), bold=True, background=HEADER_GREY)]
    cfs = []
    if n == 1:
        rows.append([_no_disagreements(fig)])
        styles.append(Style(Range(1, 0, 2, 1), italic=True, color=NOTE_TEXT))
    else:
        styles.append(Style(Range(1, ev + 2, n, ev + 6), wrap=True, valign="top"))
        styles.append(Style(Range(1, 0, n, ev + 2), valign="top"))
        for col in (ev, ev + 1):
            ref = f"${column_letter(col)}2"
            cfs += [ConditionalFormat(Range(1, col, n, col + 1), f'={ref}="fail"', FAIL_RED),
                    ConditionalFormat(Range(1, col, n, col + 1), f'={ref}="pass"', PASS_GREEN)]
    return TabSpec.table(cfg.tabs.disagreements, rows, replace=True, frozen_rows=1, frozen_cols=1,
                         column_widths=widths, styles=styles, conditional_formats=cfs,
                         row_height=120 if n > 1 else None,
                         basic_filter=Range(0, 0, n, len(header)) if n > 1 else None)


def _no_disagreements(fig: dict[str, Any]) -> str:
    ag = fig["agreement"]
    if ag["basis"] is None:
        return f"Nothing to compare yet: {ag['reason']}"
    n = ag["by_split"]["dev+test"]["n"]
    return f"No disagreements: the judge agrees with the expert on all {n} scored dev/test rows."


# -- Root causes ---------------------------------------------------------------------------------------------


def _root_causes_tab(cfg: Config, data: _Data, fig: dict[str, Any]) -> TabSpec:
    rc = fig["root_causes"]
    g = _Grid()
    g.title("Root causes of the expert's failures")
    if not rc["n_failed"]:
        g.line(f"No failed rows yet ({rc['n_labelled']} labelled). Root causes appear once the expert fails rows "
               "and names the cause in the Annotate tab; then run `sheetsync pull` and `sheetsync report`.",
               bold=True, background=WARN_AMBER)
        return g.spec(cfg.tabs.root_causes, {0: 260})
    g.note(f"Over the {rc['n_failed']} rows the expert failed (every fresh label, train included: the causes "
           "describe the product, not the judge).")
    g.line()
    h, end = g.table(["root cause", "count", "% of failed rows"],
                     [[t["root_cause"], t["count"], t["percent"] / 100] for t in rc["tally"]], {2: RATE})
    g.note("A row may name several causes (split on , ; |), so the percentages can add up to more than 100%.")
    g.charts.append(Chart("bar", "Root causes (count of failed rows)", domain=Range(h, 0, end, 1),
                          series=(Range(h, 1, end, 2),), anchor=(h, 4), x_title="failed rows"))
    g.pad_to(max(g.row, h + _CHART_ROWS))
    causes = [t["root_cause"] for t in rc["tally"]]
    for d, recs in rc["by_dimension"].items():
        g.heading(f"By {d}: failed rows per root cause")
        cells: dict[str, dict[str, Any]] = {}
        for r in recs:
            cell = cells.setdefault(r["value"], {"n_failed": r["n_failed"]})
            cell[r["root_cause"]] = r["count"]
        g.table([d, "failed rows", *causes],
                [[v, c["n_failed"], *(c.get(cause, 0) for cause in causes)] for v, c in cells.items()])
    return g.spec(cfg.tabs.root_causes, {0: 260, 1: 90, 2: 120, **{c: 120 for c in range(3, 3 + len(causes))}})


# -- Error analysis ------------------------------------------------------------------------------------------


def _error_analysis_tab(cfg: Config, data: _Data, fig: dict[str, Any]) -> TabSpec:
    ea = fig["error_analysis"]
    g = _Grid()
    g.title("Error analysis: where the AI fails, on rows the expert has not labelled")
    if ea["overall"] is None:
        g.line(f"Not available: {ea['reason']}", bold=True, background=WARN_AMBER)
        return g.spec(cfg.tabs.error_analysis, {0: 260})
    o = ea["overall"]
    g.note(f"Judge verdicts on {o['n_unlabeled']} unlabeled rows, corrected by the judge's TPR {o['tpr']:.1%} and "
           f"TNR {o['tnr']:.1%} on {o['n_test']} {ea['basis']} labels"
           + (" (no judged test labels yet: dev figures are optimistic)." if ea["basis"] == "dev" else "."))
    g.note("Observed = the share the judge failed. Corrected = the estimated true failure share once the judge's "
           "own mistakes are allowed for, with a 95% bootstrap interval over labels and rows.")
    g.note(f"Grey rows have fewer than {SMALL_CELL} rows: too few to say much. Every cell assumes the judge errs "
           "as often there as on the labels overall.")
    g.line()
    rows: list[list[CellValue]] = [["all", "all unlabeled rows", o["n_unlabeled"], 1 - o["p_obs"], 1 - o["theta"],
                                    1 - o["upper"], 1 - o["lower"], ""]]
    for d, recs in ea["by_dimension"].items():
        for r in recs:
            defined = r["theta"] is not None
            rows.append([d, r["value"], r["n_unlabeled"],
                         1 - r["p_obs"] if r["p_obs"] is not None else NA,
                         1 - r["theta"] if defined else NA, 1 - r["upper"] if defined else "",
                         1 - r["lower"] if defined else "", _cell_note(r)])
    h, end = g.table(["dimension", "value", "unlabeled rows", "judge fail rate (observed)", "corrected fail rate",
                      "95% low", "95% high", "note"], rows, {3: RATE, 4: RATE, 5: RATE, 6: RATE})
    g.cell_style(h + 1, 4, bold=True)
    for i, row in enumerate(rows):
        if isinstance(row[2], int) and row[2] < SMALL_CELL:
            g.styles.append(Style(Range(h + 1 + i, 0, h + 2 + i, len(row)), color=GREY_TEXT))
    return g.spec(cfg.tabs.error_analysis, {0: 140, 1: 200, 2: 110, 3: 150, 4: 140, 5: 90, 6: 90, 7: 420},
                  frozen_rows=h + 1)


def _cell_note(r: dict[str, Any]) -> str:
    if r["reason"]:
        return _friendly(r["reason"]) if "chance" not in r["reason"] else "judge no better than chance here"
    return f"small cell (n={r['n_unlabeled']}): wide interval" if r["n_unlabeled"] < SMALL_CELL else ""


# -- Summary -------------------------------------------------------------------------------------------------


def _summary_tab(cfg: Config, data: _Data, fig: dict[str, Any]) -> TabSpec:
    s, c, trust = fig["summary"], fig["counts"], fig["trust"]
    g = _Grid()
    g.title("Summary")
    g.note(f"{c['rows']} interactions: {c['labelled']} labelled by the expert, {c['by_split']['unlabeled']} not. "
           f"{c['runs']} judge run(s). Generated {_short_time(fig['generated_at'])} UTC.")

    g.heading("How often does the AI pass?")
    o = s["corrected_pass_rate"]
    h, _ = g.table(["", "value", "95% low", "95% high", "rows"], [])
    if o:
        r = g.line("Estimated pass rate (corrected)", o["theta"], o["lower"], o["upper"], o["n_unlabeled"])
        g.styles.append(Style(Range(r, 1, r + 1, 2), bold=True, font_size=12))
        g.line("Judge's raw pass rate on the same rows", o["p_obs"], "", "", o["n_unlabeled"])
    else:
        r = g.line("Estimated pass rate (corrected)", NA, "", "", c["by_split"]["unlabeled"])
        g.line(f"Why not: {s['reason']}", italic=True, background=WARN_AMBER)
    if s["expert_pass_rate"] is not None:
        g.line("Expert's pass rate on the labelled rows", s["expert_pass_rate"], *_ci(s["expert_pass_rate_ci"]),
               c["labelled"])
    g.styles.append(Style(Range(h + 1, 1, g.row, 4), number_format=RATE))
    g.note(MEANINGS["corrected"])

    g.heading("Can the judge be trusted?")
    colour = {"trusted": PASS_GREEN, "borderline": WARN_AMBER, "not trusted": FAIL_RED}.get(trust["status"],
                                                                                               WARN_AMBER)
    g.line(trust["sentence"], bold=True, background=colour)
    a = fig["agreement"]["headline"]
    if a:
        h, end = g.table(["", "value", "95% low", "95% high", "vs target"], [])
        for name, label in (("tpr", "TPR (pass recall)"), ("tnr", "TNR (fail recall)")):
            status, col = _status(a[name], cfg)
            r = g.line(label, _v(a[name]), *_ci(a[f"{name}_ci"]), status)
            g.styles.append(Style(Range(r, 1, r + 1, 4), number_format=RATE))
            if col:
                g.cell_style(r, 1, background=col, bold=True)
                g.cell_style(r, 4, background=col)
        g.note(MEANINGS["tpr"])
        g.note(MEANINGS["tnr"])

    g.heading("What fails most (expert's root causes)")
    top = s["top_root_causes"]
    if top:
        g.table(["root cause", "count", "% of failed rows"],
                [[t["root_cause"], t["count"], t["percent"] / 100] for t in top], {2: RATE})
        g.note(f"Over {fig['root_causes']['n_failed']} failed rows; a row may name several causes. "
               "Full table: the Root causes tab.")
    else:
        g.note("No failed rows with root causes yet.")

    g.heading("Next steps")
    for step in fig["next_steps"]:
        g.line(f"• {step}")

    g.heading("Trend across judge runs")
    trend = s["trend"]
    if trend:
        h, end = g.table(["run", "split", "TPR", "TNR", "n"],
                         [[f"#{t['run']} {t['split']}", t["split"], _v(t["tpr"]), _v(t["tnr"]), t["n"]]
                          for t in trend], {2: RATE, 3: RATE})
        g.rate_colours(h + 1, end, 2, cfg)
        g.rate_colours(h + 1, end, 3, cfg)
        if len(trend) >= 2:
            g.charts.append(Chart("line", "TPR and TNR over the last judge runs", domain=Range(h, 0, end, 1),
                                  series=(Range(h, 2, end, 3), Range(h, 3, end, 4)), anchor=(end + 1, 0),
                                  width=480, height=240))
            g.pad_to(end + 1 + 13)
    else:
        g.note("No judge run has been scored against labels yet.")
    return g.spec(cfg.tabs.summary, {0: 300, 1: 100, 2: 90, 3: 90, 4: 100})


# ---------------------------------------------------------------------------------------------- JSON helpers


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [_json_safe(r) for r in frame.to_dict(orient="records")]


def _rename_dim(record: dict[str, Any], dim: str) -> dict[str, Any]:
    """The dimension's column becomes "value", so every per-dimension record has the same keys."""
    out = {"value": record.pop(dim_col(dim))}
    out.update(record)
    return out


def _json_safe(x: Any) -> Any:
    """numpy and pandas values as plain Python, NaN as None, tuples as lists."""
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and math.isnan(x):
        return None
    return x
