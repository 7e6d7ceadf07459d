"""A hostile registry for tests: a raw-socket HTTP/1.1 server on 127.0.0.1, scripted per request.

Each connection reads one request at a time (head at most 64 KiB, body per ``Content-Length`` or
chunks, bounded), records it, and answers with the newest rule matching its method and path: raw
bytes sent exactly as given (nothing is added or checked, so a test can send any framing), a
callable making them from the request, a bounded stream, a trickle, a close, a reset, or a
``CONNECT`` tunnel. Plain or TLS. A TLS handshake on the plain server (the resource's HTTPS probe
of a loopback registry) is answered as a plain HTTP server answers it and is not recorded as a
request. ``run_cli`` runs the resource as a process and measures its wall time and peak RSS.

Every loop is bounded: connections, bytes read and sent per exchange, time per read. It never
connects anywhere but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

REPO = "test/app"
MAX_HEAD = 65536
MAX_BODY = 64 << 20  # read from a request (an upload), of which KEEP_BODY is kept
KEEP_BODY = 8 << 20
MAX_CONNECTIONS = 32
IDLE_TIMEOUT = 30.0  # a connection waiting longer for the client's next bytes is closed
MAX_SENT = 512 << 20  # per answer: a stream or trickle never sends more
NOT_FOUND = b'{"errors":[{"code":"NOT_FOUND","message":"not scripted"}]}'


@dataclass(frozen=True)
class Request:
    """One request as received: ``connection`` numbers the TCP connection it came on (from 1)."""

    connection: int
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)


@dataclass(frozen=True)
class Send:
    """Send ``data`` as it is; then close the connection if ``close``, else read the next request."""

    data: bytes
    close: bool = False


@dataclass(frozen=True)
class Stream:
    """Send ``head``, then ``piece`` again and again until ``total`` bytes of pieces went out or
    the client stopped reading; then close."""

    head: bytes
    piece: bytes
    total: int


@dataclass(frozen=True)
class Trickle:
    """Send ``data`` one byte every ``interval`` seconds (the client gone stops it); then close."""

    data: bytes
    interval: float


@dataclass(frozen=True)
class Close:
    """Close the connection without answering (a FIN)."""


@dataclass(frozen=True)
class Reset:
    """Reset the connection without answering (an RST)."""


@dataclass(frozen=True)
class Tunnel:
    """Answer ``CONNECT`` with ``head`` and then relay bytes to 127.0.0.1:``port`` both ways."""

    port: int
    head: bytes = b"HTTP/1.1 200 Connection established\r\n\r\n"


Action = bytes | Send | Stream | Trickle | Close | Reset | Tunnel
Answer = Action | Callable[[Request], Action]


class _Routed(Protocol):
    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...


RequestT = TypeVar("RequestT", bound=_Routed)
AnswerT = TypeVar("AnswerT")


@dataclass
class _Rule(Generic[AnswerT]):
    method: str
    path: re.Pattern[str]
    answer: AnswerT
    times: int | None


class Routes(Generic[RequestT, AnswerT]):
    """A scripted server's table: answers by method and a regex over the whole path, newest rule
    first; a rule with ``times`` answers that many requests, then no more. Every request is kept,
    in order of arrival. Shared by ``HostileServer`` and the ``stub_server`` fixture's server."""

    def __init__(self) -> None:
        self.requests: list[RequestT] = []
        self._rules: list[_Rule[AnswerT]] = []
        self._lock = threading.Lock()

    def add(self, method: str, path: str, answer: AnswerT, times: int | None = None) -> None:
        with self._lock:
            self._rules.insert(0, _Rule(method, re.compile(path), answer, times))

    def answer(self, request: RequestT) -> AnswerT | None:
        """Record ``request``; the answer of the newest rule matching it, None when none does."""
        with self._lock:
            self.requests.append(request)
            for rule in self._rules:
                if rule.method == request.method and rule.path.fullmatch(request.path):
                    if rule.times is not None:
                        if rule.times == 0:
                            continue
                        rule.times -= 1
                    return rule.answer
            return None

    def seen(self, method: str | None = None, path: str | None = None) -> list[RequestT]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and (path is None or re.fullmatch(path, r.path))
            ]


def response(
    status: int,
    reason: str = "",
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    *,
    length: bool = True,
) -> bytes:
    """An HTTP/1.1 answer; ``Content-Length`` is added unless ``length`` is false or given."""
    fields = list(headers)
    if length and not any(name.lower() == "content-length" for name, _ in fields):
        fields.append(("Content-Length", str(len(body))))
    head = f"HTTP/1.1 {status} {reason}".rstrip() + "\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in fields)
    return head.encode("latin-1") + b"\r\n" + body


def json_response(status: int, document: Any, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    return response(
        status, "", [("Content-Type", "application/json"), *headers], json.dumps(document).encode()
    )


class HostileServer:
    """A scripted server; ``on`` adds a rule, ``requests`` lists what arrived. Stop with ``close``."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._tls = tls
        self.routes: Routes[Request, Answer] = Routes()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()
        self.connections = 0
        self.tls_probes = 0  # TLS handshakes met by the plain server, or failed on the TLS one
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.scheme = "https" if tls is not None else "http"
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"{self.scheme}://{self.host}"
        self._acceptor = threading.Thread(target=self._accept, name=f"hostile-{self.port}", daemon=True)
        self._acceptor.start()

    # --- script -------------------------------------------------------------------------------

    def on(self, method: str, path: str, answer: Answer, times: int | None = None) -> None:
        """Answer ``method`` on paths fully matching the regex ``path`` (newest rule first); a rule
        with ``times`` answers that many requests, then no more."""
        self.routes.add(method, path, answer, times)

    @property
    def requests(self) -> list[Request]:
        return self.routes.requests

    def seen(self, method: str | None = None, path: str | None = None) -> list[Request]:
        return self.routes.seen(method, path)

    def _answer(self, request: Request) -> Action:
        answer = self.routes.answer(request)
        if answer is None:
            return Send(response(404, "Not Found", [("Content-Type", "application/json")], NOT_FOUND))
        return answer(request) if callable(answer) else answer

    # --- serving ------------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._slots.acquire(blocking=False):
                sock.close()  # more connections than a test needs: refuse
                continue
            with self._lock:
                self.connections += 1
                number = self.connections
                self._sockets.add(sock)
            thread = threading.Thread(target=self._serve, args=(sock, number), daemon=True)
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _serve(self, raw: socket.socket, number: int) -> None:
        sock: socket.socket = raw
        try:
            raw.settimeout(IDLE_TIMEOUT)
            if self._tls is not None:
                if raw.recv(1, socket.MSG_PEEK) not in (b"\x16", b""):
                    self._refuse_plain(raw)
                    return
                try:
                    sock = self._tls.wrap_socket(raw, server_side=True)
                except (OSError, ValueError):
                    with self._lock:
                        self.tls_probes += 1
                    return
                with self._lock:
                    self._sockets.add(sock)
            elif raw.recv(1, socket.MSG_PEEK) == b"\x16":
                self._refuse_tls(raw)
                return
            reader = _Reader(sock)
            while not self._stop.is_set():
                request = reader.request(number)
                if request is None:
                    return
                if not self._act(sock, self._answer(request)):
                    return
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                self._sockets.discard(sock)
                self._sockets.discard(raw)
            sock.close()
            self._slots.release()

    def _refuse_tls(self, sock: socket.socket) -> None:
        """What a plain HTTP server says to a ClientHello: 400, then close."""
        self._refuse(sock, response(400, "Bad Request", [("Connection", "close")]))

    def _refuse_plain(self, sock: socket.socket) -> None:
        """What Go's TLS server says to plain HTTP (the resource's plain probe of a loopback
        registry): 400 with its sentence, then close."""
        self._refuse(
            sock, b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
        )

    def _refuse(self, sock: socket.socket, answer: bytes) -> None:
        with self._lock:
            self.tls_probes += 1
        sock.settimeout(1.0)
        try:
            sock.recv(MAX_HEAD)  # what the client sent, so that closing sends no RST
            sock.sendall(answer)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(MAX_HEAD):
                pass
        except OSError:
            pass

    def _act(self, sock: socket.socket, action: Action) -> bool:
        """Perform ``action``; True to read the next request on the connection."""
        if isinstance(action, bytes):
            action = Send(action)
        if isinstance(action, Send):
            sock.sendall(action.data)
            if action.close:
                _close_gently(sock)
            return not action.close
        if isinstance(action, Stream):
            sock.sendall(action.head)
            sent = 0
            while sent < min(action.total, MAX_SENT) and not self._stop.is_set():
                sock.sendall(action.piece)
                sent += len(action.piece)
            _close_gently(sock)
            return False
        if isinstance(action, Trickle):
            for index in range(min(len(action.data), MAX_SENT)):
                if self._stop.wait(action.interval):
                    break
                sock.sendall(action.data[index : index + 1])
            return False
        if isinstance(action, Reset):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if isinstance(action, Tunnel):
            self._tunnel(sock, action)
            return False
        return False  # Close

    def _tunnel(self, sock: socket.socket, action: Tunnel) -> None:
        sock.sendall(action.head)
        with socket.create_connection(("127.0.0.1", action.port), timeout=IDLE_TIMEOUT) as upstream:
            ends = {sock: upstream, upstream: sock}
            idle_until = time.monotonic() + IDLE_TIMEOUT
            while not self._stop.is_set() and time.monotonic() < idle_until:
                pending = [s for s in ends if isinstance(s, ssl.SSLSocket) and s.pending()]
                ready = pending or select.select(list(ends), [], [], 0.05)[0]
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    ends[source].sendall(data)
                    idle_until = time.monotonic() + IDLE_TIMEOUT

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._acceptor.join(timeout=10)
        with self._lock:
            sockets = list(self._sockets)
            threads = list(self._threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=10)


def _close_gently(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


class _Reader:
    """Requests off one connection, each bounded (head, body, time per read)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""

    def _fill(self) -> bool:
        data = self._sock.recv(65536)
        self._buffer += data
        return bool(data)

    def _line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            if len(self._buffer) > MAX_HEAD or not self._fill():
                raise ValueError("no line")
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line

    def _exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            if not self._fill():
                raise ValueError("short body")
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def request(self, connection: int) -> Request | None:
        while b"\r\n\r\n" not in self._buffer:
            if len(self._buffer) > MAX_HEAD:
                raise ValueError("head too large")
            if not self._fill():
                return None
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = tuple(
            (name.strip().lower(), value.strip())
            for name, _, value in (line.partition(":") for line in lines[1:])
        )
        fields = dict(headers)
        body = b""
        if fields.get("transfer-encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            total = 0
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                parts.append(self._exactly(size)[: max(0, KEEP_BODY - total + size)])
                self._exactly(2)
            body = b"".join(parts)
        elif "content-length" in fields:
            length = int(fields["content-length"])
            if length > MAX_BODY:
                raise ValueError("body too large")
            kept: list[bytes] = []
            left = length
            while left:
                piece = self._exactly(min(left, 1 << 20))
                if length - left < KEEP_BODY:
                    kept.append(piece)
                left -= len(piece)
            body = b"".join(kept)
        return Request(connection, method, target, headers, body)


# --- a registry's ordinary answers -------------------------------------------------------------


def serve_image(server: HostileServer, repo: str, tag: str, image: Any) -> None:
    """Answer the ping, the manifest (by tag and by digest, HEAD and GET) and the blobs of
    ``image`` (a ``fake_registry.Image``) as a well-behaved registry would; rules added later
    take precedence."""
    server.on("GET", "/v2/", json_response(200, {}))
    headers = [
        ("Content-Type", image.media_type),
        ("Docker-Content-Digest", image.digest),
    ]
    for ref in (tag, image.digest):
        path = re.escape(f"/v2/{repo}/manifests/{ref}")
        server.on("GET", path, response(200, "OK", headers, image.manifest))
        server.on("HEAD", path, response(200, "OK", [*headers, ("Content-Length", str(len(image.manifest)))]))
    for digest, data in image.blobs().items():
        server.on("GET", re.escape(f"/v2/{repo}/blobs/{digest}"), response(200, "OK", [], data))


# --- the resource as a process ----------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """A finished resource process: exit status, outputs, wall time, peak RSS in bytes."""

    returncode: int
    stdout: bytes
    stderr: bytes
    seconds: float
    peak_rss: int
    lines: list[str] = field(default_factory=list)

    @property
    def last_line(self) -> str:
        return self.lines[-1] if self.lines else ""


_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test's environment without proxy variables, ``TEST=true``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARIABLES}
    env["TEST"] = "true"
    env.update(extra or {})
    return env


def run_cli(
    command: str,
    args: list[str],
    request: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 90.0,
    code: str | None = None,
) -> Run:
    """``python -m registry_image_resource command args`` with ``request`` on stdin; its peak RSS
    from ``wait4``. A run past ``timeout`` is killed and fails the test. ``code`` runs instead of
    the module (``python -c code command args``), to break the resource on purpose."""
    start = time.monotonic()
    program = ["-c", code] if code is not None else ["-m", "registry_image_resource"]
    process = subprocess.Popen(
        [sys.executable, *program, command, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(env),
    )
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    outputs: dict[str, bytes] = {}
    readers = [
        threading.Thread(target=lambda: outputs.__setitem__("out", process.stdout.read()), daemon=True),  # type: ignore[union-attr]
        threading.Thread(target=lambda: outputs.__setitem__("err", process.stderr.read()), daemon=True),  # type: ignore[union-attr]
    ]
    for reader in readers:
        reader.start()
    try:
        process.stdin.write(json.dumps(request).encode())
        process.stdin.close()
    except BrokenPipeError:
        pass
    deadline = start + timeout
    try:
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"{command} did not finish within {timeout} s")
            time.sleep(0.005)
    except BaseException:  # the timeout above, or pytest-timeout's: never leave the child behind
        process.kill()
        os.wait4(process.pid, 0)
        process.returncode = -9
        for reader in readers:
            reader.join(timeout=10)
        process.stdout.close()
        process.stderr.close()
        raise
    seconds = time.monotonic() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(timeout=10)
    process.stdout.close()
    process.stderr.close()
    stderr = outputs.get("err", b"")
    return Run(
        process.returncode,
        outputs.get("out", b""),
        stderr,
        seconds,
        usage.ru_maxrss * 1024,
        stderr.decode(errors="replace").rstrip("\n").splitlines(),
    )
