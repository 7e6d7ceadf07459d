"""Registry authentication: Basic, and Bearer tokens from the ``WWW-Authenticate`` challenge.

This module owns SPEC B.6.1 step 4: parsing challenges, fetching a token for the repository scopes
(``token`` or ``access_token`` in the answer), and fetching a new one with the union of scopes when
a later request is refused with 401. It must never log or put into an error message a password,
a token or an ``Authorization`` header.
"""

from __future__ import annotations

import base64
import json
import threading
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

from registry_image_resource.errors import AuthError, RegistryError, TransportError
from registry_image_resource.log import add_secrets
from registry_image_resource.registry import retry
from registry_image_resource.registry._http.connections import is_retryable_exception, is_transport_failure
from registry_image_resource.registry._http.transport import ConnectOptions
from registry_image_resource.registry.errors import describe_exception, registry_error
from registry_image_resource.registry.reference import ip_literal
from registry_image_resource.registry.retry import RETRY_STATUSES, Retryable, RetryPolicy

if TYPE_CHECKING:
    from registry_image_resource.registry._http.connections import HTTP


MAX_TOKEN_BODY = 1 << 20


class Challenge(NamedTuple):
    """One ``WWW-Authenticate`` challenge: lower-case scheme and its parameters (names lower-cased)."""

    scheme: str
    params: tuple[tuple[str, str], ...] = ()

    def get(self, name: str) -> str:
        for key, value in self.params:
            if key == name:
                return value
        return ""


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value into its challenges (RFC 7235, quoted strings allowed)."""
    challenges: list[Challenge] = []
    i, n = 0, len(header)
    scheme = ""
    params: list[tuple[str, str]] = []

    def flush() -> None:
        if scheme:
            challenges.append(Challenge(scheme.lower(), tuple(params)))

    while i < n:
        while i < n and header[i] in " ,\t":
            i += 1
        start = i
        while i < n and header[i] not in " =,\t":
            i += 1
        token = header[start:i]
        if not token:
            break
        j = i
        while j < n and header[j] in " \t":
            j += 1
        if j < n and header[j] == "=" and scheme:
            # A parameter of the current challenge.
            i = j + 1
            while i < n and header[i] in " \t":
                i += 1
            if i < n and header[i] == '"':
                i += 1
                chars: list[str] = []
                while i < n and header[i] != '"':
                    if header[i] == "\\" and i + 1 < n:
                        i += 1
                    chars.append(header[i])
                    i += 1
                i += 1
                value = "".join(chars)
            else:
                start = i
                while i < n and header[i] not in ",":
                    i += 1
                value = header[start:i].strip()
            params.append((token.lower(), value))
        else:
            flush()
            scheme, params = token, []
    flush()
    return challenges


def pick_challenge(challenges: list[Challenge]) -> Challenge | None:
    """Bearer is preferred over Basic; other schemes are ignored (anonymous)."""
    for wanted in ("bearer", "basic"):
        for challenge in challenges:
            if challenge.scheme == wanted:
                return challenge
    return None


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def scope_for(path: str, actions: str) -> str:
    return f"repository:{path}:{actions}"


def _merge_scopes(scopes: tuple[str, ...], extra: str) -> tuple[str, ...]:
    """Union of scopes; actions of the same resource are merged (``pull`` + ``push`` -> ``pull,push``)."""
    merged: dict[str, list[str]] = {}
    for scope in (*scopes, *extra.split(" ")):
        if not scope:
            continue
        resource, sep, actions = scope.rpartition(":")
        if not sep:
            merged.setdefault(scope, [])
            continue
        current = merged.setdefault(resource, [])
        for action in actions.split(","):
            if action and action not in current:
                current.append(action)
    return tuple(f"{res}:{','.join(actions)}" if actions else res for res, actions in merged.items())


def _check_realm(realm: str, registry_scheme: str, registry_host: str) -> None:
    """Refuse token endpoints that would leak credentials (ggcr's rules)."""
    if not realm.isprintable() or " " in realm:  # other spaces are not printable
        raise AuthError("invalid realm in www-authenticate: it contains spaces or control characters")
    parts = urlsplit(realm)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AuthError(f"invalid realm in www-authenticate: {realm!r}")
    if registry_scheme == "https" and parts.scheme == "http":
        raise AuthError(f"invalid realm in www-authenticate: realm {realm!r} is not HTTPS")
    address = ip_literal(parts.hostname)
    if address is None:
        return
    same_host = parts.hostname == urlsplit(f"//{registry_host}").hostname
    if not same_host and (address.is_private or address.is_loopback or address.is_link_local):
        raise AuthError(
            f'invalid realm in www-authenticate: realm host "{parts.hostname}" '
            "is a private or link-local address"
        )


class Authenticator:
    """The ``Authorization`` header for one registry, renewed on demand. Thread-safe."""

    def __init__(
        self,
        http: HTTP,
        *,
        registry: str,
        scheme: str,
        options: ConnectOptions,
        policy: RetryPolicy,
    ) -> None:
        self._http = http
        self._registry = registry
        self._scheme = scheme
        self._options = options
        self._policy = policy
        self._lock = threading.Lock()
        self._challenge: Challenge | None = None
        self._scopes: tuple[str, ...] = ()
        self._header: str | None = None
        self._generation = 0

    @property
    def generation(self) -> int:
        """Increases each time the header changes (so a 401 answered with an old header retries)."""
        return self._generation

    def header(self) -> dict[str, str]:
        value = self._header
        return {"Authorization": value} if value else {}

    def start(self, challenge: Challenge | None, scopes: tuple[str, ...]) -> None:
        """Set up from the ping's challenge (None: the registry wants no auth)."""
        with self._lock:
            self._challenge = challenge
            self._scopes = _merge_scopes((), " ".join(scopes))
            self._renew()

    def add_scope(self, scope: str) -> None:
        """Widen the token to ``scope`` (e.g. pull on another repository before a mount)."""
        with self._lock:
            scopes = _merge_scopes(self._scopes, scope)
            if scopes != self._scopes:
                self._scopes = scopes
                if self._challenge is not None and self._challenge.scheme == "bearer":
                    self._renew()

    def on_unauthorized(self, www_authenticate: str, generation: int) -> bool:
        """After a 401: renew the credentials; True when the request is worth sending again."""
        with self._lock:
            if generation != self._generation:
                return True  # another thread already renewed
            challenge = pick_challenge(parse_challenges(www_authenticate))
            if challenge is None:
                return False
            if challenge.scheme == "basic":
                if self._challenge is not None and self._challenge.scheme == "basic":
                    return False  # the credentials themselves were refused
                self._challenge = challenge
                self._renew()
                return self._header is not None
            # A new token, for the union of scopes; also what an expired token needs. The caller
            # sends a request again only once, so refused credentials cannot loop.
            self._challenge = challenge
            self._scopes = _merge_scopes(self._scopes, challenge.get("scope"))
            self._renew()
            return True

    def _renew(self) -> None:
        challenge = self._challenge
        if challenge is None:
            self._header = None
        elif challenge.scheme == "basic":
            options = self._options
            self._header = (
                basic_header(options.username, options.password) if options.has_credentials else None
            )
        else:
            token = retry.call(lambda: self._fetch_token(challenge), self._policy)
            add_secrets([token])  # masked in every record and error from now on
            self._header = "Bearer " + token
        self._generation += 1

    def _fetch_token(self, challenge: Challenge) -> str:
        from urllib.parse import urlencode

        realm = challenge.get("realm")
        if not realm:
            raise AuthError(f"bearer challenge from {self._registry} has no realm")
        _check_realm(realm, self._scheme, self._registry)
        params: list[tuple[str, str]] = []
        if challenge.get("service"):
            params.append(("service", challenge.get("service")))
        params += [("scope", scope) for scope in self._scopes]
        headers = {}
        if self._options.has_credentials:
            headers["Authorization"] = basic_header(self._options.username, self._options.password)
        url = realm + ("&" if "?" in realm else "?") + urlencode(params) if params else realm
        try:
            response = self._http.request("GET", url, headers=headers, limit=MAX_TOKEN_BODY)
            body = response.data
        except Exception as err:
            if not is_retryable_exception(err) and not is_transport_failure(err):
                raise
            reason = describe_exception(err)
            failure = TransportError(f"GET {realm}: fetching a token: {reason}")
            if is_retryable_exception(err):
                raise Retryable(failure) from None
            raise failure from None
        if response.status != 200:
            error = registry_error("GET", realm, response.status, body)
            if response.status in RETRY_STATUSES:
                raise Retryable(error, retry.parse_retry_after(response.headers.get("Retry-After")))
            if response.status in (401, 403):
                raise AuthError(f"fetching a token for {self._registry}: {error}")
            raise error
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        token = None
        if isinstance(document, dict):
            token = document.get("token") or document.get("access_token")
        if not isinstance(token, str) or not token:
            raise RegistryError(f"GET {realm}: no token in bearer response", status=200)
        return token
