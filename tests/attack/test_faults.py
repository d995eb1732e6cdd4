"""A fault at each request of every command: a 500 (retried by the transport), a drop_after (the request
is applied, its answer lost: the transport sends it again), and a persistent failure (503 more times than
the retry budget: the command fails with a message). Then the command is run again without faults and the
sheet and the store must be consistent and complete."""

import pytest

from tests.attack.lab import COMMANDS

FAULTS = ["500", "drop_after", "persistent"]


@pytest.mark.parametrize("kind", FAULTS)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_fault_at_each_request(lab, command, kind):
    plan = lab.plan(command)
    problems = []
    for n in range(1, plan.n + 1):
        problems += lab.fault(command, kind, n).problems
    assert not problems, "\n\n".join(problems)
