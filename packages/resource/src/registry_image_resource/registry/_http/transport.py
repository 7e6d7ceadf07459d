"""HTTP for talking to one registry: TLS trust, client certificates, pooling, proxies.

This module owns how connections are made (SPEC B.6.2, A.2.5, A.2.10): the system roots (read
lazily) plus ``ca_certs``; an optional mTLS client certificate; ``insecure`` turning certificate
verification off (with a warning); a connection pool big enough for concurrent lookups; proxies
from the environment (``proxies.py``). The wire itself is ``connections.py``. It must never decide
about retries, and never leave a private key on disk longer than it takes to load it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from registry_image_resource.errors import RequestError
from registry_image_resource.log import get_logger
from registry_image_resource.registry._http.connections import HTTP
from registry_image_resource.registry._http.proxies import bypass, environment_proxies

if TYPE_CHECKING:
    import ssl

__all__ = [
    "CONNECT_TIMEOUT",
    "HTTP",
    "POOL_SIZE",
    "READ_TIMEOUT",
    "USER_AGENT",
    "ConnectOptions",
    "deferred_tls_context",
    "environment_proxies",
    "new_http",
    "tls_context",
]

_log = get_logger()

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
    import ssl

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


def deferred_tls_context(options: ConnectOptions) -> ssl.SSLContext | Callable[[], ssl.SSLContext]:
    """The TLS context now if ``source`` configures TLS (its fields are checked before any request),
    else a function making it on the first HTTPS connection: a plain-HTTP registry never pays for
    loading ``ssl`` and the system's roots."""
    if options.ca_certs or options.client_cert or options.client_key:
        return tls_context(options)
    return lambda: tls_context(options)


def _load_system_roots(context: ssl.SSLContext) -> None:
    """Trust the system's roots (``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured), cheaply.

    The hashed certificate directory is preferred to the bundle file: OpenSSL reads a directory
    lazily (only the issuers a handshake asks for), while the bundle parses every root up front,
    which costs more than a whole check against a loopback registry. Without either (a slim
    image) certifi's bundle is used.
    """
    import ssl

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
    from ssl import SSLError

    with tempfile.TemporaryDirectory(prefix="rir-mtls-") as directory:
        cert_path = os.path.join(directory, "cert.pem")
        key_path = os.path.join(directory, "key.pem")
        for path, text in ((cert_path, options.client_cert), (key_path, options.client_key)):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(text)
        try:
            context.load_cert_chain(cert_path, key_path)
        except (SSLError, ValueError) as err:
            raise RequestError(
                f"{field_name}.client_cert/{field_name}.client_key: cannot use the client certificate: "
                f"{_ssl_reason(err)}"
            ) from None


def new_http(
    context: ssl.SSLContext | Callable[[], ssl.SSLContext], *, registry: str, insecure: bool
) -> HTTP:
    """The HTTP client for one registry; ``insecure`` is announced once (A.2.5).

    ``context`` may be deferred (``deferred_tls_context``)."""
    if insecure:
        _log.warning("insecure: TLS certificates of %s are not verified and plain HTTP is allowed", registry)
    return HTTP(context, proxies=environment_proxies(), bypass=bypass)
