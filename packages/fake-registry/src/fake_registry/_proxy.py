"""The host impersonation proxy: an HTTPS ``CONNECT`` proxy that *is* every registry.

A client with ``HTTPS_PROXY=http://127.0.0.1:PORT`` (and the CA trusted) that connects to
``index.docker.io:443`` gets a ``200 Connection established``, then a TLS handshake with a
certificate for ``index.docker.io`` minted by our CA, then registry answers. By default every host
is answered by the owning :class:`FakeRegistry` itself (its requests are logged with that host);
:meth:`ImpersonationProxy.route` sends a host (or a shell-style pattern such as
``*.dkr.ecr.*.amazonaws.com``) to another upstream URL instead (another fake registry, a local
``registry:2``), forwarding each request with ``Host`` kept and ``X-Forwarded-Proto: https`` so the
upstream builds ``Location`` URLs for the impersonated name. Plain-HTTP proxy requests
(``GET http://host/v2/``) are routed the same way.

Owns the ``CONNECT`` handshake, the per-host routing table and request forwarding. Must never
connect anywhere but the configured upstreams (never the real host named in ``CONNECT``).
"""

from __future__ import annotations

import contextlib
import fnmatch
import http.client
import socket
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import urlsplit

from fake_registry._faults import LoggedRequest, RequestLog, masked_headers
from fake_registry._server import (
    IDLE_TIMEOUT,
    RegistryHandler,
    _body_reader,
    serve_request,
)
from fake_registry._strict_http import StrictHTTPHandler

if TYPE_CHECKING:
    from fake_registry._registry import FakeRegistry

HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where requests for a host go: ``url=None`` is the owning fake registry itself."""

    url: str | None = None
    ca_file: str | None = None


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], proxy: ImpersonationProxy) -> None:
        self.proxy = proxy
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _ProxyHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-tunnel are normal; stay quiet."""


class ImpersonationProxy:
    """``registry.proxy``: the routing API and the proxy's address (``.url``, ``.host``)."""

    def __init__(self, registry: FakeRegistry, host: str = "127.0.0.1", port: int = 0) -> None:
        self.registry = registry
        self._lock = threading.Lock()
        self._routes: dict[str, Upstream] = {}
        self.connects: list[str] = []
        # Requests forwarded to routed upstreams (those answered here are in registry.requests).
        self.requests = RequestLog()
        self._server = _ProxyServer((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        address = str(self._server.server_address[0])
        return (
            f"[{address}]:{self._server.server_address[1]}"
            if ":" in address
            else f"{address}:{self._server.server_address[1]}"
        )

    @property
    def url(self) -> str:
        """The value for ``HTTPS_PROXY``/``HTTP_PROXY``."""
        return f"http://{self.host}"

    def env(self) -> dict[str, str]:
        """Environment for a client process: proxy variables (upper and lower case) and
        ``SSL_CERT_FILE``/``REQUESTS_CA_BUNDLE`` pointing at the CA."""
        ca = str(self.registry.ca_file)
        env = {"HTTPS_PROXY": self.url, "HTTP_PROXY": self.url, "NO_PROXY": "", "SSL_CERT_FILE": ca}
        env.update({k.lower(): v for k, v in env.items() if k != "SSL_CERT_FILE"})
        env["REQUESTS_CA_BUNDLE"] = ca
        return env

    def route(self, host: str, upstream: str | None = None, *, ca_file: str | Path | None = None) -> None:
        """Send requests for ``host`` (a name, or a pattern like ``*.amazonaws.com``) to
        ``upstream`` (``http(s)://HOST:PORT``; ``None``: this fake registry). ``ca_file`` verifies
        an HTTPS upstream."""
        with self._lock:
            self._routes[host.lower()] = Upstream(
                upstream.rstrip("/") if upstream else None, str(ca_file) if ca_file else None
            )

    def reset_routes(self) -> None:
        with self._lock:
            self._routes.clear()
            self.connects.clear()
        self.requests.clear()

    def upstream_for(self, host: str) -> Upstream:
        name = host.lower().rsplit(":", 1)[0] if not host.startswith("[") else host.lower()
        with self._lock:
            if name in self._routes:
                return self._routes[name]
            for pattern, upstream in self._routes.items():
                if fnmatch.fnmatchcase(name, pattern):
                    return upstream
        return Upstream()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                daemon=True,
                name="fake-registry-proxy",
            )
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()


class _TunnelHandler(RegistryHandler):
    """Registry requests arriving through a ``CONNECT`` tunnel, already decrypted."""

    forced_scheme = "https"


class _ProxyHandler(StrictHTTPHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer
    timeout = IDLE_TIMEOUT
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``proxy.connects`` and the registry's request log instead."""

    def do_CONNECT(self) -> None:
        proxy = self.server.proxy
        target = self.path
        hostname = target.rsplit(":", 1)[0].strip("[]") if ":" in target else target
        with proxy._lock:
            proxy.connects.append(target)
        ca = proxy.registry.ca
        assert ca is not None
        context = ca.server_context([hostname])
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        try:
            tls = context.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            self.close_connection = True
            return
        upstream = proxy.upstream_for(target)
        try:
            if upstream.url is None:
                _TunnelHandler(tls, self.client_address, proxy.registry._server)
            else:
                _ForwardHandler(
                    tls,
                    self.client_address,
                    self.server,
                    upstream=upstream,
                    scheme="https",
                    log=proxy.requests,
                )
        finally:
            self.close_connection = True
            with contextlib.suppress(OSError):
                tls.close()

    def _plain(self) -> None:
        """A plain-HTTP proxy request (absolute URL): route it like a tunnel would."""
        proxy = self.server.proxy
        netloc = urlsplit(self.path).netloc or self.headers.get("Host", "")
        upstream = proxy.upstream_for(netloc)
        if upstream.url is None:
            registry = proxy.registry
            serve_request(self, registry.registry, registry.faults, registry.requests, "http")
        else:
            _forward_one(self, upstream, "http", proxy.requests)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _plain


class _ForwardHandler(StrictHTTPHandler):
    """Requests inside a tunnel forwarded to an upstream URL."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    disable_nagle_algorithm = True

    def __init__(
        self,
        request: Any,
        client_address: Any,
        server: Any,
        *,
        upstream: Upstream,
        scheme: str,
        log: RequestLog,
    ) -> None:
        self.upstream = upstream
        self.scheme = scheme
        self.log = log
        super().__init__(request, client_address, server)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def plain_connection(self) -> bool:
        return False  # decrypted from a tunnel

    def _forward(self) -> None:
        _forward_one(self, self.upstream, self.scheme, self.log)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward


def _forward_one(
    handler: BaseHTTPRequestHandler, upstream: Upstream, scheme: str, log: RequestLog | None = None
) -> None:
    """Forward one request to ``upstream`` and stream the answer back (``log`` records it)."""
    log = log if log is not None else RequestLog()
    assert upstream.url is not None
    headers = list(handler.headers.items())
    host = (handler.headers.get("Host") or urlsplit(handler.path).netloc).lower()
    target = urlsplit(upstream.url)
    port = target.port or (443 if target.scheme == "https" else 80)
    conn: http.client.HTTPConnection
    if target.scheme == "https":
        context = ssl.create_default_context(cafile=upstream.ca_file)
        conn = http.client.HTTPSConnection(target.hostname or "", port, context=context, timeout=IDLE_TIMEOUT)
    else:
        conn = http.client.HTTPConnection(target.hostname or "", port, timeout=IDLE_TIMEOUT)
    path = urlsplit(handler.path)
    request_path = path.path + (f"?{path.query}" if path.query else "")
    body, length = _body_reader(handler)
    try:
        conn.putrequest(handler.command, request_path, skip_host=True, skip_accept_encoding=True)
        for key, value in handler.headers.items():
            if key.lower() not in HOP_HEADERS and key.lower() != "content-length":
                conn.putheader(key, value)
        conn.putheader("X-Forwarded-Proto", scheme)
        chunked = length is None
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        else:
            conn.putheader("Content-Length", str(length))
        conn.endheaders()
        while data := body.read(1 << 20):
            conn.send(f"{len(data):x}\r\n".encode() + data + b"\r\n" if chunked else data)
        if chunked:
            conn.send(b"0\r\n\r\n")
        response = conn.getresponse()
        log.record(
            LoggedRequest(
                handler.command, path.path, path.query, masked_headers(headers), response.status, host
            )
        )
        handler.send_response(response.status, response.reason)
        resp_length = response.getheader("Content-Length")
        for key, value in response.getheaders():
            if key.lower() not in HOP_HEADERS and key.lower() not in ("date", "server"):
                handler.send_header(key, value)
        if resp_length is None:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        out = cast(BinaryIO, handler.wfile)
        if handler.command != "HEAD":
            while chunk := response.read(1 << 20):
                out.write(chunk)
        out.flush()
    except (OSError, http.client.HTTPException):
        log.record(LoggedRequest(handler.command, path.path, path.query, masked_headers(headers), 502, host))
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.send_error(502, "upstream unreachable")
    finally:
        conn.close()


def forward_request(
    handler: BaseHTTPRequestHandler,
    upstream: str,
    *,
    ca_file: str | Path | None = None,
    scheme: str = "https",
    log: RequestLog | None = None,
) -> None:
    """Forward the request ``handler`` is serving to ``upstream`` (``http(s)://HOST:PORT``) and
    stream the answer back, keeping ``Host`` and adding ``X-Forwarded-Proto: scheme``.

    The building block of the proxy's routes, public so a test can put its own
    ``BaseHTTPRequestHandler`` (an auth front, a rewriting mirror) before a real registry.
    """
    _forward_one(handler, Upstream(upstream.rstrip("/"), str(ca_file) if ca_file else None), scheme, log)
