"""``NotaryServer``: the stub served from a thread, over HTTP or HTTPS, as a context manager.

Owns sockets, threads and TLS (certificates from the fake registry's CA, so one CA can serve
both stubs): a threaded ``wsgiref`` server (the stub's traffic is a handful of
small requests per test, so the standard library's server is enough and adds no dependency), TLS
handshakes done in the request's thread so a silent client cannot stall the accept loop. It never
touches TUF data directly; the WSGI app does.
"""

from __future__ import annotations

import socket
import ssl
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import Any, Literal, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from fake_registry import CertificateAuthority, RequestLog
from fake_registry.lowlevel import parse_users
from notary_stub._app import Auth, NotaryApp
from notary_stub._repository import Repositories
from notary_stub._storage import DirectoryStorage, MemoryStorage, Storage

__all__ = ["NotaryServer", "NotaryServerFactory"]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        if isinstance(self.connection, ssl.SSLSocket):
            environ["HTTPS"] = "on"
        return environ


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    ssl_context: ssl.SSLContext | None = None

    def server_bind(self) -> None:
        if ":" in self.server_address[0]:
            self.socket.close()
            self.socket = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        super().server_bind()

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(30)
        secured = self.ssl_context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        try:
            secured.do_handshake()
            super().finish_request(secured, client_address)
        except (OSError, ssl.SSLError):
            return
        finally:
            secured.close()


class NotaryServer:
    """A Notary server stub in a background thread, with the fake registry's conventions.

    ``with NotaryServer() as server:`` serves on ``server.url`` until the block ends.
    ``users`` (``{"name": "password"}`` or ``["name:password"]``) turns on authentication, Basic
    by default or Docker's Bearer token flow with ``auth="bearer"`` (token endpoint
    ``/auth/token`` on the same server). ``tls=True`` serves HTTPS with a certificate from ``ca``
    (a :class:`fake_registry.CertificateAuthority`; pass a ``FakeRegistry``'s ``reg.ca`` so one CA
    file serves both) or from a fresh CA; ``server.ca_pem``/``server.ca_file`` are what clients
    trust. ``hostnames`` are extra certificate names; ``client_ca=PEM`` (with ``tls``) requires
    client certificates issued by that CA. ``storage=DIR`` keeps metadata and server keys in a
    directory instead of memory. ``server.requests`` is the request log (a
    :class:`fake_registry.RequestLog`: ``summary()``, ``find()``, ``clear()``).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        users: Mapping[str, str] | Iterable[str] | None = None,
        auth: Literal["basic", "bearer"] | None = None,
        storage: Path | str | None = None,
        hostnames: Sequence[str] = (),
        client_ca: str | None = None,
        ca: CertificateAuthority | None = None,
    ) -> None:
        if auth not in (None, "basic", "bearer"):
            raise ValueError(f"auth must be 'basic' or 'bearer', not {auth!r}")
        self._host = host
        self._port = port
        self.storage: Storage = DirectoryStorage(Path(storage)) if storage is not None else MemoryStorage()
        self.repositories = Repositories(self.storage)
        self.users = parse_users(users)
        self.app = NotaryApp(self.repositories, Auth(auth or "basic", self.users) if self.users else None)
        self._own_ca = ca is None and tls
        self.ca: CertificateAuthority | None = ca or (
            CertificateAuthority("notary-stub test CA") if tls else None
        )
        self.tls = tls
        self._names = [*hostnames, "127.0.0.1", "localhost", "::1"]
        self.client_ca = client_ca
        self._server: _ThreadingWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle ---------------------------------------------------------------------------

    def start(self) -> NotaryServer:
        server = _ThreadingWSGIServer((self._host, self._port), _QuietHandler)
        server.set_app(self.app)
        if self.tls:
            assert self.ca is not None
            # a context of its own: client_ca must not leak into a CA's cached contexts
            server.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server.ssl_context.minimum_version = ssl.TLSVersion.TLSv1_2
            cert_pem, key_pem = self.ca.issue(self._names)
            with tempfile.TemporaryDirectory(prefix="notary-stub-tls-") as directory:
                chain = Path(directory) / "chain.pem"
                # the CA after the leaf, as notary-server deployments often send it
                chain.write_text(cert_pem + self.ca.ca_pem + key_pem)
                server.ssl_context.load_cert_chain(chain)
            if self.client_ca is not None:
                server.ssl_context.verify_mode = ssl.CERT_REQUIRED
                server.ssl_context.load_verify_locations(cadata=self.client_ca)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="notary-stub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self.ca is not None and self._own_ca:
            self.ca.close()

    def __enter__(self) -> NotaryServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    # what clients need -------------------------------------------------------------------

    @property
    def host(self) -> str:
        """``HOST:PORT`` the server listens on (IPv6 hosts in brackets)."""
        if self._server is None:
            raise RuntimeError("the server is not running")
        address, port = self._server.server_address[:2]
        text = address.decode() if isinstance(address, bytes) else str(address)
        return f"[{text}]:{port}" if ":" in text else f"{text}:{port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def ca_pem(self) -> str | None:
        """The CA certificate (PEM) clients must trust, with ``tls=True``."""
        return self.ca.ca_pem if self.tls and self.ca is not None else None

    @property
    def ca_file(self) -> Path | None:
        return self.ca.ca_file if self.tls and self.ca is not None else None

    @property
    def requests(self) -> RequestLog:
        """Requests served so far, oldest first (credentials masked)."""
        return self.app.requests

    def clear(self) -> None:
        """Forget every GUN, key, token and logged request."""
        self.storage.clear()
        self.app.clear()

    def metadata(self, gun: str, role: str) -> bytes | None:
        """The current bytes of ``role`` for ``gun``, or None."""
        stored = self.repositories.current(gun, role)
        return None if stored is None else stored.raw


class NotaryServerFactory(Protocol):
    """The type of the ``notary_server_factory`` fixture: ``NotaryServer``'s keyword arguments
    in, a started server out (stopped when the test ends)."""

    def __call__(self, **options: Any) -> NotaryServer: ...
