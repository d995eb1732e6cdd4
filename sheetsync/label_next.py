"""Which rows the expert should label next, and why: rows the judge is unsure of (its verdict flips when
asked again), rows from dimension cells with too few labels to measure the judge there, and rows the judge
failed. ``push --sample N --focus uncertain`` draws its focused share from them (always mixed with a random
share, each row's probability recorded); the report lists them ranked as "Label next".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from sheetsync.metrics import flip_rates
from sheetsync.store import Store

MIN_CELL_LABELS = 10  # a dimension value with fewer labels than this cannot measure the judge there
FLIPPED, THIN_CELL, JUDGE_FAIL = "the judge's verdict flips when asked again", "few labels in", "the judge failed it"


def judge_flagged(store: Store) -> set[str]:
    """Ids the latest judgement failed, or disagreed with the expert on."""
    labels = store.labels()
    flagged = set()
    for rid, v in store.latest_verdicts().items():
        verdict = v["verdict"]
        label = labels.get(rid)
        if verdict == "fail" or (verdict and label is not None and label.verdict and label.verdict != verdict):
            flagged.add(rid)
    return flagged


def flips(store: Store) -> dict[str, dict[str, Any]]:
    """Per row, the judge's self-consistency from the latest run that re-asked it (``judge --repeat``)."""
    out: dict[str, dict[str, Any]] = {}
    for run_id in store.repeated_runs():
        first = store.run_verdicts(run_id)
        asks = {rid: [first.get(rid, {}).get("verdict"), *ks.values()] for rid, ks in store.repeats(run_id).items()}
        out.update(flip_rates(asks)["rows"])
    return out


def thin_cells(dims: Mapping[str, Mapping[str, str]], labelled: set[str], dimensions: Iterable[str],
               minimum: int = MIN_CELL_LABELS) -> dict[str, list[str]]:
    """id -> the "dimension=value" cells it belongs to that have fewer than ``minimum`` labels."""
    counts: dict[tuple[str, str], int] = {}
    dimensions = list(dimensions)
    for rid, values in dims.items():
        if rid in labelled:
            for d in dimensions:
                counts[(d, str(values.get(d, "")))] = counts.get((d, str(values.get(d, ""))), 0) + 1
    out: dict[str, list[str]] = {}
    for rid, values in dims.items():
        thin = [f"{d}={values.get(d, '')}" for d in dimensions if counts.get((d, str(values.get(d, ""))), 0) < minimum]
        if thin:
            out[rid] = thin
    return out


def candidates(store: Store, dims: Mapping[str, Mapping[str, str]], labelled: set[str], dimensions: Iterable[str]
               ) -> list[dict[str, Any]]:
    """Unlabelled rows worth labelling next, most useful first, each with its reasons.

    Ranking: rows whose verdict flips (the more even the split of re-asks, the higher), then rows in thin
    cells (the thinner, the higher), then judge fails; ties by id, so the list is stable.
    """
    flipped, failed = flips(store), judge_flagged(store)
    thin = thin_cells(dims, labelled, dimensions)
    out = []
    for rid in dims:
        if rid in labelled:
            continue
        reasons, score = [], 0.0
        f = flipped.get(rid)
        if f and f["flipped"]:
            reasons.append(f"{FLIPPED} ({f['passes']} pass of {f['asks']})")
            score += 100 + 10 * (f["disagreement"] or 0)
        if rid in thin:
            reasons.append(f"{THIN_CELL} {', '.join(thin[rid])}")
            score += 10
        if rid in failed:
            reasons.append(JUDGE_FAIL)
            score += 1
        if reasons:
            out.append({"id": rid, "score": score, "reasons": reasons})
    out.sort(key=lambda r: (-r["score"], r["id"]))
    return out


def flagged_ids(store: Store, focus: str, *, frame: pd.DataFrame, id_column: str, dimensions: list[str]) -> set[str]:
    """The rows ``push --focus`` over-samples: "fails" (judge fails and disagreements) or "uncertain"."""
    if focus == "fails":
        return judge_flagged(store)
    labelled = {rid for rid, lb in store.labels().items() if lb.verdict}
    dims = {rid: dict(zip(dimensions, values, strict=True))
            for rid, *values in frame[[id_column, *dimensions]].itertuples(index=False, name=None)}
    return {c["id"] for c in candidates(store, dims, labelled, dimensions)} | judge_flagged(store)
