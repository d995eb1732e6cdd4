"""The expert's resolutions as guidance for the judge (opt-in: ``[review] guidance = true``).

When the expert answers a disagreement with "My label stands" or "Judge is right" and says why, that
answer is a piece of the criteria in the expert's own words — worth teaching the judge. But a row whose
answer is in the prompt cannot also measure the prompt: so a row used as guidance becomes a train row
(the judge's teaching rows) and is never scored again. Only dev rows qualify: test stays untouched for the
final check. "Judge is right" counts once the expert changed the label to the judge's (before that the
label and the answer contradict each other); "My label stands" while the label still stands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sheetsync.config import Config
from sheetsync.judge.splits import split_of
from sheetsync.review.answers import JUDGE_RIGHT, LABEL_STANDS, REVIEW_CHOICES, choice
from sheetsync.store import Label, Store


@dataclass(frozen=True)
class Guidance:
    """One resolved disagreement, as the judge prompt's ``guidance`` items see it."""

    id: str
    input: str
    output: str
    judge_verdict: str
    judge_critique: str
    resolution: str
    expert_verdict: str
    why: str
    context: dict[str, str] = field(default_factory=dict)


def guidance_rows(cfg: Config, store: Store, labels: dict[str, Label], context: list[str] = ()) -> dict[str, Guidance]:
    """The resolutions that teach the judge (by id), oldest answer first; empty unless the setting is on."""
    if not cfg.review.guidance:
        return {}
    answers = store.latest_answers("review")
    rows = store.rows()
    verdicts: dict[str, dict] = {}
    out: dict[str, Guidance] = {}
    for rid, a in answers.items():
        picked = choice(a.resolution, REVIEW_CHOICES)
        label, row = labels.get(rid), rows.get(rid)
        if picked not in (JUDGE_RIGHT, LABEL_STANDS) or not a.why.strip() or label is None or row is None:
            continue
        if split_of(rid, cfg.judge.train, cfg.judge.dev) != "dev" or not a.instance:
            continue
        if a.instance not in verdicts:
            verdicts[a.instance] = store.run_verdicts(a.instance)
        v = verdicts[a.instance].get(rid)
        if v is None or v["verdict"] not in ("pass", "fail"):
            continue
        relabelled = label.verdict == v["verdict"]
        if (picked == JUDGE_RIGHT) != relabelled:
            continue
        out[rid] = Guidance(rid, row["input"], row["output"], v["verdict"], v["critique"] or "", picked,
                            label.verdict or "", a.why.strip(), {c: row["fields"].get(c, "") for c in context})
    return out
