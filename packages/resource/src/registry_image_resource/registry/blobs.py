"""Reading one blob from a registry: hashed and counted as it arrives, resumed after a break.

This module owns ``BlobReader``: the ``Range`` resume after a broken download (up to the retry
policy's attempts, with its backoff), skipping what is already read when a registry ignores
``Range``, and the checks at the end: the size (when the descriptor gives it, never a byte past
it) and the digest (when reading from offset 0), each failure an ``IntegrityError`` naming the
digest.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from registry_image_resource.errors import IntegrityError, ResourceError, TransportError
from registry_image_resource.log import get_logger
from registry_image_resource.registry.errors import describe_exception

if TYPE_CHECKING:
    from registry_image_resource.registry._http.connections import Response as BaseHTTPResponse
    from registry_image_resource.registry.client import RegistryClient

__all__ = ["BlobReader"]

_log = get_logger()

CHUNK = 1 << 20


class BlobReader(io.RawIOBase):
    """A blob's bytes, hashed and counted as they are read; resumes with ``Range`` after a break.

    At EOF the size (when known) and the digest (when reading from offset 0) are checked, and a
    mismatch raises ``IntegrityError`` naming the digest.
    """

    def __init__(self, client: RegistryClient, digest: str, size: int | None, offset: int) -> None:
        super().__init__()
        self._client = client
        self._digest = digest
        self._size = size
        self._position = offset
        self._hash: Any = None
        if offset == 0:
            algorithm = digest.split(":", 1)[0]
            import hashlib

            try:
                self._hash = hashlib.new(algorithm)
            except ValueError:
                raise IntegrityError(f"blob {digest}: unsupported digest algorithm") from None
        self._resumes = 0
        self._done = False
        self._response: BaseHTTPResponse | None = None
        self._open()

    @property
    def position(self) -> int:
        return self._position

    def readable(self) -> bool:
        return True

    def _open(self) -> None:
        response = self._client._get_blob_response(self._digest, self._position)
        length = response.headers.get("Content-Length", "")
        if self._size is not None and length.isascii() and length.isdigit():
            start = 0 if response.status == 200 else self._position
            if int(length) > self._size - start:
                response.close()
                raise IntegrityError(f"blob {self._digest}: more bytes than the expected size {self._size}")
        if self._position and response.status == 200:
            # The registry ignored Range: skip what we already have.
            remaining = self._position
            while remaining:
                chunk = response.read(min(remaining, CHUNK))
                if not chunk:
                    break
                remaining -= len(chunk)
        self._response = response

    def _resume(self, reason: str) -> None:
        self._resumes += 1
        if self._resumes >= self._client._policy.attempts:
            raise TransportError(
                f"GET blob {self._digest}: {reason} (gave up after {self._resumes} attempts)"
            )
        delay = self._client._policy.backoff(self._resumes - 1)
        _log.warning(
            "transient error: blob %s broke at byte %d: %s; resuming", self._digest, self._position, reason
        )
        import time

        time.sleep(delay)
        if self._response is not None:
            self._response.close()
        self._open()

    def readinto(self, buffer: Any) -> int:
        if self._done:
            return 0
        view = memoryview(buffer).cast("B")
        while True:
            assert self._response is not None
            try:
                # Raw bytes as they arrive (no Accept-Encoding is sent, so they are the blob); a
                # break after some bytes returns those first and raises on the next read. Never
                # past the size (a blob of size 0 reads nothing): what follows is _finish's to refuse.
                wanted = len(view)
                if self._size is not None:
                    wanted = min(wanted, self._size - self._position)
                data = self._response.read(wanted)
            except Exception as err:  # OSError, a truncated body and friends
                if isinstance(err, ResourceError):
                    raise
                self._resume(describe_exception(err))
                continue
            if not data:
                # A connection that breaks early raises above (Content-Length and chunk framing
                # are enforced), so a clean EOF is the blob's end: check it.
                self._finish()
                return 0
            count = len(data)
            view[:count] = data
            self._position += count
            if self._hash is not None:
                self._hash.update(data)
            if self._position == self._size:
                # Verify now: readers that know the size (tar, gzip) may never ask for EOF.
                self._finish()
            return count

    def _refuse_excess(self) -> None:
        """A body that goes on past the size is an error, whether or not its excess arrived with
        its last bytes: one read more tells (at once for a body of the declared length)."""
        assert self._response is not None
        try:
            excess = self._response.read(1)
        except Exception:  # the connection broke after the blob's last byte: the blob is whole
            return
        if excess:
            raise IntegrityError(f"blob {self._digest}: more bytes than the expected size {self._size}")

    def _finish(self) -> None:
        self._done = True
        if self._size is not None and self._position == self._size:
            self._refuse_excess()
        if self._response is not None and self._size is None:
            # Read to the end: the connection can go back to the pool for the next blob.
            self._response.release_conn()
        if self._size is not None and self._position != self._size:
            raise IntegrityError(
                f"blob {self._digest}: size {self._position} does not match the expected size {self._size}"
            )
        if self._hash is not None:
            got = f"{self._digest.split(':', 1)[0]}:{self._hash.hexdigest()}"
            if got != self._digest:
                raise IntegrityError(f"blob {self._digest}: content has digest {got}")

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None
        super().close()
