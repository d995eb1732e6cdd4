"""The expert answers the judge (and a second rater) in the sheet: the Review and Calibration tabs, the
answers and label revisions pull records, criteria questions, judge guidance and blind labelling.

Nothing is imported here, so a module that needs one small part (the questions, say) loads only that."""
