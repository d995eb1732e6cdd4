"""Choosing which rows the expert sees: every combination of the chosen dimensions first, then random."""

from __future__ import annotations

import hashlib
import heapq
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the streaming sampler below runs where pandas is never imported (sheetsync import)
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


# -- sampling a stream at its source -----------------------------------------------------------------------

#: The dataset column ``sheetsync import --sample`` writes each drawn row's inclusion probability to (the
#: chance the design gave that row of being drawn), for estimators that weight by it.
PROBABILITY_COLUMN = "sample_probability"


@dataclass(frozen=True)
class Drawn:
    """One row a :class:`StreamSample` drew, with the probability the design gave it of being drawn."""

    item: Any
    probability: float
    stratum: tuple = ()


def _priority(seed: int, purpose: str, key: str) -> float:
    """A uniform number in [0, 1) fixed by the seed and the row's key: the same row gets the same priority
    whatever the order of the file, so a sample is reproducible and a grown export keeps most of it."""
    digest = hashlib.blake2b(f"{seed}\x1f{purpose}\x1f{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class StreamSample:
    """``n`` rows drawn from a stream of any length, holding only about ``n`` rows (plus one per stratum).

    Without strata: the ``n`` rows of lowest priority (bottom-k sampling, a uniform sample without
    replacement): each row's inclusion probability is ``n / N``. With strata: one row per stratum first
    (its lowest "rep" priority: uniform within the stratum), then the rest filled from the other rows by an
    independent "fill" priority (uniform among them), so every combination is covered and each row's
    probability is exactly ``1/N_h + (1 - 1/N_h) (n - s) / (N - s)`` for ``s`` strata; when ``n < s``,
    ``n`` strata are chosen at random and the probability is ``n / s / N_h``.
    """

    def __init__(self, n: int, *, seed: int = 0):
        if n < 1:
            raise ValueError("n must be at least 1")
        self.n, self.seed = n, seed
        self.seen = 0
        self._fill: list[tuple[float, int, Any, tuple]] = []  # max-heap on priority (negated)
        self._reps: dict[tuple, tuple[float, int, Any]] = {}
        self._sizes: dict[tuple, int] = {}

    def offer(self, key: str, item: Any, stratum: tuple = ()) -> None:
        """Consider one row; ``key`` identifies it (its id), ``stratum`` its values of the stratifying columns."""
        order = self.seen
        self.seen += 1
        self._sizes[stratum] = self._sizes.get(stratum, 0) + 1
        rep = _priority(self.seed, "rep", key)
        held = self._reps.get(stratum)
        if held is None or rep < held[0]:
            self._reps[stratum] = (rep, order, item)
        fill = _priority(self.seed, "fill", key)
        if len(self._fill) < self.n:
            heapq.heappush(self._fill, (-fill, order, item, stratum))
        elif -self._fill[0][0] > fill:
            heapq.heapreplace(self._fill, (-fill, order, item, stratum))

    def drawn(self, *, stratified: bool) -> tuple[list[Drawn], list[str]]:
        """The rows drawn, in the order they were offered, and warnings (fewer slots than strata)."""
        n, total = self.n, self.seen
        if total <= n:
            everything = [(o, it, s) for _, o, it, s in self._fill]
            return [Drawn(it, 1.0, s) for _, it, s in sorted(everything, key=lambda t: t[0])], []
        if not stratified:
            chosen = sorted((o, it, s) for _, o, it, s in self._fill)
            return [Drawn(it, n / total, s) for _, it, s in chosen], []
        strata = sorted(self._reps)
        s = len(strata)
        warnings: list[str] = []
        if n < s:
            random.Random(self.seed).shuffle(strata)
            warnings.append(f"--sample {n} is smaller than the {s} combinations of the --stratify-by columns: "
                            f"{s - n} combinations are not shown.")
            picked = [(self._reps[k][1], self._reps[k][2], k, n / s / self._sizes[k]) for k in strata[:n]]
        else:
            reps = {self._reps[k][1] for k in strata}
            rest = sorted((-neg, o, it, k) for neg, o, it, k in self._fill if o not in reps)[: n - s]
            share = (n - s) / (total - s)
            picked = [(self._reps[k][1], self._reps[k][2], k, 0.0) for k in strata]
            picked += [(o, it, k, 0.0) for _, o, it, k in rest]
            picked = [(o, it, k, 1 / self._sizes[k] + (1 - 1 / self._sizes[k]) * share) for o, it, k, _ in picked]
        picked.sort(key=lambda t: t[0])
        return [Drawn(it, p, k) for _, it, k, p in picked], warnings
