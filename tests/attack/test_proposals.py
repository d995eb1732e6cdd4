"""The expert's decisions on the Root-cause proposals tab survive everything: the scripted expert sorts,
inserts, deletes, hides, decides and edits in every window of every command that reads or rewrites the tab,
and faults hit every request (tests/attack/proposals_attack.py)."""

import pytest

from tests.attack.proposals_attack import PROPOSALS
from tests.attack.tab_attack import problems_in_every_window, problems_under_faults


@pytest.mark.parametrize("action", list(PROPOSALS.actions))
@pytest.mark.parametrize("command", list(PROPOSALS.commands))
def test_the_expert_works_on_the_proposals_tab_in_every_window(lab, command, action):
    ran, problems = problems_in_every_window(lab, PROPOSALS, command, action)
    assert ran, f"{action} never found anything to act on during {command}"
    assert not problems, "\n\n".join(problems)


@pytest.mark.parametrize("fault", ["500", "drop_after", "persistent"])
@pytest.mark.parametrize("command", list(PROPOSALS.commands))
def test_faults_on_every_request_lose_no_decision(lab, command, fault):
    problems = problems_under_faults(lab, PROPOSALS, command, fault)
    assert not problems, "\n\n".join(problems)
