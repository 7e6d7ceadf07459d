"""``NotaryServer``: the stub served from a thread, over HTTP or HTTPS, as a context manager.

Owns sockets, threads and TLS: a threaded ``wsgiref`` server (the stub's traffic is a handful of
small requests per test, so the standard library's server is enough and adds no dependency), TLS
handshakes done in the request's thread so a silent client cannot stall the accept loop. It never
touches TUF data directly; the WSGI app does.
"""

from __future__ import annotations

import socket
import ssl
import tempfile
import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import Any, Literal
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from notary_stub._app import Auth, NotaryApp, RequestRecord
from notary_stub._repository import Repositories
from notary_stub._storage import DirectoryStorage, MemoryStorage, Storage
from notary_stub._tls import Certificates, make_certificates

__all__ = ["NotaryServer"]


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
    """A Notary server stub in a background thread.

    ``with NotaryServer() as server:`` serves on ``server.url`` until the block ends.
    ``tls=True`` serves HTTPS with a fresh CA (``server.ca_pem``, written to ``server.ca_file``);
    ``users={"name": "password"}`` turns on authentication, Basic by default or Docker's Bearer
    token flow with ``auth="token"`` (token endpoint ``/auth/token`` on the same server);
    ``storage=DIR`` keeps metadata and server keys in a directory instead of memory;
    ``client_ca=PEM`` (with ``tls``) requires client certificates issued by that CA.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls: bool = False,
        users: dict[str, str] | None = None,
        auth: Literal["basic", "token"] = "basic",
        storage: Path | None = None,
        hostnames: list[str] | None = None,
        client_ca: str | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self.storage: Storage = DirectoryStorage(storage) if storage is not None else MemoryStorage()
        self.repositories = Repositories(self.storage)
        self.app = NotaryApp(self.repositories, Auth(auth, dict(users)) if users else None)
        self.users = dict(users or {})
        self.certificates: Certificates | None = (
            make_certificates([*(hostnames or []), "127.0.0.1", "localhost", "::1"]) if tls else None
        )
        self.client_ca = client_ca
        self._server: _ThreadingWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self.ca_file: Path | None = None

    # lifecycle ---------------------------------------------------------------------------

    def start(self) -> NotaryServer:
        server = _ThreadingWSGIServer((self._host, self._port), _QuietHandler)
        server.set_app(self.app)
        if self.certificates is not None:
            server.ssl_context = self.certificates.server_context()
            if self.client_ca is not None:
                server.ssl_context.verify_mode = ssl.CERT_REQUIRED
                server.ssl_context.load_verify_locations(cadata=self.client_ca)
            self._tempdir = tempfile.TemporaryDirectory(prefix="notary-stub-ca-")
            self.ca_file = Path(self._tempdir.name) / "ca.pem"
            self.ca_file.write_text(self.certificates.ca_pem)
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
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None
            self.ca_file = None

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
        scheme = "https" if self.certificates is not None else "http"
        return f"{scheme}://{self.host}"

    @property
    def ca_pem(self) -> str | None:
        return None if self.certificates is None else self.certificates.ca_pem

    @property
    def requests(self) -> list[RequestRecord]:
        """Requests served so far, oldest first."""
        return list(self.app.requests)

    def clear(self) -> None:
        """Forget every GUN, key, token and logged request."""
        self.storage.clear()
        self.app.clear()

    def metadata(self, gun: str, role: str) -> bytes | None:
        """The current bytes of ``role`` for ``gun``, or None."""
        stored = self.repositories.current(gun, role)
        return None if stored is None else stored.raw
