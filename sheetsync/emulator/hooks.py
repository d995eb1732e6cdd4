"""Test hooks: run a callback inside the server when a matching request arrives (``when="before"``, before
it is applied) or once it has been applied (``when="after"``, before the answer is sent).

They make the race windows of a real spreadsheet deterministic: the expert sorts, inserts or types while
sheetsync's request is in flight. A callback acts as the expert through :meth:`Emulator.act` /
:meth:`Emulator.act_values`, which apply changes as another user: not in the request log, not charged to
anyone's quota, never firing hooks.

Callbacks run on the server thread handling the request, without the emulator's state lock held, so they
may call ``act`` (which takes the lock) or even make HTTP requests to the emulator. While any callback is
running no other hook fires (no recursion, and a callback's own HTTP calls do not count towards ``nth``).
A callback that raises makes the request answer 500 and is recorded in :attr:`Hooks.errors`; the pytest
fixture fails the test with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

WHEN = ("before", "after")
KINDS = ("read", "write", "drive", "token")


@dataclass
class RequestInfo:
    """What a callback sees of the request (``status``/``reply`` only in "after" hooks)."""

    method: str
    path: str  # percent-decoded
    raw_path: str
    query: str
    kind: str  # read / write (Sheets quota classes), drive, token
    identity: str  # who the request came from (see sheetsync.emulator.identity)
    body: Any  # the parsed JSON body, or None
    status: int | None = None
    reply: Any = None


@dataclass
class Hook:
    callback: Callable[[RequestInfo], Any]
    method: str | None = None
    path_contains: str | None = None
    kind: str | None = None
    nth: int | None = None
    when: str = "before"
    matched: int = 0  # matching requests seen so far
    calls: int = 0  # times the callback ran
    removed: bool = False
    _owner: Hooks | None = field(default=None, repr=False)

    def matches(self, info: RequestInfo) -> bool:
        if self.method and self.method.upper() != info.method.upper():
            return False
        if self.kind != info.kind and (self.kind or info.kind == "token"):
            return False  # token requests only match hooks that ask for kind="token"
        return not self.path_contains or self.path_contains in info.raw_path or self.path_contains in info.path

    def remove(self) -> None:
        if self._owner is not None:
            self._owner.remove(self)


class HookError(RuntimeError):
    """A test hook's callback raised; the request it ran for was answered 500."""


class Hooks:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hooks: list[Hook] = []
        self.errors: list[BaseException] = []
        self._running = 0

    def add(self, callback: Callable[[RequestInfo], Any], *, method: str | None = None,
            path_contains: str | None = None, kind: str | None = None, nth: int | None = None,
            when: str = "before") -> Hook:
        if when not in WHEN:
            raise ValueError(f"when must be 'before' or 'after', not {when!r}")
        if kind is not None and kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if nth is not None and nth < 1:
            raise ValueError("nth counts matching requests from 1")
        hook = Hook(callback, method, path_contains, kind, nth, when, _owner=self)
        with self.lock:
            self.hooks.append(hook)
        return hook

    def remove(self, hook: Hook) -> None:
        with self.lock:
            hook.removed = True
            if hook in self.hooks:
                self.hooks.remove(hook)

    def clear(self) -> None:
        with self.lock:
            for hook in self.hooks:
                hook.removed = True
            self.hooks.clear()
            self.errors.clear()

    def fire(self, when: str, info: RequestInfo) -> None:
        """Run the callbacks due for this request, in the order they were added. Raises HookError."""
        with self.lock:
            if self._running or not self.hooks:
                return
            due = []
            for hook in list(self.hooks):
                if hook.when != when or not hook.matches(info):
                    continue
                hook.matched += 1
                if hook.nth is None or hook.matched == hook.nth:
                    due.append(hook)
                    if hook.nth is not None:  # fired its one time
                        hook.removed = True
                        self.hooks.remove(hook)
            if not due:
                return
            self._running += 1
        try:
            for hook in due:
                hook.calls += 1
                try:
                    hook.callback(info)
                except Exception as exc:  # surfaced to the test by the fixture, and as a 500 to the client
                    with self.lock:
                        self.errors.append(exc)
                    raise HookError(f"emulator test hook {hook.callback!r} failed on {info.method} "
                                    f"{info.path}: {exc!r}") from exc
        finally:
            with self.lock:
                self._running -= 1
