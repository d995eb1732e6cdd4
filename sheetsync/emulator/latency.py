"""A latency model, so slow writes, client timeouts and pacing can be exercised against the emulator.

Each Sheets/Drive answer is held back ``per_request`` seconds plus ``per_kb`` seconds per KiB of request
and response body, after the request is applied and before the answer is sent (the answer a client times
out on has already taken effect, as on Google). Off by default (unit tests stay fast); benchmarks switch it
on with ``Emulator(realistic=True)``, ``sheetsync emulator --realistic`` or ``POST /_emulator/latency``.

Google publishes no latency figures. :data:`REALISTIC_LATENCY` is an assumption, not a measurement: about
the round trip of a small Sheets call seen from Europe/US (~150 ms) and ~1 MB/s for bodies, which puts a
2 MB batchUpdate at ~2 s. Google stops processing a request after 180 s
(developers.google.com/sheets/api/limits): the model never holds an answer that long, it is a benchmark
aid, not a timeout fault (use the ``hang`` faults for that).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

KIB = 1024


@dataclass(frozen=True)
class Latency:
    per_request: float = 0.0
    per_kb: float = 0.0

    def __post_init__(self) -> None:
        if self.per_request < 0 or self.per_kb < 0:
            raise ValueError("latency figures must not be negative")

    @property
    def active(self) -> bool:
        return self.per_request > 0 or self.per_kb > 0

    def delay(self, request_bytes: int, response_bytes: int) -> float:
        """Seconds to hold an answer back, capped below Google's 180 s processing limit."""
        return min(179.0, self.per_request + self.per_kb * (request_bytes + response_bytes) / KIB)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


NO_LATENCY = Latency()
#: An assumed, round figure (see the module docstring): 150 ms a call, ~1 MB/s of body.
REALISTIC_LATENCY = Latency(per_request=0.15, per_kb=0.001)
