"""Logging to stderr, with every known secret masked before a line is written.

The CLI calls ``configure`` with the request's secrets; from then on no log record, debug
included, can show them, whatever a caller formats into it. Code that obtains a credential at
run time (a bearer token, ECR or STS credentials, an ACR refresh token) hands it to
``add_secrets`` before anything could log it. This module must never write a record unmasked.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

LOGGER_NAME = "registry_image_resource"
MASK = "***"


class _RedactingFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__("%(levelname)s %(message)s")
        self.secrets: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        self.secrets.update(s for s in secrets if s)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty secret replaced by ``***``, longest first.

    Longest first so that a secret containing another is masked whole.
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handlers ``configure`` installs, so that it replaces only its own."""

    def handleError(self, record: logging.LogRecord) -> None:
        """Stay silent: logging's fallback would print the record's arguments (a secret) unmasked."""


def configure(*, debug: bool, secrets: Iterable[str] = ()) -> logging.Logger:
    """Send the resource's log to stderr at INFO (or DEBUG) with ``secrets`` masked.

    Secrets added earlier (``add_secrets``) stay masked. Other libraries' records (urllib3,
    botocore, ...) reach stderr only at WARNING and above and through the same masking handler on
    the root logger, never through Python's unmasked last-resort handler; their debug output
    (which can hold fresh STS credentials) never shows.
    """
    logger = logging.getLogger(LOGGER_NAME)
    root = logging.getLogger()
    formatter = _RedactingFormatter(secrets)
    for target in (logger, root):
        for old in [h for h in target.handlers if isinstance(h, _Handler)]:
            if isinstance(old.formatter, _RedactingFormatter):
                formatter.add(old.formatter.secrets)
            target.removeHandler(old)
    handler = _Handler(sys.stderr)
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    root.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
    return logger


def add_secrets(secrets: Iterable[str]) -> None:
    """Mask ``secrets`` too in every later record (credentials obtained at run time)."""
    values = [s for s in secrets if s]
    for handler in logging.getLogger(LOGGER_NAME).handlers:
        if isinstance(handler, _Handler) and isinstance(handler.formatter, _RedactingFormatter):
            handler.formatter.add(values)


def get_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)
