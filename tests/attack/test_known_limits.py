"""What the attack suite shows sheetsync cannot promise yet (see ``KNOWN_LIMITS`` in lab.py for why): each
is run in exactly the windows where it breaks, as a strict xfail, so it fails loudly the day it is fixed."""

import pytest

from tests.attack.lab import KNOWN_LIMITS


@pytest.mark.parametrize(
    "command,action",
    [pytest.param(c, a, marks=pytest.mark.xfail(strict=True, reason=reason)) for (c, a), reason in KNOWN_LIMITS.items()],
)
def test_known_limit(lab, command, action):
    plan = lab.plan(command)
    problems = []
    for window in plan.between_read_and_write:
        found = lab.attack(command, action, window, known_limit=True)
        assert found is not None, f"{command} | {action} | {window}: the expert found nothing to act on"
        problems += found.problems
    assert not problems, "\n\n".join(problems)
