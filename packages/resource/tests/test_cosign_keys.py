"""Cosign keys: the encrypted private key format, unencrypted EC keys, public keys, passphrase files."""

import base64
import hashlib
import json
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from nacl.secret import SecretBox

from registry_image_resource.errors import RequestError
from registry_image_resource.trust.cosign import (
    CosignKeyError,
    encrypt_private_key,
    generate_key_pair,
    load_private_key,
    load_public_key,
    read_passphrase_file,
)
from registry_image_resource.trust.cosign.keys import COSIGN_LABEL, SIGSTORE_LABEL

FIELD = "source.cosign.private_key"
PASSWORD = "hunter2 correct horse"


def exactly(text):
    return f"^{re.escape(text)}$"


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def pem(label, data):
    body = base64.b64encode(data).decode()
    return (
        f"-----BEGIN {label}-----\n"
        + "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
        + f"\n-----END {label}-----\n"
    )


def encrypted(
    key,
    password,
    *,
    n=32768,
    r=8,
    p=1,
    label=COSIGN_LABEL,
    kdf="scrypt",
    cipher="nacl/secretbox",
    nonce=None,
    plaintext=None,
):
    """An encrypted key built here by hand, independently of the module under test."""
    salt = b"s" * 32
    nonce = nonce if nonce is not None else b"n" * 24
    plaintext = (
        plaintext
        if plaintext is not None
        else key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    box_key = Scrypt(
        salt=salt, length=32, n=n if type(n) is int and n in (32768, 65536, 131072) else 32768, r=8, p=1
    ).derive(password.encode())
    ciphertext = SecretBox(box_key).encrypt(plaintext, b"n" * 24).ciphertext
    document = {
        "kdf": {"name": kdf, "params": {"N": n, "r": r, "p": p}, "salt": base64.b64encode(salt).decode()},
        "cipher": {"name": cipher, "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }
    return pem(label, json.dumps(document).encode())


def spki_fingerprint(key):
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(der).hexdigest()


@pytest.mark.parametrize("label", [COSIGN_LABEL, SIGSTORE_LABEL])
@pytest.mark.parametrize("n", [32768, 65536, 131072])
def test_encrypted_key_with_each_accepted_n_and_label_loads(ec_key, label, n):
    loaded = load_private_key(encrypted(ec_key, PASSWORD, n=n, label=label), PASSWORD, where=FIELD)
    assert loaded.public.fingerprint == spki_fingerprint(ec_key)


@pytest.mark.parametrize("label", [COSIGN_LABEL, SIGSTORE_LABEL])
@pytest.mark.parametrize("n", [32768, 65536, 131072])
def test_encrypt_private_key_round_trips_with_each_n_and_label(ec_key, label, n):
    text = encrypt_private_key(ec_key, PASSWORD, n=n, label=label)
    assert text.startswith(f"-----BEGIN {label}-----\n".encode())
    assert load_private_key(text, PASSWORD, where=FIELD).public.fingerprint == spki_fingerprint(ec_key)


def test_encrypted_key_json_has_go_field_order_and_64_column_pem(ec_key):
    text = encrypt_private_key(ec_key, PASSWORD).decode()
    lines = text.splitlines()
    assert lines[0] == "-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----"
    assert lines[-1] == "-----END ENCRYPTED COSIGN PRIVATE KEY-----"
    assert all(len(line) == 64 for line in lines[1:-2])
    document = base64.b64decode("".join(lines[1:-1]))
    assert re.fullmatch(
        rb'\{"kdf":\{"name":"scrypt","params":\{"N":32768,"r":8,"p":1\},"salt":"[A-Za-z0-9+/=]{44}"\},'
        rb'"cipher":\{"name":"nacl/secretbox","nonce":"[A-Za-z0-9+/=]{32}"\},"ciphertext":"[A-Za-z0-9+/=]+"\}',
        document,
    )


def test_empty_password_is_allowed(ec_key):
    assert load_private_key(encrypted(ec_key, ""), "", where=FIELD).public.fingerprint == spki_fingerprint(
        ec_key
    )


def test_password_as_bytes_from_a_passphrase_file(ec_key, tmp_path):
    (tmp_path / "pass").write_bytes(PASSWORD.encode() + b"\n")
    password = read_passphrase_file(tmp_path / "pass")
    assert load_private_key(
        encrypted(ec_key, PASSWORD), password, where=FIELD
    ).public.fingerprint == spki_fingerprint(ec_key)


def test_wrong_password_names_the_field_and_the_password_field(ec_key):
    with pytest.raises(
        CosignKeyError,
        match=exactly(
            "source.cosign.private_key: decryption failed: wrong password (source.cosign.password) or a damaged key"
        ),
    ):
        load_private_key(encrypted(ec_key, PASSWORD), "not it", where=FIELD)


def test_key_errors_are_request_errors(ec_key):
    with pytest.raises(RequestError):
        load_private_key(encrypted(ec_key, PASSWORD), "not it", where=FIELD)


@pytest.mark.parametrize(
    ("n", "r", "p", "shown"),
    [
        (16384, 8, 1, "N=16384, r=8, p=1"),
        (262144, 8, 1, "N=262144, r=8, p=1"),
        (32768, 16, 1, "N=32768, r=16, p=1"),
        (32768, 8, 2, "N=32768, r=8, p=2"),
        ("32768", 8, 1, 'N="32768", r=8, p=1'),
        (32768.0, 8, 1, "N=32768.0, r=8, p=1"),
    ],
)
def test_other_scrypt_parameters_are_refused_before_any_scrypt(ec_key, n, r, p, shown):
    with pytest.raises(
        CosignKeyError,
        match=exactly(
            f"source.cosign.private_key: unsupported scrypt parameters {shown}: expected N 32768, 65536 or 131072 with r 8 and p 1"
        ),
    ):
        load_private_key(encrypted(ec_key, PASSWORD, n=n, r=r, p=p), PASSWORD, where=FIELD)


def test_other_kdf_is_refused(ec_key):
    with pytest.raises(
        CosignKeyError,
        match=exactly('source.cosign.private_key: unsupported key derivation "argon2": expected scrypt'),
    ):
        load_private_key(encrypted(ec_key, PASSWORD, kdf="argon2"), PASSWORD, where=FIELD)


def test_other_cipher_is_refused(ec_key):
    with pytest.raises(
        CosignKeyError,
        match=exactly('source.cosign.private_key: unsupported cipher "aes-gcm": expected nacl/secretbox'),
    ):
        load_private_key(encrypted(ec_key, PASSWORD, cipher="aes-gcm"), PASSWORD, where=FIELD)


def test_short_nonce_is_refused(ec_key):
    with pytest.raises(
        CosignKeyError,
        match=exactly("source.cosign.private_key: the secretbox nonce has 12 bytes, expected 24"),
    ):
        load_private_key(encrypted(ec_key, PASSWORD, nonce=b"x" * 12), PASSWORD, where=FIELD)


def test_encrypted_body_that_is_not_json(ec_key):
    with pytest.raises(
        CosignKeyError, match=exactly("source.cosign.private_key: the encrypted key is not JSON")
    ):
        load_private_key(pem(COSIGN_LABEL, b"\x00garbage"), PASSWORD, where=FIELD)


def test_encrypted_body_without_kdf():
    with pytest.raises(
        CosignKeyError, match=exactly('source.cosign.private_key: the encrypted key has no "kdf" object')
    ):
        load_private_key(pem(SIGSTORE_LABEL, b'{"cipher": {}}'), PASSWORD, where=FIELD)


def test_decrypted_garbage_is_not_a_pkcs8_key(ec_key):
    with pytest.raises(
        CosignKeyError,
        match=exactly("source.cosign.private_key: the decrypted key is not a PKCS#8 private key"),
    ):
        load_private_key(encrypted(ec_key, PASSWORD, plaintext=b"not der"), PASSWORD, where=FIELD)


def test_encrypted_p384_key_is_refused():
    key = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(
        CosignKeyError,
        match=exactly(
            "source.cosign.private_key: the private key is on curve secp384r1: only ECDSA P-256 (secp256r1) is supported"
        ),
    ):
        load_private_key(encrypted(key, PASSWORD), PASSWORD, where=FIELD)


def test_encrypted_ed25519_key_is_refused():
    key = ed25519.Ed25519PrivateKey.generate()
    with pytest.raises(
        CosignKeyError,
        match=exactly(
            "source.cosign.private_key: not an ECDSA private key: only ECDSA P-256 keys are supported"
        ),
    ):
        load_private_key(encrypted(key, PASSWORD), PASSWORD, where=FIELD)


@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8]
)
def test_unencrypted_pem_ec_key_loads(ec_key, fmt):
    text = ec_key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
    assert load_private_key(text, "", where=FIELD).public.fingerprint == spki_fingerprint(ec_key)


def test_unencrypted_rsa_key_label_is_refused():
    with pytest.raises(
        CosignKeyError,
        match=exactly(
            'source.cosign.private_key: unsupported PEM block "RSA PRIVATE KEY": expected '
            '"ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY", "EC PRIVATE KEY" or "PRIVATE KEY"'
        ),
    ):
        load_private_key(pem("RSA PRIVATE KEY", b"x"), "", where=FIELD)


def test_text_without_pem_block():
    with pytest.raises(CosignKeyError, match=exactly("source.cosign.private_key: no PEM block found")):
        load_private_key("just some text", "", where=FIELD)


def test_pem_block_with_bad_base64():
    with pytest.raises(
        CosignKeyError,
        match=exactly(
            "source.cosign.private_key: the ENCRYPTED COSIGN PRIVATE KEY PEM block is not valid base64"
        ),
    ):
        load_private_key(
            "-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n!!!\n-----END ENCRYPTED COSIGN PRIVATE KEY-----\n",
            "",
            where=FIELD,
        )


def test_no_error_or_repr_shows_the_password_or_key(ec_key):
    secret = "pw-" + "Z" * 20
    text = encrypt_private_key(ec_key, secret)
    with pytest.raises(CosignKeyError) as info:
        load_private_key(text, secret + "x", where=FIELD)
    assert secret not in str(info.value)
    key = load_private_key(text, secret, where=FIELD)
    body = "".join(text.decode().splitlines()[1:-1])
    assert secret not in repr(key)
    assert body[:40] not in repr(key)
    der = ec_key.private_numbers().private_value.to_bytes(32, "big").hex()
    assert der not in repr(key)


def test_signature_from_loaded_key_verifies_with_loaded_public_key(ec_key):
    key = load_private_key(encrypt_private_key(ec_key, PASSWORD), PASSWORD, where=FIELD)
    public = load_public_key(key.public.pem(), where="source.cosign.public_keys[0]")
    signature = key.sign(b"payload")
    assert public.verify(signature, b"payload")
    assert not public.verify(signature, b"payload!")


def test_public_key_fingerprint_is_sha256_of_spki_der(ec_key):
    text = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert load_public_key(text, where="x").fingerprint == spki_fingerprint(ec_key)


def test_public_key_not_p256_is_refused():
    key = ec.generate_private_key(ec.SECP384R1()).public_key()
    text = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(
        CosignKeyError,
        match=exactly(
            "source.cosign.public_keys[1]: the public key is on curve secp384r1: only ECDSA P-256 (secp256r1) is supported"
        ),
    ):
        load_public_key(text, where="source.cosign.public_keys[1]")


def test_public_key_ed25519_is_refused():
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    text = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(
        CosignKeyError,
        match=exactly(
            "source.cosign.public_keys[0]: not an ECDSA public key: only ECDSA P-256 keys are supported"
        ),
    ):
        load_public_key(text, where="source.cosign.public_keys[0]")


def test_public_key_field_given_a_private_key(ec_key):
    text = encrypt_private_key(ec_key, PASSWORD)
    with pytest.raises(
        CosignKeyError,
        match=exactly(
            'source.cosign.public_keys[0]: expected a "PUBLIC KEY" PEM block, found "ENCRYPTED COSIGN PRIVATE KEY"'
        ),
    ):
        load_public_key(text, where="source.cosign.public_keys[0]")


def test_public_key_block_with_garbage_der():
    with pytest.raises(
        CosignKeyError,
        match=exactly("source.cosign.public_keys[0]: the PUBLIC KEY PEM block is not a valid public key"),
    ):
        load_public_key(pem("PUBLIC KEY", b"garbage"), where="source.cosign.public_keys[0]")


def test_generate_key_pair_writes_cosign_label_n_32768_and_a_matching_public_key():
    pair = generate_key_pair(PASSWORD)
    assert pair.private_pem.startswith(b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n")
    body = json.loads(base64.b64decode(b"".join(pair.private_pem.splitlines()[1:-1])))
    assert body["kdf"]["params"] == {"N": 32768, "r": 8, "p": 1}
    assert pair.public_pem.startswith(b"-----BEGIN PUBLIC KEY-----\n")
    private = load_private_key(pair.private_pem, PASSWORD, where=FIELD)
    assert load_public_key(pair.public_pem, where="x").fingerprint == private.public.fingerprint
    assert "PRIVATE" not in repr(pair)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"secret\n", b"secret"),
        (b"secret", b"secret"),
        (b"secret\nsecond line\n", b"secret"),
        (b"secret\r\n", b"secret\r"),
        (b"  spaced  \n", b"  spaced  "),
        (b"secret\n\n", b"secret"),
        (b"", b""),
        (b"\n", b""),
        (b"\xc3\xa9t\xc3\xa9\n", "été".encode()),
    ],
)
def test_passphrase_file_is_first_line_with_only_trailing_newline_removed(tmp_path, content, expected):
    path = tmp_path / "passphrase"
    path.write_bytes(content)
    assert read_passphrase_file(path) == expected
