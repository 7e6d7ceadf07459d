"""HTTP for talking to one registry: TLS trust, client certificates, pooling, proxies.

This module owns how connections are made (SPEC B.6.2, A.2.5, A.2.10): the system roots (read
lazily) plus ``ca_certs``; an optional mTLS client certificate; ``insecure`` turning certificate
verification off (with a warning); a connection pool big enough for concurrent lookups; proxies
from the environment. It runs on urllib3 (requests' engine) without the requests layer, which
costs more CPU per request than the HTTP exchange itself on loopback. It must never decide about
retries, and never leave a private key on disk longer than it takes to load it.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from registry_image_resource.errors import RequestError

if TYPE_CHECKING:
    import requests
    from requests import PreparedRequest
    from urllib3 import BaseHTTPResponse

_log = logging.getLogger("registry_image_resource")

POOL_SIZE = 16
CONNECT_TIMEOUT = 15.0
READ_TIMEOUT = 120.0
USER_AGENT = "registry-image-resource (python)"


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """How to reach and authenticate to one registry (taken from ``source`` or a mirror)."""

    username: str = ""
    password: str = field(default="", repr=False)
    insecure: bool = False
    ca_certs: tuple[str, ...] = ()
    client_cert: str = ""
    client_key: str = field(default="", repr=False)

    @property
    def has_credentials(self) -> bool:
        """Basic credentials are used only when both parts are set (SPEC B.2)."""
        return bool(self.username and self.password)


def tls_context(options: ConnectOptions, *, field_name: str = "source") -> ssl.SSLContext:
    """The client TLS context: system roots + ``ca_certs``, client cert, or no verification.

    An entry of ``ca_certs`` that adds no certificate is an error naming it.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _load_system_roots(context)
    for index, pem in enumerate(options.ca_certs):
        try:
            context.load_verify_locations(cadata=pem)
        except (ssl.SSLError, ValueError) as err:
            raise RequestError(
                f"{field_name}.ca_certs[{index}]: failed to append registry certificate: {_ssl_reason(err)}"
            ) from None
    if options.client_cert or options.client_key:
        _load_client_certificate(context, options, field_name)
    if options.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _load_system_roots(context: ssl.SSLContext) -> None:
    """Trust the system's roots (``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured), cheaply.

    The hashed certificate directory is preferred to the bundle file: OpenSSL reads a directory
    lazily (only the issuers a handshake asks for), while the bundle parses every root up front,
    which costs more than a whole check against a loopback registry. Without either (a slim
    image) certifi's bundle is used.
    """
    paths = ssl.get_default_verify_paths()
    env_file = os.environ.get(paths.openssl_cafile_env) or None
    directory = os.environ.get(paths.openssl_capath_env) or paths.openssl_capath
    if not _has_hashed_certificates(directory):
        directory = ""
    # SSL_CERT_FILE naming the system bundle itself (common in CI images) adds nothing that the
    # system directory does not have: read it lazily through the directory instead.
    custom_file = env_file if env_file and not _same_file(env_file, paths.openssl_cafile) else None
    if custom_file or (not directory and env_file):
        context.load_verify_locations(cafile=custom_file or env_file, capath=directory or None)
    elif directory:
        context.load_verify_locations(capath=directory)
    elif paths.cafile:
        context.load_verify_locations(cafile=paths.cafile)
    else:
        import certifi

        context.load_verify_locations(cafile=certifi.where())


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _has_hashed_certificates(directory: str) -> bool:
    try:
        with os.scandir(directory) as entries:
            return any(len(e.name) == 10 and e.name[8] == "." and e.name[9].isdigit() for e in entries)
    except OSError:
        return False


def _ssl_reason(err: Exception) -> str:
    reason = getattr(err, "reason", None)
    return str(reason).lower().replace("_", " ") if reason else str(err)


def _load_client_certificate(context: ssl.SSLContext, options: ConnectOptions, field_name: str) -> None:
    # ``load_cert_chain`` only reads files: write both PEMs to a private temporary directory and
    # remove it as soon as they are loaded.
    import tempfile

    with tempfile.TemporaryDirectory(prefix="rir-mtls-") as directory:
        cert_path = os.path.join(directory, "cert.pem")
        key_path = os.path.join(directory, "key.pem")
        for path, text in ((cert_path, options.client_cert), (key_path, options.client_key)):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(text)
        try:
            context.load_cert_chain(cert_path, key_path)
        except (ssl.SSLError, ValueError) as err:
            raise RequestError(
                f"{field_name}.client_cert/{field_name}.client_key: cannot use the client certificate: "
                f"{_ssl_reason(err)}"
            ) from None


def environment_proxies() -> dict[str, str]:
    """``{"https": ..., "http": ..., "no": ...}`` from the environment (either case), read once."""
    import urllib.request

    return urllib.request.getproxies_environment()


def _bypass(url: str, proxies: dict[str, str]) -> bool:
    """Does ``NO_PROXY`` (``proxies["no"]``) exempt the URL's host? Same rules as urllib/requests:
    ``*`` for all, else comma-separated names matched exactly or as a domain suffix, with an
    optional ``:port``."""
    from urllib.parse import urlsplit

    no_proxy = proxies.get("no", "").strip()
    if not no_proxy:
        return False
    if no_proxy == "*":
        return True
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = str(parts.port) if parts.port else ""
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        name, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and entry_port != port:
            continue
        name = name.strip("[]").lstrip(".")
        if host == name or host.endswith("." + name):
            return True
    return False


class HTTP:
    """Pooled HTTP(S) to one registry (and its token endpoint), on urllib3 directly.

    urllib3 is requests' own engine; using it without the requests layer halves the CPU spent per
    request (a semver check sends hundreds) and keeps requests' import off the check path. TLS goes
    through our ``context``; proxies come from one snapshot of ``HTTPS_PROXY``/``HTTP_PROXY``/
    ``NO_PROXY`` (A.2.10); redirects are followed with ``Authorization`` dropped on a host change.
    Thread-safe. It never retries by itself: ``retry.py`` decides that.
    """

    def __init__(self, context: ssl.SSLContext, *, insecure: bool) -> None:
        import urllib3

        self._urllib3 = urllib3
        self._context = context
        self._insecure = insecure
        self._proxies = environment_proxies()
        self._pool = urllib3.PoolManager(
            num_pools=8, maxsize=POOL_SIZE, ssl_context=context, **self._tls_kw()
        )
        self._proxy_pools: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT)
        self._retries = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=10)
        self.count = 0

    def _tls_kw(self) -> dict[str, Any]:
        return {"cert_reqs": "CERT_NONE" if self._insecure else "CERT_REQUIRED"}

    def _manager(self, url: str) -> Any:
        from urllib.parse import urlsplit

        scheme = urlsplit(url).scheme
        proxy = self._proxies.get(scheme) or self._proxies.get("all")
        if not proxy or _bypass(url, self._proxies):
            return self._pool
        with self._lock:
            manager = self._proxy_pools.get(proxy)
            if manager is None:
                manager = self._urllib3.ProxyManager(
                    proxy, num_pools=8, maxsize=POOL_SIZE, ssl_context=self._context, **self._tls_kw()
                )
                self._proxy_pools[proxy] = manager
            return manager

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
        stream: bool = False,
    ) -> BaseHTTPResponse:
        """An ``urllib3.BaseHTTPResponse``; unless ``stream`` its body is already read (``.data``)."""
        sent = {"User-Agent": USER_AGENT, **(headers or {})}
        with self._lock:
            self.count += 1
        response: BaseHTTPResponse = self._manager(url).request(
            method,
            url,
            headers=sent,
            body=body,
            preload_content=not stream,
            retries=self._retries,
            timeout=self._timeout,
        )
        return response

    def close(self) -> None:
        self._pool.clear()
        with self._lock:
            for manager in self._proxy_pools.values():
                manager.clear()


def new_session(context: ssl.SSLContext, *, registry: str, insecure: bool) -> requests.Session:
    """A requests session with the same TLS and proxy rules as ``HTTP``, for code that wants the
    requests API (ACR's token calls). The registry client itself uses ``HTTP``."""
    import requests
    from requests.adapters import HTTPAdapter

    class _ContextAdapter(HTTPAdapter):
        """Uses our SSL context for every pool instead of requests' certifi-only default."""

        def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **kw: Any) -> None:
            kw["ssl_context"] = context
            super().init_poolmanager(connections, maxsize, block, **kw)

        def proxy_manager_for(self, proxy: str, **kw: Any) -> Any:
            kw["ssl_context"] = context
            return super().proxy_manager_for(proxy, **kw)

        def build_connection_pool_key_attributes(
            self, request: PreparedRequest, verify: Any, cert: Any = None
        ) -> Any:
            host, pool_params = super().build_connection_pool_key_attributes(request, verify, cert)
            pool: dict[str, Any] = dict(pool_params)
            for key in ("ca_certs", "ca_cert_dir", "cert_file", "key_file"):
                pool.pop(key, None)
            pool["ssl_context"] = context
            pool["cert_reqs"] = "CERT_NONE" if insecure else "CERT_REQUIRED"
            return host, pool

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            # The context carries the roots and the client certificate; requests would otherwise
            # point every connection at certifi's bundle again.
            conn.cert_reqs = "CERT_NONE" if insecure else "CERT_REQUIRED"
            conn.ca_certs = None
            conn.ca_cert_dir = None

    class _Session(requests.Session):
        """Proxies from a snapshot of the environment taken once, not rescanned per request.

        requests' ``trust_env`` walks the whole environment twice per request (``getproxies``);
        with a few hundred lookups per check that costs more than the HTTP itself. The snapshot
        honours ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` the same way (A.2.10). ``.netrc`` is
        deliberately not read: credentials come from the source only.
        """

        def __init__(self, proxies: dict[str, str]) -> None:
            super().__init__()
            self.trust_env = False
            self._env_proxies = proxies

        def merge_environment_settings(
            self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
        ) -> Any:
            wanted = dict(proxies or {})
            text = url.decode() if isinstance(url, bytes) else (url or "")
            if self._env_proxies and not _bypass(text, self._env_proxies):
                for scheme, proxy in self._env_proxies.items():
                    if scheme != "no":
                        wanted.setdefault(scheme, proxy)
            return super().merge_environment_settings(url, wanted, stream, verify, cert)

    session = _Session(environment_proxies())
    adapter = _ContextAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0))
    session.headers["User-Agent"] = USER_AGENT
    session.verify = not insecure
    if insecure:
        _log.warning("insecure: TLS certificates of %s are not verified and plain HTTP is allowed", registry)
        # We said it once above; urllib3 would otherwise warn on every request.
        import urllib3
        from urllib3.exceptions import InsecureRequestWarning

        urllib3.disable_warnings(InsecureRequestWarning)
    return session


def new_http(context: ssl.SSLContext, *, registry: str, insecure: bool) -> HTTP:
    """The HTTP client for one registry; ``insecure`` is announced once (A.2.5)."""
    if insecure:
        _log.warning("insecure: TLS certificates of %s are not verified and plain HTTP is allowed", registry)
        import urllib3
        from urllib3.exceptions import InsecureRequestWarning

        # We said it once above; urllib3 would otherwise warn on every request.
        urllib3.disable_warnings(InsecureRequestWarning)
    return HTTP(context, insecure=insecure)


def is_retryable_exception(err: BaseException) -> bool:
    """Connection refused or reset, timeouts, truncated bodies: yes. TLS failures: no."""
    from urllib3.exceptions import (
        MaxRetryError,
        NewConnectionError,
        ProtocolError,
        ProxyError,
        SSLError,
        TimeoutError,
    )

    if isinstance(err, MaxRetryError) and err.reason is not None:
        err = err.reason
    if isinstance(err, SSLError):
        return False
    return isinstance(err, NewConnectionError | ProtocolError | ProxyError | TimeoutError | ConnectionError)
