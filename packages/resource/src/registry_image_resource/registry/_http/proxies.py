"""Which proxy a request goes through: ``*_PROXY`` from the environment, and ``NO_PROXY`` with the
rules of Go's ``golang.org/x/net/http/httpproxy`` (what the Go resource honours, SPEC A.2.10).

``NO_PROXY`` is a comma-separated list: ``*`` for every host; an IP address, or a CIDR range
(``10.0.0.0/8``), matching the request's IP address; a host name matching itself and its
subdomains (``corp``), or only its subdomains with a leading ``.`` or ``*.`` (``.corp``,
``*.corp``); any of these with ``:port`` matching only that port (the scheme's default when the
URL names none). This module never connects anywhere and never shows a proxy's URL.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

__all__ = ["bypass", "environment_proxies"]

_DEFAULT_PORTS = {"http": "80", "https": "443"}


def environment_proxies() -> dict[str, str]:
    """``{"https": ..., "http": ..., "no": ...}`` from ``*_proxy`` variables, read once.

    The lower-case spelling wins over the upper-case one, as in urllib; ``REQUEST_METHOD`` (a CGI
    environment) disables ``HTTP_PROXY``, which a client could set there. urllib.request itself
    is not imported: it is heavy and nothing else on the check path needs it.
    """
    proxies: dict[str, str] = {}
    for name, value in os.environ.items():
        if value and name.upper().endswith("_PROXY") and name.upper() == name:
            proxies[name[:-6].lower()] = value
    for name, value in os.environ.items():
        if value and name.lower().endswith("_proxy") and name.lower() == name:
            proxies[name[:-6]] = value
    if "REQUEST_METHOD" in os.environ:
        proxies.pop("http", None)
    return proxies


def _ip(text: str) -> Any:
    import ipaddress

    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _split(entry: str) -> tuple[str, str]:
    """``(host, port)`` of ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``."""
    if entry.startswith("["):
        end = entry.find("]")
        if end < 0:
            return entry, ""
        rest = entry[end + 1 :]
        return entry[1:end], rest[1:] if rest.startswith(":") else ""
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, port
    return entry, ""


def bypass(url: str, proxies: dict[str, str]) -> bool:
    """Does ``NO_PROXY`` (``proxies["no"]``) exempt ``url`` from the proxy?"""
    no_proxy = proxies.get("no", "")
    if not no_proxy.strip():
        return False
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = str(parts.port) if parts.port else _DEFAULT_PORTS.get(parts.scheme, "")
    except ValueError:
        port = ""
    address = _ip(host)
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if "/" in entry:
            import ipaddress

            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                continue
            if address is not None and address.version == network.version and address in network:
                return True
            continue
        name, entry_port = _split(entry)
        entry_address = _ip(name)
        if entry_address is not None:
            if address == entry_address and entry_port in ("", port):
                return True
            continue
        if name.startswith("*."):
            name = name[1:]
        if not name or name == ".":
            continue
        whole = not name.startswith(".")
        suffix = "." + name if whole else name
        if (host.endswith(suffix) or (whole and host == name)) and entry_port in ("", port):
            return True
    return False
