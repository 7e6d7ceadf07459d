"""Chunked blob uploads: the OCI distribution spec's POST, PATCH with ``Content-Range``, PUT.

For blobs produced while they are sent (a layer gzipped on the way), whose digest and size are
known only at the end. Each PATCH carries one part of at least ``part`` bytes (the last may be
shorter), starting where the previous one ended, and goes to the ``Location`` the previous answer
gave (registry:2 carries its upload state there); the final ``PUT ?digest=`` has no body.

This module owns that sequence for one attempt. Retries (a new session from the start) belong
to the caller, ``RegistryClient.upload_chunks``. It must never hold more than one part in
memory, and never send a digest it has not computed from the bytes it sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING
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

    def patch(data: bytes) -> str:
        response = client._attempt(
            "PATCH",
            target,
            ok=(202, 204),
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{sent}-{sent + len(data) - 1}",
            },
            body=lambda: data,
            stream=False,
        )
        _check_range(response.headers.get("Range"), sent + len(data), target)
        next_location = response.headers.get("Location")
        return urljoin(_final_url(response, target), next_location) if next_location else target

    for chunk in chunks:
        if not chunk:
            continue
        hasher.update(chunk)
        buffer.append(chunk)
        buffered += len(chunk)
        if buffered >= part:
            data = b"".join(buffer)
            buffer.clear()
            buffered = 0
            target = patch(data)
            sent += len(data)
    if buffered:
        data = b"".join(buffer)
        buffer.clear()
        target = patch(data)
        sent += len(data)
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
