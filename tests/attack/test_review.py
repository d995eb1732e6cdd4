"""The expert's answers on the Review tab survive everything: the scripted expert sorts, inserts, deletes,
hides, answers and edits in every window of every command that reads or rewrites the tab, and faults hit
every request (tests/attack/review_attack.py)."""

import pytest

from tests.attack.review_attack import REVIEW
from tests.attack.tab_attack import problems_in_every_window, problems_under_faults


@pytest.mark.parametrize("action", list(REVIEW.actions))
@pytest.mark.parametrize("command", list(REVIEW.commands))
def test_the_expert_works_on_the_review_tab_in_every_window(lab, command, action):
    ran, problems = problems_in_every_window(lab, REVIEW, command, action)
    assert ran, f"{action} never found anything to act on during {command}"
    assert not problems, "\n\n".join(problems)


@pytest.mark.parametrize("fault", ["500", "drop_after", "persistent"])
@pytest.mark.parametrize("command", ["report", "judge"])
def test_faults_on_every_request_lose_no_answer(lab, command, fault):
    problems = problems_under_faults(lab, REVIEW, command, fault)
    assert not problems, "\n\n".join(problems)
