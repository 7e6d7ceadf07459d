"""Skip or fail when a real server or tool is missing: the one rule every integration test uses.

A developer without, say, the ``notary`` client gets a skip with the reason; with
``REQUIRE_REAL_SERVERS=1`` (as in CI) the same test fails, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def real_servers_required() -> bool:
    return os.environ.get("REQUIRE_REAL_SERVERS", "").strip().lower() in ("1", "true", "yes")


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail when REQUIRE_REAL_SERVERS=1 (CI must never skip a real-server test)."""
    if real_servers_required():
        pytest.fail(f"REQUIRE_REAL_SERVERS=1 but {reason}", pytrace=False)
    pytest.skip(reason)
