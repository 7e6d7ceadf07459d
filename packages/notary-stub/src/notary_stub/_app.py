"""The stub's HTTP surface as a WSGI application: routes, wire format, authentication.

Owns notary-server's routes and its error JSON (``{"errors": [{"code", "message", "detail"}]}``),
and the optional Basic or Bearer-token authentication in front of them (the same challenge and
token flow notary-server runs behind Docker's auth). It keeps no TUF logic (``_repository``) and
never logs or echoes a credential or a token.
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import hmac
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs

from fake_registry import LoggedRequest, RequestLog
from fake_registry.lowlevel import masked_headers
from notary_stub._repository import NotaryError, Repositories

__all__ = ["Auth", "NotaryApp"]

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Environ = dict[str, Any]

_ROLE = r"root|targets(?:/[^/\s]+)*|snapshot|timestamp"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"^/v2/$"), "ping"),
    ("GET", re.compile(r"^/_notary_server/health$"), "health"),
    ("GET", re.compile(r"^/auth/token$"), "token"),
    ("POST", re.compile(r"^/v2/(?P<gun>[^*]+)/_trust/tuf/$"), "update"),
    ("DELETE", re.compile(r"^/v2/(?P<gun>[^*]+)/_trust/tuf/$"), "delete"),
    (
        "GET",
        re.compile(rf"^/v2/(?P<gun>[^*]+)/_trust/tuf/(?P<version>[1-9][0-9]*)\.(?P<role>{_ROLE})\.json$"),
        "get",
    ),
    (
        "GET",
        re.compile(
            rf"^/v2/(?P<gun>[^*]+)/_trust/tuf/(?P<role>{_ROLE})"
            r"\.(?P<checksum>[a-fA-F0-9]{64}|[a-fA-F0-9]{96}|[a-fA-F0-9]{128})\.json$"
        ),
        "get",
    ),
    ("GET", re.compile(rf"^/v2/(?P<gun>[^*]+)/_trust/tuf/(?P<role>{_ROLE})\.json$"), "get"),
    ("GET", re.compile(r"^/v2/(?P<gun>[^*]+)/_trust/tuf/(?P<role>snapshot|timestamp)\.key$"), "get_key"),
    ("POST", re.compile(r"^/v2/(?P<gun>[^*]+)/_trust/tuf/(?P<role>snapshot|timestamp)\.key$"), "rotate_key"),
]
# The access notary-server asks of the token for each route (server.go).
_ACCESS = {
    "ping": (),
    "health": (),
    "update": ("push", "pull"),
    "delete": ("*",),
    "get": ("pull",),
    "get_key": ("push", "pull"),
    "rotate_key": ("*",),
}
_STATUS = {
    200: "200 OK",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    500: "500 Internal Server Error",
}


@dataclass(frozen=True, slots=True)
class Auth:
    """Authentication: ``mode`` is ``"basic"`` or ``"bearer"``; ``users`` maps name to password."""

    mode: Literal["basic", "bearer"]
    users: dict[str, str] = field(default_factory=dict)
    service: str = "notary-stub"

    def check_password(self, username: str, password: str) -> bool:
        expected = self.users.get(username)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())


def _error(code: str, message: str, detail: Any = None) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message, "detail": detail}]}).encode()


class NotaryApp:
    """WSGI application: ``NotaryApp(repositories, auth=None)``; ``.requests`` is the request log
    (the fake registry's :class:`RequestLog`, credentials masked)."""

    def __init__(self, repositories: Repositories, auth: Auth | None = None) -> None:
        self.repositories = repositories
        self.auth = auth
        self.requests = RequestLog()
        self._tokens: dict[str, frozenset[tuple[str, str]]] = {}
        self._lock = threading.Lock()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        status, headers, body = self._dispatch(environ, method, path)
        self.requests.record(_logged(environ, method, path, status))
        headers = [*headers, ("Content-Length", str(len(body)))]
        start_response(_STATUS.get(status, f"{status} Status"), headers)
        return [body]

    def clear(self) -> None:
        """Forget the request log and issued tokens (the stored trust data stays)."""
        self.requests.clear()
        with self._lock:
            self._tokens.clear()

    # routing -----------------------------------------------------------------------------

    def _dispatch(self, environ: Environ, method: str, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        json_type = [("Content-Type", "application/json")]
        matched_path = False
        for route_method, pattern, name in _ROUTES:
            match = pattern.match(path)
            if not match:
                continue
            matched_path = True
            if route_method != method:
                continue
            if name == "token":
                return self._token(environ)
            groups = match.groupdict()
            denied = self._authorize(environ, groups.get("gun", ""), _ACCESS[name])
            if denied is not None:
                return denied
            try:
                return 200, json_type, self._handle(name, environ, groups)
            except NotaryError as exc:
                return exc.status, json_type, _error(exc.code, exc.message)
        if matched_path:
            return 405, json_type, _error("UNSUPPORTED", "method not allowed")
        return (
            404,
            json_type,
            _error("METADATA_NOT_FOUND", "You have requested metadata that does not exist."),
        )

    def _handle(self, name: str, environ: Environ, groups: dict[str, str]) -> bytes:
        repos = self.repositories
        gun = groups.get("gun", "")
        role = groups.get("role", "")
        if name in ("ping", "health"):
            return b"{}"
        if name == "get":
            if groups.get("version"):
                data = repos.by_version(gun, role, int(groups["version"]))
            elif groups.get("checksum"):
                data = repos.by_checksum(gun, role, groups["checksum"])
            else:
                stored = repos.current_timestamp(gun) if role == "timestamp" else repos.current(gun, role)
                data = None if stored is None else stored.raw
            if data is None:
                raise NotaryError(
                    "METADATA_NOT_FOUND", "You have requested metadata that does not exist.", 404
                )
            return data
        if name == "get_key":
            return json.dumps(repos.get_or_create_key(gun, role).public.to_json()).encode()
        if name == "rotate_key":
            return json.dumps(repos.rotate_key(gun, role).public.to_json()).encode()
        if name == "delete":
            repos.delete(gun)
            return b""
        repos.update(gun, _multipart_files(environ))
        return b""

    # authentication ----------------------------------------------------------------------

    def _challenge(self, gun: str, actions: tuple[str, ...], environ: Environ) -> list[tuple[str, str]]:
        assert self.auth is not None
        if self.auth.mode == "basic":
            return [("WWW-Authenticate", 'Basic realm="notary-stub"')]
        realm = f"{_base_url(environ)}/auth/token"
        value = f'Bearer realm="{realm}",service="{self.auth.service}"'
        if gun and actions:
            value += f',scope="repository:{gun}:{",".join(actions)}"'
        return [("WWW-Authenticate", value)]

    def _authorize(
        self, environ: Environ, gun: str, actions: tuple[str, ...]
    ) -> tuple[int, list[tuple[str, str]], bytes] | None:
        if self.auth is None:
            return None
        header = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, credentials = header.partition(" ")
        granted = False
        if self.auth.mode == "basic" and scheme.lower() == "basic":
            pair = _basic(credentials)
            granted = pair is not None and self.auth.check_password(*pair)
        elif self.auth.mode == "bearer" and scheme.lower() == "bearer":
            with self._lock:
                scopes = self._tokens.get(credentials.strip())
            granted = scopes is not None and all(
                (gun, action) in scopes or (gun, "*") in scopes for action in actions
            )
        if granted:
            return None
        headers = [("Content-Type", "application/json"), *self._challenge(gun, actions, environ)]
        return 401, headers, _error("UNAUTHORIZED", "authentication required")

    def _token(self, environ: Environ) -> tuple[int, list[tuple[str, str]], bytes]:
        json_type = [("Content-Type", "application/json")]
        if self.auth is None or self.auth.mode != "bearer":
            return 404, json_type, _error("UNSUPPORTED", "this server does not issue tokens")
        # Like Docker's token servers: no credentials get an anonymous token that grants nothing
        # here (clients then retry with credentials); wrong credentials get 401.
        header = environ.get("HTTP_AUTHORIZATION", "")
        pair = _basic(header.partition(" ")[2]) if header else None
        if header and (pair is None or not self.auth.check_password(*pair)):
            headers = [*json_type, ("WWW-Authenticate", 'Basic realm="notary-stub token"')]
            return 401, headers, _error("UNAUTHORIZED", "invalid username or password")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        scopes: set[tuple[str, str]] = set()
        for scope in query.get("scope", []):
            for item in scope.split(" "):
                kind, _, rest = item.partition(":")
                name, _, actions = rest.rpartition(":")
                if kind == "repository" and name:
                    scopes.update((name, action) for action in actions.split(",") if action)
        token = secrets.token_hex(24)
        with self._lock:
            self._tokens[token] = frozenset(scopes) if pair is not None else frozenset()
        body = json.dumps({"token": token, "access_token": token, "expires_in": 3600}).encode()
        return 200, json_type, body


def _logged(environ: Environ, method: str, path: str, status: int) -> LoggedRequest:
    headers = [(k[5:].replace("_", "-").title(), str(v)) for k, v in environ.items() if k.startswith("HTTP_")]
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers.append((key.replace("_", "-").title(), str(environ[key])))
    host = str(environ.get("HTTP_HOST", "")).lower()
    return LoggedRequest(method, path, environ.get("QUERY_STRING", ""), masked_headers(headers), status, host)


def _basic(credentials: str) -> tuple[str, str] | None:
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, colon, password = decoded.partition(":")
    return (username, password) if colon else None


def _base_url(environ: Environ) -> str:
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
    return f"{scheme}://{host}"


def _multipart_files(environ: Environ) -> dict[str, bytes]:
    """The ``files`` parts of a multipart body, keyed by role (the part's filename)."""
    content_type = environ.get("CONTENT_TYPE", "")
    if not content_type.lower().startswith("multipart/"):
        raise NotaryError("MALFORMED_UPLOAD", "the update must be multipart/form-data")
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise NotaryError("MALFORMED_UPLOAD", "the update must be multipart/form-data")
    files: dict[str, bytes] = {}
    for part in message.iter_parts():
        filename = part.get_filename()
        if not filename:
            raise NotaryError("NO_FILENAME", "a part of the update has no file name")
        role = filename.removesuffix(".json")
        payload = part.get_payload(decode=True)
        files[role] = payload if isinstance(payload, bytes) else b""
    if not files:
        raise NotaryError("MALFORMED_UPLOAD", "the update holds no metadata")
    return files
