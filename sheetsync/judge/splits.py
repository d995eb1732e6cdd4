"""Which labelled rows teach the judge (train), which we iterate on (dev), which we check once (test).

Decided from each id alone, so adding rows never moves an existing row to another split.
"""

from __future__ import annotations

import hashlib

SPLITS = ("train", "dev", "test")


def split_of(row_id: str, train: float = 0.2, dev: float = 0.4) -> str:
    """``train`` / ``dev`` / ``test`` from a uniform number derived from the id's hash."""
    digest = hashlib.sha256(f"sheetsync-split:{row_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < train:
        return "train"
    if u < train + dev:
        return "dev"
    return "test"
