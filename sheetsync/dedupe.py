"""Near-duplicate detection for generated inputs: the same request with cosmetic differences is dropped."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import unicodedata
from collections import Counter

#: Near-duplicate thresholds, on normalised text (see ``is_near_duplicate``).
JACCARD_THRESHOLD = 0.8
RATIO_THRESHOLD = 0.9
DICE_GATE = 0.5  # word overlap (Dice) below which the difflib test is skipped


# ---------------------------------------------------------------------------------------------------------
# Near-duplicates

_PUNCT = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Text as compared for duplicates: Unicode NFKC, case-folded, punctuation dropped, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def is_near_duplicate(a: str, b: str) -> bool:
    """Whether two NORMALISED texts say the same thing with cosmetic differences.

    Two complementary tests, because each misses what the other catches:

    * token-set Jaccard >= 0.8: the same words, reordered or with one or two added/removed among many;
    * ``difflib`` ratio >= 0.9: the same text with a small edit (``how do i`` vs ``how can i``, a typo, a
      changed number), which Jaccard under-rates on short inputs. It runs only for pairs sharing at least
      half their words (Dice >= 0.5), which a small edit passes; texts that differ in most words yet
      score 0.9 (many scattered typos) are not what this is for. The gate keeps thousands of inputs fast.
    """
    return _near(a, set(a.split()), b, set(b.split()), None)


def _near(a: str, ta: set[str], b: str, tb: set[str], matcher: difflib.SequenceMatcher | None) -> bool:
    """``is_near_duplicate`` with the token sets precomputed; ``matcher``, if given, already has ``b`` as seq2."""
    if a == b:
        return True
    shared = len(ta & tb)
    if shared >= JACCARD_THRESHOLD * (len(ta) + len(tb) - shared) > 0:
        return True
    la, lb = len(a), len(b)
    if 2 * min(la, lb) < RATIO_THRESHOLD * (la + lb):
        return False  # even a perfect match of the shorter text could not reach the ratio
    if 2 * shared < DICE_GATE * (len(ta) + len(tb)):
        return False
    if matcher is None:
        matcher = difflib.SequenceMatcher(None, b=b, autojunk=False)
    matcher.set_seq1(a)
    return (
        matcher.real_quick_ratio() >= RATIO_THRESHOLD
        and matcher.quick_ratio() >= RATIO_THRESHOLD
        and matcher.ratio() >= RATIO_THRESHOLD
    )


class Deduper:
    """Keeps the first of every group of exact or near-duplicate texts, in the order they are offered.

    Only earlier texts sharing enough words can be near duplicates (both tests imply Dice >= ``DICE_GATE``),
    so candidates come from a word index instead of comparing against everything kept.
    """

    def __init__(self) -> None:
        self._exact: set[str] = set()
        self._kept: list[tuple[str, set[str]]] = []
        self._postings: dict[str, list[int]] = {}

    def check(self, text: str) -> str | None:
        """``None`` if ``text`` is new (and remember it), else ``"exact"`` or ``"near"``."""
        norm = normalise(text)
        if not norm or norm in self._exact:
            return "exact"
        tokens = set(norm.split())
        shared: Counter[int] = Counter()
        for token in tokens:
            shared.update(self._postings.get(token, ()))
        matcher = difflib.SequenceMatcher(None, b=norm, autojunk=False)  # analyses the new text once
        for index, count in shared.items():
            other, other_tokens = self._kept[index]
            if 2 * count >= DICE_GATE * (len(tokens) + len(other_tokens)) and _near(
                other, other_tokens, norm, tokens, matcher
            ):
                return "near"
        self._exact.add(norm)
        for token in tokens:
            self._postings.setdefault(token, []).append(len(self._kept))
        self._kept.append((norm, tokens))
        return None


def row_id(choice: dict[str, str], text: str) -> str:
    """Stable id from the tuple and the normalised input: the same input for the same tuple keeps its id
    across runs (and cosmetic re-wordings by the cache-less LLM do not, on purpose)."""
    material = json.dumps([sorted(choice.items()), normalise(text)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:12]
