"""The expert's decisions on the Root-cause proposals tab survive everything: the scripted expert sorts,
inserts, deletes, hides, decides and edits in every window of every command that reads or rewrites the tab,
and faults hit every request (tests/attack/proposals_attack.py)."""

import pytest

from tests.attack.proposals_attack import ACTIONS, COMMANDS, attack, learn, windows


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_expert_works_on_the_proposals_tab_in_every_window(lab, command, action):
    problems, ran = [], 0
    for window in windows(learn(lab, command)):
        found = attack(lab, command, action, window)
        if found is not None:
            ran += 1
            problems += found.problems
    assert ran, f"{action} never found anything to act on during {command}"
    assert not problems, "\n\n".join(problems)


@pytest.mark.parametrize("fault", ["500", "drop_after", "persistent"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_faults_on_every_request_lose_no_decision(lab, command, fault):
    problems = []
    for window in windows(learn(lab, command))[:-1]:
        found = attack(lab, command, None, window, fault=fault)
        problems += found.problems if found else []
    assert not problems, "\n\n".join(problems)
