"""The statistics behind the reports: pure functions over labels and frames, no I/O.

PASS is the positive class everywhere (pass/True/1). Figures that are undefined on the data at hand are
None (NaN in frames) with a reason, never a crash or a silent 0.
"""

from ._agreement import Agreement, agreement, agreement_by, wilson_interval
from ._correction import (
    CorrectedRate,
    JudgeNoBetterThanChance,
    NoValidBootstrapSamples,
    corrected_success_rate,
    corrected_success_rate_by,
)
from ._labels import normalize_label
from ._multilabel import per_label_precision_recall
from ._root_causes import NONE_GIVEN, root_cause_tally, split_root_causes

__all__ = [
    "NONE_GIVEN",
    "Agreement",
    "CorrectedRate",
    "JudgeNoBetterThanChance",
    "NoValidBootstrapSamples",
    "agreement",
    "agreement_by",
    "corrected_success_rate",
    "corrected_success_rate_by",
    "normalize_label",
    "per_label_precision_recall",
    "root_cause_tally",
    "split_root_causes",
    "wilson_interval",
]
