"""HTTP sessions for talking to one registry: TLS trust, client certificates, pooling, proxies.

This module owns how connections are made (SPEC B.6.2, A.2.5, A.2.10): the system roots (or
certifi's when the system has none) plus ``ca_certs``; an optional mTLS client certificate;
``insecure`` turning certificate verification off (with a warning); a connection pool big enough
for concurrent lookups; proxies from the environment (``requests``' ``trust_env``, left on). It must
never send a request, and never leave a private key on disk longer than it takes to load it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from registry_image_resource.errors import RequestError

if TYPE_CHECKING:
    import requests
    from requests import PreparedRequest

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
    context = ssl.create_default_context()
    if context.cert_store_stats().get("x509_ca", 0) == 0:
        # A slim image without the system bundle: fall back to certifi's (requests depends on it).
        import certifi

        context.load_verify_locations(cafile=certifi.where())
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


def _ssl_reason(err: Exception) -> str:
    reason = getattr(err, "reason", None)
    return str(reason).lower().replace("_", " ") if reason else str(err)


def _load_client_certificate(context: ssl.SSLContext, options: ConnectOptions, field_name: str) -> None:
    # ``load_cert_chain`` only reads files: write both PEMs to a private temporary directory and
    # remove it as soon as they are loaded.
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


def new_session(context: ssl.SSLContext, *, registry: str, insecure: bool) -> requests.Session:
    """A pooled session whose HTTPS connections use ``context`` (and proxies from the environment)."""
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

    session = requests.Session()
    adapter = _ContextAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0))
    session.headers["User-Agent"] = USER_AGENT
    session.verify = not insecure
    if insecure:
        _log.warning("insecure: TLS certificates of %s are not verified and plain HTTP is allowed", registry)
        from urllib3.exceptions import InsecureRequestWarning

        # We said it once above; urllib3 would otherwise warn on every request.
        with contextlib.suppress(Exception):
            import urllib3

            urllib3.disable_warnings(InsecureRequestWarning)
    return session
