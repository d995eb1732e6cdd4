"""Choosing which rows the expert sees: every combination of the chosen dimensions first, then random."""

from __future__ import annotations

import hashlib
import heapq
import random
from dataclasses import dataclass, field
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
    chosen, randoms, warnings = _focus(frame, n, flagged, random_share, by or [], seed)
    return sorted(chosen + randoms), warnings, {"flagged": len(chosen), "random": len(randoms)}


def _focus(frame: pd.DataFrame, n: int, flagged: list[bool], random_share: float, by: list[str], seed: int
           ) -> tuple[list[int], list[int], list[str]]:
    """(positions the flagged part took, positions the random share took, warnings)."""
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
    picked, more = stratified_sample(rest, n - len(chosen), by, seed=seed)
    warnings += more
    return chosen, [rest_positions[p] for p in picked], warnings


# -- how likely each row was to be drawn (label provenance) -------------------------------------------------
#
# Every labelled row's probability of being drawn is recorded, so the statistics can weight each label by
# 1 / probability (sheetsync.metrics.design_weights) and focused rounds do not bias TPR and TNR. The
# probabilities follow the samplers above exactly: one row per stratum first, then a uniform fill.

SHOWN_WHOLE, RANDOM, STRATIFIED, FOCUSED, IMPORTED = "shown whole", "random", "stratified", "focused", "imported"


@dataclass
class Draw:
    """Which rows a push shows and how each was chosen: positions in the frame drawn from, and per position
    (method, stratum, probability of being drawn). ``design`` describes the round for the store."""

    positions: list[int]
    warnings: list[str]
    rows: dict[int, tuple[str, str, float]]
    design: dict[str, Any] = field(default_factory=dict)
    focus: dict[str, int] = field(default_factory=dict)


def _strata(frame: pd.DataFrame, by: list[str]) -> list[tuple]:
    return list(frame[by].itertuples(index=False, name=None)) if by else [()] * len(frame)


def _stratum_name(by: list[str], key: tuple) -> str:
    return ", ".join(f"{b}={v}" for b, v in zip(by, key, strict=True))


def stratified_probabilities(frame: pd.DataFrame, n: int, by: list[str]) -> list[float]:
    """Each row's probability of being drawn by ``stratified_sample(frame, n, by)``.

    Without strata a uniform sample: n/N. With H strata and n >= H, one row of each stratum (1/N_h) and then
    a uniform fill of n − H from the N − H others; with n < H, n of the strata (each n/H) get one row.
    """
    size = len(frame)
    if n >= size:
        return [1.0] * size
    if not by:
        return [n / size] * size
    keys = _strata(frame, by)
    counts: dict[tuple, int] = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    h = len(counts)
    if n < h:
        return [(n / h) / counts[k] for k in keys]
    fill = (n - h) / (size - h) if size > h else 1.0
    return [1 / counts[k] + (1 - 1 / counts[k]) * fill for k in keys]


def draw(frame: pd.DataFrame, n: int | None, by: list[str], *, seed: int = 0, flagged: list[bool] | None = None,
         random_share: float = 0.3, focus: str | None = None) -> Draw:
    """The rows a push shows from ``frame`` (the rows not yet shown), each with its probability of being drawn:
    every row (``n`` None: "shown whole", probability 1), a stratified or uniform sample, or a focused batch
    (``flagged``: rows the judge failed, flipped on, or from cells with too few labels)."""
    size = len(frame)
    if n is None or (n >= size and flagged is None):
        rows = {p: (SHOWN_WHOLE, "", 1.0) for p in range(size)}
        return Draw(list(range(size)), [], rows, {"method": SHOWN_WHOLE, "pool": size, "drawn": size})
    if flagged is None:
        positions, warnings = stratified_sample(frame, n, by, seed=seed)
        probs = stratified_probabilities(frame, n, by)
        method = STRATIFIED if by else RANDOM
        keys = _strata(frame, by)
        rows = {p: (method, _stratum_name(by, keys[p]), probs[p]) for p in positions}
        return Draw(positions, warnings, rows, {"method": method, "pool": size, "drawn": len(positions),
                                                "by": by, "seed": seed})
    chosen, randoms, warnings = _focus(frame, n, flagged, random_share, by, seed)
    positions = sorted(chosen + randoms)
    pool = sum(flagged)
    p_first = len(chosen) / pool if pool else 0.0
    taken = set(chosen)
    rest = [i for i in range(size) if i not in taken]
    rest_probs = dict(zip(rest, stratified_probabilities(frame.iloc[rest], len(randoms), by), strict=True))
    keys = _strata(frame, by)
    by_stratum = {keys[i]: p for i, p in rest_probs.items()}
    rows = {}
    for p in positions:
        fill = by_stratum.get(keys[p], 0.0)  # a flagged row's chance in the random share, had it been left
        prob = p_first + (1 - p_first) * fill if flagged[p] else fill
        stratum = ("flagged" if flagged[p] else "not flagged") + (f"; {_stratum_name(by, keys[p])}" if by else "")
        rows[p] = (FOCUSED, stratum, min(1.0, prob))
    design = {"method": FOCUSED, "focus": focus or "fails", "pool": size, "flagged_pool": pool,
              "drawn": len(positions), "flagged_drawn": len(chosen), "random_share": random_share, "by": by,
              "seed": seed}
    return Draw(positions, warnings, rows, design, {"flagged": len(chosen), "random": len(randoms)})


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
