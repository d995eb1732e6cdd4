from __future__ import annotations

from collections.abc import Iterator

import pytest

from sheetsync.testing.fake_openai import FakeOpenAI
from tests.attack.lab import Lab
from tests.attack.world import judge_answer


@pytest.fixture(scope="session")
def lab(_sheets_emulator_server, tmp_path_factory) -> Iterator[Lab]:
    """The scenario engine, one per session (per xdist worker), on the session's emulator and its own fake
    LLM server; snapshots and learnt request counts are shared by the tests of the worker."""
    with FakeOpenAI(responder=judge_answer) as fake:
        yield Lab(_sheets_emulator_server, fake, tmp_path_factory.mktemp("attack"))
    _sheets_emulator_server.reset()
