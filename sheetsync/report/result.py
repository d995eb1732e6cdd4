"""What ``sheetsync report`` returns: the figures, the tabs, and the ``--fail-under`` gate over them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sheetsync.errors import SheetsyncError
from sheetsync.layout import TabSpec
from sheetsync.metrics import Agreement
from sheetsync.report.records import json_safe


class NotMeasurable(SheetsyncError):
    """A ``--fail-under`` gate the data cannot decide (no judged labels, or TPR/TNR undefined): a CI gate
    must never pass by default."""


@dataclass
class Report:
    """Every figure (``figures``, JSON-safe) and the report tabs (``specs``); ``url`` once written."""

    figures: dict[str, Any]
    specs: list[TabSpec]
    headline: Agreement | None = None
    url: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Every figure as plain JSON values: undefined figures are None with the reason beside them."""
        return json_safe({**self.figures, "url": self.url, "tabs": [s.title for s in self.specs]})

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
        warning = (f.get("run_comparison") or {}).get("validation_warning")
        if warning:
            out.append(f"Warning: {warning}")
        if f.get("planning", {}).get("sentence"):
            out.append(f["planning"]["sentence"])
        out += [f"Next: {s}" for s in f["next_steps"]]
        return out
