"""The masking handler on Python's ``logging``: what ``log.configure`` installs.

Kept apart from the logger (``log/__init__.py``) so that importing it does not import
``logging`` (see there). It must never write a record unmasked, and never let ``logging``'s own error
fallback print a record's arguments.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Set

from registry_image_resource.log.masking import redact


class _RedactingFormatter(logging.Formatter):
    def __init__(self, secrets: Set[str]) -> None:
        super().__init__("%(levelname)s %(message)s")
        self.secrets = secrets  # the live set: secrets added later are masked too

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handlers ``install`` adds, so that it replaces only its own."""

    def handleError(self, record: logging.LogRecord) -> None:
        """Stay silent: logging's fallback would print the record's arguments (a secret) unmasked."""


def install(name: str, secrets: Set[str], level: int) -> None:
    """One masking handler on stderr for the logger ``name`` (at ``level``) and the root logger.

    The root logger's records (other libraries') pass at WARNING and above only.
    """
    logger = logging.getLogger(name)
    root = logging.getLogger()
    handler = _Handler(sys.stderr)
    handler.setFormatter(_RedactingFormatter(secrets))
    for target in (logger, root):
        for old in [h for h in target.handlers if isinstance(h, _Handler)]:
            target.removeHandler(old)
        target.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
