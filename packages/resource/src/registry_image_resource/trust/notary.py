"""Talking to a Notary server: TLS, authentication, fetching metadata and keys, publishing.

Owns the HTTP side of content-trust signing: the session (``ca_certs``, ``insecure``, a client
certificate from ``content_trust.tls_cert``/``tls_key``, proxies from the environment), the ping
and the Basic or Bearer-token challenge (scope ``repository:<GUN>:<scopes>``), a few retries on
transient failures, and notary-server's error JSON turned into one-line errors. It must never
send credentials anywhere but the Notary server and its token realm, and never show them.
"""

from __future__ import annotations

import base64
import json
import os
import re
import ssl
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from registry_image_resource.errors import AuthError, RegistryError, RequestError, TransportError
from registry_image_resource.log import add_secrets, get_logger
from registry_image_resource.trust.keys import KeyFileError, PublicKey, parse_public_key

__all__ = ["NotaryConnection", "NotaryOptions", "connect"]

_TIMEOUT = (10.0, 60.0)
_ATTEMPTS = 3
_RETRY_STATUS = {429, 500, 502, 503, 504}
_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True, slots=True)
class NotaryOptions:
    """How to reach one Notary server for one GUN."""

    url: str
    gun: str
    username: str = ""
    password: str = field(default="", repr=False)
    scopes: str = "push,pull"
    ca_certs: tuple[str, ...] = ()
    insecure: bool = False
    client_cert: str = ""
    client_key: str = field(default="", repr=False)


class _ContextAdapter(HTTPAdapter):
    """An adapter that uses our SSL context for direct and proxied connections alike."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["ssl_context"] = self._context
        return super().proxy_manager_for(*args, **kwargs)


def _ssl_context(options: NotaryOptions, workdir: Path) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if options.insecure:
        get_logger().warning(
            "content_trust: insecure is set, the Notary server's certificate is not verified"
        )
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    for index, pem in enumerate(options.ca_certs):
        try:
            context.load_verify_locations(cadata=pem)
        except (ssl.SSLError, ValueError):
            raise RequestError(f"ca_certs[{index}] is not a valid PEM certificate") from None
    if options.client_cert or options.client_key:
        if not (options.client_cert and options.client_key):
            raise RequestError("content_trust.tls_cert and content_trust.tls_key must be given together")
        cert, key = workdir / "client.cert", workdir / "client.key"
        key.touch(mode=0o600)
        key.write_text(options.client_key)
        cert.write_text(options.client_cert)
        try:
            context.load_cert_chain(cert, key)
        except (ssl.SSLError, ValueError):
            raise RequestError(
                "content_trust.tls_cert/tls_key are not a valid certificate and key pair"
            ) from None
    return context


def _reason(error: BaseException) -> str:
    """A short, secret-free reason for a transport failure (the innermost OS error if any)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return f"TLS certificate verification failed: {current.verify_message}"
        if isinstance(current, ssl.SSLError):
            detail = current.reason or re.sub(r"\s*\(_ssl\.c:\d+\)$", "", str(current.strerror or current))
            return f"TLS connection failed: {detail}"
        if isinstance(current, OSError) and current.strerror:
            return current.strerror.lower()
        nested = [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        reason = getattr(current, "reason", None)
        current = (
            reason
            if isinstance(reason, BaseException)
            else nested[0]
            if nested
            else current.__cause__ or current.__context__
        )
    if isinstance(error, requests.Timeout):
        return "timed out"
    return type(error).__name__


def _error_text(response: requests.Response) -> tuple[str | None, str]:
    try:
        body = response.json()
        first = body["errors"][0]
        return str(first.get("code") or "") or None, str(first.get("message") or "")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None, response.reason or ""


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
        for m in _CHALLENGE_PARAM.finditer(rest)
    }
    return scheme.lower(), params


class NotaryConnection:
    """An authenticated conversation with one Notary server about one GUN."""

    def __init__(self, options: NotaryOptions, session: requests.Session) -> None:
        self.options = options
        self.session = session
        self.base = options.url.rstrip("/")
        self._authorization: str | None = None

    # transport ---------------------------------------------------------------------------

    def _send(self, method: str, url: str, *, retry: bool, **kwargs: Any) -> requests.Response:
        delay = 0.005 if os.environ.get("TEST") == "true" else 1.0
        attempts = _ATTEMPTS if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                response = self.session.request(
                    method, url, timeout=_TIMEOUT, allow_redirects=False, **kwargs
                )
            except requests.RequestException as exc:
                if attempt == attempts:
                    raise TransportError(
                        f"cannot reach the Notary server {self.base}: {_reason(exc)}"
                    ) from None
            else:
                if response.status_code not in _RETRY_STATUS or attempt == attempts:
                    return response
                get_logger().warning("Notary server answered %s; retrying", response.status_code)
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def _request(self, method: str, path: str, *, retry: bool = True, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self._authorization:
            headers["Authorization"] = self._authorization
        response = self._send(method, f"{self.base}{path}", retry=retry, headers=headers, **kwargs)
        if response.status_code == 401:
            raise AuthError(
                f"the Notary server {self.base} refused the credentials for {self.options.gun} "
                "(401 Unauthorized)"
            )
        if response.status_code == 403:
            raise AuthError(
                f"the Notary server {self.base} denied access to {self.options.gun} (403 Forbidden)"
            )
        return response

    def _fail(self, what: str, response: requests.Response) -> RegistryError:
        code, message = _error_text(response)
        label = f"{response.status_code} {code}" if code else str(response.status_code)
        return RegistryError(
            f"{what}: the Notary server answered {label}: {message}".rstrip(": "),
            status=response.status_code,
            code=code,
            detail=message,
        )

    # authentication ----------------------------------------------------------------------

    def login(self) -> None:
        """Ping ``/v2/`` and, on a challenge, set up Basic or Bearer authorisation."""
        response = self._send("GET", f"{self.base}/v2/", retry=True)
        if response.status_code == 200:
            return
        if response.status_code != 401:
            raise self._fail(f"ping {self.base}/v2/", response)
        scheme, params = _parse_challenge(response.headers.get("WWW-Authenticate", ""))
        user, password = self.options.username, self.options.password
        if scheme == "basic":
            if not user:
                raise AuthError(
                    f"the Notary server {self.base} wants Basic credentials and none are configured"
                )
            self._authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            add_secrets([self._authorization.removeprefix("Basic ")])
            return
        if scheme != "bearer" or not params.get("realm"):
            raise AuthError(
                f"the Notary server {self.base} sent an unsupported challenge ({scheme or 'none'})"
            )
        self._authorization = f"Bearer {self._token(params)}"

    def _token(self, params: dict[str, str]) -> str:
        realm = params["realm"]
        if urlsplit(realm).scheme not in ("https", "http"):
            raise AuthError(f"the Notary server's token realm is not an http(s) URL: {realm}")
        if urlsplit(realm).scheme == "http" and urlsplit(self.base).scheme == "https":
            raise AuthError(f"the Notary server's token realm {realm} is not HTTPS")
        query = {"scope": f"repository:{self.options.gun}:{self.options.scopes}"}
        if params.get("service"):
            query["service"] = params["service"]
        auth = (self.options.username, self.options.password) if self.options.username else None
        response = self._send("GET", realm, retry=True, params=query, auth=auth)
        if response.status_code in (401, 403):
            raise AuthError(
                f"the Notary token server {realm} refused the credentials for {self.options.gun} "
                f"({response.status_code}); check content_trust.username/password"
            )
        if response.status_code != 200:
            raise self._fail(f"token from {realm}", response)
        try:
            body = response.json()
        except ValueError:
            raise AuthError(f"the Notary token server {realm} sent no JSON") from None
        token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError(f"the Notary token server {realm} sent no token")
        add_secrets([token])
        get_logger().debug("got a Notary token for repository:%s:%s", self.options.gun, self.options.scopes)
        return token

    # TUF ---------------------------------------------------------------------------------

    def _tuf(self, name: str) -> str:
        return f"/v2/{self.options.gun}/_trust/tuf/{name}"

    def get_metadata(self, name: str) -> bytes | None:
        """``<name>.json`` (``root``, ``snapshot.<sha256>``, ...), or None when the server has none."""
        response = self._request("GET", self._tuf(f"{name}.json"))
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(f"fetching {name}.json for {self.options.gun}", response)
        return response.content

    def get_key(self, role: str) -> PublicKey:
        """The public key the server holds for ``timestamp`` or ``snapshot`` (created on first use)."""
        response = self._request("GET", self._tuf(f"{role}.key"))
        if response.status_code != 200:
            raise self._fail(f"fetching the {role} key of {self.options.gun}", response)
        try:
            return parse_public_key(json.loads(response.content))
        except (ValueError, KeyFileError):
            raise TransportError(
                f"the Notary server sent an unusable {role} key for {self.options.gun}"
            ) from None

    def publish(self, files: dict[str, bytes]) -> None:
        """One multipart update: a ``files`` part per role, named after the role."""
        parts = [("files", (role, data, "application/octet-stream")) for role, data in files.items()]
        response = self._request("POST", self._tuf(""), retry=False, files=parts)
        if response.status_code != 200:
            raise self._fail(f"publishing {', '.join(files)} for {self.options.gun}", response)


@contextmanager
def connect(options: NotaryOptions) -> Iterator[NotaryConnection]:
    """A logged-in connection; the session and any client-certificate files go away afterwards."""
    scheme = urlsplit(options.url).scheme
    with tempfile.TemporaryDirectory(prefix="notary-tls-") as workdir, requests.Session() as session:
        if scheme == "https":
            session.mount("https://", _ContextAdapter(_ssl_context(options, Path(workdir))))
        connection = NotaryConnection(options, session)
        connection.login()
        yield connection
