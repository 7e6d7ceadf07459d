"""HTTP/1.1 to a registry on the standard library's ``http.client``: pooled, proxied, redirected.

This module owns the wire: keep-alive connections pooled per (scheme, host, proxy), ``CONNECT``
tunnels through ``HTTPS_PROXY`` and absolute-form requests through ``HTTP_PROXY`` (``NO_PROXY``
honoured, A.2.10), redirects (``Authorization`` dropped on a change of host), timeouts, and
truncated bodies reported as errors. ``check`` runs every minute per pipeline and its start-up is
dominated by imports: ``http.client`` is already needed by any Python HTTP client, while urllib3
or requests cost several times the whole exchange with a loopback registry. It must never retry
by itself (``retry.py`` decides) except to replace a pooled connection the server had closed, and
never log a header.
"""

from __future__ import annotations

import base64
import http.client
import ssl
import threading
from collections.abc import Mapping
from typing import IO, Any, cast
from urllib.parse import unquote, urljoin, urlsplit

CONNECT_TIMEOUT = 15.0
READ_TIMEOUT = 120.0
USER_AGENT = "registry-image-resource (python)"
MAX_IDLE = 16
MAX_REDIRECTS = 10
BLOCK = 1 << 20
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def is_transport_failure(err: BaseException) -> bool:
    """Any failure to get an answer: connection, TLS, name lookup, timeout, broken framing."""
    return isinstance(err, OSError | http.client.HTTPException)


def is_retryable_exception(err: BaseException) -> bool:
    """Connection refused or reset, timeouts, name lookups, truncated bodies: yes. TLS failures: no."""
    if isinstance(err, ssl.SSLError | ssl.CertificateError):
        return False
    return isinstance(err, OSError | http.client.HTTPException)


class ProxyError(OSError):
    """The proxy (``HTTPS_PROXY``/``HTTP_PROXY``) could not be reached or refused the tunnel; the
    cause is chained. Its text never shows the proxy's URL, which may carry credentials."""


def _connect(conn: http.client.HTTPConnection, proxy: str) -> None:
    """Connect (through the proxy's tunnel for HTTPS); a failure before TLS starts is the proxy's."""
    try:
        conn.connect()
    except OSError as err:
        if proxy and not isinstance(err, ssl.SSLError | ssl.CertificateError):
            raise ProxyError(*err.args) from err
        raise


class Response:
    """An answer: ``status``, ``headers`` (case-insensitive ``get``), ``url``, and the body as
    ``data`` (already read) or through ``read(amt)`` when streamed."""

    def __init__(
        self, owner: HTTP, key: tuple[str, str, str], conn: http.client.HTTPConnection, url: str
    ) -> None:
        self._owner = owner
        self._key = key
        self._conn: http.client.HTTPConnection | None = conn
        self._raw = conn.getresponse()
        self.status = self._raw.status
        # HTTPMessage: a case-insensitive mapping (``get`` gives the first of repeated headers).
        self.headers = cast("Mapping[str, str]", self._raw.headers)
        self.url = url
        self.data = b""

    def read(self, amt: int | None = None, decode_content: bool = False) -> bytes:
        """Up to ``amt`` bytes (all if None); a connection that ends early raises ``IncompleteRead``.

        ``decode_content`` is accepted for symmetry with urllib3: no ``Accept-Encoding`` is sent,
        so bodies arrive as they are.
        """
        if amt is None:
            data = self._raw.read()
        else:
            data = self._raw.read(amt)
            if not data and amt > 0 and self._raw.length:
                raise http.client.IncompleteRead(b"", self._raw.length)
        if self._raw.isclosed():
            self.release_conn()
        return data

    def release_conn(self) -> None:
        """Give the connection back to the pool if the body was read to its end, else close it."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._raw.isclosed() and not self._raw.will_close:
            self._owner._put(self._key, conn)
        else:
            conn.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        self._raw.close()
        if conn is not None:
            conn.close()


class HTTP:
    """Pooled HTTP(S) to one registry (and its token endpoint). Thread-safe."""

    def __init__(self, context: ssl.SSLContext, *, proxies: Mapping[str, str], bypass: Any) -> None:
        self._context = context
        self._proxies = dict(proxies)
        self._bypass = bypass
        self._idle: dict[tuple[str, str, str], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self.count = 0

    # --- connections ------------------------------------------------------------------------------

    def _proxy_for(self, url: str, scheme: str) -> str:
        proxy = self._proxies.get(scheme) or self._proxies.get("all") or ""
        if proxy and self._bypass(url, self._proxies):
            return ""
        return proxy

    def _get(self, key: tuple[str, str, str]) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop(), True
        return self._new(*key), False

    def _put(self, key: tuple[str, str, str], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < MAX_IDLE:
                idle.append(conn)
                return
        conn.close()

    def _new(self, scheme: str, netloc: str, proxy: str) -> http.client.HTTPConnection:
        if not proxy:
            if scheme == "https":
                return http.client.HTTPSConnection(
                    netloc, timeout=CONNECT_TIMEOUT, context=self._context, blocksize=BLOCK
                )
            return http.client.HTTPConnection(netloc, timeout=CONNECT_TIMEOUT, blocksize=BLOCK)
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        headers = {}
        if parts.username is not None:
            token = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            headers["Proxy-Authorization"] = "Basic " + base64.b64encode(token.encode()).decode("ascii")
        proxy_netloc = parts.hostname or ""
        if ":" in proxy_netloc:
            proxy_netloc = f"[{proxy_netloc}]"
        if parts.port:
            proxy_netloc += f":{parts.port}"
        if scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                proxy_netloc, timeout=CONNECT_TIMEOUT, context=self._context, blocksize=BLOCK
            )
            host, _, port = netloc.rpartition(":") if not netloc.endswith("]") else (netloc, "", "")
            if not host or not port.isdigit():
                host, port = netloc, "443"
            conn.set_tunnel(host.strip("[]"), int(port), headers=headers)
        else:
            conn = http.client.HTTPConnection(proxy_netloc, timeout=CONNECT_TIMEOUT, blocksize=BLOCK)
            conn._rir_proxy_headers = headers  # type: ignore[attr-defined]
        return conn

    # --- requests ---------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: str | bytes | IO[bytes] | None = None,
        stream: bool = False,
    ) -> Response:
        """Send and return the answer; unless ``stream`` its body is already in ``data``."""
        sent = {"User-Agent": USER_AGENT, **(headers or {})}
        if isinstance(body, str):
            body = body.encode()
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send_once(method, url, sent, body)
            if response.status not in _REDIRECTS or method not in ("GET", "HEAD"):
                break
            location = response.headers.get("Location")
            if not location:
                break
            response.read()
            response.release_conn()
            target = urljoin(url, location)
            if urlsplit(target).netloc != urlsplit(url).netloc:
                sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
            url = target
        if not stream:
            try:
                response.data = response.read()  # b"" for HEAD, which also marks it complete
            finally:
                response.release_conn()
        return response

    def _send_once(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | IO[bytes] | None
    ) -> Response:
        parts = urlsplit(url)
        scheme = parts.scheme
        proxy = self._proxy_for(url, scheme)
        key = (scheme, parts.netloc, proxy)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        with self._lock:
            self.count += 1
        while True:
            conn, reused = self._get(key)
            path = target
            extra: dict[str, str] = {}
            if proxy and scheme == "http":
                path = f"{scheme}://{parts.netloc}{target}"
                extra = getattr(conn, "_rir_proxy_headers", {})
            try:
                if not reused:
                    _connect(conn, proxy)
                    conn.sock.settimeout(READ_TIMEOUT)
                conn.request(method, path, body=body, headers={**headers, **extra})
                response = Response(self, key, conn, url)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                # A kept-alive connection the server had already closed: once more on a new one,
                # if the body can be sent again.
                if reused and (body is None or isinstance(body, bytes)):
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            return response

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for conn in connections:
                conn.close()
