"""cosign_sign: signatures as cosign stores them, appended on re-signing, and bad ones on purpose."""

import base64
import hashlib
import json
import urllib.request

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from fake_registry import FakeRegistry, cosign_sign


@pytest.fixture(scope="module")
def registry():
    with FakeRegistry() as reg:
        yield reg


@pytest.fixture
def image(registry):
    registry.clear()
    return registry.push_image("team/app", "1.0")


@pytest.fixture(scope="module")
def key():
    return ec.generate_private_key(ec.SECP256R1())


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sig_tag(digest):
    return "sha256-" + digest.removeprefix("sha256:") + ".sig"


def layers(registry, tag):
    return registry.manifest("team/app", tag).json()["layers"]


def verifies(key, layer, payload):
    signature = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
    try:
        key.public_key().verify(signature, payload, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def test_sign_stores_the_sig_tag_with_cosigns_payload(registry, image, key):
    digest = registry.manifest("team/app", "1.0").digest
    tag = cosign_sign(registry, "team/app", "1.0", key)
    assert tag == sig_tag(digest)
    [layer] = layers(registry, tag)
    payload = registry.blob("team/app", layer["digest"])
    assert payload == (
        b'{"critical":{"identity":{"docker-reference":"' + registry.host.encode() + b'/team/app"},'
        b'"image":{"docker-manifest-digest":"' + digest.encode() + b'"},'
        b'"type":"cosign container image signature"},"optional":null}'
    )
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    assert layer["size"] == len(payload)
    assert layer["digest"] == digest_of(payload)
    assert verifies(key, layer, payload)


def test_signature_manifest_is_an_oci_image_with_a_diff_id_per_layer(registry, image, key):
    tag = cosign_sign(registry, "team/app", "1.0", key)
    stored = registry.manifest("team/app", tag)
    manifest = stored.json()
    assert stored.media_type == "application/vnd.oci.image.manifest.v1+json"
    config = json.loads(registry.blob("team/app", manifest["config"]["digest"]))
    assert config["rootfs"] == {"type": "layers", "diff_ids": [manifest["layers"][0]["digest"]]}


def test_signing_again_appends_a_layer_and_keeps_the_first(registry, image, key):
    other = ec.generate_private_key(ec.SECP256R1())
    tag = cosign_sign(registry, "team/app", "1.0", key)
    first = layers(registry, tag)[0]
    cosign_sign(registry, "team/app", "1.0", other)
    stored = layers(registry, tag)
    assert len(stored) == 2
    assert stored[0] == first
    assert verifies(other, stored[1], registry.blob("team/app", stored[1]["digest"]))


def test_sign_by_digest(registry, image, key):
    digest = registry.manifest("team/app", "1.0").digest
    assert cosign_sign(registry, "team/app", digest, key) == sig_tag(digest)


def test_key_as_unencrypted_pem(registry, image, key):
    text = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tag = cosign_sign(registry, "team/app", "1.0", text.decode())
    [layer] = layers(registry, tag)
    assert verifies(key, layer, registry.blob("team/app", layer["digest"]))


def test_key_that_is_not_ecdsa_is_refused(registry, image):
    text = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(TypeError, match=r"^cosign_sign needs an ECDSA P-256 private key$"):
        cosign_sign(registry, "team/app", "1.0", text)


def test_payload_for_another_repository_and_digest(registry, image, key):
    other_digest = "sha256:" + "0" * 64
    tag = cosign_sign(
        registry, "team/app", "1.0", key, docker_reference="elsewhere/app", manifest_digest=other_digest
    )
    payload = json.loads(registry.blob("team/app", layers(registry, tag)[0]["digest"]))
    assert payload["critical"]["identity"] == {"docker-reference": "elsewhere/app"}
    assert payload["critical"]["image"] == {"docker-manifest-digest": other_digest}


def test_tampered_payload_does_not_verify(registry, image, key):
    tag = cosign_sign(registry, "team/app", "1.0", key, fault="tampered-payload")
    [layer] = layers(registry, tag)
    payload = registry.blob("team/app", layer["digest"])
    assert payload.endswith(b'"optional":{}}')
    assert not verifies(key, layer, payload)


def test_garbage_signature_does_not_verify(registry, image, key):
    tag = cosign_sign(registry, "team/app", "1.0", key, fault="garbage-signature")
    [layer] = layers(registry, tag)
    assert layer["annotations"] == {
        "dev.cosignproject.cosign/signature": base64.b64encode(b"not a signature").decode()
    }
    assert not verifies(key, layer, registry.blob("team/app", layer["digest"]))


def test_no_annotation(registry, image, key):
    tag = cosign_sign(registry, "team/app", "1.0", key, fault="no-annotation")
    assert "annotations" not in layers(registry, tag)[0]


def test_signature_is_served_over_http(registry, image, key):
    tag = cosign_sign(registry, "team/app", "1.0", key)
    request = urllib.request.Request(
        f"{registry.url}/v2/team/app/manifests/{tag}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    with urllib.request.urlopen(request) as response:
        assert response.headers["Content-Type"] == "application/vnd.oci.image.manifest.v1+json"
        layer = json.loads(response.read())["layers"][0]
    with urllib.request.urlopen(f"{registry.url}/v2/team/app/blobs/{layer['digest']}") as response:
        assert verifies(key, layer, response.read())


def test_unknown_reference_raises_the_registry_error(registry, image, key):
    from fake_registry import RegistryError

    with pytest.raises(RegistryError):
        cosign_sign(registry, "team/app", "2.0", key)
