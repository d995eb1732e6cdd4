"""Reading what the expert typed in the Pass/Fail column: a fixed, documented vocabulary, never a guess."""

from __future__ import annotations

PASS_WORDS = frozenset({"pass", "passed", "p", "✓", "✔", "✅", "true", "yes", "y", "1", "👍"})
FAIL_WORDS = frozenset({"fail", "failed", "f", "✗", "✘", "❌", "x", "false", "no", "n", "0", "👎"})


def normalize_verdict(text: str, *, pass_label: str = "Pass", fail_label: str = "Fail") -> str | None:
    """``"pass"``, ``"fail"``, ``None`` for an empty cell; raises ``ValueError`` for anything else.

    Case and surrounding spaces are ignored, as are trailing full stops ("Pass.").
    """
    word = text.strip().rstrip(".").strip().lower()
    if not word:
        return None
    if word in PASS_WORDS or word == pass_label.strip().lower():
        return "pass"
    if word in FAIL_WORDS or word == fail_label.strip().lower():
        return "fail"
    raise ValueError(f"not a verdict: {text!r}")
