"""The scripted expert acts in every window of every command — before each of its requests and after the
last — and each scenario checks, from the sheet and from the store, that every label and critique is still
beside its id byte for byte and that nothing sheetsync did not create was changed."""

import pytest

from tests.attack.expert import ACTIONS, COMPOUND_ONLY
from tests.attack.lab import COMMANDS, Window, known_limit


@pytest.mark.parametrize("action", [a for a in ACTIONS if a not in COMPOUND_ONLY])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_expert_acts_in_every_window(lab, command, action):
    plan = lab.plan(command)
    problems, ran = [], 0
    for window in plan.windows:
        has_spreadsheet, has_annotate = plan.can_act[window]
        if not (has_annotate or (has_spreadsheet and action.startswith("add their own tab"))):
            continue
        if known_limit(command, action, window, plan):
            continue  # run by test_known_limits.py
        found = lab.attack(command, action, window)
        if found is not None:
            ran += 1
            problems += found.problems
    assert not problems, "\n\n".join(problems)


def test_a_label_given_beside_another_rows_text_counts_only_once_re_checked(lab):
    """The expert sorts while a re-push writes (so a write lands beside the wrong ids), then, before the
    push puts the rows back, labels a row that shows another row's text. The label stays with its id, and
    the store never counts it for the row's own content — until the expert re-checks it (clears the stale
    flag the next push shows) and it counts."""
    plan = lab.plan("re-push")
    problems, misplaced = [], 0
    for n in (i for i, kind in enumerate(plan.kinds, start=1) if kind == "write"):
        found = lab.attack("re-push", "sort by Critique, ascending", Window(n),
                           then=("label a row showing another row's text", Window(n, "after")),
                           epilogue=lab.recheck)
        if found is not None:
            misplaced += 1
            problems += found.problems
    assert misplaced, "no write ever landed beside another id: the scenario tests nothing"
    assert not problems, "\n\n".join(problems)
