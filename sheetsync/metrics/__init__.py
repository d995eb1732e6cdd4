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
from ._raters import RaterAgreement, kappa_from_counts, rater_agreement
from ._revisions import change_between_runs
from ._root_causes import NONE_GIVEN, root_cause_tally, split_root_causes

__all__ = [
    "NONE_GIVEN",
    "Agreement",
    "CorrectedRate",
    "JudgeNoBetterThanChance",
    "NoValidBootstrapSamples",
    "RaterAgreement",
    "agreement",
    "agreement_by",
    "change_between_runs",
    "corrected_success_rate",
    "corrected_success_rate_by",
    "kappa_from_counts",
    "normalize_label",
    "rater_agreement",
    "root_cause_tally",
    "split_root_causes",
    "wilson_interval",
]
