"""Which judge a run is of: the judge itself, or a ``[judges.NAME]`` — a configuration of the same runner,
splits, cache, Batch API and metrics, with its own prompt, criterion and ground truth.

A specialized judge checks one failure mode. Its ground truth is derived from the expert's labels: a
labelled row whose root causes include the judge's root cause (read through the taxonomy, so an alias of a
renamed or merged proposal counts) is a fail; an expert pass is a pass; an expert fail for other causes is
left out (``other_failures = "exclude"``, the default: the expert may have named only the main cause) or
counted as a pass (``"pass"``). A code assertion (``assertion = "module:function"``) is a judge too.
"""

from __future__ import annotations

from dataclasses import dataclass

from sheetsync.config import Config
from sheetsync.errors import UserInputError
from sheetsync.taxonomy import Taxonomy, fold

FAILURE_MODE_TEMPLATE = "failure_mode.md"  # the built-in prompt of a specialized LLM judge


@dataclass(frozen=True)
class JudgeSpec:
    name: str = ""  # "" = the judge; else the [judges.NAME] table's name
    kind: str = "llm"  # "llm" or "code"
    prompt: str = ""  # template path ("" = the judge's [judge] prompt, or the built-in failure-mode template)
    criterion: str = ""
    model: str = ""
    root_cause: str = ""
    other_failures: str = "exclude"
    assertion: str = ""

    @property
    def label(self) -> str:
        return f"judge “{self.name}”" if self.name else "the judge"

    def truth(self, verdict: str, causes: tuple[str, ...], tax: Taxonomy) -> str:
        """This judge's ground truth for an expert label: "pass", "fail", or "" (left out)."""
        if not self.name or verdict != "fail":
            return verdict
        want = fold(tax.canonical(self.root_cause) or self.root_cause)
        if any(fold(tax.canonical(c) or c) == want for c in causes):
            return "fail"
        return "pass" if self.other_failures == "pass" else ""


def judge_spec(cfg: Config, name: str | None) -> JudgeSpec:
    """The judge's spec (``name`` None or "") or a ``[judges.NAME]``'s; an unknown name is a clear error."""
    if not name:
        return JudgeSpec(prompt=cfg.judge.prompt, criterion=cfg.labels.criteria)
    section = cfg.judges.get(name)
    if section is None:
        known = ", ".join(sorted(cfg.judges)) or "none: add a [judges.NAME] table to sheetsync.toml"
        raise UserInputError(f"--judge {name}: no such judge (known: {known}).")
    root_cause = section.root_cause or name
    if any(c in root_cause for c in ";,|"):
        raise UserInputError(f"[judges.{name}]: its root cause defaults to its name, which holds ; , or |: set "
                             "root_cause = \"...\" in the table.")
    criterion = section.criterion or (f"Is the interaction free of the failure mode “{root_cause}”? Fail it only "
                                      "when it shows that failure.")
    return JudgeSpec(name=name, kind=section.kind, prompt=section.prompt, criterion=criterion, model=section.model,
                     root_cause=root_cause, other_failures=section.other_failures, assertion=section.assertion)
