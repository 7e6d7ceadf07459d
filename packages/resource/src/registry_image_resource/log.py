"""Logging to stderr, with every known secret masked before a line is written.

The CLI calls ``configure`` once with the request's secrets; from then on no log record, debug
included, can show them, whatever a caller formats into it.
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
        # Longest first so a secret containing another is masked whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self._secrets)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handlers ``configure`` installs, so that it replaces only its own."""


def configure(*, debug: bool, secrets: Iterable[str] = ()) -> logging.Logger:
    """Send the resource's log to stderr at INFO (or DEBUG) with ``secrets`` masked.

    Other libraries' records (urllib3, botocore, ...) reach stderr only at WARNING and above and
    through the same masking handler on the root logger, never through Python's unmasked
    last-resort handler; their debug output (which can hold fresh STS credentials) never shows.
    """
    handler = _Handler(sys.stderr)
    handler.setFormatter(_RedactingFormatter(secrets))
    logger = logging.getLogger(LOGGER_NAME)
    root = logging.getLogger()
    for target in (logger, root):
        for old in [h for h in target.handlers if isinstance(h, _Handler)]:
            target.removeHandler(old)
        target.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
    return logger


def get_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)
