"""Repository keys: Notary's encrypted key files, key ids, signatures, canonical JSON."""

import base64
import json
import os
import re
import shutil
import subprocess
import warnings

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from registry_image_resource.trust.canonical import CanonicalJSONError, canonical_json
from registry_image_resource.trust.keys import (
    KeyFileError,
    PublicKey,
    SigningKey,
    key_id,
    load_repository_key,
    new_root_key,
    parse_pem,
    verify_signature,
)

PASSPHRASE = "correct horse battery"


def exactly(text):
    return f"^{re.escape(text)}$"


@pytest.fixture(scope="module")
def notary_key(tmp_path_factory):
    """A targets key made by the real notary client: (file text, file name stem)."""
    if shutil.which("notary") is None:
        if os.environ.get("REQUIRE_REAL_SERVERS", "").strip().lower() in ("1", "true", "yes"):
            pytest.fail("the notary client is not installed (apt-get install notary)")
        pytest.skip("the notary client is not installed")
    trust_dir = tmp_path_factory.mktemp("notary-trust")
    env = {**os.environ, "NOTARY_TARGETS_PASSPHRASE": PASSPHRASE}
    subprocess.run(
        ["notary", "-d", str(trust_dir), "key", "generate", "ecdsa", "--role", "targets"],
        env=env,
        check=True,
        capture_output=True,
    )
    (path,) = (trust_dir / "private").glob("*.key")
    return path.read_text(), path.stem


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": [True, False, None]}, b'{"a":[true,false,null],"b":1}'),
        ({"x": 2.0}, b'{"x":2}'),
        ('q"b\\<&>\n\x01', b'"q\\"b\\\\<&>\n\x01"'),
        ({"\u00e9": 1, "Z": 2}, '{"Z":2,"\u00e9":1}'.encode()),
    ],
)
def test_canonical_json_matches_notary(value, expected):
    assert canonical_json(value) == expected


def test_canonical_json_refuses_fractions():
    with pytest.raises(CanonicalJSONError, match=exactly("canonical JSON cannot encode the number 0.5")):
        canonical_json({"x": 0.5})


def test_real_notary_key_decrypts_and_its_id_is_the_file_name(notary_key):
    text, stem = notary_key
    key = load_repository_key(text, PASSPHRASE)
    assert (key.key_id, key.role, key.gun) == (stem, "targets", "")
    assert key.public.keytype == "ecdsa"


def test_cryptography_alone_refuses_the_notary_key(notary_key):
    """Why keys.py decrypts PBES2 itself (SPEC A.4)."""
    text, _ = notary_key
    body = "\n".join(line for line in text.splitlines() if ":" not in line)
    with pytest.raises(ValueError, match=r"^Invalid key$"):
        serialization.load_pem_private_key(body.encode(), PASSPHRASE.encode())


def test_wrong_passphrase_is_reported_without_the_passphrase(notary_key):
    text, _ = notary_key
    with pytest.raises(KeyFileError) as caught:
        load_repository_key(text, "not-the-passphrase")
    assert str(caught.value) == "wrong passphrase"


def test_headers_are_read_from_the_pem_block(notary_key):
    text, _ = notary_key
    block = parse_pem(text.replace("role: targets", "role: targets\ngun: example.com/app"))
    assert block.kind == "ENCRYPTED PRIVATE KEY"
    assert block.headers == {"role": "targets", "gun": "example.com/app"}


def test_standard_encrypted_pkcs8_keys_load_too():
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE.encode()),
    ).decode()
    key = load_repository_key(pem, PASSPHRASE)
    assert key.private.private_numbers() == private.private_numbers()


def test_not_a_pem_block():
    with pytest.raises(KeyFileError, match=exactly("no PEM block found")):
        load_repository_key("just text", PASSPHRASE)


def test_key_id_is_sha256_of_the_canonical_key_object():
    document = {
        "keytype": "ecdsa",
        "keyval": {"private": None, "public": base64.b64encode(b"\x01\x02").decode()},
    }
    import hashlib

    expected = hashlib.sha256(
        json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    assert key_id("ecdsa", b"\x01\x02") == expected


def test_signatures_are_raw_r_s_over_sha256():
    key = SigningKey.from_private(ec.generate_private_key(ec.SECP256R1()))
    signature = key.sign(b"message")
    raw = base64.b64decode(signature["sig"])
    assert (signature["keyid"], signature["method"], len(raw)) == (key.key_id, "ecdsa", 64)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key.private.public_key().verify(der, b"message", ec.ECDSA(hashes.SHA256()))
    assert verify_signature(key.public, "ecdsa", raw, b"message")
    assert not verify_signature(key.public, "ecdsa", raw, b"other message")


def test_root_keys_are_certificates_named_after_the_gun():
    from datetime import UTC, datetime

    from cryptography import x509

    root = new_root_key("registry.example/team/app", datetime.now(UTC))
    certificate = x509.load_pem_x509_certificate(root.public.public)
    assert root.public.keytype == "ecdsa-x509"
    assert certificate.subject.rfc4514_string() == "CN=registry.example/team/app"
    assert verify_signature(root.public, "ecdsa", base64.b64decode(root.sign(b"m")["sig"]), b"m")


def test_root_certificates_carry_gun_longer_than_64_characters():
    from datetime import UTC, datetime

    from cryptography import x509
    from cryptography.x509.oid import NameOID

    gun = "127.0.0.1:5000/" + "a" * 90
    root = new_root_key(gun, datetime.now(UTC))
    certificate = x509.load_pem_x509_certificate(root.public.public)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # cryptography notes the name is over 64
        assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == gun


def test_unknown_key_types_never_verify():
    assert not verify_signature(PublicKey("rsa", b"x"), "rsapss", b"sig", b"m")
