"""Google-shaped API errors: one exception type the HTTP layer turns into the exact JSON body Google sends.

gspread's APIError reads ``response.json()["error"]`` and its ``code``, so every error the emulator answers
must have the ``{"error": {"code", "message", "status", ...}}`` shape (google.rpc.Status as JSON).
"""

from __future__ import annotations

from typing import Any

STATUS_BY_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
}


class ApiError(Exception):
    """An error answer: HTTP code, Google's message and canonical status, optional details and headers."""

    def __init__(
        self,
        code: int,
        message: str,
        status: str | None = None,
        *,
        details: list[dict[str, Any]] | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_BY_CODE.get(code, "UNKNOWN")
        self.details = details
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors is not None:  # Drive's older format carries errors[] before status
            err["errors"] = self.errors
        err["status"] = self.status
        if self.details:
            err["details"] = self.details
        return {"error": err}


def invalid_argument(message: str, violations: list[tuple[str, str]] | None = None) -> ApiError:
    """400 INVALID_ARGUMENT, with a google.rpc.BadRequest detail when field violations are given."""
    details = None
    if violations:
        fv = []
        for field, description in violations:
            item = {"field": field, "description": description} if field else {"description": description}
            fv.append(item)
        details = [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": fv}]
    return ApiError(400, message, "INVALID_ARGUMENT", details=details)


def not_found(message: str = "Requested entity was not found.") -> ApiError:
    return ApiError(404, message, "NOT_FOUND")


def bad_request(where: str, message: str) -> ApiError:
    """A semantic 400 inside a batchUpdate, worded like Google: ``Invalid requests[0].addSheet: ...``."""
    return ApiError(400, f"Invalid {where}: {message}", "INVALID_ARGUMENT")


def drive_error(code: int, message: str, reason: str, *, location: str | None = None) -> ApiError:
    """Drive v3 errors keep the older ``errors[]`` list (domain/reason) next to code and message."""
    item: dict[str, Any] = {"message": message, "domain": "global", "reason": reason}
    if location:
        item.update({"location": location, "locationType": "parameter"})
    status = STATUS_BY_CODE.get(code)
    err = ApiError(code, message, status, errors=[item])
    return err


def drive_not_found(file_id: str) -> ApiError:
    return drive_error(404, f"File not found: {file_id}.", "notFound", location="fileId")
