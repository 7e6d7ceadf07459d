"""Fixtures shared by the resource's unit tests.

``stub_server``: a tiny scripted HTTP server on loopback for tests that need exact control of
answers (odd headers, resets, truncated bodies) rather than a whole registry. ``hostile``: raw-socket
servers (``hostile.py``) for answers no HTTP library would send; ``baseline_rss``: the peak RSS of
an ordinary ``in``, which hostile tests compare a run's peak with.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from packages.resource.tests.hostile import HostileServer, Routes, run_cli, serve_image


@dataclass
class StubRequest:
    client_port: int
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes

    def param(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # Send only this many bytes of the body (with the full Content-Length), then close.
    cut_after: int | None = None
    # Close the connection without answering.
    reset: bool = False
    # Answer, then close the connection without saying so (a keep-alive timeout on the server).
    close_quietly: bool = False


Handler = Callable[[StubRequest], Reply]


class _Server(ThreadingHTTPServer):
    """Serves TLS when given a context; the handshake runs in the connection's own thread, so that
    a client speaking plain HTTP to it (the resource's HTTP probe) fails there and its socket is
    closed, instead of breaking ``accept`` and leaving the socket to the garbage collector."""

    daemon_threads = True
    tls: ssl.SSLContext | None = None

    def finish_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            secured = self.tls.wrap_socket(request, server_side=True)
        except OSError:
            return  # shutdown_request closes the plain socket
        try:
            super().finish_request(secured, client_address)
        finally:
            secured.close()


class StubServer:
    """Routes are tried newest first; a route with ``times`` is used that many times, then skipped."""

    reply_class = Reply

    def __init__(self, tls_context: ssl.SSLContext | None = None) -> None:
        self.routes: Routes[StubRequest, Handler] = Routes()
        stub = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = StubRequest(
                    self.client_address[1],
                    self.command,
                    parts.path,
                    parse_qsl(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                reply = stub._dispatch(request)
                if reply.reset:
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                headers = dict(reply.headers)
                headers.setdefault("Content-Length", str(len(reply.body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command == "HEAD":
                    return
                if reply.cut_after is not None:
                    self.wfile.write(reply.body[: reply.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(reply.body)
                if reply.close_quietly:
                    self.wfile.flush()
                    self.close_connection = True

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.tls = tls_context
        self.scheme = "https" if tls_context is not None else "http"
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.scheme}://{self.host}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def route(self, method: str, path: str, handler: Handler | Reply, times: int | None = None) -> None:
        """Answer ``method`` on paths fully matching the regex ``path``."""
        function = handler if callable(handler) else (lambda _r, reply=handler: reply)
        self.routes.add(method, path, function, times)

    @property
    def requests(self) -> list[StubRequest]:
        return self.routes.requests

    def _dispatch(self, request: StubRequest) -> Reply:
        handler = self.routes.answer(request)
        if handler is None:
            return Reply(
                404,
                {"Content-Type": "application/json"},
                b'{"errors":[{"code":"NOT_FOUND","message":"no route"}]}',
            )
        return handler(request)

    def seen(self, method: str | None = None, path: str | None = None) -> list[StubRequest]:
        return self.routes.seen(method, path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry delays in milliseconds (``TEST=true``, see ``registry.retry``), so that plain
    ``pytest`` is as fast as tox, which sets it too."""
    monkeypatch.setenv("TEST", "true")


@pytest.fixture(autouse=True)
def _secrets_per_test() -> Iterator[None]:
    """Secrets added at run time (bearer tokens of in-process tests) go into the log's one masking
    set; each test starts from the set it found, so that one test's token masks nothing in another."""
    from registry_image_resource.log import _STATE

    saved = set(_STATE.secrets)
    yield
    _STATE.secrets.clear()
    _STATE.secrets.update(saved)


@pytest.fixture
def stub_server() -> Iterator[StubServer]:
    yield from _serve(None)


@pytest.fixture(scope="session")
def test_ca() -> object:
    import trustme

    return trustme.CA()


@pytest.fixture
def tls_stub_server(test_ca: object) -> Iterator[StubServer]:
    """The same stub over HTTPS with a certificate for 127.0.0.1 from ``test_ca``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    test_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)  # type: ignore[attr-defined]
    yield from _serve(context)


@pytest.fixture
def make_stub_server() -> Iterator[Callable[[ssl.SSLContext | None], StubServer]]:
    """A factory for stub servers with any TLS server context (e.g. one demanding client certs)."""
    servers: list[StubServer] = []

    def make(context: ssl.SSLContext | None) -> StubServer:
        server = StubServer(context)
        server.route("GET", "/v2/", Reply(200, {"Content-Type": "application/json"}, b"{}"))
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def _serve(context: ssl.SSLContext | None) -> Iterator[StubServer]:
    server = StubServer(context)
    server.route("GET", "/v2/", Reply(200, {"Content-Type": "application/json"}, b"{}"))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def hostile(test_ca: object) -> Iterator[Callable[..., HostileServer]]:
    """A factory of hostile servers (``tls=True`` for HTTPS with a certificate from ``test_ca``),
    all stopped at teardown."""
    servers: list[HostileServer] = []

    def make(*, tls: bool = False) -> HostileServer:
        context = None
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            test_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)  # type: ignore[attr-defined]
        server = HostileServer(context)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture(scope="session")
def baseline_rss(tmp_path_factory: pytest.TempPathFactory) -> int:
    """Peak RSS in bytes of an ``in`` of a one-layer image from a well-behaved server: what the
    resource needs anyway, so that a hostile run's peak minus this is what the hostile answer cost."""
    from fake_registry import File, build_image

    image = build_image([{"a.txt": File(b"hello\n")}])
    server = HostileServer()
    try:
        serve_image(server, "test/app", "latest", image)
        dest = tmp_path_factory.mktemp("baseline")
        run = run_cli(
            "in",
            [str(dest)],
            {"source": {"repository": f"{server.host}/test/app"}, "version": {"digest": image.digest}},
        )
    finally:
        server.close()
    assert run.returncode == 0, run.stderr.decode()
    return run.peak_rss
