"""The fake's fault injection: ``fail_next`` queues a fault for the next matching chat requests, and each kind
answers the way the real API (or a broken network) does. Mixed into ``FakeOpenAI``; tests only."""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass
from typing import Any

from sheetsync.testing.fake_profiles import format_type, messages_text, prompt_tokens

FAULT_KINDS = ("429", "500", "400", "context", "401", "runaway", "malformed", "refuse_json_schema",
               "refuse_json_object", "drop", "hang")


@dataclass
class _Fault:
    kind: str
    remaining: int
    match: str | None
    seconds: float


class Faults:
    """Fault injection for ``FakeOpenAI`` (which provides the lock, the ``_send_*`` helpers and ``_serve``)."""

    _lock: threading.Lock
    _faults: list[_Fault]
    faults_served: list[str]
    _closing: threading.Event

    def fail_next(
        self,
        kind: str,
        count: int = 1,
        *,
        match: str | None = None,
        retry_after: float | None = 0.0,
        seconds: float = 30.0,
    ) -> None:
        """Make the next ``count`` chat requests (optionally only those containing ``match``) fail.

        Kinds: ``"429"`` (with ``Retry-After``/``retry-after-ms`` set from ``retry_after``; None sends no
        header), ``"500"``, ``"400"`` (a vague request error: "Invalid request."), ``"context"`` (OpenAI's
        context-length error), ``"401"`` (an error body echoing the API key, as some proxies do),
        ``"runaway"`` (a reply that never ends: cut at the request's budget with finish_reason=length), ``"malformed"`` (200 with a truncated JSON body), ``"refuse_json_schema"`` /
        ``"refuse_json_object"`` (400 like OpenAI's; only consumed by requests using that format), ``"drop"``
        (close the connection without answering), ``"hang"`` (sleep ``seconds``, or until close).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        secs = seconds if kind == "hang" else (-1.0 if retry_after is None else float(retry_after))
        with self._lock:
            self._faults.append(_Fault(kind, count, match, secs))

    def _take_fault(self, body: dict[str, Any]) -> _Fault | None:
        text: str | None = None
        fmt = format_type(body)
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.kind == "refuse_json_schema" and fmt != "json_schema":
                    continue
                if fault.kind == "refuse_json_object" and fmt != "json_object":
                    continue
                if fault.match is not None:
                    if text is None:
                        text = messages_text(body)
                    if fault.match not in text:
                        continue
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self._faults[i]
                return fault
        return None

    def _serve_fault(self, h: Any, fault: _Fault, body: dict[str, Any]) -> None:
        if fault.kind == "429":
            headers = {}
            if fault.seconds >= 0:
                headers = {"retry-after": f"{fault.seconds:g}", "retry-after-ms": f"{fault.seconds * 1000:g}"}
            self._send_error(
                h,
                429,
                "Rate limit reached for requests. Please try again later.",
                "requests",
                "rate_limit_exceeded",
                headers,
            )
        elif fault.kind == "500":
            self._send_error(
                h, 500, "The server had an error while processing your request.", "server_error", None
            )
        elif fault.kind == "400":
            self._send_error(h, 400, "Invalid request.", "invalid_request_error", None)
        elif fault.kind == "context":
            message = (f"This model's maximum context length is 128000 tokens. However, your messages resulted in "
                       f"{prompt_tokens(body) + 128000} tokens. Please reduce the length of the messages.")
            self._send_error(
                h, 400, message, "invalid_request_error", "context_length_exceeded", param="messages"
            )
        elif fault.kind == "401":  # a proxy that echoes the credentials it was given
            key = (h.headers.get("authorization") or "").removeprefix("Bearer ")
            self._send_error(h, 401, f"Incorrect API key provided: {key}. You can find your API key at "
                             "https://platform.openai.com/account/api-keys.", "invalid_request_error",
                             "invalid_api_key")
        elif fault.kind == "runaway":  # a small model that never stops: cut by the budget, if there is one
            self._serve(h, body, content='{"critique": "' + "and so on " * 4000)
        elif fault.kind == "malformed":
            self._send_raw(
                h,
                200,
                b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"index": 0, "mess',
            )
        elif fault.kind in ("refuse_json_schema", "refuse_json_object"):
            self._refuse(h, fault.kind.removeprefix("refuse_"))
        elif fault.kind == "drop":
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)
        elif fault.kind == "hang":
            self._closing.wait(fault.seconds)
            h.close_connection = True
            self._send_json(h, 200, self._completion(body, self._answer(body)))
