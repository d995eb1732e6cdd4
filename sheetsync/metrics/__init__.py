"""The statistics behind the reports: pure functions over labels and frames, no I/O.

PASS is the positive class everywhere (pass/True/1). Figures that are undefined on the data at hand are
None (NaN in frames) with a reason, never a crash or a silent 0.
"""

from ._agreement import Agreement, agreement, agreement_by, wilson_interval
from ._closed_form import lee_interval
from ._consistency import flip_rates
from ._correction import (
    WILSON_FEW,
    CorrectedRate,
    JudgeNoBetterThanChance,
    NoValidBootstrapSamples,
    corrected_success_rate,
    corrected_success_rate_by,
)
from ._design import Design, design_weights, effective_n, weighted_rate, wilson_at
from ._labels import normalize_label
from ._multilabel import per_label_precision_recall
from ._paired import corrected_difference, mcnemar, paired_difference
from ._planning import (
    best_split,
    corrected_half_width,
    labels_needed_for_corrected,
    labels_needed_for_rate,
    rate_half_width,
)
from ._raters import RaterAgreement, kappa_from_counts, rater_agreement
from ._revisions import change_between_runs
from ._root_causes import NONE_GIVEN, root_cause_tally, split_root_causes

__all__ = [
    "NONE_GIVEN",
    "WILSON_FEW",
    "Agreement",
    "CorrectedRate",
    "Design",
    "JudgeNoBetterThanChance",
    "NoValidBootstrapSamples",
    "RaterAgreement",
    "agreement",
    "agreement_by",
    "best_split",
    "change_between_runs",
    "corrected_difference",
    "corrected_half_width",
    "corrected_success_rate",
    "corrected_success_rate_by",
    "design_weights",
    "effective_n",
    "flip_rates",
    "kappa_from_counts",
    "labels_needed_for_corrected",
    "labels_needed_for_rate",
    "lee_interval",
    "mcnemar",
    "normalize_label",
    "paired_difference",
    "per_label_precision_recall",
    "rate_half_width",
    "rater_agreement",
    "root_cause_tally",
    "split_root_causes",
    "weighted_rate",
    "wilson_at",
    "wilson_interval",
]
