"""Repository names: parsing ``source.repository`` into a registry and a path (SPEC B.2.1).

This module owns the name rules only (what go-containerregistry's ``name.NewRepository`` and
``name.NewRegistry`` accept, with their error texts) and the decision which registries may be
spoken to over plain HTTP (SPEC B.6.1 step 3, A.2.5). It must never do I/O: no DNS, no sockets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from registry_image_resource.errors import RequestError

if TYPE_CHECKING:
    from ipaddress import IPv4Address, IPv6Address

DEFAULT_REGISTRY = "index.docker.io"
DOCKER_HUB_ALIAS = "docker.io"
REPOSITORY_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-./"

_REPOSITORY_CHARSET = frozenset(REPOSITORY_CHARS)
# Characters Go's net/url accepts unescaped in a host (RFC 3986 unreserved and sub-delims, plus
# the few extras Go allows). Anything else makes ``url.Parse("//"+reg).Host`` differ from ``reg``.
_HOST_CHARSET = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~!$&'()*+,;=:[]<>\""
)


@dataclass(frozen=True, slots=True)
class Repository:
    """A parsed repository: ``registry`` is a host[:port], ``path`` the API path (``library/`` added)."""

    registry: str
    path: str

    @property
    def name(self) -> str:
        """``registry/path``, the fully qualified name (ggcr's ``Repository.Name()``)."""
        return f"{self.registry}/{self.path}"

    def tag(self, tag: str) -> str:
        """``registry/path:tag`` (the tag is not validated, as in Go)."""
        return f"{self.name}:{tag}"

    def digest(self, digest: str) -> str:
        """``registry/path@digest`` (the digest is not validated, as in Go)."""
        return f"{self.name}@{digest}"

    def scope(self, actions: str) -> str:
        """The token scope for ``actions`` (``pull`` or ``push,pull``) on this repository."""
        return f"repository:{self.path}:{actions}"

    def with_registry(self, registry: str) -> Repository:
        """The same path on another registry (a mirror); ``registry`` must already be parsed."""
        return Repository(registry, self.path)

    def __str__(self) -> str:
        return self.name


def parse_repository(text: str) -> Repository:
    """Parse ``text`` as ggcr's ``name.NewRepository`` does, raising ``RequestError`` with its texts."""
    if not text:
        raise RequestError("a repository name must be specified")
    registry = ""
    path = text
    first, sep, rest = text.partition("/")
    if sep and (first == "localhost" or "." in first or ":" in first):
        registry, path = first, rest
    _check_path(path)
    registry = parse_registry(registry)
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = f"library/{path}"
    return Repository(registry, path)


def parse_registry(text: str) -> str:
    """Validate a registry authority as ggcr's ``name.NewRegistry``: default and ``docker.io`` rewrite."""
    if not _is_rfc3986_authority(text):
        raise RequestError(f"registries must be valid RFC 3986 URI authorities: {text}")
    if text in ("", DOCKER_HUB_ALIAS):
        return DEFAULT_REGISTRY
    return text


def mirror_repository(repo: Repository, mirror_host: str) -> Repository | None:
    """The repository on ``registry_mirror.host`` to try first, or None (SPEC B.3.5).

    Only Docker Hub repositories are mirrored; the path keeps its implicit ``library/``
    (``alpine`` -> ``<host>/library/alpine``). Callers wrap errors in ``failed to resolve mirror``.
    """
    if repo.registry != DEFAULT_REGISTRY:
        return None
    try:
        return repo.with_registry(parse_registry(mirror_host))
    except RequestError as err:
        raise err.wrap("parse mirror registry") from None


def _check_path(path: str) -> None:
    if not 2 <= len(path) <= 255:
        raise RequestError(f"repository must be between 2 and 255 characters in length: {path}")
    if not set(path) <= _REPOSITORY_CHARSET:
        raise RequestError(f"repository can only contain the characters `{REPOSITORY_CHARS}`: {path}")


def _is_rfc3986_authority(text: str) -> bool:
    """True when Go's ``url.Parse("//" + text).Host == text``.

    That holds for ``host``, ``host:port`` (digits only, possibly empty) and ``[ipv6]:port``; it
    fails for userinfo, paths, queries, fragments, percent escapes and characters Go escapes.
    Non-ASCII letters pass (Go leaves bytes >= 0x80 alone in a host).
    """
    if any(ord(c) < 0x80 and c not in _HOST_CHARSET for c in text):
        return False
    if text.startswith("["):
        end = text.rfind("]")
        if end < 0 or not _valid_optional_port(text[end + 1 :]):
            return False
        literal = text[1:end]
        # Newer Go accepts only an IPv6 address between brackets; a zone (``%25``) never
        # round-trips because Go unescapes it, and ``%`` is already rejected above.
        address = ip_literal(literal)
        return address is not None and address.version == 6
    colon = text.rfind(":")
    return colon < 0 or _valid_optional_port(text[colon:])


def _valid_optional_port(port: str) -> bool:
    return port == "" or (port[0] == ":" and all("0" <= c <= "9" for c in port[1:]))


def split_host_port(registry: str) -> tuple[str, str]:
    """``("host", "port")`` of an authority; the port is ``""`` when absent, brackets are removed."""
    if registry.startswith("["):
        end = registry.find("]")
        if end >= 0:
            return registry[1:end], registry[end + 2 :] if registry[end + 1 : end + 2] == ":" else ""
    host, sep, port = registry.rpartition(":")
    if not sep or ":" in host:  # no port, or a bare IPv6 address such as ``::1``
        return registry, ""
    return host, port


def is_loopback(registry: str) -> bool:
    """True for ``localhost``, ``*.localhost``, 127.0.0.0/8 and ``::1``, with or without a port."""
    host, _ = split_host_port(registry)
    host = host.lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    address = ip_literal(host)
    return address is not None and address.is_loopback


def is_rfc1918(registry: str) -> bool:
    """True for a private IPv4 address (10/8, 172.16/12, 192.168/16), with or without a port."""
    host, _ = split_host_port(registry)
    address = ip_literal(host)
    if address is None or address.version != 4:
        return False
    import ipaddress  # loaded by ip_literal already

    return any(address in ipaddress.IPv4Network(network) for network in _RFC1918)


_RFC1918 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


def ip_literal(host: str) -> IPv4Address | IPv6Address | None:
    """The address ``host`` (no port, no brackets) spells, or None when it is a name.

    ``ipaddress`` is imported only for a host that could be an address (5.2 M instructions, 2.4%
    of a tag-mode ``check``, that a registry named by its host name never needs): every IPv6
    literal has a colon, which no name has once the port is split off, and an IPv4 literal is
    digits and dots only (``strip`` leaves nothing of it).
    """
    if ":" not in host and host.strip("0123456789."):
        return None
    import ipaddress

    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def plain_http_allowed(registry: str, *, insecure: bool) -> bool:
    """May the registry be spoken to over plain HTTP (after trying HTTPS first)?

    SPEC B.6.1 step 3 and A.2.5: with ``insecure``, always; otherwise loopback registries and
    RFC 1918 addresses (as Go does). Every other registry is HTTPS only.
    """
    return insecure or is_loopback(registry) or is_rfc1918(registry)
