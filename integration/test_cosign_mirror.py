"""Cosign verification through the Docker Hub mirror: what was signed is Docker Hub's name.

"Docker Hub" is a fake registry answering ``index.docker.io`` through its impersonation proxy; the
mirror is another fake registry on loopback (as in ``test_mirror.py``). A mirror serves the
origin's signature tags, whose payloads name ``index.docker.io/library/alpine``, so a signature
found on the mirror verifies; a mirror without it yields nothing and check falls back to Docker Hub.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fake_registry import FakeRegistry, File, cosign_sign
from integration.resource_cli import Result, base_env, run_resource
from integration.routing_worlds import proxy_env

HUB_PATH = "library/alpine"
SIGNED_AS = "index.docker.io/library/alpine"


@pytest.fixture
def hub() -> Iterator[FakeRegistry]:
    with FakeRegistry(proxy=True) as registry:
        yield registry


@pytest.fixture
def mirror() -> Iterator[FakeRegistry]:
    with FakeRegistry() as registry:
        yield registry


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def run(hub: FakeRegistry, tmp_path: Path, command: str, request: dict[str, Any], *args: str) -> Result:
    return run_resource(command, request, *args, env=base_env(tmp_path, proxy_env(hub, no_proxy="127.0.0.1")))


def source(hub: FakeRegistry, mirror: FakeRegistry, key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    return {
        "repository": "alpine",
        "tag": "3.19",
        "ca_certs": [hub.ca_pem],
        "registry_mirror": {"host": mirror.host},
        "cosign": {"public_keys": [public_pem(key)]},
    }


def test_a_signature_on_the_mirror_verifies_against_docker_hubs_name(hub, mirror, key, tmp_path):
    digest = mirror.push_image(HUB_PATH, "3.19", layers=[{"f": File("x\n")}]).digest
    cosign_sign(mirror, HUB_PATH, "3.19", key, docker_reference=SIGNED_AS)
    result = run(hub, tmp_path, "check", {"source": source(hub, mirror, key)})
    assert result.json == [{"tag": "3.19", "digest": digest}]
    assert hub.requests.all() == []


def test_an_unsigned_mirror_falls_back_to_the_signed_origin(hub, mirror, key, tmp_path):
    digest = hub.push_image(HUB_PATH, "3.19", layers=[{"f": File("x\n")}]).digest
    cosign_sign(hub, HUB_PATH, "3.19", key, docker_reference=SIGNED_AS)
    mirror.push_image(HUB_PATH, "3.19", layers=[{"f": File("x\n")}])
    result = run(hub, tmp_path, "check", {"source": source(hub, mirror, key)})
    assert result.json == [{"tag": "3.19", "digest": digest}]
    lines = result.stderr.splitlines()
    assert (
        f"INFO skipping 3.19 ({digest}): no signature: the tag {digest.replace(':', '-')}.sig does not exist"
        in lines
    )
    assert f"WARNING checking mirror {mirror.host}/{HUB_PATH} failed: tag not found" in lines


def test_in_through_the_mirror_verifies_and_names_the_key(hub, mirror, key, tmp_path):
    digest = mirror.push_image(HUB_PATH, "3.19", layers=[{"f": File("from the mirror\n")}]).digest
    cosign_sign(mirror, HUB_PATH, "3.19", key, docker_reference=f"docker.io/{HUB_PATH}:3.19")
    dest = tmp_path / "dest"
    dest.mkdir()
    request = {"source": source(hub, mirror, key), "version": {"tag": "3.19", "digest": digest}}
    result = run(hub, tmp_path, "in", request, str(dest))
    assert result.json["metadata"][-1]["name"] == "cosign_key_fingerprint"
    assert (dest / "rootfs" / "f").read_text() == "from the mirror\n"
    assert hub.requests.all() == []
