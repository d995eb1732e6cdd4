"""The replayed example judge: a local OpenAI-compatible server that answers the bundled example's rows with
recorded judge answers, so ``sheetsync demo`` runs the whole loop with no API key and no model.

Why a server and not a shortcut inside the runner: the demo should show the product as it is — the real
``openai``-speaking runner, its cache, the Judge tab, the run history and the reports — and only the model
is replaced. The server lives in the product (not in ``sheetsync.testing``, which product code never
imports) because the demo needs it on a user's machine.

The recordings (``sheetsync/examples/support_assistant_judge.json``) were not made by a model: they were
written by rules from the example expert's own verdicts, critiques and root causes
(``scripts/record_example_judge.py``), so that the judge agrees with the expert on most rows but not all,
as a real judge would, and improves over three prompt iterations. The file's ``about`` says so, and so does
everything the demo produces (:data:`REPLAY_NOTE`).

A request is matched to its row by the text of the fenced ``output`` in the user message (the example's
outputs are unique), and to a prompt iteration by the lessons found in the system message: iteration *k*
is the default prompt plus the first *k − 1* lessons, as the demo writes them. A row the recordings do not
know gets a 404 (an error for that row, never a made-up verdict).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

REPLAY_MODEL = "replayed-example-judge"
REPLAY_NOTE = "replayed example judge — set OPENAI_API_KEY or OPENAI_BASE_URL to judge with a real model"
#: Opens every critique the server answers with, so each tab that shows a judge critique (Judge, Review,
#: Disagreements) says it was replayed right where it is read, not only in a banner elsewhere.
CRITIQUE_MARK = "[replayed example judge] "
RECORDINGS = "support_assistant_judge.json"
_OUTPUT = re.compile(r'<data-(?P<m>[0-9a-f]+) name="output">\n(?P<text>.*?)\n</data-(?P=m)>', re.S)


def recordings_path() -> Path:
    return Path(str(resources.files("sheetsync").joinpath("examples", RECORDINGS)))


def output_digest(text: str) -> str:
    """How a recording names its row: a hash of the output the judge is shown."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Recordings:
    """The recorded answers: per row (by output digest) the answer of each prompt iteration."""

    lessons: tuple[str, ...]  # lesson k is what iteration k + 2 adds to the prompt
    answers: dict[str, list[dict[str, Any]]]  # output digest -> [{"from": iteration, "verdict", "critique"}]
    ids: dict[str, str]  # output digest -> row id

    @classmethod
    def load(cls, path: Path | None = None) -> Recordings:
        data = json.loads((path or recordings_path()).read_text(encoding="utf-8"))
        lessons = tuple(it["lesson"] for it in data["iterations"] if it.get("lesson"))
        answers = {a["output_sha256"]: a["by_iteration"] for a in data["answers"]}
        return cls(lessons, answers, {a["output_sha256"]: a["id"] for a in data["answers"]})

    def iteration(self, system: str) -> int:
        """1 for a prompt with none of the lessons, k when it holds the first k − 1 of them."""
        k = 1
        for lesson in self.lessons:
            if lesson not in system:
                break
            k += 1
        return k

    def answer(self, system: str, user: str) -> dict[str, str] | None:
        match = _OUTPUT.search(user)
        if match is None:
            return None
        versions = self.answers.get(output_digest(match.group("text")))
        if not versions:
            return None
        k = self.iteration(system)
        chosen = [v for v in versions if v["from"] <= k][-1]
        return {"critique": chosen["critique"], "verdict": chosen["verdict"]}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, {"object": "list", "data": [{"id": REPLAY_MODEL, "object": "model",
                                                         "owned_by": "sheetsync"}]})
        else:
            self._error(404, f"no such endpoint: GET {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._error(400, "the request body is not JSON")
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._error(404, f"no such endpoint: POST {self.path}")
            return
        messages = body.get("messages") or []
        system = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "system")
        user = str(messages[-1].get("content", "")) if messages else ""
        answer = self.server.recordings.answer(system, user)
        if answer is None:
            self._error(404, "the replayed example judge has no recorded answer for this interaction: it only "
                             f"knows the bundled example's rows. {REPLAY_NOTE[0].upper()}{REPLAY_NOTE[1:]}.")
            return
        self.server.count()
        content = json.dumps({**answer, "critique": CRITIQUE_MARK + answer["critique"]}, ensure_ascii=False)
        prompt_chars = sum(len(str(m.get("content", ""))) for m in messages)
        self._send(200, {
            "id": f"chatcmpl-replay-{self.server.calls}", "object": "chat.completion", "created": 0,
            "model": REPLAY_MODEL,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            # Tokens as the usual 4-characters-per-token estimate: nothing was really counted.
            "usage": {"prompt_tokens": prompt_chars // 4, "completion_tokens": len(content) // 4,
                      "total_tokens": prompt_chars // 4 + len(content) // 4},
        })

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": {"message": message, "type": "invalid_request_error", "code": None}})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    recordings: Recordings
    calls: int = 0
    _lock = threading.Lock()

    def count(self) -> None:
        with self._lock:
            self.calls += 1


class ReplayServer:
    """``with ReplayServer() as server:`` serves the recordings on 127.0.0.1 (a free port) until the block ends;
    point the runner at ``server.base_url``."""

    def __init__(self, recordings: Recordings | None = None) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.recordings = recordings or Recordings.load()
        self._thread = threading.Thread(target=self._server.serve_forever, name="replay-judge", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def calls(self) -> int:
        return self._server.calls

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
