"""The fake OpenAI server with the environment pointing the real ``openai`` client at it, as a user's .env
would (``OPENAI_BASE_URL``, a key that is not a real one); the variables go when the test ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from sheetsync.testing.fake_openai import FakeOpenAI

FAKE_KEY = "sk-test-not-a-real-key"


@contextmanager
def fake_llm(monkeypatch: pytest.MonkeyPatch, **kw: Any) -> Iterator[FakeOpenAI]:
    """``FakeOpenAI(**kw)``, started, with OPENAI_BASE_URL and OPENAI_API_KEY set for it."""
    with FakeOpenAI(**kw) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
        yield server
