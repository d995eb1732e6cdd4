"""The fake's Batch API (``/v1/files``, ``/v1/batches``): an uploaded JSONL file becomes a batch that moves
``validating → in_progress → completed`` over ``batch_polls_to_complete`` polls; each line goes through the
same scripts, faults and responder as a live chat call, and results land in an output file (200s) and an
error file (the rest) in OpenAI's format. Mixed into ``FakeOpenAI``; never imported by product code."""

from __future__ import annotations

import email.parser
import email.policy
import json
import math
import time
from typing import Any


def _format_type(request: dict[str, Any]) -> str | None:
    response_format = request.get("response_format")
    return response_format.get("type") if isinstance(response_format, dict) else None

BATCH_ENDINGS = ("completed", "failed", "expired")
_TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


class BatchAPI:
    """Batch endpoints for ``FakeOpenAI`` (which provides the state, locks, ``_send_*`` and ``_answer``)."""

    files: dict[str, dict[str, Any]]
    batches: dict[str, dict[str, Any]]
    _batch_work: dict[str, dict[str, Any]]
    _batch_endings: list[str]

    def _batch_api(
        self,
        h: Any,
        method: str,
        route: tuple[str | None, ...],
        body: dict[str, Any],
        upload: dict[str, Any] | None,
    ) -> None:
        kind, obj_id, action = route
        with self._batch_lock:
            if kind == "files" and method == "POST" and obj_id is None:
                if upload is None or not upload.get("purpose"):
                    self._send_error(
                        h,
                        400,
                        "Expected a multipart upload with 'file' and 'purpose'.",
                        "invalid_request_error",
                        None,
                    )
                    return
                self.files_uploaded += 1
                file = self._new_file(
                    upload["content"], upload.get("filename") or "upload.jsonl", upload["purpose"]
                )
                self._send_json(h, 200, file)
                return
            if kind == "batches" and method == "POST" and obj_id is None:
                self._create_batch(h, body)
                return
            store = self.files if kind == "files" else self.batches
            if obj_id is None or obj_id not in store:
                self._send_error(h, 404, f"No such {kind[:-1]}: '{obj_id}'", "invalid_request_error", None)
                return
            if kind == "files" and method == "GET" and action == "content":
                self._send_raw(h, 200, self.files[obj_id]["content"], content_type="application/octet-stream")
            elif kind == "files" and method == "GET" and action is None:
                self._send_json(h, 200, self.files[obj_id]["object"])
            elif kind == "batches" and method == "GET" and action is None:
                self._send_json(h, 200, self._advance(obj_id))
            elif kind == "batches" and method == "POST" and action == "cancel":
                batch = self.batches[obj_id]
                if batch["status"] not in _TERMINAL:
                    batch["status"], batch["cancelling_at"] = "cancelling", int(time.time())
                self._send_json(h, 200, batch)
            else:
                self._send_error(
                    h, 404, f"Unknown endpoint {method} /v1/{kind}", "invalid_request_error", None
                )

    def _new_file(self, content: bytes, filename: str, purpose: str) -> dict[str, Any]:
        file_id = f"file-fake{next(self._ids)}"
        obj = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }
        self.files[file_id] = {"object": obj, "content": content}
        return obj

    def _create_batch(self, h: Any, body: dict[str, Any]) -> None:
        file = self.files.get(body.get("input_file_id") or "")
        if file is None:
            self._send_error(
                h,
                404,
                f"No such file: '{body.get('input_file_id')}'",
                "invalid_request_error",
                None,
                param="input_file_id",
            )
            return
        if body.get("endpoint") != "/v1/chat/completions" or body.get("completion_window") != "24h":
            self._send_error(
                h,
                400,
                "This fake supports endpoint '/v1/chat/completions' with a '24h' window.",
                "invalid_request_error",
                None,
                param="endpoint",
            )
            return
        self.batches_created += 1
        lines, problem = _read_batch_input(file["content"])
        if problem is None and file["object"]["purpose"] != "batch":
            problem = "The input file must be uploaded with purpose 'batch'."
        ending = self._batch_endings.pop(0) if self._batch_endings else "completed"
        now = int(time.time())
        batch_id = f"batch_fake{next(self._ids)}"
        self.batches[batch_id] = {
            "id": batch_id,
            "object": "batch",
            "endpoint": body["endpoint"],
            "errors": None,
            "input_file_id": body["input_file_id"],
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + 86400,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
        }
        self._batch_work[batch_id] = {
            "lines": lines,
            "problem": problem,
            "ending": ending,
            "polls": 0,
            "outputs": [],
            "errors": [],
            "done": 0,
        }
        self._send_json(h, 200, self.batches[batch_id])

    def _advance(self, batch_id: str) -> dict[str, Any]:
        """One poll's worth of progress: validate, run a share of the lines, or finish."""
        batch, work = self.batches[batch_id], self._batch_work[batch_id]
        if batch["status"] in _TERMINAL:
            return batch
        now = int(time.time())
        if batch["status"] == "cancelling":
            self._finish(batch_id, "cancelled")
            return batch
        work["polls"] += 1
        if batch["status"] == "validating":
            if work["problem"] is not None or work["ending"] == "failed":
                message = work["problem"] or "The batch failed validation (injected by the fake)."
                batch.update(
                    status="failed",
                    failed_at=now,
                    errors={
                        "object": "list",
                        "data": [
                            {"code": "invalid_request", "message": message, "param": None, "line": None}
                        ],
                    },
                )
                return batch
            batch.update(status="in_progress", in_progress_at=now)
            batch["request_counts"]["total"] = len(work["lines"])
        lines, steps = work["lines"], max(1, self.batch_polls_to_complete)
        if work["ending"] == "expired":
            if work["polls"] >= steps:
                self._finish(batch_id, "expired")
            return batch
        target = len(lines) if work["polls"] >= steps else math.ceil(len(lines) * work["polls"] / steps)
        while work["done"] < target:
            self._run_line(work, lines[work["done"]])
            work["done"] += 1
        batch["request_counts"].update(completed=len(work["outputs"]), failed=len(work["errors"]))
        if work["polls"] >= steps:
            self._finish(batch_id, "completed")
        return batch

    def _run_line(self, work: dict[str, Any], line: dict[str, Any]) -> None:
        """Answer one batch line exactly as a live chat call would be answered, in OpenAI's output format."""
        body = line.get("body") or {}
        with self._lock:
            self.batch_requests.append(body)
        status, reply = 200, None
        fault = self._take_fault(body)
        fmt = _format_type(body)
        if fault is not None:
            with self._lock:
                self.faults_served.append(fault.kind)
            if fault.kind == "malformed":  # a truncated line in the output file
                work["outputs"].append(
                    '{"id": "batch_req_broken", "custom_id": "' + line["custom_id"] + '", "resp'
                )
                return
            status, reply = _BATCH_FAULTS.get(fault.kind, _BATCH_FAULTS["500"])
            if fault.kind.startswith("refuse_"):
                reply = _refusal(fault.kind.removeprefix("refuse_"))
        elif (fmt == "json_schema" and self.refuse_json_schema) or (
            fmt == "json_object" and self.refuse_json_object
        ):
            status, reply = 400, _refusal(fmt or "")
        else:
            reply = self._completion(body, self._answer(body))
        record = {
            "id": f"batch_req_fake{next(self._ids)}",
            "custom_id": line.get("custom_id"),
            "response": {"status_code": status, "request_id": f"req_fake{next(self._ids)}", "body": reply},
            "error": None,
        }
        (work["outputs"] if status == 200 else work["errors"]).append(json.dumps(record))

    def _finish(self, batch_id: str, status: str) -> None:
        batch, work = self.batches[batch_id], self._batch_work[batch_id]
        now = int(time.time())
        if status == "expired":
            for line in work["lines"][work["done"] :]:
                work["errors"].append(
                    json.dumps(
                        {
                            "id": f"batch_req_fake{next(self._ids)}",
                            "custom_id": line.get("custom_id"),
                            "response": None,
                            "error": {
                                "code": "batch_expired",
                                "message": "This request could not be executed before the completion window expired.",
                            },
                        }
                    )
                )
        for key, lines, name in (
            ("output_file_id", work["outputs"], "output"),
            ("error_file_id", work["errors"], "error"),
        ):
            if lines:
                content = ("\n".join(lines) + "\n").encode()
                batch[key] = self._new_file(content, f"{batch_id}_{name}.jsonl", f"batch_{name}")["id"]
        batch["request_counts"].update(completed=len(work["outputs"]), failed=len(work["errors"]))
        batch.update(status=status, finalizing_at=now)
        batch[f"{status}_at"] = now


def _error_body(message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _refusal(fmt: str) -> dict[str, Any]:
    return _error_body(
        f"Invalid parameter: 'response_format' of type '{fmt}' is not supported with this model.",
        "invalid_request_error",
        None,
        "response_format",
    )


# What a live fault becomes inside a batch: the status and body of that line's entry in the error file
# (a batch has no connections to drop and no client waiting, so "drop" and "hang" become server errors).
_BATCH_FAULTS: dict[str, tuple[int, dict[str, Any]]] = {
    "429": (
        429,
        _error_body(
            "Rate limit reached for requests. Please try again later.", "requests", "rate_limit_exceeded"
        ),
    ),
    "500": (500, _error_body("The server had an error while processing your request.", "server_error", None)),
    "400": (400, _error_body("Invalid request.", "invalid_request_error", None)),
    "context": (
        400,
        _error_body(
            "This model's maximum context length is 128000 tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            "context_length_exceeded",
            "messages",
        ),
    ),
}


def _parse_multipart(content_type: str, raw: bytes) -> dict[str, Any]:
    """Form fields of a multipart upload: ``purpose``, the file's ``content`` (bytes) and ``filename``."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
    )
    out: dict[str, Any] = {"content": b""}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if name == "file":
            out["content"], out["filename"] = payload, part.get_filename()
        elif isinstance(name, str):
            out[name] = payload.decode("utf-8", "replace")
    return out


def _read_batch_input(content: bytes) -> tuple[list[dict[str, Any]], str | None]:
    """The JSONL lines of a batch input file, and the first reason OpenAI would reject it (or None)."""
    lines: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, text in enumerate(content.decode("utf-8", "replace").splitlines(), 1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
        except ValueError:
            return lines, f"Line {number} is not valid JSON."
        if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
            return lines, f"Line {number} has no custom_id."
        if line["custom_id"] in seen:
            return lines, f"Line {number}: custom_id '{line['custom_id']}' is not unique."
        if line.get("method") != "POST" or line.get("url") != "/v1/chat/completions":
            return lines, f"Line {number}: expected method POST and url /v1/chat/completions."
        if not isinstance(line.get("body"), dict):
            return lines, f"Line {number} has no body."
        seen.add(line["custom_id"])
        lines.append(line)
    if not lines:
        return lines, "The input file is empty."
    return lines, None


