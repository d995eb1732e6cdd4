"""The JSONL files a batch is made of and answered in: request lines written to disk as they are made and
split across files within the Batch API's limits, and the output/error lines read back into values or a
row's reason (the same checks as the live path: the tolerant JSON reader and the schema)."""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

from openai.types.chat import ChatCompletion

from sheetsync import llm
from sheetsync.llm.failures import reply_content
from sheetsync.redact import redact

log = logging.getLogger("sheetsync.batch")

ENDPOINT = "/v1/chat/completions"


def request_line(settings: llm.LLMSettings, call: llm.Call, custom_id: str) -> bytes:
    """One JSONL line of a batch input file. The body is exactly what the live path sends at strict json_schema."""
    body = llm.request_body(settings, call, llm.LEVEL_JSON_SCHEMA)
    line = {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}
    return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


class FilePlanner:
    """Assigns request lines to input files one at a time, within the per-file request and byte limits.

    Incremental so that lines can be written to disk as they are made (see ``_Spool``).
    """

    def __init__(self, max_requests: int, max_bytes: int) -> None:
        self.max_requests, self.max_bytes = max_requests, max_bytes
        self.chunks: list[list[str]] = []
        self.too_big: list[str] = []
        self._size = 0  # bytes in the last chunk

    def place(self, custom_id: str, line_size: int) -> bool:
        """Add the id to the last file, or to a new one when that would break a limit; False if it fits none."""
        if line_size > self.max_bytes:
            self.too_big.append(custom_id)
            return False
        if not self.chunks or (
            len(self.chunks[-1]) >= self.max_requests or self._size + line_size > self.max_bytes
        ):
            self.chunks.append([])
            self._size = 0
        self.chunks[-1].append(custom_id)
        self._size += line_size
        return True


class _Spool:
    """Request lines written to anonymous temporary files as they are made, one file per batch.

    Holding the lines (or the calls they come from) until upload would cost ~16 KB per row; on disk they cost
    nothing in memory, and an anonymous ``TemporaryFile`` disappears even if the process is killed.
    """

    def __init__(self, max_requests: int, max_bytes: int) -> None:
        self.planner = FilePlanner(max_requests, max_bytes)
        self.files: list[IO[bytes]] = []
        self._open = contextlib.ExitStack()  # closes (so deletes) every file, however the run ends

    @property
    def chunks(self) -> list[list[str]]:
        return self.planner.chunks

    def add(self, custom_id: str, line: bytes) -> bool:
        """Write one line to its file; False (nothing written) if it is larger than a file may be."""
        if not self.planner.place(custom_id, len(line)):
            return False
        if len(self.files) < len(self.chunks):
            file = tempfile.TemporaryFile(prefix="sheetsync-batch-", suffix=".jsonl")  # noqa: SIM115 (closed in close())
            self.files.append(self._open.enter_context(file))
        self.files[-1].write(line)
        return True

    def close(self) -> None:
        self._open.close()


def _line_error(record: dict[str, Any]) -> str:
    """The reason a line of the error file (or a non-200 line of the output file) gives."""
    response = record.get("response") or {}
    error = record.get("error") or {}
    if response.get("status_code") and response.get("status_code") != 200:
        body = response.get("body")
        inner = body.get("error") if isinstance(body, dict) else None
        message = inner.get("message") if isinstance(inner, dict) else body
        return redact(f"HTTP {response['status_code']}: {str(message)[:300]}")
    if isinstance(error, dict) and (error.get("code") or error.get("message")):
        return redact(f"{error.get('code') or 'error'}: {str(error.get('message') or '')[:300]}")
    return "the batch reported an error without a reason"


def _parse_success(
    schema: dict[str, Any] | None, body: Any, validators: dict[str, Any]
) -> tuple[dict[str, Any] | None, str, int, int]:
    """(value, text, prompt_tokens, completion_tokens) from a 200 line's body; raises ValueError with the reason.

    The same checks as the live path: the tolerant JSON reader and the schema. A batch has no retries,
    so an unusable reply is that row's error (it is not cached, so the next run asks again).
    """
    if not isinstance(body, dict):
        raise ValueError("malformed response body: not a JSON object")
    try:
        # Lax, like the SDK's own parsing on the live path: a body missing optional fields still reads.
        completion = ChatCompletion.construct(**body)
        content, finish_reason, prompt_tokens, completion_tokens, _ = reply_content(completion)
    except (llm.RetryableFailure, llm.FinalFailure) as e:
        raise ValueError(e.reason) from None
    except (TypeError, ValueError, AttributeError, IndexError) as e:
        raise ValueError(f"malformed response body: {str(e)[:200]}") from None
    if finish_reason == "length":
        raise ValueError(f"reply cut off at the max_tokens budget (finish_reason=length): {content[:120]!r}")
    if schema is None:
        return None, content, prompt_tokens, completion_tokens
    try:
        value = llm.parse_json_reply(content)
    except llm.ReplyParseError:
        raise ValueError(f"unparsable reply: {content[:200]}") from None
    problem = llm.schema_errors(value, schema, validators)
    if problem is not None:
        raise ValueError(f"reply does not match the schema: {problem[:200]}")
    return value, content, prompt_tokens, completion_tokens


def _jsonl_records(lines: Iterable[str], source: str) -> Iterator[dict[str, Any]]:
    """Each readable JSON object of a JSONL file; broken lines are logged and skipped (their rows end as errors)."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            log.warning("%s line %d is not valid JSON; skipped", source, number)
            continue
        if isinstance(record, dict):
            yield record
