"""The layouts of the tabs with answer columns (which columns, in which order, how wide), apart from what
their rows show: pull reads the tabs by these, and must not load the report's pandas machinery to do so."""

from __future__ import annotations

from sheetsync.answer_tab import STATUS, AnswerTab
from sheetsync.config import Config
from sheetsync.review.answers import CALIBRATION_CHOICES, REVIEW_CHOICES

REVIEW_FIXED = ("split", "input", "output", "expert verdict", "expert critique", "judge verdict",
                "judge critique", "judge run")
CALIBRATION_FIXED = ("rater", "input", "output", "expert verdict", "expert critique", "rater verdict",
                     "rater critique")


def dimension_header(name: str, taken: tuple[str, ...]) -> str:
    """A dimension's column: its name, unless sheetsync's own columns already use it."""
    return f"{name} (dimension)" if name.casefold() in {t.casefold() for t in taken} else name


def review_tab(cfg: Config, dims: list[str]) -> AnswerTab:
    reserved = (*REVIEW_FIXED, "id", STATUS, "Resolution", "Why", "sheetsync key")
    dim_headers = tuple(dimension_header(d, reserved) for d in dims)
    return AnswerTab(
        title=cfg.tabs.review, kind="review",
        shown=("split", *dim_headers, "input", "output", "expert verdict", "expert critique", "judge verdict",
               "judge critique", "judge run"),
        choices=REVIEW_CHOICES, verdicts=("expert verdict", "judge verdict"),
        widths={"id": 110, "split": 60, "input": 300, "output": 360, "expert verdict": 80, "expert critique": 300,
                "judge verdict": 80, "judge critique": 320, "judge run": 70, STATUS: 260, "Resolution": 130,
                "Why": 320, **{h: 110 for h in dim_headers}},
        long=("input", "output", "expert critique", "judge critique"),
    )


def calibration_tab(cfg: Config, dims: list[str]) -> AnswerTab:
    reserved = (*CALIBRATION_FIXED, "id", STATUS, "Resolution", "Why", "sheetsync key")
    dim_headers = tuple(dimension_header(d, reserved) for d in dims)
    return AnswerTab(
        title=cfg.tabs.calibration, kind="calibration",
        shown=("rater", *dim_headers, "input", "output", "expert verdict", "expert critique", "rater verdict",
               "rater critique"),
        choices=CALIBRATION_CHOICES, verdicts=("expert verdict", "rater verdict"),
        widths={"id": 110, "rater": 90, "input": 300, "output": 360, "expert verdict": 80, "expert critique": 300,
                "rater verdict": 80, "rater critique": 300, STATUS: 260, "Resolution": 130, "Why": 320,
                **{h: 110 for h in dim_headers}},
        long=("input", "output", "expert critique", "rater critique"),
    )
