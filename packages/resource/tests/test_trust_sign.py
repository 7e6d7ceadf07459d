"""Which Notary server and GUN a repository signs into, and request checks before any I/O."""

import re
import subprocess
import sys

import pytest

from registry_image_resource.errors import RequestError, ResourceError
from registry_image_resource.protocol.models import Source
from registry_image_resource.protocol.optional_models import ContentTrust
from registry_image_resource.registry.reference import parse_repository
from registry_image_resource.trust import sign_tags
from registry_image_resource.trust.sign import notary_gun, notary_server


def exactly(text):
    return f"^{re.escape(text)}$"


@pytest.mark.parametrize(
    ("repository", "server", "expected_server", "expected_gun"),
    [
        ("alpine", "", "https://notary.docker.io", "docker.io/library/alpine"),
        ("docker.io/team/app", "", "https://notary.docker.io", "docker.io/team/app"),
        ("index.docker.io/team/app", "", "https://notary.docker.io", "docker.io/team/app"),
        (
            "registry.example:5000/team/app",
            "",
            "https://registry.example:5000",
            "registry.example:5000/team/app",
        ),
        ("ghcr.io/o/app", "https://notary.example/", "https://notary.example", "ghcr.io/o/app"),
        ("localhost:5000/app", "https://127.0.0.1:4443", "https://127.0.0.1:4443", "localhost:5000/app"),
    ],
)
def test_server_and_gun_defaults(repository, server, expected_server, expected_gun):
    repo = parse_repository(repository)
    assert notary_server(ContentTrust(server=server), repo) == expected_server
    assert notary_gun(repo) == expected_gun


@pytest.mark.parametrize(
    "server", ["http://notary.example", "notary.example", "ftp://notary.example", "https://"]
)
def test_servers_must_be_https_unless_loopback(server):
    with pytest.raises(
        RequestError, match=exactly(f"valid https URL required for trust server, got {server}")
    ):
        notary_server(ContentTrust(server=server), parse_repository("ghcr.io/o/app"))


def test_no_content_trust_loads_no_signing_code_and_returns_none():
    # In a fresh interpreter: whether the signing code (and cryptography) got imported is the
    # observable effect of sign_tags without content_trust, next to its return value.
    program = (
        "import sys\n"
        "from registry_image_resource.protocol.models import Source\n"
        "from registry_image_resource.registry.reference import parse_repository\n"
        "from registry_image_resource.trust import sign_tags\n"
        "result = sign_tags(Source(repository='ghcr.io/o/app'), parse_repository('ghcr.io/o/app'),"
        " ['1.0'], 'sha256:' + 'a' * 64, 1)\n"
        "print(result, 'registry_image_resource.trust.sign' in sys.modules, 'cryptography' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert done.stdout == "None False False\n"


def test_an_empty_key_fails_before_any_request():
    source = Source(repository="x", content_trust=ContentTrust(server="https://127.0.0.1:1"))
    digest = "sha256:" + "a" * 64
    with pytest.raises(
        RequestError,
        match=exactly(f"image pushed as {digest}, but signing failed: content_trust.repository_key is empty"),
    ):
        sign_tags(source, parse_repository("ghcr.io/o/app"), ["1.0"], digest, 1)


def test_unsupported_scopes_are_an_error():
    source = Source(repository="x", content_trust=ContentTrust(server="https://127.0.0.1:1", scopes="admin"))
    digest = "sha256:" + "a" * 64
    with pytest.raises(
        RequestError,
        match=exactly(
            f"image pushed as {digest}, but signing failed: "
            "content_trust.scopes must be a comma list of pull, push or *, got 'admin'"
        ),
    ):
        sign_tags(source, parse_repository("ghcr.io/o/app"), ["1.0"], digest, 1)


def test_only_sha256_digests_can_be_signed():
    source = Source(repository="x", content_trust=ContentTrust(server="https://127.0.0.1:1"))
    with pytest.raises(
        ResourceError,
        match=exactly(
            "image pushed as sha512:ab, but signing failed: cannot sign digest 'sha512:ab': "
            "only sha256 digests can be signed"
        ),
    ):
        sign_tags(source, parse_repository("ghcr.io/o/app"), ["1.0"], "sha512:ab", 1)


def test_importing_the_trust_package_does_not_load_cryptography():
    import subprocess
    import sys

    code = "import sys, registry_image_resource.trust; print(sorted(m for m in sys.modules if m.startswith('cryptography')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout == "[]\n"
