"""The real notary-server for integration tests (Debian package ``notary`` ships it).

Runs ``/usr/bin/notary-server`` (or ``NOTARY_SERVER_BIN``) on loopback with HTTPS (a certificate
for 127.0.0.1 from a fresh trustme CA, since the resource accepts only https Notary servers), the
in-memory store and its local signer (ED25519 timestamp and snapshot keys). This module never
leaves a server running: ``notary_server`` stops it by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import trustme

from integration.servers import find_tool, serve_process


def notary_server_binary() -> str:
    """``NOTARY_SERVER_BIN`` or ``notary-server`` on PATH (``ServerUnavailable`` when missing)."""
    return os.environ.get("NOTARY_SERVER_BIN") or find_tool("notary-server")


@dataclass(frozen=True, slots=True)
class RealNotaryServer:
    """A running notary-server: its URL, and the CA that issued its certificate (PEM, and a file)."""

    url: str
    ca_pem: str
    ca_file: Path


@contextlib.contextmanager
def notary_server(workdir: Path) -> Iterator[RealNotaryServer]:
    """A real notary-server on loopback (HTTPS, in-memory storage)."""
    binary = notary_server_binary()
    config = workdir / "server.json"
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = workdir / "server.crt", workdir / "server.key", workdir / "ca.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert_file))
    issued.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))

    def prepare(port: int) -> None:
        settings = {
            "server": {
                "http_addr": f"127.0.0.1:{port}",
                "tls_cert_file": str(cert_file),
                "tls_key_file": str(key_file),
            },
            "trust_service": {"type": "local", "key_algorithm": "ecdsa"},
            "storage": {"backend": "memory"},
            "logging": {"level": "info"},
        }
        config.write_text(json.dumps(settings))

    with serve_process(
        lambda port: [binary, "-config", str(config)],
        lambda port: f"https://127.0.0.1:{port}/_notary_server/health",
        workdir / "notary-server.log",
        prepare=prepare,
        verify=str(ca_file),
    ) as (_, port):
        yield RealNotaryServer(f"https://127.0.0.1:{port}", ca.cert_pem.bytes().decode(), ca_file)
