"""The ping (SPEC B.6.1 step 3): which scheme a registry speaks, and its authentication challenge.

This module owns ``GET /v2/`` before any other request: HTTPS only, except where plain HTTP is
allowed (A.2.5), where HTTPS and plain HTTP race as in Go (plain HTTP starts 300 ms later, or as
soon as HTTPS fails). The ping is retried by the one retry policy (A.2.3), and a TLS registry with
an untrusted certificate fails at once rather than after minutes of retries.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

from registry_image_resource.errors import TransportError
from registry_image_resource.registry import retry
from registry_image_resource.registry._http.connections import HTTP, is_retryable_exception
from registry_image_resource.registry._http.transport import ConnectOptions
from registry_image_resource.registry.errors import describe_exception, registry_error
from registry_image_resource.registry.reference import plain_http_allowed
from registry_image_resource.registry.retry import RETRY_STATUSES, Retryable, RetryPolicy

__all__ = ["HTTP_FALLBACK_DELAY", "ping"]


HTTP_FALLBACK_DELAY = 0.3


class _Probe(NamedTuple):
    scheme: str
    challenge: str | None  # the WWW-Authenticate value ("" for none) when the ping succeeded
    error: str = ""
    transient: Retryable | None = None
    answered: bool = False  # an HTTP status came back (the failure is the registry's own answer)
    not_tls: bool = False  # the HTTPS probe met a server that does not speak TLS at all
    crash: BaseException | None = None  # a bug in the probe, raised again in the waiting thread


def _probe(http: HTTP, registry: str, scheme: str) -> _Probe:
    """One ``GET /v2/``: success is 200 or 401 (SPEC B.6.1 step 3). Never raises."""
    url = f"{scheme}://{registry}/v2/"
    try:
        response = http.request("GET", url)
        body = response.data
    except Exception as err:  # a thread must always report back
        text = f"GET {url}: {describe_exception(err)}"
        transient = Retryable(TransportError(text)) if is_retryable_exception(err) else None
        return _Probe(scheme, None, text, transient, not_tls=_not_tls(err))
    if response.status in (200, 401):
        return _Probe(scheme, response.headers.get("WWW-Authenticate", ""))
    error = registry_error("GET", url, response.status, body)
    transient = None
    if response.status in RETRY_STATUSES:
        transient = Retryable(error, retry.parse_retry_after(response.headers.get("Retry-After")))
    return _Probe(scheme, None, str(error), transient, answered=True)


_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "RECORD_LAYER_FAILURE", "UNKNOWN_PROTOCOL"})


def _not_tls(err: BaseException) -> bool:
    """A TLS handshake answered by a plain-HTTP server (its bytes are no TLS record)."""
    return getattr(err, "reason", None) in _NOT_TLS


def _race(http: HTTP, registry: str) -> list[_Probe]:
    """HTTPS first; plain HTTP starts after 300 ms or as soon as HTTPS fails; the first success wins.

    Returns the successful probe alone, or both failures (HTTPS first). Probes run in daemon
    threads so that a hanging HTTPS attempt can neither delay the answer nor the process's exit.
    """
    arrived: list[_Probe] = []
    ready = threading.Condition()

    def run(scheme: str) -> None:
        # Whatever happens, the waiting thread hears of it: a probe that died silently would
        # leave it waiting forever.
        try:
            probe = _probe(http, registry, scheme)
        except BaseException as err:
            probe = _Probe(scheme, None, crash=err)
        with ready:
            arrived.append(probe)
            ready.notify()

    def next_result(timeout: float | None) -> _Probe | None:
        with ready:
            if not ready.wait_for(lambda: bool(arrived), timeout):
                return None
            probe = arrived.pop(0)
        if probe.crash is not None:
            raise probe.crash
        return probe

    def start(scheme: str) -> None:
        threading.Thread(target=run, args=(scheme,), daemon=True).start()

    start("https")
    done: dict[str, _Probe] = {}
    first = next_result(HTTP_FALLBACK_DELAY)
    if first is not None:
        if first.challenge is not None:
            return [first]
        done[first.scheme] = first
    start("http")
    while len(done) < 2:
        probe = next_result(None)
        assert probe is not None
        if probe.challenge is not None:
            return [probe]
        done[probe.scheme] = probe
    return [done["https"], done["http"]]


def ping(http: HTTP, registry: str, options: ConnectOptions, policy: RetryPolicy) -> tuple[str, str]:
    """``(scheme, WWW-Authenticate)`` of the scheme whose ``/v2/`` answers 200 or 401.

    Only HTTPS, except where plain HTTP is allowed (A.2.5), where the two race as in Go.
    """
    plain_allowed = plain_http_allowed(registry, insecure=options.insecure)

    def attempt() -> tuple[str, str]:
        probes = _race(http, registry) if plain_allowed else [_probe(http, registry, "https")]
        for probe in probes:
            if probe.challenge is not None:
                return probe.scheme, probe.challenge
        joined = "; ".join(probe.error for probe in probes)
        # A registry that answered decides; otherwise retry only when no probe failed for good: a
        # TLS registry with an untrusted certificate also resets the plain-HTTP probe, and that
        # reset must not turn a certificate error into minutes of retries.
        # A plain-HTTP registry fails the HTTPS probe for good: its plain probe decides.
        deciding = (
            [probe for probe in probes if probe.answered]
            or [probe for probe in probes if not probe.not_tls]
            or probes
        )
        transients = [probe.transient for probe in deciding if probe.transient is not None]
        if len(transients) == len(deciding):
            raise Retryable(TransportError(joined), transients[0].retry_after)
        raise TransportError(joined)

    return retry.call(attempt, policy)
