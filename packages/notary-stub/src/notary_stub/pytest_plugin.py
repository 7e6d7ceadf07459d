"""pytest plugin (entry point ``pytest11``): Notary stub fixtures.

``notary_server`` is one plain-HTTP stub per session, emptied before each test that uses it.
``notary_server_factory(**options)`` starts a stub with ``NotaryServer`` options (``tls``,
``users``, ``auth``, ``storage``, ``ca``) that stops when the test ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from notary_stub._server import NotaryServer, NotaryServerFactory


@pytest.fixture(scope="session")
def _notary_server_session() -> Iterator[NotaryServer]:
    with NotaryServer() as server:
        yield server


@pytest.fixture
def notary_server(_notary_server_session: NotaryServer) -> NotaryServer:
    """The session's stub, with no GUN, key or logged request left from earlier tests."""
    _notary_server_session.clear()
    return _notary_server_session


@pytest.fixture
def notary_server_factory() -> Iterator[NotaryServerFactory]:
    """Start stubs with options for this test: ``notary_server_factory(tls=True, users={...})``."""
    started: list[NotaryServer] = []

    def start(**options: Any) -> NotaryServer:
        server = NotaryServer(**options).start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()
