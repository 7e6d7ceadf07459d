"""pytest plugin (entry point ``pytest11``): fixtures for the fake registry.

``fake_registry`` is one plain-HTTP, no-auth registry per session, cleared before each test (content,
faults and request log), so tests stay independent and fast. ``fake_registry_factory`` starts
variants (auth, TLS, proxy, storage directory) that are stopped at the end of the test.
Must never leave a server running after the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fake_registry._registry import FakeRegistry, FakeRegistryFactory


@pytest.fixture(scope="session")
def _fake_registry_session() -> Iterator[FakeRegistry]:
    with FakeRegistry() as registry:
        yield registry


@pytest.fixture
def fake_registry(_fake_registry_session: FakeRegistry) -> FakeRegistry:
    """A running fake registry (``.url``, ``.host``), empty, with no faults and an empty log."""
    _fake_registry_session.clear()
    return _fake_registry_session


@pytest.fixture
def fake_registry_factory() -> Iterator[FakeRegistryFactory]:
    """``fake_registry_factory(users=["u:p"], auth="bearer", tls=True, proxy=True, ...)`` starts
    a :class:`FakeRegistry` with those arguments; all are stopped when the test ends."""
    started: list[FakeRegistry] = []

    def start(**kwargs: Any) -> FakeRegistry:
        registry = FakeRegistry(**kwargs).start()
        started.append(registry)
        return registry

    yield start
    for registry in reversed(started):
        registry.stop()
