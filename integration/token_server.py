"""A real token server for ``registry:2``'s token auth, and a requests auth that follows Bearer challenges.

Owns the other half of distribution's ``auth: token:`` config: an ES256 signing key with a
self-signed certificate (the registry's ``rootcertbundle``), and an HTTP endpoint on 127.0.0.1
(``GET /token?service=S&scope=repository:NAME:pull,push``, Basic credentials optional) that answers
``{"token", "access_token", "expires_in", "issued_at"}`` with a JWT that distribution 2.8 accepts:
header ``kid`` = the libtrust key ID of the certificate's public key (the registry looks the key
up by that ID among its trusted certificates; see registry/auth/token/token.go), claims ``iss``,
``sub``, ``aud`` = the service, ``exp``, ``nbf``, ``iat``, ``jti`` and ``access``.

Grants follow the fake registry's default (``users`` without an ``acl``, ``anonymous_pull`` off),
so the two are compared like for like: a user with the right password gets every action they ask
for; a request without credentials gets a token that grants nothing (so the registry answers 401
``insufficient_scope``, never a push or a pull); wrong credentials get 401 and no token.

Must never bind anything but loopback, never log a password or a token, and never grant an
anonymous request anything.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import trustme
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

TOKEN_TTL = 300
ISSUER = "integration-token-server"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """docker/libtrust's key ID: sha256 of the DER SubjectPublicKeyInfo, first 240 bits in base32,
    12 groups of 4 joined by ``:``; the ``kid`` distribution matches against its trusted keys."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A P-256 key, its self-signed certificate (PEM) and its libtrust key ID."""

    private_key: ec.EllipticCurvePrivateKey
    certificate_pem: bytes
    key_id: str


def new_signing_key() -> SigningKey:
    """A P-256 key and its self-signed certificate: those of a trustme CA (the project's test CAs)."""
    ca = trustme.CA(key_type=trustme.KeyType.ECDSA)
    key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return SigningKey(
        private_key=key, certificate_pem=ca.cert_pem.bytes(), key_id=libtrust_key_id(key.public_key())
    )


def sign_jwt(key: SigningKey, claims: Mapping[str, Any]) -> str:
    """A compact ES256 JWS: the signature is r||s (32 bytes each), not DER, as JOSE wants."""
    header = {"typ": "JWT", "alg": "ES256", "kid": key.key_id}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    r, s = decode_dss_signature(key.private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


SCOPE_RE = re.compile(
    r"(?P<type>[a-z]+)(?:\([a-z0-9]+\))?:(?P<name>[^:\s]+):(?P<actions>[a-z*]+(?:,[a-z*]+)*)"
)


def requested_access(scopes: list[str]) -> list[dict[str, Any]]:
    """The ``access`` claim for ``scope=`` values (each may hold several, space-separated).

    The same resource asked for twice gets its actions merged, in the order first asked.
    """
    merged: dict[tuple[str, str], list[str]] = {}
    for value in scopes:
        for item in value.split():
            match = SCOPE_RE.fullmatch(item)
            if match is None:
                continue
            actions = merged.setdefault((match["type"], match["name"]), [])
            actions.extend(a for a in match["actions"].split(",") if a not in actions)
    return [{"type": t, "name": n, "actions": a} for (t, n), a in merged.items()]


@dataclass(frozen=True, slots=True)
class TokenServer:
    """A running token server as the registry config and tests see it."""

    realm: str
    service: str
    issuer: str
    certificate_pem: bytes


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/token":
            self._answer(404, {"errors": [{"code": "NOT_FOUND", "message": "not found"}]})
            return
        params = parse_qs(url.query)
        if params.get("service", [self.server.service]) != [self.server.service]:
            self._answer(400, {"errors": [{"code": "UNSUPPORTED", "message": "unknown service"}]})
            return
        user = self._user()
        if user is None:
            self._answer(
                401,
                {"errors": [{"code": "UNAUTHORIZED", "message": "incorrect username or password"}]},
                {"WWW-Authenticate": f'Basic realm="{self.server.service}"'},
            )
            return
        now = int(time.time())
        claims = {
            "iss": self.server.issuer,
            "sub": user,
            "aud": self.server.service,
            "exp": now + TOKEN_TTL,
            "nbf": now,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": requested_access(params.get("scope", [])) if user else [],
        }
        token = sign_jwt(self.server.key, claims)
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        self._answer(
            200, {"token": token, "access_token": token, "expires_in": TOKEN_TTL, "issued_at": issued}
        )

    def _user(self) -> str | None:
        """The user for valid Basic credentials, ``""`` for none, None for wrong ones."""
        authorization = self.headers.get("Authorization")
        if not authorization:
            return ""
        kind, _, value = authorization.partition(" ")
        if kind.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except ValueError:  # binascii.Error and UnicodeDecodeError are both ValueErrors
            return None
        expected = self.server.users.get(user)
        if not sep or expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            return None
        return user

    def _answer(
        self, status: int, document: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request line carries scopes only, but stderr is the test's, not ours."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, users: Mapping[str, str], service: str, issuer: str, key: SigningKey) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.users = dict(users)
        self.service = service
        self.issuer = issuer
        self.key = key


@contextlib.contextmanager
def serve_tokens(users: Mapping[str, str], service: str, issuer: str = ISSUER) -> Iterator[TokenServer]:
    """A token server for ``users`` on a free loopback port, in a thread; stopped on exit."""
    server = _Server(users, service, issuer, new_signing_key())
    thread = threading.Thread(target=server.serve_forever, name="token-server", daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        yield TokenServer(
            realm=f"http://127.0.0.1:{port}/token",
            service=service,
            issuer=issuer,
            certificate_pem=server.key.certificate_pem,
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


class BearerAuth(requests.auth.AuthBase):
    """requests auth for a registry with token auth: on a Bearer challenge, get a token from its
    realm (with Basic credentials when given) for the challenge's scope, and retry once."""

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.credentials = (username, password) if username is not None and password is not None else None

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.hooks["response"].append(self._on_response)
        return request

    def _on_response(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        challenge = response.headers.get("WWW-Authenticate", "")
        if response.status_code != 401 or not challenge.lower().startswith("bearer "):
            return response
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        query = {"service": params.get("service", "")}
        if "scope" in params:
            query["scope"] = params["scope"]
        answer = requests.get(params["realm"], params=query, auth=self.credentials, timeout=30)
        if answer.status_code != 200:
            return response
        retry = response.request.copy()
        retry.headers["Authorization"] = f"Bearer {answer.json()['token']}"
        response.content  # noqa: B018 (read the body so the connection goes back to the pool)
        response.close()
        again = response.connection.send(retry, **kwargs)
        again.history.append(response)
        return again
