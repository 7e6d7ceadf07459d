"""The real notary-server for integration tests (Debian package ``notary`` ships it).

Runs ``/usr/bin/notary-server`` (or ``NOTARY_SERVER_BIN``) on loopback with plain HTTP, the
in-memory store and its local signer (ED25519 timestamp and snapshot keys). This module never
leaves a server running: ``notary_server`` stops it by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from integration.servers import find_tool, serve_process


def notary_server_binary() -> str:
    """``NOTARY_SERVER_BIN`` or ``notary-server`` on PATH (``ServerUnavailable`` when missing)."""
    return os.environ.get("NOTARY_SERVER_BIN") or find_tool("notary-server")


@contextlib.contextmanager
def notary_server(workdir: Path) -> Iterator[str]:
    """A real notary-server on loopback (plain HTTP, in-memory storage); yields its URL."""
    binary = notary_server_binary()
    config = workdir / "server.json"

    def prepare(port: int) -> None:
        settings = {
            "server": {"http_addr": f"127.0.0.1:{port}"},
            "trust_service": {"type": "local", "key_algorithm": "ecdsa"},
            "storage": {"backend": "memory"},
            "logging": {"level": "info"},
        }
        config.write_text(json.dumps(settings))

    with serve_process(
        lambda port: [binary, "-config", str(config)],
        lambda port: f"http://127.0.0.1:{port}/_notary_server/health",
        workdir / "notary-server.log",
        prepare=prepare,
    ) as (_, port):
        yield f"http://127.0.0.1:{port}"
