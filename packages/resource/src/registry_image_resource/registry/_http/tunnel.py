"""TLS inside TLS: a registry's TLS session through the tunnel of an ``https://`` proxy.

``ssl`` cannot wrap an ``SSLSocket`` in another, so the inner session runs on memory BIOs over
the outer (proxy) socket. This module owns only that adapter, with the few socket methods
``framing.Connection`` uses; it must never weaken either session's verification.
"""

from __future__ import annotations

import ssl
from typing import Any

_READ = 65536


class TLSInTLS:
    """The socket methods ``framing.Connection`` uses, for TLS on top of ``outer``."""

    def __init__(self, outer: Any, context: ssl.SSLContext, host: str, timeout: float) -> None:
        self._outer = outer
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=host)
        outer.settimeout(timeout)
        self._run(self._tls.do_handshake)

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self._outer.sendall(data)

    def _run(self, operation: Any, *args: Any) -> Any:
        while True:
            try:
                result = operation(*args)
            except ssl.SSLWantReadError:
                self._flush()
                data = self._outer.recv(_READ)
                if not data:
                    self._incoming.write_eof()
                else:
                    self._incoming.write(data)
                continue
            self._flush()
            return result

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            sent = self._run(self._tls.write, view)
            view = view[sent:]

    def recv(self, size: int) -> bytes:
        try:
            return bytes(self._run(self._tls.read, size))
        except ssl.SSLZeroReturnError:
            return b""

    def settimeout(self, timeout: float | None) -> None:
        self._outer.settimeout(timeout)

    def fileno(self) -> int:
        return int(self._outer.fileno())

    def close(self) -> None:
        self._outer.close()
