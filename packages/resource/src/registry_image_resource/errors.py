"""The resource's one exception hierarchy.

Every error the user can see is a ``ResourceError`` whose ``str()`` is the single line the CLI
prints last on stderr. Errors that came from a registry also carry its HTTP status and its own
error code and message. This module must never format a secret into a message.

    ResourceError
    ├── RequestError        the JSON request or a field in it is invalid
    ├── InputError          a file or directory the request names is missing or malformed
    ├── RegistryError       a registry (or token endpoint) answered with an error
    │   └── NotFoundError   ... and that answer was 404
    ├── TransportError      no usable answer: connection, TLS, truncated body, retries exhausted
    ├── IntegrityError      content did not match its digest or size
    ├── UnpackError         a layer could not be applied safely
    └── AuthError           credentials could not be obtained (ECR, ACR, Notary)
"""

from __future__ import annotations

from typing import Self


class ResourceError(Exception):
    """Base class; ``str(err)`` is the one line shown to the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def wrap(self, prefix: str) -> Self:
        """A new error of the same type and fields, with ``prefix: `` in front of its message."""
        return self.reworded(f"{prefix}: {self.message}")

    def reworded(self, message: str) -> Self:
        """A new error of the same type and fields (status, code, ...) saying ``message``.

        The caught error is left as it was (it may still be referenced, e.g. by a retry loop).
        """
        copy = type(self).__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.message = message
        copy.args = (message,)
        return copy


class RequestError(ResourceError):
    """The request JSON, or one of its fields, is invalid."""


class InputError(ResourceError):
    """A file or directory named by the request is missing, unreadable or malformed."""


class RegistryError(ResourceError):
    """A registry answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.detail = detail


class NotFoundError(RegistryError):
    """The registry answered 404 (manifest, blob or repository unknown)."""


class TransportError(ResourceError):
    """No usable answer: connection refused or reset, TLS failure, truncated body, or retries ran out."""


class IntegrityError(ResourceError):
    """Downloaded or local content did not match its digest or size."""


class UnpackError(ResourceError):
    """A layer could not be applied to the rootfs safely."""


class AuthError(ResourceError):
    """Credentials could not be obtained (ECR, ACR, Notary token)."""
