"""``sheetsync.redact``: secrets in URLs are masked, and the sentence around them is left as it was."""

from __future__ import annotations

import pytest

from sheetsync.redact import redact
from sheetsync.store.location import shown_url


@pytest.mark.parametrize("text, shown", [
    ("postgresql://db.internal/sheetsync?password=hunter2-secret: cannot reach the team store",
     "postgresql://db.internal/sheetsync?password=***: cannot reach the team store"),
    ("http://h/v1?api-key=k3y-v4lue-93x&model=m, then", "http://h/v1?api-key=***&model=m, then"),
    ("see http://h/v1?token=t0k3n-93x.", "see http://h/v1?token=***."),
    ("(http://h/v1?sig=s1g-93x)", "(http://h/v1?sig=***)"),
    # a colon inside the value is the value's: it is masked with the rest
    ("http://h/v1?key=ab:cd-93x: failed", "http://h/v1?key=***: failed"),
])
def test_a_secret_query_value_is_masked_and_the_punctuation_after_it_stays(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_masking_a_message_already_masked_changes_nothing() -> None:
    """The store's messages hold a URL masked by ``shown_url``, and the CLI masks the whole message again."""
    where = shown_url("postgresql://alice@db.internal:5432/sheetsync?password=hunter2-secret")
    message = redact(f"{where}: cannot reach the team store (connection refused).")
    assert message == ("postgresql://***@db.internal:5432/sheetsync?password=***: cannot reach the team store "
                       "(connection refused).")
    assert redact(message) == message
