"""``sheetsync compare A B``: did version B of the team's AI system do better than version A?

A and B are two datasets with the same inputs (rows paired by id: the data's own, or the content hash of the
input and context that sheetsync gives rows without one, so the same inputs pair up). The workspace's judge —
its current prompt and few-shot examples, the model in ``[judge]`` — judges every output of both (calls
cached like any judge call), and the change in the corrected pass rate, (p_B − p_A) / (TPR + TNR − 1), gets
an interval that counts the paired sample and the judge's own error rates as measured on the expert's labels
(test split, else dev, weighted as in the report). Overall and per dimension value. The judge must be the
one validated: a model or prompt other than the latest test run's is warned about.

``compare_runs`` (``sheetsync compare --runs A B``) compares two judge runs instead: the change in TPR and
TNR on the labelled rows both judged, paired.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sheetsync import llm
from sheetsync.config import Config
from sheetsync.dataset import load_dataset
from sheetsync.errors import UserInputError
from sheetsync.judge.inputs import _load, _prompt, _require_store
from sheetsync.judge.prompt import Item
from sheetsync.judge.runner import judge_calls, settings_for
from sheetsync.metrics import corrected_difference
from sheetsync.report import build_report


@dataclass
class CompareResult:
    a: str
    b: str
    n_paired: int
    basis: str | None
    tpr: float
    tnr: float
    overall: dict[str, Any]
    by_dimension: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    calls_made: int = 0
    cache_hits: int = 0
    worse: bool = False  # B's corrected pass rate is lower than A's beyond doubt (the interval is below 0)
    n_pass: float = 0.0  # the (effective) expert passes and fails TPR and TNR rest on
    n_fail: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        from sheetsync.report.records import json_safe

        return json_safe(asdict(self))


@dataclass
class _Rows:
    items: dict[str, Item]


def compare(cfg: Config, a: str | Path, b: str | Path, *, progress: bool = True) -> CompareResult:
    store = _require_store(cfg, "nothing to compare against")
    rep = build_report(cfg, store)
    head, basis = rep.figures["agreement"]["headline"], rep.figures["agreement"]["basis"]
    if not head or head["tpr"] is None or head["tnr"] is None:
        raise UserInputError(f"compare needs a judge measured against the expert: {rep.figures['agreement']['reason']}")
    if head["tpr"] + head["tnr"] <= 1:
        raise UserInputError("the judge is no better than chance on the expert's labels (TPR + TNR <= 1): its "
                             "verdicts cannot compare two versions. Improve the prompt first.")
    warnings = [] if basis == "test" else ["the judge is measured on dev only: run `sheetsync judge --split test` "
                                           "for figures to trust."]
    ds_a, ds_b = load_dataset(a, cfg.columns), load_dataset(b, cfg.columns)
    rows_a, rows_b = _items(ds_a), _items(ds_b)
    paired = [rid for rid in rows_a if rid in rows_b]
    if not paired:
        raise UserInputError(f"{a} and {b} share no row ids (nor inputs): compare needs the same inputs in both.")
    unpaired = len(rows_a) + len(rows_b) - 2 * len(paired)
    if unpaired:
        warnings.append(f"{unpaired} row(s) are in only one of the two datasets and are left out.")
    ws = _load(cfg, store)
    prompt = _prompt(cfg, store, ws, None)
    settings = settings_for(cfg)
    warnings += _validated(store, settings.model, prompt.template_hash)
    verdicts, made, hits = {}, 0, 0
    for name, rows in (("A", rows_a), ("B", rows_b)):
        got: dict[str, str | None] = {}

        def record(result: llm.Result, got: dict = got) -> None:
            got[result.key] = (result.value or {}).get("verdict") if result.ok else None

        summary = llm.run(judge_calls(prompt, _Rows(rows), paired, settings, cfg.judge.fit_context), settings,
                          cache=store, on_result=record, progress=progress, label=f"Judging {name}",
                          keep_results=False)
        made, hits, verdicts[name] = made + summary.calls_made, hits + summary.cache_hits, got
    usable = [rid for rid in paired if verdicts["A"].get(rid) and verdicts["B"].get(rid)]
    if len(usable) < len(paired):
        warnings.append(f"{len(paired) - len(usable)} pair(s) left out: the judge gave no verdict on one side.")
    if not usable:
        raise UserInputError("the judge gave no verdict on any pair; see the errors above and run again.")
    n_pass, n_fail = head["n_eff_pass"], head["n_eff_fail"]

    def diff(ids: list[str]) -> dict[str, Any]:
        return corrected_difference([verdicts["A"][r] == "pass" for r in ids], [verdicts["B"][r] == "pass" for r in ids],
                                    head["tpr"], head["tnr"], n_pass, n_fail)

    overall = diff(usable)
    if overall["caveat"]:
        warnings.append(f"B − A: {overall['caveat']}.")
    by_dim = {}
    for d in ds_a.dimensions:
        values = ds_a.frame.set_index(ds_a.id)[d].to_dict()
        cells: dict[str, list[str]] = {}
        for rid in usable:
            cells.setdefault(str(values.get(rid, "")), []).append(rid)
        by_dim[d] = [{"value": v, **diff(ids)} for v, ids in sorted(cells.items())]
    return CompareResult(str(a), str(b), len(usable), basis, head["tpr"], head["tnr"], overall, by_dim, warnings,
                         made, hits, worse=overall["ci"][1] < 0, n_pass=n_pass, n_fail=n_fail)


def _items(ds) -> dict[str, Item]:
    out = {}
    for rec in ds.frame.to_dict(orient="records"):
        out[rec[ds.id]] = Item(rec[ds.id], rec[ds.input], rec[ds.output], {c: rec[c] for c in ds.context})
    return out


def _validated(store, model: str, template_hash: str) -> list[str]:
    tested = [r for r in store.runs() if r["split"] in ("test", "all")]
    if not tested:
        return ["the judge has never been run on the test split: its error rates come from dev."]
    last = tested[-1]
    changed = [w for w, mine, theirs in (("model", model, last["model"]), ("prompt", template_hash,
                                                                          last["template_hash"])) if mine != theirs]
    if not changed:
        return []
    return [f"the {' and '.join(changed)} differ from the judge validated on test (run {last['run_id']}): its TPR "
            "and TNR may not hold. Run `sheetsync judge --split test` again with this judge."]


def compare_runs(cfg: Config, a: str, b: str) -> dict[str, Any]:
    """Two judge runs (another prompt or model) on the labelled rows both judged: the change in TPR and TNR
    with Bonett–Price's paired interval and McNemar's test. ``a``/``b`` are run ids, or "previous"/"latest" (the
    last two runs that judged labelled rows). ``worse``: TPR or TNR fell beyond doubt (interval below 0)."""
    from sheetsync.metrics import paired_difference

    store = _require_store(cfg, "nothing to compare")
    labels, _ = store.fresh_labels()
    runs = store.runs()
    judged = [r for r in runs if any(rid in labels for rid in store.run_verdicts(r["run_id"]))]
    names = {"latest": judged[-1]["run_id"] if judged else None,
             "previous": judged[-2]["run_id"] if len(judged) > 1 else None}
    by_id = {r["run_id"]: r for r in runs}
    picked = []
    for name in (a, b):
        run_id = names.get(name, name)
        if run_id not in by_id:
            known = ", ".join(r["run_id"] for r in judged[-5:]) or "none"
            raise UserInputError(f"no judge run {name!r} that judged labelled rows (latest: {known}); use run ids "
                                 "from `sheetsync report` (Agreement tab, history) or previous/latest.")
        picked.append(by_id[run_id])
    va, vb = (store.run_verdicts(r["run_id"]) for r in picked)
    shared = sorted(rid for rid in labels if va.get(rid, {}).get("verdict") and vb.get(rid, {}).get("verdict"))
    if not shared:
        raise UserInputError("the two runs judged no labelled row in common: nothing to compare.")
    out: dict[str, Any] = {"a": {k: picked[0][k] for k in ("run_id", "model", "template_hash", "split")},
                           "b": {k: picked[1][k] for k in ("run_id", "model", "template_hash", "split")},
                           "n": len(shared)}
    for name, kind in (("tpr", "pass"), ("tnr", "fail")):
        ids = [rid for rid in shared if labels[rid].verdict == kind]
        out[name] = paired_difference([va[r]["verdict"] == kind for r in ids], [vb[r]["verdict"] == kind for r in ids])
    out["worse"] = any(out[k]["ci"] is not None and out[k]["ci"][1] < 0 for k in ("tpr", "tnr"))
    changed = [w for w, k in (("model", "model"), ("prompt", "template_hash")) if picked[0][k] != picked[1][k]]
    out["warnings"] = ([f"the {' and '.join(changed)} changed: validate the new judge on test (`sheetsync judge "
                        "--split test`) before trusting its corrected pass rates."] if changed else [])
    return out
