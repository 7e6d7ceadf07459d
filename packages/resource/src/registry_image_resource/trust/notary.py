"""Talking to a Notary server: authentication, fetching metadata and keys, publishing.

Owns the Notary side of content-trust signing: the ping and the Basic or Bearer-token challenge
(scope ``repository:<GUN>:<scopes>``), the TUF metadata and key requests, the multipart publish,
and notary-server's error JSON turned into one-line errors. Connections, TLS (``ca_certs``,
``insecure``, a client certificate from ``content_trust.tls_cert``/``tls_key``), proxies, retries
and the wording of transport failures are the registry client's (``registry._http``,
``registry.retry``, ``registry.errors``). It must never send credentials anywhere but the Notary
server and its token realm, and never show them.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from registry_image_resource.errors import AuthError, RegistryError, RequestError, TransportError
from registry_image_resource.log import add_secrets, get_logger
from registry_image_resource.registry import retry
from registry_image_resource.registry._http.connections import (
    HTTP,
    MAX_BODY,
    is_retryable_exception,
    is_transport_failure,
)
from registry_image_resource.registry._http.proxies import bypass, environment_proxies
from registry_image_resource.registry._http.transport import ConnectOptions, tls_context
from registry_image_resource.registry.auth import MAX_TOKEN_BODY
from registry_image_resource.registry.errors import describe_exception, status_text
from registry_image_resource.registry.retry import RETRY_STATUSES, Retryable, RetryPolicy
from registry_image_resource.trust.keys import KeyFileError, PublicKey, parse_public_key

if TYPE_CHECKING:
    import ssl

    from registry_image_resource.registry._http.connections import Response

__all__ = ["NotaryConnection", "NotaryOptions", "connect"]

# The client certificate for Notary comes from content_trust, not from source.
_REGISTRY_CLIENT_CERT = "source.client_cert and source.client_key"
_NOTARY_CLIENT_CERT = "content_trust.tls_cert and content_trust.tls_key"

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


def _ssl_context(options: NotaryOptions) -> ssl.SSLContext:
    """The registry client's TLS context (system roots + ``ca_certs``, or no verification), with
    ``content_trust``'s client certificate."""
    if options.insecure:
        get_logger().warning(
            "content_trust: insecure is set, the Notary server's certificate is not verified"
        )
    if (options.client_cert or options.client_key) and not (options.client_cert and options.client_key):
        raise RequestError("content_trust.tls_cert and content_trust.tls_key must be given together")
    try:
        return tls_context(
            ConnectOptions(
                insecure=options.insecure,
                ca_certs=options.ca_certs,
                client_cert=options.client_cert,
                client_key=options.client_key,
            ),
            field_name="content_trust",
        )
    except RequestError as err:
        text = str(err).replace("content_trust.ca_certs", "ca_certs")
        text = text.replace(
            "content_trust.client_cert/content_trust.client_key", "content_trust.tls_cert/tls_key"
        )
        raise RequestError(text) from None


def _error_text(response: Response) -> tuple[str | None, str]:
    try:
        body = json.loads(response.data)
        first = body["errors"][0]
        return str(first.get("code") or "") or None, str(first.get("message") or "")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None, status_text(response.status).partition(" ")[2]


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
        for m in _CHALLENGE_PARAM.finditer(rest)
    }
    return scheme.lower(), params


def _answered(what: str, response: Response) -> RegistryError:
    code, message = _error_text(response)
    label = f"{response.status} {code}" if code else str(response.status)
    return RegistryError(
        f"{what}: the Notary server answered {label}: {message}".rstrip(": "),
        status=response.status,
        code=code,
        detail=message,
    )


class NotaryConnection:
    """An authenticated conversation with one Notary server about one GUN."""

    def __init__(self, options: NotaryOptions, http: HTTP, policy: RetryPolicy | None = None) -> None:
        self.options = options
        self.http = http
        self.base = options.url.rstrip("/")
        self._policy = policy or RetryPolicy.from_env(os.environ)
        self._authorization: str | None = None

    # transport ---------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        retry_all: bool = True,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        limit: int = MAX_BODY,
    ) -> Response:
        """One request under the registry client's retry policy (transient statuses and
        connection failures); ``retry_all=False`` sends it once (a publish is not repeated)."""

        def attempt() -> Response:
            try:
                response = self.http.request(method, url, headers=headers, body=body, limit=limit)
            except Exception as err:
                if not is_transport_failure(err):
                    raise
                reason = describe_exception(err).replace(_REGISTRY_CLIENT_CERT, _NOTARY_CLIENT_CERT)
                failure = TransportError(f"cannot reach the Notary server {self.base}: {reason}")
                if is_retryable_exception(err):
                    raise Retryable(failure) from None
                raise failure from None
            if response.status in RETRY_STATUSES:
                error = _answered(f"{method} {urlsplit(url).path}", response)
                raise Retryable(error, retry.parse_retry_after(response.headers.get("Retry-After")))
            return response

        policy = self._policy if retry_all else self._policy._replace(attempts=1)
        return retry.call(attempt, policy)

    def _request(
        self,
        method: str,
        path: str,
        *,
        retry_all: bool = True,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Response:
        sent = dict(headers or {})
        if self._authorization:
            sent["Authorization"] = self._authorization
        response = self._send(method, f"{self.base}{path}", retry_all=retry_all, headers=sent, body=body)
        if response.status == 401:
            raise AuthError(
                f"the Notary server {self.base} refused the credentials for {self.options.gun} "
                "(401 Unauthorized)"
            )
        if response.status == 403:
            raise AuthError(
                f"the Notary server {self.base} denied access to {self.options.gun} (403 Forbidden)"
            )
        return response

    # authentication ----------------------------------------------------------------------

    def login(self) -> None:
        """Ping ``/v2/`` and, on a challenge, set up Basic or Bearer authorisation."""
        response = self._send("GET", f"{self.base}/v2/")
        if response.status == 200:
            return
        if response.status != 401:
            raise _answered(f"ping {self.base}/v2/", response)
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
        if not realm.isprintable() or " " in realm:
            raise AuthError("the Notary server's token realm contains spaces or control characters")
        if urlsplit(realm).scheme not in ("https", "http"):
            raise AuthError(f"the Notary server's token realm is not an http(s) URL: {realm}")
        if urlsplit(realm).scheme == "http" and urlsplit(self.base).scheme == "https":
            raise AuthError(f"the Notary server's token realm {realm} is not HTTPS")
        query = {"scope": f"repository:{self.options.gun}:{self.options.scopes}"}
        if params.get("service"):
            query["service"] = params["service"]
        headers = {}
        if self.options.username:
            pair = f"{self.options.username}:{self.options.password}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        response = self._send("GET", url, headers=headers, limit=MAX_TOKEN_BODY)
        if response.status in (401, 403):
            raise AuthError(
                f"the Notary token server {realm} refused the credentials for {self.options.gun} "
                f"({response.status}); check content_trust.username/password"
            )
        if response.status != 200:
            raise _answered(f"token from {realm}", response)
        try:
            body: Any = json.loads(response.data)
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
        if response.status == 404:
            return None
        if response.status != 200:
            raise _answered(f"fetching {name}.json for {self.options.gun}", response)
        return response.data

    def get_key(self, role: str) -> PublicKey:
        """The public key the server holds for ``timestamp`` or ``snapshot`` (created on first use)."""
        response = self._request("GET", self._tuf(f"{role}.key"))
        if response.status != 200:
            raise _answered(f"fetching the {role} key of {self.options.gun}", response)
        try:
            return parse_public_key(json.loads(response.data))
        except (ValueError, KeyFileError):
            raise TransportError(
                f"the Notary server sent an unusable {role} key for {self.options.gun}"
            ) from None

    def publish(self, files: dict[str, bytes]) -> None:
        """One multipart update: a ``files`` part per role, named after the role. Sent once: an
        update is not repeated behind the user's back."""
        boundary = base64.b32encode(os.urandom(15)).decode("ascii")
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{role}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + data
            + b"\r\n"
            for role, data in files.items()
        ]
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        response = self._request("POST", self._tuf(""), retry_all=False, headers=headers, body=body)
        if response.status != 200:
            raise _answered(f"publishing {', '.join(files)} for {self.options.gun}", response)


@contextmanager
def connect(options: NotaryOptions) -> Iterator[NotaryConnection]:
    """A logged-in connection; its connections are closed afterwards."""
    scheme = urlsplit(options.url).scheme
    context = _ssl_context(options) if scheme == "https" else (lambda: _ssl_context(options))
    http = HTTP(context, proxies=environment_proxies(), bypass=bypass)
    try:
        connection = NotaryConnection(options, http)
        connection.login()
        yield connection
    finally:
        http.close()
