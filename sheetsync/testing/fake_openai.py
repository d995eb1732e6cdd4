"""A local OpenAI-compatible HTTP server for tests, benchmarks and demos — never imported by product code.

Why a real server and not a mock: openai 3.x talks through httpx2, which respx-style mocks do not intercept,
and a real socket is the only way to exercise the SDK's actual timeouts, dropped connections and headers.

It speaks ``POST /v1/chat/completions``, ``POST /v1/embeddings`` (``fake_embeddings``), ``GET /v1/models`` and
the Batch API (``/v1/files``, ``/v1/batches``;
see ``FakeOpenAI``) with OpenAI-shaped bodies and errors, serves
requests concurrently (one thread per connection, so injected latency overlaps), records what it received,
and can be scripted per row (``script``) and told to misbehave (``fail_next``)::

    with FakeOpenAI(latency=0.01) as fake:
        fake.script("row-7", {"critique": "wrong unit", "verdict": "fail"})
        fake.fail_next("429", retry_after=0)
        ...  # point the client at fake.base_url
        assert fake.call_count == 2

Run it standalone (e.g. for a demo, or a benchmark that keeps the server off its own GIL):
``python -m sheetsync.testing.fake_openai --port 8765 --latency 0.2``; ``GET /_fake/stats`` then reports
``call_count``, ``connections_opened``, ``in_flight`` and ``max_in_flight``.

Batch API: an uploaded JSONL file becomes a batch that moves ``validating → in_progress → completed`` over
``batch_polls_to_complete`` calls of ``GET /v1/batches/{id}``; each line goes through the same scripts, faults
and responder as a live chat call, and the results land in an output file (200s) and an error file (the rest)
in OpenAI's format. ``end_batch_as("failed" | "expired")`` makes the next batch end badly instead.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sheetsync.testing import fake_profiles as profiles
from sheetsync.testing.fake_batch import BATCH_ENDINGS, BatchAPI, _parse_multipart
from sheetsync.testing.fake_embeddings import embeddings_reply
from sheetsync.testing.fake_faults import FAULT_KINDS, Faults, _Fault
from sheetsync.testing.fake_profiles import format_type, messages_text, prompt_tokens

__all__ = ["FAULT_KINDS", "BATCH_ENDINGS", "FakeOpenAI", "default_responder", "messages_text"]

Answer = dict[str, Any] | str
Responder = Callable[[dict[str, Any]], Answer]

_ROUTE = re.compile(r"^/v1/(files|batches)(?:/([^/]+))?(?:/(content|cancel))?$")
DEFAULT_ANSWER: dict[str, Any] = {"critique": "The response meets the criteria.", "verdict": "pass"}


def default_responder(request: dict[str, Any]) -> Answer:
    """Answer every request with a passing judgement (scripts and a custom responder override it)."""
    return dict(DEFAULT_ANSWER)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # hung handlers must not block close()
    request_queue_size = 512  # the default backlog of 5 drops SYNs when 16+ clients connect at once
    fake: FakeOpenAI
    tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[Any, Any]:
        """With ``tls``, each accepted socket speaks TLS; its handshake runs in the connection's own thread."""
        sock, address = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a client hung up (cancelled run, timeout): normal for a test server, not worth a traceback
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API; every reply sends Content-Length
    # Headers and body are separate writes: with Nagle's algorithm and delayed ACKs each reply would stall ~40 ms.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # silence per-request stderr lines
        return

    def setup(self) -> None:
        super().setup()
        with self.server.fake._lock:
            self.server.fake._connections.add(self.connection)
            self.server.fake.connections_opened += 1

    def finish(self) -> None:
        with self.server.fake._lock:
            self.server.fake._connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        self.server.fake._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.fake._handle(self, "POST")


class FakeOpenAI(Faults, BatchAPI):
    """An OpenAI-compatible server on 127.0.0.1 with scripted answers and fault injection.

    ``responder(request_json)`` returns a dict (the judge's JSON answer, serialised into
    ``message.content``) or a str (raw content). ``latency`` (seconds, settable later) delays every
    chat completion. ``refuse_json_schema`` / ``refuse_json_object`` make the server reject those
    ``response_format`` types with a 400 on every request, like a server that does not support them.
    ``record=False`` stops keeping request bodies (for long benchmarks). ``profile`` makes it answer like
    a real server (``openai``, ``llama-cpp-python``, ``llama.cpp``, ``vllm``, ``ollama``; see
    ``fake_profiles``), with ``context``, ``slots`` and ``per_token_latency`` as ``profile_options``.
    ``tls`` (a server-side ``ssl.SSLContext``) serves https.
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        latency: float = 0.0,
        refuse_json_schema: bool = False,
        refuse_json_object: bool = False,
        record: bool = True,
        model_ids: tuple[str, ...] = ("gpt-4.1-mini", "gpt-4.1", "gpt-4o-mini"),
        port: int = 0,
        batch_polls_to_complete: int = 2,
        profile: str = "generic",
        embeddings: bool = True,
        tls: ssl.SSLContext | None = None,
        **profile_options: Any,
    ) -> None:
        self.responder: Responder = responder or default_responder
        self.tls = tls  # a server-side context: https:// on 127.0.0.1 (tests make it with a throwaway CA)
        self.profile = profiles.make_profile(profile, **profile_options)
        self._slots = threading.BoundedSemaphore(self.profile.slots) if self.profile.slots else None
        self._prefixes: list[str] = []  # recent prompts: the server's prefix cache
        self._connections: set[socket.socket] = set()
        self.connections_opened = 0  # TCP connections accepted so far (keep-alive reuse shows as few)
        self.cached_tokens_served = 0
        self.refusals_served = 0  # requests the profile refused (format, context, parameters)
        self.latency = latency
        self.refuse_json_schema = refuse_json_schema
        self.refuse_json_object = refuse_json_object
        self.record = record
        self.model_ids = model_ids
        self.requests: list[dict[str, Any]] = []
        self.call_count = 0  # chat completion requests received, including ones answered with a fault
        self.embedding_calls = 0  # POST /v1/embeddings requests (fake_embeddings)
        self.embeddings = embeddings  # False: no such endpoint (a 404, like llama.cpp without --embeddings)
        self.in_flight = 0
        self.max_in_flight = 0
        self.faults_served: list[str] = []
        self._port = port
        self._lock = threading.Lock()
        self._scripts: list[tuple[str, Answer]] = []
        self._faults: list[_Fault] = []
        self._ids = itertools.count(1)
        self._closing = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # Batch API state. Files and batches survive reset(): a resumed run must still find its batch.
        self.batch_polls_to_complete = batch_polls_to_complete
        self.files: dict[str, dict[str, Any]] = {}  # id -> {"object": FileObject dict, "content": bytes}
        self.batches: dict[str, dict[str, Any]] = {}  # id -> Batch dict (what the API returns)
        self.batch_requests: list[dict[str, Any]] = []  # chat bodies processed as batch lines, in order
        self.files_uploaded = 0  # POST /v1/files
        self.batches_created = 0  # POST /v1/batches
        self._batch_lock = threading.RLock()  # never held while taking self._lock-guarded scripts/faults
        self._batch_work: dict[str, dict[str, Any]] = {}  # id -> lines, outputs, errors, polls, ending
        self._batch_endings: list[str] = []

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.fake = self
        server.tls = self.tls
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, like a killed server: open keep-alive connections are cut too, and hung handlers
        are woken so nothing lingers."""
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not running; use it as a context manager or call start()")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/v1"

    # -- scripting ---------------------------------------------------------------------------------------

    def script(self, match: str, answer: Answer) -> None:
        """Answer requests whose message text contains ``match`` (e.g. a row id) with ``answer``.

        The first script added that matches wins; scripts persist until ``reset()``.
        """
        with self._lock:
            self._scripts.append((match, answer))

    def reset(self) -> None:
        """Forget scripts, pending faults, the request log and the counters."""
        with self._lock:
            self._scripts.clear()
            self._faults.clear()
            self.requests.clear()
            self.faults_served.clear()
            self.batch_requests.clear()
            self.call_count = 0
            self.connections_opened = 0
            self.embedding_calls = 0
            self.refusals_served = 0
            self.max_in_flight = self.in_flight

    def end_batch_as(self, status: str, count: int = 1) -> None:
        """Make the next ``count`` batches created end with ``status`` instead of ``completed``.

        ``"failed"``: rejected at validation (``errors.data`` says why, no output). ``"expired"``: the 24 h
        window ran out before any line ran, so every line is in the error file with code ``batch_expired``.
        """
        if status not in BATCH_ENDINGS:
            raise ValueError(f"unknown batch ending {status!r}; expected one of {', '.join(BATCH_ENDINGS)}")
        with self._batch_lock:
            self._batch_endings.extend([status] * count)

    @property
    def answered(self) -> int:
        """Chat requests answered with a completion (not refused by the profile or a ``refuse_*`` setting)."""
        return self.call_count - self.refusals_served - len(self.faults_served)

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """Bodies of the recorded chat completion requests, in arrival order."""
        return [r["body"] for r in self.requests if r["path"] == "/v1/chat/completions"]

    # -- request handling --------------------------------------------------------------------------------

    def _handle(self, h: _Handler, method: str) -> None:
        path = h.path.split("?", 1)[0].rstrip("/")
        try:
            length = int(h.headers.get("content-length") or 0)
            raw = h.rfile.read(length) if length else b""
            upload: dict[str, Any] | None = None
            if (h.headers.get("content-type") or "").startswith("multipart/form-data"):
                upload = _parse_multipart(h.headers["content-type"], raw)
                body = {k: v for k, v in upload.items() if k != "content"} | {"bytes": len(upload["content"])}
            else:
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
            if self.record:
                entry = {
                    "method": method,
                    "path": path,
                    "body": body,
                    "headers": {k.lower(): v for k, v in h.headers.items()},
                }
                with self._lock:
                    self.requests.append(entry)
            if method == "GET" and path == "/v1/models":
                data = [
                    {"id": m, "object": "model", "created": 0, "owned_by": "fake-openai"}
                    for m in self.model_ids
                ]
                self._send_json(h, 200, {"object": "list", "data": data})
            elif method == "GET" and path == "/_fake/stats":  # for a server run in another process
                with self._lock:
                    stats = {
                        "call_count": self.call_count,
                        "connections_opened": self.connections_opened,
                        "max_in_flight": self.max_in_flight,
                        "in_flight": self.in_flight,
                    }
                self._send_json(h, 200, stats)
            elif method == "POST" and path == "/v1/chat/completions":
                self._chat(h, body)
            elif method == "POST" and path == "/v1/embeddings" and self.embeddings:
                with self._lock:
                    self.embedding_calls += 1
                self._send_json(h, *embeddings_reply(body))
            elif route := _ROUTE.match(path):
                self._batch_api(h, method, route.groups(), body, upload)
            else:
                self._send_error(h, 404, f"Unknown endpoint {method} {path}", "invalid_request_error", None)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            h.close_connection = True  # the client gave up (e.g. its timeout fired); nothing to answer

    def _chat(self, h: _Handler, body: dict[str, Any]) -> None:
        with self._lock:
            self.call_count += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            fault = self._take_fault(body)
            if fault is not None:
                with self._lock:
                    self.faults_served.append(fault.kind)
                self._serve_fault(h, fault, body)
                return
            if self.latency > 0:
                time.sleep(self.latency)
            fmt = format_type(body)
            if fmt == "json_schema" and self.refuse_json_schema:
                self._refuse(h, "json_schema")
                return
            if fmt == "json_object" and self.refuse_json_object:
                self._refuse(h, "json_object")
                return
            refused = profiles.refusal(self.profile, body, prompt_tokens(body))
            if refused is not None:
                with self._lock:
                    self.refusals_served += 1
                self._send_json(h, refused[0], refused[1])
                return
            if self._slots is None:
                self._serve(h, body)
            else:
                with self._slots:  # llama.cpp: at most `slots` requests are processed, the rest queue
                    self._serve(h, body)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _serve(self, h: _Handler, body: dict[str, Any], content: str | None = None) -> None:
        prompt = messages_text(body)
        with self._lock:
            cached = profiles.shared_prefix_tokens(self.profile, prompt, self._prefixes)
            self._prefixes = [*self._prefixes[-7:], prompt]
            self.cached_tokens_served += cached
            served = self.call_count
        if self.profile.per_token_latency:
            time.sleep(max(0, prompt_tokens(body) - cached) * self.profile.per_token_latency)
        reply = self._completion(body, self._answer(body) if content is None else content, cached)
        self._send_json(h, 200, reply, profiles.ratelimit_headers(self.profile, served))

    def _answer(self, body: dict[str, Any]) -> str:
        text = messages_text(body)
        with self._lock:
            scripted = next((a for m, a in self._scripts if m in text), None)
        answer = scripted if scripted is not None else self.responder(body)
        return answer if isinstance(answer, str) else json.dumps(answer)

    def _refuse(self, h: _Handler, fmt: str) -> None:
        with self._lock:
            self.refusals_served += 1
        message = f"Invalid parameter: 'response_format' of type '{fmt}' is not supported with this model."
        self._send_error(h, 400, message, "invalid_request_error", None, param="response_format")

    def _completion(self, body: dict[str, Any], content: str, cached: int = 0) -> dict[str, Any]:
        n_prompt = prompt_tokens(body)
        if self.profile.name == "ollama" and self.profile.context:
            n_prompt = min(n_prompt, self.profile.context)  # Ollama cuts over-long prompts silently
        finish_reason = "stop"
        budget = profiles.reply_budget(self.profile, body)
        if budget and profiles.count_tokens(content) > budget:
            content, finish_reason = content[: budget * 4], "length"
        completion_tokens = max(1, profiles.count_tokens(content))
        usage: dict[str, Any] = {
            "prompt_tokens": n_prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": n_prompt + completion_tokens,
        }
        details = profiles.usage_details(self.profile, n_prompt, cached)
        if details is not None:
            usage["prompt_tokens_details"] = details
        return {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or "fake-model",
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": usage,
        }

    # -- wire helpers ------------------------------------------------------------------------------------

    def _send_error(
        self,
        h: _Handler,
        status: int,
        message: str,
        type_: str,
        code: str | None,
        headers: dict[str, str] | None = None,
        *,
        param: str | None = None,
    ) -> None:
        error = {"error": {"message": message, "type": type_, "param": param, "code": code}}
        self._send_json(h, status, error, headers)

    def _send_json(self, h: _Handler, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send_raw(h, status, json.dumps(obj).encode(), headers)

    def _send_raw(
        self,
        h: _Handler,
        status: int,
        data: bytes,
        headers: dict[str, str] | None = None,
        *,
        content_type: str = "application/json",
    ) -> None:
        h.send_response(status)
        h.send_header("content-type", content_type)
        h.send_header("content-length", str(len(data)))
        h.send_header("x-request-id", f"req_fake{next(self._ids)}")
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(data)


def main(argv: list[str] | None = None) -> None:
    """Serve until Ctrl-C, printing the base URL to point ``OPENAI_BASE_URL`` at."""
    parser = argparse.ArgumentParser(
        description="Local OpenAI-compatible fake server (tests and demos only)."
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to wait before each answer")
    parser.add_argument("--refuse-json-schema", action="store_true")
    parser.add_argument("--refuse-json-object", action="store_true")
    parser.add_argument("--profile", default="generic", choices=profiles.PROFILES,
                        help="behave like this server (see sheetsync/testing/fake_profiles.py)")
    parser.add_argument("--tls-cert", help="serve https with this certificate chain (PEM)")
    parser.add_argument("--tls-key", help="the private key of --tls-cert (PEM)")
    args = parser.parse_args(argv)
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    fake = FakeOpenAI(
        latency=args.latency,
        refuse_json_schema=args.refuse_json_schema,
        refuse_json_object=args.refuse_json_object,
        record=False,
        port=args.port,
        profile=args.profile,
        tls=tls,
    )
    with fake:
        print(fake.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
