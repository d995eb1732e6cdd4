"""The attack suite's count, printed at the end of the run: scenarios run, labels checked, labels lost.

A pytest plugin (registered in tests/conftest.py). Under pytest-xdist each worker sends its counts to the
controller when it finishes, and the controller prints the sum.
"""

from __future__ import annotations

from collections import Counter

import pytest

TALLY: Counter[str] = Counter()


def record(**counts: int) -> None:
    TALLY.update(counts)


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the counts to the controller
        workeroutput["attack_tally"] = dict(TALLY)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:  # the xdist controller, as each worker ends
    TALLY.update(getattr(node, "workeroutput", {}).get("attack_tally", {}))


def pytest_terminal_summary(terminalreporter) -> None:
    if not TALLY:
        return
    t = TALLY
    terminalreporter.section("attack suite: the expert's work survives everything")
    terminalreporter.write_line(
        f"scenarios run: {t['scenarios']} (expert actions {t['action scenarios']}, faults {t['fault scenarios']}, "
        f"xlsx {t['xlsx scenarios']}, Review tab {t['review scenarios']}, proposals tab {t['proposals scenarios']}); windows where the action had nothing to act on, skipped: {t['skipped']}"
    )
    terminalreporter.write_line(
        f"labels checked: {t['labels checked']}; labels lost: {t['labels lost']}; other problems: {t['problems']}"
    )
    if t["known-limit scenarios"]:
        terminalreporter.write_line(
            f"known limits (strict xfail, not counted above): {t['known-limit scenarios']} scenarios, "
            f"{t['known-limit labels lost']} labels lost or changed in them"
        )
