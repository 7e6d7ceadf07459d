"""Cosign's payload, the .sig tag and its manifest, and deciding whether a digest is signed."""

import base64
import hashlib
import json
import re

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from fake_registry import cosign_sign
from registry_image_resource.trust.cosign import (
    SignatureError,
    SignedPayload,
    Unverified,
    Verified,
    append_signature,
    build_payload,
    parse_payload,
    parse_signature_manifest,
    sign_digest,
    signature_tag,
    verify_signatures,
)
from registry_image_resource.trust.cosign.keys import PrivateKey
from registry_image_resource.trust.cosign.payload import PayloadError, same_repository

DIGEST = "sha256:" + "ab" * 32
OTHER_DIGEST = "sha256:" + "cd" * 32
REPO = "registry.example.com:5000/team/app"
TAG = "sha256-" + "ab" * 32 + ".sig"


def exactly(text):
    return f"^{re.escape(text)}$"


def new_key():
    key = ec.generate_private_key(ec.SECP256R1())
    return PrivateKey.of(key)


@pytest.fixture(scope="module")
def key():
    return new_key()


@pytest.fixture(scope="module")
def other_key():
    return new_key()


def signed(key, payload):
    return SignedPayload(payload, base64.b64encode(key.sign(payload)).decode())


# --- payload -----------------------------------------------------------------------------------


def test_payload_is_byte_identical_to_cosigns():
    assert build_payload(REPO, DIGEST) == (
        b'{"critical":{"identity":{"docker-reference":"registry.example.com:5000/team/app"},'
        b'"image":{"docker-manifest-digest":"sha256:' + b"ab" * 32 + b'"},'
        b'"type":"cosign container image signature"},"optional":null}'
    )


def test_payload_refuses_a_non_sha256_digest():
    with pytest.raises(ValueError, match="not a sha256 or sha512 digest"):
        build_payload(REPO, "sha512:00")


def test_parse_payload_reads_cosigns_payload():
    payload = parse_payload(build_payload(REPO, DIGEST))
    assert (payload.docker_reference, payload.manifest_digest) == (REPO, DIGEST)


def test_parse_payload_reads_containers_image_optional_fields():
    data = json.dumps(
        {
            "critical": {
                "type": "cosign container image signature",
                "image": {"docker-manifest-digest": DIGEST},
                "identity": {"docker-reference": REPO + ":1.0"},
            },
            "optional": {"creator": "containers/image 5.23.1", "timestamp": 1700000000},
        }
    ).encode()
    assert parse_payload(data).docker_reference == REPO + ":1.0"


def critical(**changes):
    value = {
        "type": "cosign container image signature",
        "image": {"docker-manifest-digest": DIGEST},
        "identity": {"docker-reference": REPO},
    }
    value.update(changes)
    return value


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"critical": critical()}, 'the payload has no "optional" field'),
        (
            {"critical": critical(), "optional": None, "extra": 1},
            'the payload has an unexpected field "extra"',
        ),
        (
            {"critical": critical(type="atomic container signature"), "optional": None},
            '"critical.type" is "atomic container signature", not "cosign container image signature"',
        ),
        (
            {"critical": critical(image={}), "optional": None},
            '"critical.image" has no "docker-manifest-digest" field',
        ),
        (
            {"critical": critical(image={"docker-manifest-digest": 1}), "optional": None},
            '"critical.image.docker-manifest-digest" is not a string',
        ),
        (
            {"critical": critical(identity={"docker-reference": REPO, "x": 1}), "optional": None},
            '"critical.identity" has an unexpected field "x"',
        ),
        ({"critical": critical(), "optional": []}, '"optional" is neither null nor an object'),
        ({"critical": critical(), "optional": {"timestamp": 1.5}}, '"optional.timestamp" is not an integer'),
        ({"critical": critical(), "optional": {"timestamp": "now"}}, '"optional.timestamp" is not a number'),
        ({"critical": critical(), "optional": {"creator": 7}}, '"optional.creator" is not a string'),
        ([], "the payload is not an object"),
    ],
)
def test_parse_payload_is_strict(document, reason):
    with pytest.raises(PayloadError, match=exactly(reason)):
        parse_payload(json.dumps(document).encode())


def test_parse_payload_refuses_duplicate_keys():
    data = build_payload(REPO, DIGEST).replace(b'"optional":null', b'"optional":null,"optional":null')
    with pytest.raises(PayloadError, match=exactly('duplicate key "optional"')):
        parse_payload(data)


def test_parse_payload_refuses_non_json():
    with pytest.raises(PayloadError, match=exactly("the payload is not JSON")):
        parse_payload(b"\xff not json")


@pytest.mark.parametrize(
    ("reference", "repository", "same"),
    [
        (REPO, REPO, True),
        (REPO + ":1.0", REPO, True),
        (REPO + "@" + DIGEST, REPO, True),
        (REPO + ":1.0@" + DIGEST, REPO, True),
        ("registry.example.com:5000/team/other", REPO, False),
        ("registry.example.com/team/app", REPO, False),
        ("docker.io/library/alpine:3", "index.docker.io/library/alpine", True),
        ("index.docker.io/library/alpine", "index.docker.io/library/alpine", True),
        ("alpine", "index.docker.io/library/alpine", True),
        ("alpine:3", "index.docker.io/library/alpine", True),
        ("docker.io/alpine", "index.docker.io/library/alpine", True),
        ("docker.io/other/alpine", "index.docker.io/library/alpine", False),
        ("", REPO, False),
        ("UPPER/case", REPO, False),
    ],
)
def test_same_repository(reference, repository, same):
    assert same_repository(reference, repository) is same


# --- the signature tag and manifest -------------------------------------------------------------


def test_signature_tag_replaces_the_colon_and_adds_sig():
    assert signature_tag(DIGEST) == TAG


def test_signature_tag_of_a_sha512_digest():
    assert signature_tag("sha512:" + "ab" * 64) == "sha512-" + "ab" * 64 + ".sig"


@pytest.mark.parametrize("digest", ["sha256:abc", "sha512:" + "ab" * 32, "sha256:" + "AB" * 32, "latest"])
def test_signature_tag_refuses_other_digests(digest):
    with pytest.raises(ValueError, match="not a sha256 or sha512 digest"):
        signature_tag(digest)


def test_new_signature_manifest_has_one_layer_with_the_payload_and_annotation(key):
    payload, signature = sign_digest(key, REPO, DIGEST)
    built = append_signature(None, payload, signature)
    manifest = json.loads(built.manifest)
    payload_digest = "sha256:" + hashlib.sha256(payload).hexdigest()
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["layers"] == [
        {
            "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
            "size": len(payload),
            "digest": payload_digest,
            "annotations": {"dev.cosignproject.cosign/signature": signature},
        }
    ]
    config = json.loads(built.blobs[manifest["config"]["digest"]])
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert config == {
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [payload_digest]},
        "config": {},
    }
    assert built.blobs[payload_digest] == payload
    assert built.added


def test_appending_keeps_existing_layers_verbatim(key, other_key):
    keyless = {
        "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
        "size": 3,
        "digest": OTHER_DIGEST,
        "annotations": {
            "dev.cosignproject.cosign/signature": "c2ln",
            "dev.sigstore.cosign/certificate": "PEM",
        },
    }
    existing = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {},
            "layers": [keyless],
            "annotations": {"org.example": "kept"},
        }
    ).encode()
    payload, signature = sign_digest(other_key, REPO, DIGEST)
    built = append_signature(parse_signature_manifest(existing, TAG), payload, signature)
    manifest = json.loads(built.manifest)
    assert manifest["layers"][0] == keyless
    assert manifest["layers"][1]["annotations"] == {"dev.cosignproject.cosign/signature": signature}
    assert manifest["annotations"] == {"org.example": "kept"}
    config = json.loads(built.blobs[manifest["config"]["digest"]])
    assert config["rootfs"]["diff_ids"] == [OTHER_DIGEST, manifest["layers"][1]["digest"]]


def test_appending_the_same_signature_again_adds_nothing(key):
    payload, signature = sign_digest(key, REPO, DIGEST)
    first = append_signature(None, payload, signature)
    again = append_signature(parse_signature_manifest(first.manifest, TAG), payload, signature)
    assert not again.added
    assert again.manifest == first.manifest


def test_signing_twice_with_one_key_appends_a_second_layer(key):
    first = append_signature(None, *sign_digest(key, REPO, DIGEST))
    second = append_signature(parse_signature_manifest(first.manifest, TAG), *sign_digest(key, REPO, DIGEST))
    assert len(json.loads(second.manifest)["layers"]) == 2


def test_parse_signature_manifest_reads_layers(key):
    payload, signature = sign_digest(key, REPO, DIGEST)
    parsed = parse_signature_manifest(append_signature(None, payload, signature).manifest, TAG)
    assert [(layer.size, layer.signature) for layer in parsed.layers] == [(len(payload), signature)]


def test_parse_signature_manifest_reads_a_docker_media_type_manifest():
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "layers": [{"mediaType": "x", "size": 1, "digest": DIGEST}],
        }
    ).encode()
    assert parse_signature_manifest(body, TAG).layers[0].signature is None


LAYER = {"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "size": 1, "digest": DIGEST}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\x00garbage", "the manifest is not JSON"),
        (b"[]", "the manifest is not a JSON object"),
        (
            json.dumps({"mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}).encode(),
            "the manifest is a application/vnd.oci.image.index.v1+json, not an image manifest",
        ),
        (json.dumps({"schemaVersion": 2}).encode(), 'the manifest has no "layers" list'),
        (json.dumps({"layers": ["x"]}).encode(), "layer 1 is not an object"),
        (
            json.dumps({"layers": [LAYER, {**LAYER, "digest": "sha256:zz"}]}).encode(),
            "layer 2 has no valid sha256 digest",
        ),
        (json.dumps({"layers": [{**LAYER, "size": -1}]}).encode(), "layer 1 has no valid size"),
        (json.dumps({"layers": [{**LAYER, "size": True}]}).encode(), "layer 1 has no valid size"),
        (json.dumps({"layers": [{**LAYER, "mediaType": None}]}).encode(), "layer 1 has no media type"),
        (
            json.dumps({"layers": [{**LAYER, "annotations": []}]}).encode(),
            "layer 1's annotations are not an object",
        ),
        (
            json.dumps(
                {"layers": [{**LAYER, "annotations": {"dev.cosignproject.cosign/signature": 5}}]}
            ).encode(),
            "layer 1's dev.cosignproject.cosign/signature annotation is not a string",
        ),
        (json.dumps({"layers": [LAYER] * 101}).encode(), "101 signatures, more than the 100 accepted"),
        (
            json.dumps({"layers": [], "annotations": {"a": 1}}).encode(),
            'the manifest\'s "annotations" are not a map of strings',
        ),
    ],
)
def test_parse_signature_manifest_names_the_tag_and_the_fault(body, reason):
    with pytest.raises(SignatureError, match=exactly(f"signature tag {TAG}: {reason}")):
        parse_signature_manifest(body, TAG)


# --- verification ----------------------------------------------------------------------------------


def test_verified_by_the_key_that_signed(key, other_key):
    payload = build_payload(REPO, DIGEST)
    result = verify_signatures([signed(key, payload)], [other_key.public, key.public], REPO, DIGEST)
    assert result == Verified(key.public, 1)


def test_two_signatures_by_two_keys_either_key_verifies(key, other_key):
    payload = build_payload(REPO, DIGEST)
    layers = [signed(key, payload), signed(other_key, payload)]
    assert verify_signatures(layers, [other_key.public], REPO, DIGEST) == Verified(other_key.public, 2)
    assert verify_signatures(layers, [key.public], REPO, DIGEST) == Verified(key.public, 1)


def test_signature_by_another_key(key, other_key):
    result = verify_signatures([signed(other_key, build_payload(REPO, DIGEST))], [key.public], REPO, DIGEST)
    assert result == Unverified("signature 1 does not verify with any key in source.cosign.public_keys")


def test_tampered_payload(key):
    layer = signed(key, build_payload(REPO, DIGEST))
    tampered = SignedPayload(layer.payload.replace(b"team/app", b"team/apq"), layer.signature)
    assert verify_signatures([tampered], [key.public], REPO, DIGEST) == Unverified(
        "signature 1 does not verify with any key in source.cosign.public_keys"
    )


def test_payload_for_another_digest(key):
    result = verify_signatures([signed(key, build_payload(REPO, OTHER_DIGEST))], [key.public], REPO, DIGEST)
    assert result == Unverified(
        f"signature 1 (key {key.public.fingerprint}) is for digest {OTHER_DIGEST}, not this one"
    )


def test_payload_for_another_repository(key):
    other = "registry.example.com:5000/team/other"
    result = verify_signatures([signed(key, build_payload(other, DIGEST))], [key.public], REPO, DIGEST)
    assert result == Unverified(
        f"signature 1 (key {key.public.fingerprint}) is for repository {other}, not {REPO}"
    )


def test_signed_payload_that_is_invalid(key):
    result = verify_signatures([signed(key, b'{"critical": 1}')], [key.public], REPO, DIGEST)
    assert result == Unverified(
        f'signature 1 (key {key.public.fingerprint}) signs an invalid payload: the payload has no "optional" field'
    )


def test_missing_annotation():
    result = verify_signatures([SignedPayload(b"{}", None)], [], REPO, DIGEST)
    assert result == Unverified("signature 1 has no dev.cosignproject.cosign/signature annotation")


def test_annotation_not_base64(key):
    result = verify_signatures([SignedPayload(b"{}", "not base64!")], [key.public], REPO, DIGEST)
    assert result == Unverified("signature 1 is not valid base64")


def test_garbage_signature_bytes_do_not_verify(key):
    layer = SignedPayload(build_payload(REPO, DIGEST), base64.b64encode(b"\x30\x02garbage").decode())
    assert verify_signatures([layer], [key.public], REPO, DIGEST) == Unverified(
        "signature 1 does not verify with any key in source.cosign.public_keys"
    )


def test_empty_signature_manifest(key):
    assert verify_signatures([], [key.public], REPO, DIGEST) == Unverified(
        "the signature manifest has no signatures"
    )


def test_of_several_failures_the_most_telling_is_given(key, other_key):
    layers = [
        SignedPayload(b"{}", None),
        signed(other_key, build_payload(REPO, DIGEST)),
        signed(key, build_payload(REPO, OTHER_DIGEST)),
        signed(other_key, build_payload(REPO, DIGEST)),
    ]
    assert verify_signatures(layers, [key.public], REPO, DIGEST) == Unverified(
        f"none of 4 signatures verifies: signature 3 (key {key.public.fingerprint}) is for digest {OTHER_DIGEST}, not this one"
    )


def test_a_bad_layer_before_a_good_one_does_not_matter(key):
    layers = [SignedPayload(b"{}", "!!"), signed(key, build_payload(REPO, DIGEST))]
    assert verify_signatures(layers, [key.public], REPO, DIGEST) == Verified(key.public, 2)


def test_containers_image_style_payload_with_tag_verifies(key):
    data = json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": REPO + ":1.0"},
                "image": {"docker-manifest-digest": DIGEST},
                "type": "cosign container image signature",
            },
            "optional": {"creator": "containers/image", "timestamp": 1700000000},
        }
    ).encode()
    assert verify_signatures([signed(key, data)], [key.public], REPO, DIGEST) == Verified(key.public, 1)


# --- against the fake registry's own, independently written signing -----------------------------


def stored_layers(registry, repository, tag):
    parsed = parse_signature_manifest(registry.manifest(repository, tag).body, tag)
    return [
        SignedPayload(registry.blob(repository, layer.digest), layer.signature) for layer in parsed.layers
    ]


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (None, None),
        ("tampered-payload", "signature 1 does not verify with any key in source.cosign.public_keys"),
        ("garbage-signature", "signature 1 does not verify with any key in source.cosign.public_keys"),
        ("no-annotation", "signature 1 has no dev.cosignproject.cosign/signature annotation"),
    ],
)
def test_signatures_made_by_the_fake_registry(fake_registry, key, fault, reason):
    fake_registry.push_image("team/app", "1.0")
    digest = fake_registry.manifest("team/app", "1.0").digest
    tag = cosign_sign(fake_registry, "team/app", "1.0", key.key, fault=fault)
    result = verify_signatures(
        stored_layers(fake_registry, "team/app", tag), [key.public], f"{fake_registry.host}/team/app", digest
    )
    assert result == (Verified(key.public, 1) if reason is None else Unverified(reason))
