"""Figures as plain JSON values: ``--json`` output and the report's figures dict must never carry numpy
or NaN, and every per-dimension record has the same keys whatever the dimension is called."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from sheetsync.report.data import dim_col


def json_safe(x: Any) -> Any:
    """numpy and pandas values as plain Python, NaN as None, tuples as lists."""
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_safe(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and math.isnan(x):
        return None
    return x


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [json_safe(r) for r in frame.to_dict(orient="records")]


def dim_records(frame: pd.DataFrame, dim: str) -> list[dict[str, Any]]:
    """A per-dimension table as records whose dimension column is renamed "value" and comes first."""
    return [_rename_dim(r, dim) for r in records(frame)]


def _rename_dim(record: dict[str, Any], dim: str) -> dict[str, Any]:
    out = {"value": record.pop(dim_col(dim))}
    out.update(record)
    return out
