"""Signatures on a registry (the fake one): pushing, appending, reading and verifying a digest."""

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from fake_registry import cosign_sign
from registry_image_resource.errors import RegistryError
from registry_image_resource.registry.client import ConnectOptions, RegistryClient
from registry_image_resource.registry.reference import Repository
from registry_image_resource.trust.cosign import SignatureError, Unverified, Verified, append_signature
from registry_image_resource.trust.cosign.keys import PrivateKey
from registry_image_resource.trust.cosign.remote import push_signature, read_signature_manifest, verify_digest
from registry_image_resource.trust.cosign.signatures import MAX_PAYLOAD_SIZE


def new_key():
    key = ec.generate_private_key(ec.SECP256R1())
    return PrivateKey.of(key)


@pytest.fixture(scope="module")
def key():
    return new_key()


@pytest.fixture(scope="module")
def other_key():
    return new_key()


@pytest.fixture
def client(fake_registry):
    with RegistryClient.connect(
        Repository(fake_registry.host, "team/app"), ConnectOptions(), "push,pull", env={"TEST": "true"}
    ) as client:
        yield client


@pytest.fixture
def digest(fake_registry):
    fake_registry.push_image("team/app", "1.0")
    return fake_registry.manifest("team/app", "1.0").digest


def sig_tag(digest):
    return digest.replace(":", "-") + ".sig"


def test_pushed_signature_verifies(client, key, digest):
    pushed = push_signature(client, key, digest)
    assert (pushed.tag, pushed.added) == (sig_tag(digest), True)
    assert verify_digest(client, [key.public], digest) == Verified(key.public, 1)


def test_pushed_signature_is_in_the_registry_as_cosign_writes_it(client, fake_registry, key, digest):
    push_signature(client, key, digest)
    stored = fake_registry.manifest("team/app", sig_tag(digest))
    assert stored.media_type == "application/vnd.oci.image.manifest.v1+json"
    [layer] = stored.json()["layers"]
    assert fake_registry.blob("team/app", layer["digest"]) == (
        b'{"critical":{"identity":{"docker-reference":"'
        + fake_registry.host.encode()
        + b'/team/app"},"image":{"docker-manifest-digest":"'
        + digest.encode()
        + b'"},"type":"cosign container image signature"},"optional":null}'
    )


def test_push_appends_to_an_existing_signature(client, fake_registry, key, other_key, digest):
    cosign_sign(fake_registry, "team/app", "1.0", other_key.key)
    first = fake_registry.manifest("team/app", sig_tag(digest)).json()["layers"][0]
    push_signature(client, key, digest)
    layers = fake_registry.manifest("team/app", sig_tag(digest)).json()["layers"]
    assert len(layers) == 2
    assert layers[0] == first
    assert verify_digest(client, [key.public], digest) == Verified(key.public, 2)
    assert verify_digest(client, [other_key.public], digest) == Verified(other_key.public, 1)


def test_signing_again_uploads_only_the_new_config(client, fake_registry, key, digest):
    push_signature(client, key, digest)
    fake_registry.requests.clear()
    push_signature(client, key, digest)
    layers = fake_registry.manifest("team/app", sig_tag(digest)).json()["layers"]
    assert len(layers) == 2
    assert layers[0]["digest"] == layers[1]["digest"]  # the same payload, signed twice
    posts = [line for line in fake_registry.requests.summary() if line.startswith("POST")]
    assert posts == ["POST /v2/team/app/blobs/uploads/ 202"]


def test_unsigned_digest(client, digest, key):
    assert verify_digest(client, [key.public], digest) == Unverified(
        f"no signature: the tag {sig_tag(digest)} does not exist"
    )


def test_signature_by_another_key(client, fake_registry, key, other_key, digest):
    cosign_sign(fake_registry, "team/app", "1.0", other_key.key)
    assert verify_digest(client, [key.public], digest) == Unverified(
        f"signature tag {sig_tag(digest)}: signature 1 does not verify with any key in source.cosign.public_keys"
    )


def test_payload_for_another_repository(client, fake_registry, key, digest):
    cosign_sign(
        fake_registry, "team/app", "1.0", key.key, docker_reference=f"{fake_registry.host}/team/other"
    )
    assert verify_digest(client, [key.public], digest) == Unverified(
        f"signature tag {sig_tag(digest)}: signature 1 (key {key.public.fingerprint}) is for repository "
        f"{fake_registry.host}/team/other, not {fake_registry.host}/team/app"
    )


def test_garbage_signature_manifest_is_unverified_naming_the_tag(client, fake_registry, key, digest):
    fake_registry.push_manifest("team/app", b"[1, 2]", "application/octet-stream", sig_tag(digest))
    assert verify_digest(client, [key.public], digest) == Unverified(
        f"signature tag {sig_tag(digest)}: the manifest is not a JSON object"
    )


def test_oversized_payload_is_not_downloaded(client, fake_registry, key, digest):
    layer = {
        "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
        "size": MAX_PAYLOAD_SIZE + 1,
        "digest": "sha256:" + "0" * 64,
        "annotations": {"dev.cosignproject.cosign/signature": "AA=="},
    }
    config = {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "size": 2,
        "digest": "sha256:" + "1" * 64,
    }
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config,
            "layers": [layer],
        }
    )
    fake_registry.push_manifest(
        "team/app", body.encode(), "application/vnd.oci.image.manifest.v1+json", sig_tag(digest)
    )
    fake_registry.requests.clear()
    assert verify_digest(client, [key.public], digest) == Unverified(
        f"signature tag {sig_tag(digest)}: layer 1 is larger than {MAX_PAYLOAD_SIZE} bytes"
    )
    assert [line for line in fake_registry.requests.summary() if "/blobs/" in line] == []


def test_push_onto_a_garbage_signature_tag_fails_naming_the_tag(client, fake_registry, key, digest):
    fake_registry.push_manifest("team/app", b"{}", "application/octet-stream", sig_tag(digest))
    with pytest.raises(
        SignatureError, match=f'^signature tag {sig_tag(digest)}: the manifest has no "layers" list$'
    ):
        push_signature(client, key, digest)


def test_read_signature_manifest_of_an_unsigned_digest_is_none(client, digest):
    assert read_signature_manifest(client, digest) is None


def test_registry_failure_while_reading_raises(client, fake_registry, key, digest):
    fake_registry.faults.status(403, r"\.sig$", method="GET", times=10)
    with pytest.raises(RegistryError, match="403"):
        verify_digest(client, [key.public], digest)


def test_a_payload_exactly_as_cosign_writes_it_is_not_downloaded(client, fake_registry, key, digest):
    cosign_sign(fake_registry, "team/app", "1.0", key.key)
    fake_registry.requests.clear()
    assert verify_digest(client, [key.public], digest) == Verified(key.public, 1)
    assert fake_registry.requests.summary() == [f"GET /v2/team/app/manifests/{sig_tag(digest)} 200"]


def test_any_other_payload_is_downloaded_and_verified(client, fake_registry, key, digest):
    # containers/image writes the tag into the reference and adds optional fields
    payload = json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": f"{fake_registry.host}/team/app:1.0"},
                "image": {"docker-manifest-digest": digest},
                "type": "cosign container image signature",
            },
            "optional": {"creator": "containers/image", "timestamp": 1700000000},
        }
    ).encode()
    built = append_signature(None, payload, base64.b64encode(key.sign(payload)).decode())
    for blob in built.blobs.values():
        fake_registry.push_blob("team/app", blob)
    fake_registry.push_manifest("team/app", built.manifest, built.media_type, sig_tag(digest))
    fake_registry.requests.clear()
    assert verify_digest(client, [key.public], digest) == Verified(key.public, 1)
    payload_digest = json.loads(built.manifest)["layers"][0]["digest"]
    assert f"GET /v2/team/app/blobs/{payload_digest} 200" in fake_registry.requests.summary()


def test_a_digest_of_another_algorithm_is_unverified_without_a_request(client, fake_registry, key):
    fake_registry.requests.clear()
    assert verify_digest(client, [key.public], "blake3:" + "0" * 64) == Unverified(
        "cosign signs sha256 and sha512 digests only"
    )
    assert fake_registry.requests.summary() == []
