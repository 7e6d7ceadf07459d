"""Authentication and authorisation: none, Basic, or Bearer tokens from our own token endpoint.

Owns who may do what (users, per-repository grants), the ``WWW-Authenticate`` challenges, and the
token endpoint (Docker Hub's flow: ``GET /token?service=...&scope=repository:NAME:pull,push``
with optional Basic credentials, and the OAuth2 ``POST`` form). Tokens are opaque random strings
remembered in memory with their grants and expiry.

Must never log or echo a password or token, and never grant more than was both asked for and
allowed.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qs

from fake_registry._errors import RegistryError

AuthMode = Literal["none", "basic", "bearer"]


@dataclass(frozen=True, slots=True)
class Scope:
    """``repository:NAME:ACTION`` (or ``registry:catalog:*``) that a request needs."""

    type: str
    name: str
    action: str

    def text(self) -> str:
        return f"{self.type}:{self.name}:{self.action}"


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """How a registry authenticates.

    ``users`` maps user name to password. ``acl`` optionally limits users (and the anonymous user
    ``""``) per repository: ``{"alice": {"team/*": "pull,push"}, "": {"public/*": "pull"}}``, with
    shell-style patterns; without an ``acl`` every user may do everything and the anonymous user
    nothing (``anonymous_pull=True`` lets the anonymous user pull everything).
    """

    mode: AuthMode = "none"
    users: Mapping[str, str] = field(default_factory=dict)
    acl: Mapping[str, Mapping[str, str]] | None = None
    anonymous_pull: bool = False
    service: str = "fake-registry"
    realm: str | None = None
    basic_realm: str = "fake-registry"
    token_ttl: int = 300


@dataclass(frozen=True, slots=True)
class _Token:
    subject: str
    grants: frozenset[str]
    expires: float


class Authenticator:
    """Checks requests against an :class:`AuthConfig` and runs the token endpoint."""

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.config.mode != "none"

    def _allowed(self, user: str, scope: Scope) -> bool:
        cfg = self.config
        if cfg.acl is not None:
            for pattern, actions in cfg.acl.get(user, {}).items():
                granted = {a.strip() for a in actions.split(",")}
                if fnmatch.fnmatchcase(scope.name, pattern) and ("*" in granted or scope.action in granted):
                    return True
            return False
        if user:
            return True
        return cfg.anonymous_pull and scope.action == "pull" and scope.type == "repository"

    def _basic_user(self, authorization: str | None) -> str | None:
        """The user name for valid Basic credentials, ``""`` for none; raise for wrong ones."""
        if not authorization:
            return ""
        kind, _, value = authorization.partition(" ")
        if kind.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        expected = self.config.users.get(user)
        if not sep or expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            return None
        return user

    def challenge(self, base_url: str, scopes: list[Scope], error: str | None = None) -> str:
        cfg = self.config
        if cfg.mode == "basic":
            return f'Basic realm="{cfg.basic_realm}"'
        realm = cfg.realm or f"{base_url}/token"
        parts = [f'realm="{realm}"', f'service="{cfg.service}"']
        if scopes:
            parts.append('scope="{}"'.format(" ".join(_merge(scopes))))
        if error:
            parts.append(f'error="{error}"')
        return "Bearer " + ",".join(parts)

    def _unauthorized(self, base_url: str, scopes: list[Scope], error: str | None = None) -> RegistryError:
        detail = [{"Type": s.type, "Class": "", "Name": s.name, "Action": s.action} for s in scopes] or None
        return RegistryError(
            "UNAUTHORIZED",
            detail,
            headers={"WWW-Authenticate": self.challenge(base_url, scopes, error)},
        )

    def check(self, authorization: str | None, scopes: list[Scope], base_url: str) -> None:
        """Raise 401 with a challenge unless ``authorization`` grants every scope."""
        cfg = self.config
        if cfg.mode == "none":
            return
        if cfg.mode == "basic":
            user = self._basic_user(authorization)
            if not user:
                raise self._unauthorized(base_url, scopes)
            if all(self._allowed(user, s) for s in scopes):
                return
            raise RegistryError("DENIED", has_detail=False)
        kind, _, value = (authorization or "").partition(" ")
        if kind.lower() != "bearer":
            raise self._unauthorized(base_url, scopes)
        with self._lock:
            token = self._tokens.get(value.strip())
        if token is None or token.expires < time.time():
            raise self._unauthorized(base_url, scopes, "invalid_token" if value else None)
        missing = [s for s in scopes if not _granted(token.grants, s)]
        if missing:
            raise self._unauthorized(base_url, scopes, "insufficient_scope")

    def issue_token(self, method: str, authorization: str | None, query: str, form: bytes) -> bytes:
        """The token endpoint's JSON answer; raise 401 for wrong credentials."""
        params = parse_qs(query)
        if method == "POST":
            params.update(parse_qs(form.decode("utf-8", "replace")))
        user: str | None
        if method == "POST" and params.get("grant_type", [""])[0] == "password":
            name = params.get("username", [""])[0]
            password = params.get("password", [""])[0]
            expected = self.config.users.get(name)
            ok = expected is not None and hmac.compare_digest(expected.encode(), password.encode())
            user = name if ok else None
        elif method == "POST" and params.get("grant_type", [""])[0] == "refresh_token":
            with self._lock:
                refresh = self._tokens.get(params.get("refresh_token", [""])[0])
            user = refresh.subject if refresh is not None else None
        else:
            user = self._basic_user(authorization)
        if user is None:
            raise RegistryError(
                "UNAUTHORIZED",
                message="incorrect username or password",
                has_detail=False,
                headers={"WWW-Authenticate": f'Basic realm="{self.config.service}"'},
            )
        requested: list[Scope] = []
        for text in params.get("scope", []):
            requested.extend(parse_scopes(text))
        grants = frozenset(s.text() for s in requested if self._allowed(user, s))
        token = secrets.token_urlsafe(24)
        now = time.time()
        with self._lock:
            self._tokens = {k: v for k, v in self._tokens.items() if v.expires >= now}
            self._tokens[token] = _Token(user, grants, now + self.config.token_ttl)
            refresh_token = None
            if user and method == "POST":
                refresh_token = secrets.token_urlsafe(24)
                self._tokens[refresh_token] = _Token(user, frozenset(), now + 86400)
        answer: dict[str, object] = {
            "token": token,
            "access_token": token,
            "expires_in": self.config.token_ttl,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        }
        if refresh_token:
            answer["refresh_token"] = refresh_token
        return json.dumps(answer).encode()


def parse_users(users: Mapping[str, str] | Iterable[str] | None) -> dict[str, str]:
    """``{"name": "password"}`` or ``["name:password", ...]`` (the CLI's ``--user`` form) as a dict."""
    if users is None:
        return {}
    if isinstance(users, Mapping):
        return dict(users)
    out = {}
    for item in users:
        name, sep, password = item.partition(":")
        if not sep or not name:
            raise ValueError("users must be NAME:PASSWORD")
        out[name] = password
    return out


def parse_scopes(text: str) -> list[Scope]:
    """``repository:a/b:pull,push repository:c:pull`` -> one :class:`Scope` per action."""
    scopes: list[Scope] = []
    for item in text.split():
        kind, _, rest = item.partition(":")
        name, _, actions = rest.rpartition(":")
        scopes.extend(Scope(kind, name, action) for action in actions.split(",") if action)
    return scopes


def _granted(grants: frozenset[str], scope: Scope) -> bool:
    if scope.text() in grants or Scope(scope.type, scope.name, "*").text() in grants:
        return True
    # A push grant covers delete, as registry:2's token servers usually issue it.
    return scope.action == "delete" and Scope(scope.type, scope.name, "push").text() in grants


def _merge(scopes: list[Scope]) -> list[str]:
    merged: dict[tuple[str, str], list[str]] = {}
    for s in scopes:
        actions = merged.setdefault((s.type, s.name), [])
        if s.action not in actions:
            actions.append(s.action)
    return [f"{t}:{n}:{','.join(a)}" for (t, n), a in merged.items()]
