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
