"""The engine itself: every command's learning run succeeds, and its writes really need several requests
under ``[google] max_request_bytes`` (so the windows between them exist)."""

import pytest

from tests.attack.lab import COMMANDS


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_command_is_learnt_and_its_writes_split(lab, name):
    plan = lab.plan(name)
    print(name, plan.n, plan.writes)
    assert plan.n >= 1
    if COMMANDS[name].splits:
        assert plan.writes >= 2, f"{name} wrote in {plan.writes} request(s): no window between its writes"
