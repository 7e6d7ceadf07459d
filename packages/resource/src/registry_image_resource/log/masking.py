"""Masking secrets in text: the one rule every log record and the final error line go through.

Kept apart from the logger so that the handler (``_handler.py``, which imports ``logging``) and the
CLI can use it without an import cycle. It must never log, and never import ``logging``.
"""

from __future__ import annotations

from collections.abc import Iterable

MASK = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty secret replaced by ``***``, longest first.

    Longest first so that a secret containing another is masked whole.
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
