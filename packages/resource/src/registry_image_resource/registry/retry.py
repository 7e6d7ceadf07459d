"""When and how long to wait before repeating a registry request (SPEC A.2.3, B.6.3).

This module owns the retry policy: which failures are transient (429, 500/502/503/504, connection
errors, truncated bodies), the exponential backoff with jitter, the bounds in attempts and total
time, ``Retry-After``, and ``TEST=true`` turning every delay into milliseconds. It never sends a
request itself: the client hands it an operation to repeat.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import NamedTuple, TypeVar

from registry_image_resource.errors import ResourceError
from registry_image_resource.log import get_logger

T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

_log = get_logger()


class RetryPolicy(NamedTuple):
    """Exponential backoff: ``initial * multiplier**n`` seconds, +-``jitter``, capped and bounded.

    ``scale`` multiplies every delay (``Retry-After`` included); it is 0.001 under ``TEST=true``.
    """

    attempts: int = 5
    initial: float = 1.0
    multiplier: float = 2.0
    max_interval: float = 30.0
    max_elapsed: float = 60.0
    jitter: float = 0.5
    scale: float = 1.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RetryPolicy:
        return cls(scale=0.001) if env.get("TEST", "").lower() == "true" else cls()

    def backoff(self, retry: int, rand: Callable[[], float] | None = None) -> float:
        """Delay before retry number ``retry`` (0-based), in seconds, already scaled; ``rand`` is
        ``random.random`` unless given (imported here: only a retry needs it)."""
        if rand is None:
            import random

            rand = random.random
        base = min(self.initial * self.multiplier**retry, self.max_interval)
        spread = base * self.jitter
        return (base - spread + 2 * spread * rand()) * self.scale


class Retryable(Exception):
    """Raised by an operation to ask for another attempt; ``error`` is what the user sees if none is left."""

    def __init__(self, error: ResourceError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # not "²": float() would refuse it
        return float(value)
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.1f}s"


def call(
    operation: Callable[[], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run ``operation`` until it returns, raises a non-``Retryable`` error, or the policy gives up.

    Giving up raises the last ``Retryable``'s error with the attempt count appended.
    """
    start = clock()
    retry = 0
    while True:
        try:
            return operation()
        except Retryable as transient:
            error = transient.error
            attempts = retry + 1
            delay = policy.backoff(retry)
            if transient.retry_after is not None:
                delay = max(delay, transient.retry_after * policy.scale)
            elapsed = clock() - start
            if attempts >= policy.attempts or elapsed + delay > policy.max_elapsed:
                if attempts > 1:
                    error = error.reworded(f"{error.message} (gave up after {attempts} attempts)")
                raise error from None
            _log.warning("transient error: %s; retrying in %s", error, _duration(delay))
            sleep(delay)
            retry += 1
