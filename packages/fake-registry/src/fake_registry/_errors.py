"""Registry errors as the distribution spec puts them on the wire.

Owns the error codes, their HTTP statuses and default messages (the ones CNCF distribution 2.8
sends), and the JSON body. Must never know about sockets or storage: routes raise
:class:`RegistryError`, the server turns it into a response.
"""

from __future__ import annotations

import json
from typing import Any

# code -> (HTTP status, message registry:2 sends)
ERROR_CODES: dict[str, tuple[int, str]] = {
    "BLOB_UNKNOWN": (404, "blob unknown to registry"),
    "BLOB_UPLOAD_INVALID": (400, "blob upload invalid"),
    "BLOB_UPLOAD_UNKNOWN": (404, "blob upload unknown to registry"),
    "DIGEST_INVALID": (400, "provided digest did not match uploaded content"),
    "MANIFEST_BLOB_UNKNOWN": (400, "blob unknown to registry"),
    "MANIFEST_INVALID": (400, "manifest invalid"),
    "MANIFEST_UNKNOWN": (404, "manifest unknown"),
    "NAME_INVALID": (400, "invalid repository name"),
    "NAME_UNKNOWN": (404, "repository name not known to registry"),
    "SIZE_INVALID": (400, "provided length did not match content length"),
    "TAG_INVALID": (400, "manifest tag did not match URI"),
    "UNAUTHORIZED": (401, "authentication required"),
    "DENIED": (403, "requested access to the resource is denied"),
    "UNSUPPORTED": (405, "The operation is unsupported."),
    "TOOMANYREQUESTS": (429, "too many requests"),
    "PAGINATION_NUMBER_INVALID": (400, "invalid number of results requested"),
    "RANGE_INVALID": (416, "invalid content range"),
    "UNKNOWN": (500, "unknown error"),
    "UNAVAILABLE": (503, "service unavailable"),
}

# The code a bare status is reported with (faults choose a status, the body needs a code).
CODE_FOR_STATUS: dict[int, str] = {
    400: "UNKNOWN",
    401: "UNAUTHORIZED",
    403: "DENIED",
    404: "NAME_UNKNOWN",
    405: "UNSUPPORTED",
    416: "RANGE_INVALID",
    429: "TOOMANYREQUESTS",
    503: "UNAVAILABLE",
}


class RegistryError(Exception):
    """One spec error: raised by a route, sent as ``{"errors": [...]}`` with its status."""

    def __init__(
        self,
        code: str,
        detail: Any = None,
        *,
        message: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        has_detail: bool = True,
    ) -> None:
        default_status, default_message = ERROR_CODES.get(code, (500, code.lower()))
        self.code = code
        self.status = status if status is not None else default_status
        self.message = message if message is not None else default_message
        self.detail = detail
        self.has_detail = has_detail
        self.headers = dict(headers or {})
        super().__init__(f"{self.status} {code}: {self.message}")

    def body(self) -> bytes:
        return error_body([self])


def error_body(errors: list[RegistryError]) -> bytes:
    items: list[dict[str, Any]] = []
    for err in errors:
        item: dict[str, Any] = {"code": err.code, "message": err.message}
        if err.has_detail:
            item["detail"] = err.detail
        items.append(item)
    return json.dumps({"errors": items}, separators=(",", ":")).encode() + b"\n"
