"""Repository parsing, SPEC B.2.1, one row per rule; and which registries may use plain HTTP."""

from __future__ import annotations

import subprocess
import sys
from ipaddress import IPv4Address, IPv6Address

import pytest

from registry_image_resource.errors import RequestError
from registry_image_resource.registry.reference import (
    Repository,
    ip_literal,
    is_loopback,
    mirror_repository,
    parse_registry,
    parse_repository,
    plain_http_allowed,
    split_host_port,
)

CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-./"


@pytest.mark.parametrize(
    ("text", "registry", "path"),
    [
        # 2. no registry part: default registry, the whole string is the path
        ("alpine", "index.docker.io", "library/alpine"),
        ("concourse/registry-image-resource", "index.docker.io", "concourse/registry-image-resource"),
        ("a/b/c", "index.docker.io", "a/b/c"),
        # 2. a first part with "." or ":" or equal to localhost is the registry
        ("example.com/foo", "example.com", "foo"),
        ("example.com/foo/bar", "example.com", "foo/bar"),
        ("registry:5000/foo", "registry:5000", "foo"),
        ("localhost/foo", "localhost", "foo"),
        ("localhost:5000/foo", "localhost:5000", "foo"),
        ("127.0.0.1:5000/a/b", "127.0.0.1:5000", "a/b"),
        ("[::1]:5000/foo", "[::1]:5000", "foo"),
        ("[::1]/foo", "[::1]", "foo"),
        ("[::ffff:127.0.0.1]:80/foo", "[::ffff:127.0.0.1]:80", "foo"),
        # 4. Go's url.Parse("//"+reg).Host == reg: sub-delims pass, the last ":" starts the port
        ("host:1:2/foo", "host:1:2", "foo"),
        ("a~b!$&'()*+,;=.c/foo", "a~b!$&'()*+,;=.c", "foo"),
        ("ü.example/foo", "ü.example", "foo"),
        ("Example.COM/foo", "Example.COM", "foo"),
        ("registry:/foo", "registry:", "foo"),
        # 4. docker.io rewritten, and 5. library/ added for a single-component path on Docker Hub
        ("docker.io/alpine", "index.docker.io", "library/alpine"),
        ("index.docker.io/alpine", "index.docker.io", "library/alpine"),
        ("docker.io/concourse/x", "index.docker.io", "concourse/x"),
        # 3. path characters: lower case, digits, _ - . /
        ("my_image-1/x.y_z--w", "index.docker.io", "my_image-1/x.y_z--w"),
        ("ab", "index.docker.io", "library/ab"),
        ("a" * 255, "index.docker.io", "library/" + "a" * 255),
    ],
)
def test_parse_repository_accepts(text: str, registry: str, path: str) -> None:
    assert parse_repository(text) == Repository(registry, path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "a repository name must be specified"),
        ("a", "repository must be between 2 and 255 characters in length: a"),
        ("a" * 256, f"repository must be between 2 and 255 characters in length: {'a' * 256}"),
        ("example.com/a", "repository must be between 2 and 255 characters in length: a"),
        ("Alpine", f"repository can only contain the characters `{CHARS}`: Alpine"),
        ("foo/Bar", f"repository can only contain the characters `{CHARS}`: foo/Bar"),
        ("foo:latest", f"repository can only contain the characters `{CHARS}`: foo:latest"),
        ("foo@sha256:abc", f"repository can only contain the characters `{CHARS}`: foo@sha256:abc"),
        ("example.com/foo bar", f"repository can only contain the characters `{CHARS}`: foo bar"),
        ("user@example.com/foo", "registries must be valid RFC 3986 URI authorities: user@example.com"),
        ("example.com:port/foo", "registries must be valid RFC 3986 URI authorities: example.com:port"),
        ("exa mple.com/foo", "registries must be valid RFC 3986 URI authorities: exa mple.com"),
        ("example.com?x/foo", "registries must be valid RFC 3986 URI authorities: example.com?x"),
        ("example.com#x/foo", "registries must be valid RFC 3986 URI authorities: example.com#x"),
        ("ex%41mple.com/foo", "registries must be valid RFC 3986 URI authorities: ex%41mple.com"),
        ("[::1/foo", "registries must be valid RFC 3986 URI authorities: [::1"),
        ("[::1]x:5000/foo", "registries must be valid RFC 3986 URI authorities: [::1]x:5000"),
        (
            "[fe80::1%25eth0]:5000/foo",
            "registries must be valid RFC 3986 URI authorities: [fe80::1%25eth0]:5000",
        ),
        ("[not.ipv6]:5000/foo", "registries must be valid RFC 3986 URI authorities: [not.ipv6]:5000"),
        ("[127.0.0.1]:5000/foo", "registries must be valid RFC 3986 URI authorities: [127.0.0.1]:5000"),
        ("a{b}.c/foo", "registries must be valid RFC 3986 URI authorities: a{b}.c"),
        ("a\tb.c/foo", "registries must be valid RFC 3986 URI authorities: a\tb.c"),
        ("a.b\\c/foo", "registries must be valid RFC 3986 URI authorities: a.b\\c"),
    ],
)
def test_parse_repository_rejects(text: str, message: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_repository(text)
    assert str(caught.value) == message


def test_path_length_is_counted_before_characters() -> None:
    with pytest.raises(RequestError, match=r"^repository must be between 2 and 255"):
        parse_repository("A")


def test_repository_helpers() -> None:
    repo = parse_repository("localhost:5000/team/app")
    assert repo.name == "localhost:5000/team/app"
    assert str(repo) == "localhost:5000/team/app"
    assert repo.tag("1.0") == "localhost:5000/team/app:1.0"
    assert repo.digest("sha256:abc") == "localhost:5000/team/app@sha256:abc"
    assert repo.scope("push,pull") == "repository:team/app:push,pull"
    assert repo.with_registry("mirror:5000") == Repository("mirror:5000", "team/app")


@pytest.mark.parametrize(
    ("text", "registry"),
    [("", "index.docker.io"), ("docker.io", "index.docker.io"), ("mirror.local:5000", "mirror.local:5000")],
)
def test_parse_registry(text: str, registry: str) -> None:
    assert parse_registry(text) == registry


def test_parse_registry_rejects_a_url() -> None:
    with pytest.raises(RequestError) as caught:
        parse_registry("https://mirror.example.com")
    assert (
        str(caught.value) == "registries must be valid RFC 3986 URI authorities: https://mirror.example.com"
    )


@pytest.mark.parametrize(
    ("registry", "expected"),
    [
        ("example.com", ("example.com", "")),
        ("example.com:5000", ("example.com", "5000")),
        ("[::1]:5000", ("::1", "5000")),
        ("[::1]", ("::1", "")),
        ("::1", ("::1", "")),
    ],
)
def test_split_host_port(registry: str, expected: tuple[str, str]) -> None:
    assert split_host_port(registry) == expected


@pytest.mark.parametrize(
    ("registry", "loopback"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("LOCALHOST:5000", True),
        ("registry.localhost:5000", True),
        ("127.0.0.1", True),
        ("127.0.0.1:5000", True),
        ("127.1.2.3:5000", True),
        ("[::1]:5000", True),
        ("::1", True),
        ("10.0.0.1:5000", False),
        ("localhost.example.com", False),
        ("example.com", False),
        ("[::2]:5000", False),
    ],
)
def test_is_loopback(registry: str, loopback: bool) -> None:
    assert is_loopback(registry) is loopback


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", IPv4Address("127.0.0.1")),
        ("10.1.2.3", IPv4Address("10.1.2.3")),
        ("::1", IPv6Address("::1")),
        ("fe80::1%eth0", IPv6Address("fe80::1%eth0")),
        ("example.com", None),
        ("1password.com", None),
        ("1.2.3", None),
        ("12", None),
        ("1.2.3.4.5", None),
        ("", None),
        ("not:an:address", None),
    ],
)
def test_ip_literal(host: str, address: IPv4Address | IPv6Address | None) -> None:
    assert ip_literal(host) == address


def test_a_registry_host_name_does_not_import_ipaddress() -> None:
    probe = (
        "import sys\n"
        "from registry_image_resource.registry.reference import plain_http_allowed\n"
        "assert not plain_http_allowed('registry.example.com:443', insecure=False)\n"
        "print('ipaddress' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout == "False\n"


@pytest.mark.parametrize(
    ("registry", "insecure", "allowed"),
    [
        ("example.com", True, True),
        ("example.com", False, False),
        ("localhost:5000", False, True),
        ("[::1]:5000", False, True),
        ("10.1.2.3:5000", False, True),
        ("172.16.0.1", False, True),
        ("172.32.0.1", False, False),
        ("192.168.1.1:443", False, True),
        ("8.8.8.8", False, False),
    ],
)
def test_plain_http_allowed(registry: str, insecure: bool, allowed: bool) -> None:
    assert plain_http_allowed(registry, insecure=insecure) is allowed


@pytest.mark.parametrize(
    ("repository", "host", "mirror"),
    [
        ("alpine", "mirror:5000", Repository("mirror:5000", "library/alpine")),
        ("docker.io/concourse/x", "mirror.example.com", Repository("mirror.example.com", "concourse/x")),
        ("index.docker.io/library/alpine", "docker.io", Repository("index.docker.io", "library/alpine")),
        ("example.com/foo", "mirror:5000", None),
        ("localhost:5000/foo", "https://not-even-parsed", None),
    ],
)
def test_mirror_repository(repository: str, host: str, mirror: Repository | None) -> None:
    assert mirror_repository(parse_repository(repository), host) == mirror


def test_mirror_repository_rejects_a_url_as_host() -> None:
    with pytest.raises(RequestError) as caught:
        mirror_repository(parse_repository("alpine"), "https://mirror")
    assert (
        str(caught.value)
        == "parse mirror registry: registries must be valid RFC 3986 URI authorities: https://mirror"
    )
