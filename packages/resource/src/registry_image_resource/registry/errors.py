"""Turning a registry's error answer into a ``RegistryError`` with one readable line.

This module owns the wording of registry errors: ``<METHOD> <url>: <status> <reason>: <CODE>:
<message>`` (the registry is named by the URL, as go-containerregistry does), taking the code and
message from the spec's error JSON (``{"errors": [{"code", "message", "detail"}]}``) when the
registry sent one. It must never put request headers (credentials) into a message.
"""

from __future__ import annotations

import json
from typing import Any

from registry_image_resource.errors import NotFoundError, RegistryError

_SNIPPET = 200


def status_text(status: int) -> str:
    """``404 Not Found``; a status without a standard phrase is shown as the bare number."""
    try:
        from http import HTTPStatus  # an enum of ~60 members: built only for an error

        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def parse_error_body(body: bytes) -> tuple[str | None, str | None, str | None]:
    """``(code, message, detail)`` of the first error in a spec error document, else Nones.

    Further errors in the list are folded into the message (``; ``-joined), as ggcr does.
    """
    try:
        document: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, None, None
    errors = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None, None, None
    first = errors[0]
    code = first.get("code")
    messages = [
        str(e.get("message")) for e in errors if isinstance(e, dict) and e.get("message") not in (None, "")
    ]
    detail = first.get("detail")
    detail_text = None
    if detail not in (None, "", {}, []):
        detail_text = detail if isinstance(detail, str) else json.dumps(detail, sort_keys=True)
    return (str(code) if code else None, "; ".join(messages) or None, detail_text)


def body_snippet(body: bytes) -> str:
    """The start of an answer's body for an error message: whitespace runs folded, at most 200
    characters (then "...")."""
    text = body[: _SNIPPET * 4].decode("utf-8", "replace")
    text = " ".join(text.split())
    return text[:_SNIPPET] + ("..." if len(text) > _SNIPPET else "")


def registry_error(method: str, url: str, status: int, body: bytes) -> RegistryError:
    """The error for a non-success answer; ``NotFoundError`` for 404."""
    code, message, detail = parse_error_body(body)
    parts = [f"{method} {url}", status_text(status)]
    if code:
        parts.append(code)
        if message:
            parts.append(message)
    elif body.strip():
        parts.append(body_snippet(body))
    text = ": ".join(parts)
    kind = NotFoundError if status == 404 else RegistryError
    return kind(text, status=status, code=code, detail=detail or message)


def describe_exception(err: BaseException) -> str:
    """A short reason for a transport failure (the useful part may be nested: a proxy's error
    chains its cause).

    A chain of errors becomes the innermost text, e.g.
    ``[Errno 111] Connection refused``; an SSL failure keeps OpenSSL's reason, with a hint at the
    source field that fixes it (an untrusted server certificate, a refused client certificate).
    """
    chain: list[BaseException] = []
    inner: BaseException | None = err
    while inner is not None and inner not in chain and len(chain) < 8:
        chain.append(inner)
        nested = inner.args[0] if inner.args and isinstance(inner.args[0], BaseException) else None
        reason = getattr(inner, "reason", None)
        original = getattr(inner, "original_error", None)
        inner = (
            (reason if isinstance(reason, BaseException) else None)
            or (original if isinstance(original, BaseException) else None)
            or nested
            or inner.__cause__
            or (None if inner.__suppress_context__ else inner.__context__)  # "from None" ends it
        )
    for candidate in reversed(chain):
        hint = _tls_hint(candidate)
        if hint:
            return hint
    # Never the proxy's URL: it may carry credentials (http://user:password@proxy:3128).
    via_proxy = any(type(c).__name__ == "ProxyError" for c in chain)
    prefix = "unable to connect to the proxy (HTTPS_PROXY/HTTP_PROXY): " if via_proxy else ""
    for candidate in reversed(chain):
        if via_proxy and type(candidate).__name__ == "ProxyError":
            continue
        text = str(candidate)
        if text:
            # A "<... object at 0x...>: " prefix says nothing to a user; drop it.
            if text.startswith("<") and ">: " in text:
                text = text.split(">: ", 1)[1]
            return prefix + text
    return prefix + type(err).__name__


_CLIENT_CERT_ALERTS = frozenset(
    {"SSLV3_ALERT_BAD_CERTIFICATE", "TLSV13_ALERT_CERTIFICATE_REQUIRED", "TLSV1_ALERT_UNKNOWN_CA"}
)


def _tls_hint(err: BaseException) -> str:
    """OpenSSL's reason plus what to change, for the two TLS failures users can fix themselves."""
    import ssl

    if isinstance(err, ssl.SSLCertVerificationError):
        return (
            f"TLS certificate verify failed: {err.verify_message} (the registry's certificate is not "
            "trusted: add its CA to source.ca_certs)"
        )
    if isinstance(err, ssl.SSLError) and err.reason in _CLIENT_CERT_ALERTS:
        reason = str(err.reason).lower().replace("_", " ")
        return (
            f"TLS handshake refused by the registry: {reason} (it wants a client certificate it trusts: "
            "set source.client_cert and source.client_key)"
        )
    return ""
