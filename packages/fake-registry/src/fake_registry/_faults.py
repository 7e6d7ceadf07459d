"""Faults injected on demand, and the request log tests assert on.

Owns which fault a request gets (first matching rule with hits left, counted atomically) and the
record of what was asked and answered. Must never perform the fault itself (the server does,
since only it holds the socket) and never records a secret: ``Authorization``, ``Cookie`` and
``Proxy-Authorization`` values are replaced by ``"***"``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

QUIRKS = frozenset({"no_digest_header", "no_content_type", "no_range"})
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})


@dataclass(frozen=True, slots=True)
class Fault:
    """One rule: requests whose method and path match get this behaviour, ``times`` times.

    ``path`` is a regular expression searched in the request path (no query string), so
    ``r"/blobs/sha256:"`` or ``r"^/v2/app/manifests/"`` both work. ``method=None`` matches any
    method. ``times=None`` applies to every matching request until :meth:`Faults.clear`.

    Behaviours (combine as you like; ``status`` and ``reset`` replace the normal answer):

    - ``status``: answer with this status and the spec error JSON (429 ``TOOMANYREQUESTS``,
      503 ``UNAVAILABLE``, 500 ``UNKNOWN``, ...); ``retry_after`` adds ``Retry-After``.
    - ``reset``: close the connection without answering.
    - ``drop_after``: send the headers (with the full ``Content-Length``) and only this many body
      bytes, then close the connection (a truncated download).
    - ``drop_request_after``: read only this many bytes of the request body, then reset the
      connection without answering (an upload cut off mid-way); nothing is stored.
    - ``corrupt_at``: flip the bits of the body byte at this offset (a corrupted download).
    - ``latency``: seconds to wait before answering.
    - ``quirks``: registry misbehaviours, any of ``no_digest_header`` (no
      ``Docker-Content-Digest``), ``no_content_type`` (no ``Content-Type``), ``no_range``
      (``Range`` requests answered with the whole body and 200).
    """

    method: str | None = None
    path: str = ""
    times: int | None = 1
    status: int | None = None
    retry_after: int | None = None
    reset: bool = False
    drop_after: int | None = None
    drop_request_after: int | None = None
    corrupt_at: int | None = None
    latency: float = 0.0
    quirks: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = self.quirks - QUIRKS
        if unknown:
            raise ValueError(f"unknown quirks {sorted(unknown)}; known: {sorted(QUIRKS)}")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"status {self.status} is not an HTTP status (100 to 599)")
        re.compile(self.path)

    @classmethod
    def from_json(cls, doc: object) -> Fault:
        """A rule from its JSON form (the control API's), the field names as here.

        ``{"status": 503, "path": "/manifests/", "method": "GET", "times": 2, "retry_after": 1}``;
        ``quirks`` is a list of names. Raises ``ValueError`` naming the first bad field.
        """
        if not isinstance(doc, dict):
            raise ValueError("a fault is a JSON object")
        unknown = sorted(set(doc) - set(_JSON_TYPES))
        if unknown:
            raise ValueError(f"unknown fault field {unknown[0]!r}; known: {sorted(_JSON_TYPES)}")
        values: dict[str, Any] = {}
        for name, value in doc.items():
            kinds = _JSON_TYPES[name]
            ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
            if not ok or (isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0):
                raise ValueError(f"fault field {name!r}: {value!r} is not {_JSON_NAMES[name]}")
            values[name] = value
        if "quirks" in values:
            quirks = values["quirks"]
            if not all(isinstance(q, str) for q in quirks):
                raise ValueError("fault field 'quirks': a list of names")
            values["quirks"] = frozenset(quirks)
        if "latency" in values:
            values["latency"] = float(values["latency"])
        try:
            return cls(**values)
        except re.error as err:
            raise ValueError(f"fault field 'path': {err}") from None

    def to_json(self) -> dict[str, Any]:
        """The JSON form :meth:`from_json` reads back (``quirks`` sorted)."""
        return {
            "method": self.method,
            "path": self.path,
            "times": self.times,
            "status": self.status,
            "retry_after": self.retry_after,
            "reset": self.reset,
            "drop_after": self.drop_after,
            "drop_request_after": self.drop_request_after,
            "corrupt_at": self.corrupt_at,
            "latency": self.latency,
            "quirks": sorted(self.quirks),
        }

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return re.search(self.path, path) is not None


_OPT_INT = (int, type(None))
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "method": (str, type(None)),
    "path": (str,),
    "times": _OPT_INT,
    "status": _OPT_INT,
    "retry_after": _OPT_INT,
    "reset": (bool,),
    "drop_after": _OPT_INT,
    "drop_request_after": _OPT_INT,
    "corrupt_at": _OPT_INT,
    "latency": (int, float),
    "quirks": (list,),
}
_JSON_NAMES = {
    "method": "a string or null",
    "path": "a string (a regular expression)",
    "reset": "true or false",
    "latency": "a number of seconds, 0 or more",
    "quirks": "a list of names",
}
for _name in ("times", "status", "retry_after", "drop_after", "drop_request_after", "corrupt_at"):
    _JSON_NAMES[_name] = "an integer, 0 or more, or null"


@dataclass(slots=True)
class _Rule:
    id: int
    fault: Fault
    remaining: int | None
    hits: int = 0


@dataclass(frozen=True, slots=True)
class FaultRule:
    """A rule as :meth:`Faults.rules` reports it: its id, the fault, hits so far, hits left."""

    id: int
    fault: Fault
    hits: int
    remaining: int | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, **self.fault.to_json(), "hits": self.hits, "remaining": self.remaining}


class Faults:
    """The active fault rules of one registry (``registry.faults``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._next_id = 1

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._rules.append(_Rule(self._next_id, fault, fault.times))
            self._next_id += 1
        return fault

    def status(
        self,
        status: int,
        path: str = "",
        *,
        method: str | None = None,
        times: int | None = 1,
        retry_after: int | None = None,
    ) -> Fault:
        """Answer matching requests with ``status`` (and ``Retry-After`` if given)."""
        return self.add(Fault(method, path, times, status=status, retry_after=retry_after))

    def reset(self, path: str = "", *, method: str | None = None, times: int | None = 1) -> Fault:
        """Close the connection without an answer."""
        return self.add(Fault(method, path, times, reset=True))

    def drop(self, after: int, path: str = "", *, method: str | None = None, times: int | None = 1) -> Fault:
        """Send headers and ``after`` body bytes, then close the connection."""
        return self.add(Fault(method, path, times, drop_after=after))

    def drop_request(
        self, after: int, path: str = "", *, method: str | None = None, times: int | None = 1
    ) -> Fault:
        """Read ``after`` bytes of the request body, then reset the connection unanswered."""
        return self.add(Fault(method, path, times, drop_request_after=after))

    def corrupt(
        self, at: int = 0, path: str = "", *, method: str | None = None, times: int | None = 1
    ) -> Fault:
        """Flip the body byte at offset ``at``."""
        return self.add(Fault(method, path, times, corrupt_at=at))

    def latency(
        self, seconds: float, path: str = "", *, method: str | None = None, times: int | None = 1
    ) -> Fault:
        """Wait ``seconds`` before answering."""
        return self.add(Fault(method, path, times, latency=seconds))

    def quirk(
        self, *names: str, path: str = "", method: str | None = None, times: int | None = None
    ) -> Fault:
        """Misbehave like some real registries do (see :class:`Fault` for the names)."""
        return self.add(Fault(method, path, times, quirks=frozenset(names)))

    def take(self, method: str, path: str) -> Fault | None:
        """The first matching rule with hits left, counting this hit; ``None`` if none matches."""
        with self._lock:
            for rule in self._rules:
                if rule.remaining == 0 or not rule.fault.matches(method, path):
                    continue
                rule.hits += 1
                if rule.remaining is not None:
                    rule.remaining -= 1
                return rule.fault
        return None

    def hits(self, fault: Fault) -> int:
        """How many requests ``fault`` has been applied to."""
        with self._lock:
            return sum(r.hits for r in self._rules if r.fault is fault)

    def pending(self) -> list[Fault]:
        """Rules that still have hits left (a test can assert its faults were all used)."""
        with self._lock:
            return [r.fault for r in self._rules if r.remaining != 0]

    def remove(self, fault: Fault | int) -> bool:
        """Drop one rule, given as the fault or its rule id; ``False`` if it was not there."""
        with self._lock:
            kept = [r for r in self._rules if r.fault is not fault and r.id != fault]
            removed = len(kept) != len(self._rules)
            self._rules = kept
        return removed

    def rules(self) -> list[FaultRule]:
        """Every rule in matching order, used up or not, with its id, hits and hits left."""
        with self._lock:
            return [FaultRule(r.id, r.fault, r.hits, r.remaining) for r in self._rules]

    def rule(self, fault: Fault) -> FaultRule:
        """The rule :meth:`add` made for ``fault`` (``KeyError`` if it is not there)."""
        for rule in self.rules():
            if rule.fault is fault:
                return rule
        raise KeyError(fault)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request as the registry saw it, and the status it answered (0: closed unanswered)."""

    method: str
    path: str
    query: str
    headers: dict[str, str] = field(hash=False)
    status: int
    host: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def to_json(self) -> dict[str, Any]:
        """The control API's form: every field, headers with lower-case names (secrets masked)."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "host": self.host,
            "headers": dict(self.headers),
        }


class RequestLog:
    """Every request the registry answered, in order (``registry.requests``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[LoggedRequest] = []

    def record(self, item: LoggedRequest) -> None:
        with self._lock:
            self._items.append(item)

    def __iter__(self) -> Iterator[LoggedRequest]:
        return iter(self.all())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __getitem__(self, index: int) -> LoggedRequest:
        with self._lock:
            return self._items[index]

    def all(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._items)

    def find(self, method: str | None = None, path: str = "") -> list[LoggedRequest]:
        """Requests with this method (any if ``None``) whose path matches the regex ``path``."""
        return [
            r
            for r in self.all()
            if (method is None or r.method == method.upper()) and re.search(path, r.path) is not None
        ]

    def summary(self) -> list[str]:
        """``["GET /v2/ 200", ...]``: handy for exact assertions on a whole conversation."""
        return [f"{r.method} {r.path} {r.status}" for r in self.all()]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def masked_headers(items: list[tuple[str, str]]) -> dict[str, str]:
    return {k.lower(): ("***" if k.lower() in SECRET_HEADERS else v) for k, v in items}
