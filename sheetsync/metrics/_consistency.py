"""Does the judge agree with itself? Flip rates over K re-asks of the same rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._agreement import wilson_interval
from ._labels import normalize_judge


def flip_rates(verdicts: Mapping[str, Sequence[Any]], confidence: float = 0.95) -> dict[str, Any]:
    """Per row and overall: how often the judge's verdict changes when the same row is asked again.

    ``verdicts`` maps a row id to its K verdicts (errors and missing ones are left out). A row *flips* when
    its usable verdicts are not all the same. Overall figures: the share of rows that flip (with Wilson's
    interval) and the disagreement rate — the chance that two asks of the same row disagree, averaged over
    rows (2·k·(K−k) / (K·(K−1)) for a row with k passes in K asks; 0 for a judge that always repeats
    itself).
    """
    rows: dict[str, dict[str, Any]] = {}
    for rid, values in verdicts.items():
        usable = [v for v in (normalize_judge(x) for x in values) if v is not None]
        k, n = sum(usable), len(usable)
        disagree = (2 * k * (n - k) / (n * (n - 1))) if n >= 2 else None
        rows[rid] = {"asks": n, "passes": k, "flipped": 0 < k < n, "disagreement": disagree,
                     "majority": None if not n else "pass" if 2 * k > n else "fail" if 2 * k < n else "tie"}
    usable_rows = [r for r in rows.values() if r["asks"] >= 2]
    n_rows, flipped = len(usable_rows), sum(r["flipped"] for r in usable_rows)
    return {
        "rows": rows, "n_rows": n_rows, "n_flipped": flipped,
        "flip_rate": flipped / n_rows if n_rows else None,
        "flip_rate_ci": wilson_interval(flipped, n_rows, confidence) if n_rows else None,
        "disagreement_rate": (sum(r["disagreement"] for r in usable_rows) / n_rows) if n_rows else None,
    }
