"""One run's conversation with the Batch API: upload each input file and create its batch, poll until every
batch has ended, stream the output and error files back, and turn their lines into ``llm.Result``s (and cache
entries) for the calls still pending. :func:`sheetsync.batch.run_batch` drives it.

* ``batches.create`` is sent with SDK retries off: a retried create could start and bill a second batch.
* Stored files are streamed, never read whole: an input file holds up to 200 MB of prompts, and an output
  file grows with the row count.
* A line is matched to its call by ``custom_id`` (the cache key), so results may come back in any order, and
  lines for calls not in this run (a resumed batch whose prompts changed since) are ignored.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

import httpx2
import openai

from sheetsync import llm
from sheetsync.batch_files import ENDPOINT, _jsonl_records, _line_error, _parse_success
from sheetsync.errors import ConfigError, UserInputError
from sheetsync.redact import redact

log = logging.getLogger("sheetsync.batch")

COMPLETION_WINDOW = "24h"
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
TRANSFER_TIMEOUT = 600.0  # uploads and downloads of up to 200 MB need longer than one chat call
#: What reading a file can raise: the SDK's errors, and httpx2's for a stream broken mid-way.
DOWNLOAD_ERRORS = (openai.APIError, httpx2.HTTPError, httpx2.StreamError)


@dataclass(slots=True)
class Pending:
    """What a pending cache key needs once its answer arrives: the row it was first seen on, and its schema."""

    row_key: str
    schema: int  # index into BatchRun.schemas (all judge calls share one schema: stored once)


class BatchRun:
    """The Batch API calls of one run, and what the pending calls need once their answers arrive."""

    def __init__(
        self,
        settings: llm.LLMSettings,
        client: openai.OpenAI,
        cache: llm.Cache | None,
        on_result: Callable[[llm.Result], Any] | None,
        progress: bool,
    ) -> None:
        self.settings = settings
        self.client = client
        self.cache = cache
        self.on_result = on_result
        self.progress = progress
        self.validators: dict[str, Any] = {}
        self.covered: dict[str, set[str]] = {}  # batch id -> the pending cache keys it was sent
        self.pending: dict[str, Pending] = {}  # cache key -> what its answer needs, for uncached calls
        self.schemas: list[dict[str, Any] | None] = []  # each distinct schema once
        self._schema_ids: dict[str, int] = {}  # canonical JSON of a schema -> its index in schemas

    def say(self, message: str) -> None:
        """A status line on stderr (batch ids, splits, polls): the user needs the id to resume after a crash."""
        log.info(message)
        if self.progress:
            print(message, file=sys.stderr, flush=True)

    def schema_id(self, schema: dict[str, Any] | None) -> int:
        """The index of ``schema`` in ``schemas``, adding it the first time it is seen."""
        token = json.dumps(schema, sort_keys=True, default=str)
        index = self._schema_ids.get(token)
        if index is None:
            index = self._schema_ids[token] = len(self.schemas)
            self.schemas.append(schema)
        return index

    def deliver(self, result: llm.Result) -> None:
        if self.on_result is not None:
            self.on_result(result)

    # -- control plane --------------------------------------------------------------------------------

    def covered_ids(self, batch_id: str) -> tuple[dict[str, Any], set[str] | None]:
        """A resumed batch and the custom ids it was created with (None if its input file cannot be read)."""
        try:
            batch = self.client.batches.retrieve(batch_id)
        except openai.NotFoundError:
            raise UserInputError(f"batch {batch_id!r} was not found on {self.where()}.") from None
        ids: set[str] = set()
        try:
            for record in _jsonl_records(self.file_lines(batch.input_file_id), f"batch {batch_id} input"):
                ids.add(str(record.get("custom_id")))
        except DOWNLOAD_ERRORS as e:
            log.warning(
                "could not read the input file of batch %s (%s): assuming it covers every row", batch_id, e
            )
            return batch.model_dump(), None
        return batch.model_dump(), ids

    def where(self) -> str:
        return llm.normalise_base_url(str(self.client.base_url))

    def submit(self, chunk: list[str], lines: IO[bytes], number: int, of: int) -> str:
        """Upload one input file (streamed from its temporary file) and create its batch; returns the batch id."""
        lines.seek(0)
        try:
            file = self.client.files.create(
                file=(f"sheetsync-batch-{number}.jsonl", lines, "application/jsonl"),
                purpose="batch",
                timeout=TRANSFER_TIMEOUT,
            )
            batch = self.client.with_options(max_retries=0).batches.create(
                input_file_id=file.id,
                endpoint=ENDPOINT,
                completion_window=COMPLETION_WINDOW,
                metadata={"source": "sheetsync"},
            )
        except openai.NotFoundError:
            raise ConfigError(
                f"{self.where()} does not offer the Batch API (/v1/files, /v1/batches). Only OpenAI and Azure "
                "do; run without --batch for local servers such as Ollama or vLLM."
            ) from None
        suffix = f" ({number}/{of})" if of > 1 else ""
        self.say(
            f"Batch {batch.id}{suffix} created with {len(chunk)} requests; if this process stops, resume it "
            f"with --resume-batch {batch.id}"
        )
        return batch.id

    def poll(
        self, batch_ids: Sequence[str], poll_interval: float, sleep: Callable[[float], Any]
    ) -> dict[str, Any]:
        """Retrieve every batch until all are terminal; a progress line per poll. Returns id -> batch dict."""
        from tqdm import tqdm  # lazy, like llm.run

        final: dict[str, dict[str, Any]] = {}
        bar = tqdm(
            total=None, desc="Batch", unit="req", disable=not self.progress, dynamic_ncols=True, leave=True
        )
        try:
            while True:
                counts = {"completed": 0, "failed": 0, "total": 0}
                statuses: list[str] = []
                for batch_id in batch_ids:
                    if batch_id not in final:
                        try:
                            batch = self.client.batches.retrieve(batch_id).model_dump()
                        except (
                            openai.APIConnectionError,
                            openai.InternalServerError,
                            openai.RateLimitError,
                        ) as e:
                            log.warning(
                                "polling batch %s failed (%s); will try again", batch_id, type(e).__name__
                            )
                            statuses.append("unknown")
                            continue
                        if batch["status"] in TERMINAL:
                            final[batch_id] = batch
                    else:
                        batch = final[batch_id]
                    statuses.append(batch["status"])
                    for key in counts:
                        counts[key] += int((batch.get("request_counts") or {}).get(key) or 0)
                bar.total = counts["total"] or None
                bar.n = counts["completed"] + counts["failed"]
                bar.set_postfix_str(
                    f"{counts['completed']} ok, {counts['failed']} failed of {counts['total']} · "
                    + ", ".join(statuses),
                    refresh=True,
                )
                if len(final) == len(batch_ids):
                    return final
                sleep(poll_interval)
        finally:
            bar.close()

    def file_lines(self, file_id: str) -> Iterator[str]:
        """The lines of a stored file, streamed: an input file holds up to 200 MB of prompts, and an output
        file grows with the row count, so neither is read into memory whole. Raises ``DOWNLOAD_ERRORS``."""
        with self.client.files.with_streaming_response.content(file_id, timeout=TRANSFER_TIMEOUT) as response:
            yield from response.iter_lines()

    # -- results --------------------------------------------------------------------------------------

    def take(self, record: dict[str, Any], batch_id: str, results: dict[str, llm.Result]) -> bool:
        """One line of an output or error file into ``results`` (and the cache); False if no pending call sent it."""
        custom_id = str(record.get("custom_id"))
        entry = self.pending.get(custom_id)
        if entry is None:
            return False  # from another run's calls (e.g. the prompt changed before resuming)
        if custom_id in results and results[custom_id].ok:
            return True
        response = record.get("response") or {}
        if response.get("status_code") == 200 and not record.get("error"):
            try:
                value, text, p_tok, c_tok = _parse_success(
                    self.schemas[entry.schema], response.get("body"), self.validators
                )
            except ValueError as e:
                results[custom_id] = self.failure(entry.row_key, custom_id, str(e))
                return True
            results[custom_id] = llm.Result(
                key=entry.row_key,
                value=value,
                text=text,
                error=None,
                latency=0.0,
                prompt_tokens=p_tok,
                completion_tokens=c_tok,
                cached=False,
                attempts=1,
                cache_key=custom_id,
                level=llm.LEVEL_NAMES[llm.LEVEL_JSON_SCHEMA] if self.schemas[entry.schema] else None,
            )
            if self.cache is not None:
                entry_value = llm.cache_entry(results[custom_id], self.settings.model, time.time())
                self.cache.put(custom_id, {**entry_value, "batch_id": batch_id})
        else:
            results[custom_id] = self.failure(
                entry.row_key, custom_id, f"batch {batch_id}: {_line_error(record)}"
            )
        return True

    def collect(self, batch: dict[str, Any], results: dict[str, llm.Result]) -> None:
        """Turn one finished batch's files into Results (and cache entries) for the pending calls it answered."""
        batch_id, status = batch["id"], batch["status"]
        unknown = 0
        for label, file_id in (
            ("output", batch.get("output_file_id")),
            ("error", batch.get("error_file_id")),
        ):
            if not file_id:
                continue
            try:
                for record in _jsonl_records(self.file_lines(file_id), f"batch {batch_id} {label}"):
                    unknown += not self.take(record, batch_id, results)
            except DOWNLOAD_ERRORS as e:
                log.warning("could not download the %s file %s: %s", label, file_id, e)
        if unknown:
            log.info("batch %s: %d result(s) for calls not in this run were ignored", batch_id, unknown)
        if status != "completed":
            reason = f"batch {batch_id} {status}"
            errors = ((batch.get("errors") or {}).get("data")) or []
            messages = "; ".join(
                str(e.get("message") or e.get("code")) for e in errors if isinstance(e, dict)
            )
            if messages:
                reason += f": {messages[:300]}"
            self.say(f"Batch {batch_id} ended {status}: its unanswered rows are recorded as errors.")
            for custom_id in self.covered.get(batch_id, ()):
                if custom_id in self.pending and custom_id not in results:
                    results[custom_id] = self.failure(self.pending[custom_id].row_key, custom_id, reason)

    def failure(self, row_key: str, custom_id: str, reason: str) -> llm.Result:
        """A row error (never cached, so the next run asks again)."""
        return llm.Result(
            key=row_key,
            value=None,
            text=None,
            error=redact(reason),
            latency=0.0,
            prompt_tokens=0,
            completion_tokens=0,
            cached=False,
            attempts=1,
            cache_key=custom_id,
        )
