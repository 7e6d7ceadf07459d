"""HTTP/1.1 request handling that answers what it cannot parse the way Go's server does.

Owns :class:`StrictHTTPHandler`, the base of the registry's and the proxy's handlers. The
standard library answers bytes that are not an HTTP/1.x request with an HTTP/0.9-style bare HTML
page (no status line) and waits for a newline that a TLS ClientHello may never send; Go clients
(Docker's HTTPS-then-HTTP probe) fall back to plain HTTP only when the answer to their ClientHello
starts with ``HTTP/``. Must never decide anything about requests it can parse.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any, cast


class StrictHTTPHandler(BaseHTTPRequestHandler):
    """A request handler that answers bytes it cannot parse as Go's server does.

    Bytes that are not an HTTP/1.x request get "HTTP/1.1 400 Bad Request" with a status line: the
    standard library would answer an HTTP/0.9-style bare HTML page, and Go clients (Docker's
    HTTPS-then-HTTP probe) fall back to plain HTTP only when the answer to their ClientHello
    starts with "HTTP/". The registry's port and the proxy's both use it.
    """

    default_request_version = "HTTP/1.1"
    error_content_type = "text/plain; charset=utf-8"
    error_message_format = "%(code)d %(message)s\n"

    def plain_connection(self) -> bool:
        """Whether the connection is plain TCP (not TLS, nor decrypted from a tunnel)."""
        return True

    def handle(self) -> None:
        if self._tls_on_plain_port():
            self.close_connection = True
            self.requestline, self.command, self.request_version = "", "", "HTTP/1.1"
            self.send_error(400)
            return
        super().handle()

    def _tls_on_plain_port(self) -> bool:
        """A TLS handshake record (0x16) as the first byte on a plain-HTTP connection.

        A ClientHello often holds no newline, so waiting for a request line would stall both
        sides until the idle timeout; peeking at one byte answers it at once."""
        if not self.plain_connection():
            return False
        try:
            first = cast(Any, self.rfile).peek(1)[:1]
        except (OSError, ValueError):
            return False
        return bool(first == b"\x16")

    def parse_request(self) -> bool:
        words = str(getattr(self, "raw_requestline", b""), "iso-8859-1").split()
        if len(words) == 2:  # "GET /" (HTTP/0.9) is not served; nor are headers waited for
            self.close_connection = True
            self.requestline, self.command, self.request_version = " ".join(words), "", "HTTP/1.1"
            self.send_error(400)
            return False
        return super().parse_request()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The standard phrase only: the default message echoes (escaped) request bytes.
        super().send_error(code)
