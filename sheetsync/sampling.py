"""Choosing which rows the expert sees: every combination of the chosen dimensions first, then random."""

from __future__ import annotations

import random

import pandas as pd


def stratified_sample(frame: pd.DataFrame, n: int, by: list[str], *, seed: int = 0) -> tuple[list[int], list[str]]:
    """Positions of ``n`` rows covering every combination of ``by`` before random fill; deterministic.

    Returns the positions (in frame order) and warnings (e.g. fewer rows than combinations).
    """
    rng = random.Random(seed)
    positions = list(range(len(frame)))
    if n >= len(positions):
        return positions, []
    warnings: list[str] = []
    chosen: list[int] = []
    if by:
        groups: dict[tuple, list[int]] = {}
        for pos, key in enumerate(frame[by].itertuples(index=False, name=None)):
            groups.setdefault(key, []).append(pos)
        keys = sorted(groups)
        rng.shuffle(keys)
        if n < len(keys):
            warnings.append(
                f"--sample {n} is smaller than the {len(keys)} combinations of {', '.join(by)}: "
                f"{len(keys) - n} combinations are not shown."
            )
        for key in keys[:n]:
            chosen.append(rng.choice(groups[key]))
    taken = set(chosen)
    rest = [p for p in positions if p not in taken]
    rng.shuffle(rest)
    chosen.extend(rest[: n - len(chosen)])
    return sorted(chosen), warnings


def focus_sample(
    frame: pd.DataFrame, n: int, flagged: list[bool], *, random_share: float = 0.3, by: list[str] | None = None,
    seed: int = 0,
) -> tuple[list[int], list[str], dict[str, int]]:
    """A review batch of ``n`` rows: ``1 - random_share`` of it drawn from flagged rows (e.g. the judge
    failed them), the rest random (stratified by ``by``), so the expert keeps seeing the ordinary cases too.

    Returns positions, warnings and the batch's composition.
    """
    rng = random.Random(seed)
    n = min(n, len(frame))
    pool = [i for i, f in enumerate(flagged) if f]
    want = n - round(n * random_share)
    rng.shuffle(pool)
    chosen = sorted(pool[:want])
    warnings = []
    if len(chosen) < want:
        warnings.append(f"only {len(chosen)} rows are flagged by the judge; the rest of the batch is random.")
    taken = set(chosen)
    rest_positions = [i for i in range(len(frame)) if i not in taken]
    rest = frame.iloc[rest_positions].reset_index(drop=True)
    picked, more = stratified_sample(rest, n - len(chosen), by or [], seed=seed)
    warnings += more
    randoms = [rest_positions[p] for p in picked]
    return sorted(chosen + randoms), warnings, {"flagged": len(chosen), "random": len(randoms)}
