"""Label parsing shared by the metrics: pass = True (the positive class), fail = False, missing = None."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

_STRINGS = {"pass": True, "1": True, "fail": False, "0": False}
JUDGE_ERROR = "error"


def _is_missing(x: Any) -> bool:
    if x is None or x is pd.NA or x is pd.NaT:
        return True
    if isinstance(x, numbers.Real) and not isinstance(x, bool | numbers.Integral):
        return math.isnan(float(x))
    return False


def normalize_label(x: Any) -> bool | None:
    """Read one pass/fail label: True for pass (the positive class), False for fail, None if missing.

    Accepts "pass"/"fail" (any case, surrounding spaces), booleans, 1/0 as ints, floats or the strings
    "1"/"0" (1 = pass). None, NaN and "" (or only spaces) are missing and return None. Anything else
    raises ValueError naming the value, so a typo never silently becomes a verdict.
    """
    if _is_missing(x):
        return None
    if isinstance(x, bool):
        return x
    if isinstance(x, np.bool_):  # not a bool subclass
        return bool(x)
    if isinstance(x, str):
        s = x.strip().lower()
        if s == "":
            return None
        if s in _STRINGS:
            return _STRINGS[s]
    elif isinstance(x, numbers.Real):
        if x == 1:
            return True
        if x == 0:
            return False
    raise ValueError(
        f"cannot read {x!r} as a pass/fail label: expected 'pass'/'fail' (any case), True/False, 1/0 "
        "(1 = pass), or a missing value (None, NaN, '')"
    )


def is_judge_error(x: Any) -> bool:
    """True for the judge's error marker: the string "error" in any case, with surrounding spaces."""
    return isinstance(x, str) and x.strip().lower() == JUDGE_ERROR


def normalize_judge(x: Any) -> bool | None:
    """Like normalize_label, but a judge error marker counts as missing (None)."""
    return None if is_judge_error(x) else normalize_label(x)


def as_list(values: Iterable[Any], name: str) -> list[Any]:
    """A sequence of labels as a list, positionally (a pandas index is ignored)."""
    if isinstance(values, str | bytes):
        raise TypeError(f"{name} must be a sequence of labels, not a single string")
    if isinstance(values, pd.Series | pd.Index):
        return values.tolist()
    return list(values)
