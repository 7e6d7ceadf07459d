"""Chunked blob uploads: the OCI distribution spec's POST, PATCH with ``Content-Range``, PUT.

For blobs produced while they are sent (a layer gzipped on the way), whose digest and size are
known only at the end. Each PATCH carries one part of at least ``part`` bytes (the last may be
shorter), starting where the previous one ended, and goes to the ``Location`` the previous answer
gave (registry:2 carries its upload state there); the final ``PUT ?digest=`` has no body.

This module owns that sequence for one attempt. Retries (a new session from the start) belong
to the caller, ``RegistryClient.upload_chunks``. It must never hold more than one part in memory
(a part's chunks are sent as they came, never joined), and never send a digest it has not
computed from the bytes it sent.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urljoin

from registry_image_resource.errors import IntegrityError, RegistryError

if TYPE_CHECKING:
    from registry_image_resource.registry.client import RegistryClient


def chunked_upload(client: RegistryClient, chunks: Iterable[bytes], part: int) -> tuple[str, int]:
    """One attempt: POST, PATCH per part, PUT; returns the blob's ``(digest, size)``."""
    from registry_image_resource.registry.client import _final_url

    start_url = client._url("blobs/uploads/")
    start = client._attempt("POST", start_url, ok=(202,), headers={}, body=None, stream=False)
    location = start.headers.get("Location")
    if not location:
        raise RegistryError(f"POST {start_url}: no Location in the answer")
    target = urljoin(_final_url(start, client.base_url), location)
    hasher = hashlib.sha256()
    sent = 0
    buffer: list[bytes] = []
    buffered = 0

    def patch(parts: list[bytes], size: int) -> str:
        response = client._attempt(
            "PATCH",
            target,
            ok=(202, 204),
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(size),
                "Content-Range": f"{sent}-{sent + size - 1}",
            },
            body=lambda: io.BufferedReader(_Parts(parts)),
            stream=False,
        )
        _check_range(response.headers.get("Range"), sent + size, target)
        next_location = response.headers.get("Location")
        return urljoin(_final_url(response, target), next_location) if next_location else target

    for chunk in chunks:
        if not chunk:
            continue
        hasher.update(chunk)
        buffer.append(chunk)
        buffered += len(chunk)
        if buffered >= part:
            target = patch(buffer, buffered)
            sent += buffered
            buffer, buffered = [], 0
    if buffered:
        target = patch(buffer, buffered)
        sent += buffered
    digest = "sha256:" + hasher.hexdigest()
    final = target + ("&" if "?" in target else "?") + f"digest={quote(digest, safe=':')}"
    client._attempt("PUT", final, ok=(201, 204), headers={}, body=lambda: b"", stream=False)
    return digest, sent


def _check_range(header: str | None, expected: int, url: str) -> None:
    """A registry that reports a ``Range`` must have received every byte so far (``0-<end>``)."""
    if not header:
        return
    _, _, end = header.strip().removeprefix("bytes=").partition("-")
    try:
        received = int(end) + 1
    except ValueError:
        return
    if received != expected:
        raise IntegrityError(
            f"PATCH {url}: the registry holds {received} bytes of the upload, not {expected}"
        )


class _Parts(io.RawIOBase):
    """The buffered chunks of one PATCH as a file, read without joining them (a fresh one per try)."""

    def __init__(self, parts: list[bytes]) -> None:
        super().__init__()
        self._parts = parts
        self._index = 0
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while self._index < len(self._parts):
            part = self._parts[self._index]
            if self._offset < len(part):
                count = min(len(view), len(part) - self._offset)
                view[:count] = part[self._offset : self._offset + count]
                self._offset += count
                return count
            self._index += 1
            self._offset = 0
        return 0
