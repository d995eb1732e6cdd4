"""The one way sheetsync builds an OpenAI client and makes a chat call: ``make_client`` and ``chat_completion``.

Why one factory: the judge, ``generate``, ``triage`` and ``respond --endpoint`` must reach a server the same
way — the same key and base-URL rules, our timeout instead of the SDK's 600 s, the SDK's retries off (the
runner's are the ones that count; ``respond`` records a failure as the row's error) and an HTTP client sized
for the run's concurrency (``transport``: the lean wire for ``http://`` and ``https://``, the SDK's own
client behind a proxy).

Why ``chat_completion`` does not always go through ``chat.completions.create``: at 64-128 requests in
flight the client's CPU per request is what holds a run back (``scripts/bench_concurrency.py``), and most of
it is spent above the wire, rebuilding the same request: the SDK's options model, URL merging and header
building, httpx's request, auth and redirect layers. So on the lean wire (no proxy) a client from
``make_client`` has the SDK build its POST /chat/completions request once — URL, auth, every
header, timeouts: all the SDK's — and then sends that head again with each new body (``_Replay``). What
comes back is handled as the SDK would: a 2xx body is decoded (``Content-Encoding``) and parsed as JSON (a
broken body raises ``json.JSONDecodeError``, as in the SDK), an error status raises the SDK's own
``APIStatusError`` subclass built by the SDK from the response, a timeout ``APITimeoutError`` and a broken
connection ``APIConnectionError`` (the wire's httpx error as its ``__cause__``). A redirect, a cookie from
the server, or a client the replay cannot stand in for (an API-key provider, workload identity, a base URL
with credentials) sends the call through the SDK instead.
"""

from __future__ import annotations

import json
import logging
import os
import weakref
from typing import Any

import httpx2
import openai

from sheetsync.errors import ConfigError
from sheetsync.llm.calls import DEFAULT_BASE_URL, PLACEHOLDER_API_KEY, LLMSettings
from sheetsync.llm.transport import make_http_client
from sheetsync.llm.wire import DEFAULT_PORTS, LeanTransport, head_prefix, origin_of
from sheetsync.redact import register

CHAT_PATH = "/chat/completions"
log = logging.getLogger("sheetsync.llm")
_REDIRECTS = frozenset((301, 302, 303, 307, 308))


class _Replay:
    """The SDK's POST /chat/completions request for one client, kept to be sent again with other bodies."""

    __slots__ = ("request", "transport", "origin", "prefix", "timeouts")

    def __init__(self, request: httpx2.Request, transport: LeanTransport) -> None:
        self.request = request  # what the SDK's errors carry as their ``request``
        self.transport = transport
        self.origin = origin_of(request.url)
        self.prefix = head_prefix(request)
        self.timeouts = request.extensions.get("timeout") or {}


_UNPREPARED = object()
#: The clients ``make_client`` built, with their prepared request (None: through the SDK). Kept beside the
#: client, not in a subclass: the SDK names its class in the User-Agent header, which must stay the SDK's.
_replays: weakref.WeakKeyDictionary[openai.AsyncOpenAI, Any] = weakref.WeakKeyDictionary()


async def chat_completion(client: Any, body: dict[str, Any]) -> Any:
    """POST /chat/completions; the reply as plain JSON (a real client) or a ``ChatCompletion`` (a duck-typed one).

    A client from ``make_client`` on the lean wire replays its prepared request (module docstring). Any
    other ``AsyncOpenAI`` (or Azure) client uses the SDK's documented generic ``client.post`` rather than
    ``chat.completions.create``: ``create`` runs a TypedDict transform over every message and the schema,
    and building the ``ChatCompletion`` model afterwards costs as much again, both for nothing the callers
    read. Any other (injected, duck-typed) client is called through ``chat.completions.create``.
    """
    if not isinstance(client, openai.AsyncOpenAI):
        return await client.chat.completions.create(**body)
    replay = _replays.get(client)
    if replay is _UNPREPARED:  # once, on the first call (not in make_client: often no call follows)
        replay = _replays[client] = _prepare(client)
    if replay is None:
        return json.loads(await client.post(CHAT_PATH, cast_to=bytes, body=body))
    return await _replayed(client, replay, body)


async def _replayed(client: openai.AsyncOpenAI, replay: _Replay, body: dict[str, Any]) -> Any:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()  # as the SDK
    message = b"%sContent-Length: %d\r\n\r\n%s" % (replay.prefix, len(data), data)
    try:
        status, _, headers, content = await replay.transport.exchange(replay.origin, message, "POST",
                                                                      replay.timeouts)
    except httpx2.TimeoutException as e:
        raise openai.APITimeoutError(request=replay.request) from e
    except httpx2.RequestError as e:
        raise openai.APIConnectionError(request=replay.request) from e
    if log.isEnabledFor(logging.DEBUG):  # what the SDK logs for each response it gets
        request_id = next((v for k, v in headers if k.lower() == b"x-request-id"), b"").decode("latin-1")
        log.debug("HTTP Response: POST %s %i (replayed; request_id: %s)", replay.request.url.path, status, request_id)
    if 200 <= status < 300 and not any(name.lower() in (b"content-encoding", b"set-cookie") for name, _ in headers):
        return json.loads(content)
    response = httpx2.Response(status, headers=headers, content=content, request=replay.request)
    if response.cookies:  # the server keeps state in cookies: httpx's jar and the SDK carry it from now on
        client._client.cookies.extract_cookies(response)
        _replays[client] = None
    if 200 <= status < 300:
        return json.loads(response.content)  # decoded by httpx (gzip, deflate, ...)
    if status in _REDIRECTS and "location" in response.headers:
        return json.loads(await client.post(CHAT_PATH, cast_to=bytes, body=body))  # httpx follows it
    raise client._make_status_error_from_response(response)


def _prepare(client: openai.AsyncOpenAI) -> _Replay | None:
    """The SDK's own request for this client, when the replay can stand in for the SDK's path.

    Built before the SDK's first request has learned the platform for its ``X-Stainless-OS`` header, the
    SDK's header function finds it itself (the same value; once per process, ~10 ms)."""
    http = client._client
    transport = getattr(http, "_transport", None)
    if not isinstance(transport, LeanTransport) or http.cookies or client._idempotency_header:
        return None
    if any(getattr(client, name, None) is not None for name in ("_api_key_provider", "_provider_runtime",
                                                                 "_workload_identity_auth", "custom_auth")):
        return None  # auth decided per request: only the SDK knows how
    from openai._models import FinalRequestOptions

    request = client._build_request(FinalRequestOptions.construct(method="post", url=CHAT_PATH, json_data={}))
    if request.url.scheme not in DEFAULT_PORTS or request.url.userinfo or http.auth is not None:
        return None  # httpx adds auth from the URL or its own config when it sends
    return _Replay(request, transport)


def make_client(settings: LLMSettings) -> openai.AsyncOpenAI:
    """A client with our timeout, the SDK's retries off (ours are in the runner) and an HTTP client sized
    for ``settings.concurrency`` (``transport``: the lean wire, or the SDK's own client behind a proxy).

    No key and no base URL is a configuration error; a base URL without a key gets a placeholder,
    because local servers (Ollama, vLLM, llama.cpp, LM Studio) ignore it but the SDK requires one.
    """
    base_url = settings.base_url or os.environ.get("OPENAI_BASE_URL") or None
    api_key = settings.api_key or os.environ.get("OPENAI_API_KEY") or None
    if api_key is None:
        if base_url is None:
            raise ConfigError(
                "No API key for the LLM: set OPENAI_API_KEY (for OpenAI) or OPENAI_BASE_URL "
                "(for a local OpenAI-compatible server such as Ollama or vLLM)."
            )
        api_key = PLACEHOLDER_API_KEY
    register(api_key)  # a server may echo it back in an error body: it is masked wherever it would show
    http_client = make_http_client(base_url or DEFAULT_BASE_URL, settings.concurrency, settings.timeout)
    client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=settings.timeout, max_retries=0,
                                http_client=http_client)
    _replays[client] = _UNPREPARED
    return client
