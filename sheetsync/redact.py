"""Secrets never leave sheetsync: one function that masks them in any text about to be printed, logged,
stored or written to a sheet.

What counts as a secret:

* the value of every environment variable whose name says it is one (``*KEY*``, ``*TOKEN*``, ``*SECRET*``,
  ``*PASSWORD*``, ``*CREDENTIAL*``…) — ``.env`` is exported into the environment when the config loads, so
  its values are covered too — and any value handed to ``register``;
* the credentials of a URL (``https://user:KEY@host``) and key-like query parameters (``?api-key=…``,
  ``&token=…``, ``key=…``, ``sig=…``);
* things shaped like keys wherever they appear: ``Bearer …`` tokens, OpenAI-style ``sk-…`` keys, Google
  API keys (``AIza…``) and PEM private keys.

Why masking at the edges and not only "not printing the key": servers echo keys in their error bodies,
proxies put them in URLs, and users paste them into endpoints; every place that turns outside text into
output calls ``redact``.
"""

from __future__ import annotations

import logging
import os
import re

MASK = "***"
_MIN_SECRET = 6  # shorter values ("1", "true") would mask ordinary words

_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|PRIVATE", re.I)
_NOT_SECRET_VALUE = re.compile(r"^(?:true|false|yes|no|none|null|\d{1,5}|sk-no-key-required)$", re.I)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S),
     "[private key redacted]"),
    (re.compile(r"(?<=://)[^/\s:@'\"]*(?::[^/\s@'\"]*)?@"), MASK + "@"),  # URL userinfo
    # a query value ends at & # a quote or a space; punctuation just before a space or the end (``…=pw: cannot
    # reach``, ``…=pw.``) belongs to the sentence, so it stays (and masking an already masked text changes nothing)
    (re.compile(r"(?i)([?&;](?:[\w.-]*(?:key|token|secret|sig|signature|password|passwd|auth)[\w.-]*)=)"
                r"[^&#\s'\"]+?(?=[:;,.)\]]*(?:[&#\s'\"]|$))"),
     r"\1" + MASK),
    (re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1" + MASK),
    (re.compile(r"\bsk-(?!no-key-required)[A-Za-z0-9_-]{16,}"), "sk-" + MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{30,}"), MASK),
)

_registered: set[str] = set()


def register(secret: str | None) -> None:
    """Treat ``secret`` as a secret from now on (e.g. a key read from a file rather than the environment)."""
    if secret and len(secret) >= _MIN_SECRET:
        _registered.add(secret)


_memo: dict[int, list[str]] = {}


def known_secrets() -> list[str]:
    """Every secret value currently known, longest first (so a secret containing another is masked whole).

    Memoised on the environment's contents (hashed in C, microseconds) and the registered secrets, so
    redacting thousands of cells does not re-read the environment each time."""
    raw = getattr(os.environ, "_data", None)
    token = hash((frozenset(raw.items()) if isinstance(raw, dict) else None, frozenset(_registered)))
    cached = _memo.get(token) if raw is not None else None
    if cached is None:
        cached = _scan()
        _memo.clear()
        _memo[token] = cached
    return cached


def _scan() -> list[str]:
    found = set(_registered)
    for name, value in os.environ.items():
        if value and len(value) >= _MIN_SECRET and _SECRET_NAME.search(name) and not _NOT_SECRET_VALUE.match(value):
            found.add(value)
    return sorted(found, key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every known secret and every key-shaped string replaced by a mask."""
    if not text:
        return text
    for secret in known_secrets():
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: object) -> object:
    """``redact`` for strings; anything else as it is (for cells and JSON values)."""
    return redact(value) if isinstance(value, str) else value


class _RedactingRecord(logging.LogRecord):
    def getMessage(self) -> str:
        return redact(super().getMessage())


def install_log_redaction() -> None:
    """Make every log message pass through ``redact``, whichever handler prints it."""
    logging.setLogRecordFactory(_RedactingRecord)
