"""What each figure means, in the words the tabs print beside it (Summary and Agreement share them)."""

MEANINGS = {
    "tpr": "TPR (pass recall) = of the interactions the expert passed, the share the judge also passed. "
           "Low TPR: the judge fails good answers.",
    "tnr": "TNR (fail recall) = of the interactions the expert failed, the share the judge also failed. "
           "Low TNR: the judge lets bad answers through.",
    "kappa": "κ (Cohen's kappa) = agreement beyond chance: 0 is chance, 1 is perfect. Fail precision/recall/F1"
             " = the judge as a failure detector, as most tools report it.",
    "ci": "95% low/high = Wilson interval: with this many labels the true rate is likely in this range. Labels "
          "from focused rounds are weighted by 1 / their probability of being drawn.",
    "corrected": "Corrected pass rate = the judge's pass rate on the unlabeled interactions, corrected for "
                 "the mistakes it makes on the expert's labels (Rogan–Gladen), with a 95% interval that counts "
                 "the noise of both the labels and the unlabeled sample (Lee et al. 2025).",
}
