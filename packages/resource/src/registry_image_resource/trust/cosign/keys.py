"""Cosign key material: the encrypted private key format, public keys, fingerprints, key pairs.

Owns reading (and, for ``cosign-keygen``, writing) the keys cosign, sigstore and containers/image
use. The encrypted format is a PEM block labelled ``ENCRYPTED COSIGN PRIVATE KEY`` (cosign 1.x,
containers/image) or ``ENCRYPTED SIGSTORE PRIVATE KEY`` (cosign 2.x and later) whose body is JSON::

    {"kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": "<base64>"},
     "cipher": {"name": "nacl/secretbox", "nonce": "<base64, 24 bytes>"},
     "ciphertext": "<base64>"}

The secretbox key is scrypt(password, salt, N, r, p, 32 bytes) and the plaintext a PKCS#8 DER
key. Only the scrypt parameters those tools write are accepted (N 32768, 65536 or 131072, r 8,
p 1): anything else would let a key file make us spend unbounded memory and time. Only ECDSA
P-256 keys are used, the one kind every verifier of the ``.sig`` scheme accepts. Crypto is
``cryptography`` (scrypt, ECDSA) and PyNaCl (secretbox); nothing here is hand-rolled beyond the
PEM envelope.

This module must never put a password or key bytes into an error message, a ``repr`` or a log
line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.secret
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from registry_image_resource.trust.cosign.errors import CosignKeyError

__all__ = [
    "COSIGN_LABEL",
    "SCRYPT_N_ACCEPTED",
    "SIGSTORE_LABEL",
    "KeyPair",
    "PrivateKey",
    "PublicKey",
    "encrypt_private_key",
    "generate_key_pair",
    "load_private_key",
    "load_public_key",
    "load_public_keys",
    "read_passphrase_file",
]

COSIGN_LABEL = "ENCRYPTED COSIGN PRIVATE KEY"
SIGSTORE_LABEL = "ENCRYPTED SIGSTORE PRIVATE KEY"
SCRYPT_N_ACCEPTED = (32768, 65536, 131072)
_SCRYPT_R = 8
_SCRYPT_P = 1
_BOX_KEY_SIZE = 32
_NONCE_SIZE = 24
_SALT_SIZE = 32
# One PEM block: label, optional RFC 1421 headers, base64 body. Only the first block counts, as
# with Go's pem.Decode.
_PEM = re.compile(
    r"-----BEGIN (?P<label>[^-\r\n]+)-----\r?\n(?P<body>.*?)-----END (?P=label)-----",
    re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A P-256 public key; ``fingerprint`` is ``sha256:<hex>`` of its DER SubjectPublicKeyInfo."""

    key: ec.EllipticCurvePublicKey = field(repr=False, compare=False)
    fingerprint: str

    def verify(self, signature: bytes, payload: bytes) -> bool:
        """True if ``signature`` (ASN.1 DER ECDSA) is this key's over SHA-256 of ``payload``."""
        try:
            self.key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True

    def pem(self) -> bytes:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass(frozen=True, slots=True)
class PrivateKey:
    """A P-256 signing key and its public half; the key itself is never shown by ``repr``."""

    key: ec.EllipticCurvePrivateKey = field(repr=False, compare=False)
    public: PublicKey

    def sign(self, payload: bytes) -> bytes:
        """ASN.1 DER ECDSA-P256-SHA256 signature of ``payload``, as cosign writes it."""
        return self.key.sign(payload, ec.ECDSA(hashes.SHA256()))

    @classmethod
    def of(cls, key: ec.EllipticCurvePrivateKey) -> PrivateKey:
        """Wrap a P-256 key from ``cryptography`` (tests, benchmarks, key generation)."""
        _p256(key, "key", "private")
        return cls(key, _public(key.public_key()))


@dataclass(frozen=True, slots=True)
class KeyPair:
    """What ``cosign-keygen`` writes: ``cosign.key`` and ``cosign.pub`` contents."""

    private_pem: bytes = field(repr=False)
    public_pem: bytes


def _public(key: ec.EllipticCurvePublicKey) -> PublicKey:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return PublicKey(key, "sha256:" + hashlib.sha256(der).hexdigest())


def _pem_block(text: str | bytes, where: str) -> tuple[str, bytes]:
    """(label, DER bytes) of the first PEM block in ``text``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    match = _PEM.search(text)
    if match is None:
        raise CosignKeyError(f"{where}: no PEM block found")
    lines = match["body"].splitlines()
    if any(":" in line for line in lines):  # RFC 1421 headers, then an empty line
        while lines and lines[0].strip():
            lines.pop(0)
    try:
        der = base64.b64decode("".join(line.strip() for line in lines), validate=True)
    except binascii.Error:
        raise CosignKeyError(f"{where}: the {match['label']} PEM block is not valid base64") from None
    return match["label"], der


def _p256(key: object, where: str, kind: str) -> None:
    if not isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        raise CosignKeyError(f"{where}: not an ECDSA {kind} key: only ECDSA P-256 keys are supported")
    if not isinstance(key.curve, ec.SECP256R1):
        raise CosignKeyError(
            f"{where}: the {kind} key is on curve {key.curve.name}: only ECDSA P-256 (secp256r1) is supported"
        )


def load_public_key(pem: str | bytes, *, where: str) -> PublicKey:
    """Parse a ``PUBLIC KEY`` PEM (as in ``cosign.pub``); ``where`` names the field in errors."""
    label, der = _pem_block(pem, where)
    if label != "PUBLIC KEY":
        raise CosignKeyError(f'{where}: expected a "PUBLIC KEY" PEM block, found "{label}"')
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm):
        raise CosignKeyError(f"{where}: the PUBLIC KEY PEM block is not a valid public key") from None
    _p256(key, where, "public")
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return _public(key)


def load_public_keys(
    pems: Sequence[str], *, where: str = "source.cosign.public_keys"
) -> tuple[PublicKey, ...]:
    """Every key of a ``public_keys`` list; errors name the entry (``source.cosign.public_keys[1]``)."""
    return tuple(load_public_key(pem, where=f"{where}[{i}]") for i, pem in enumerate(pems))


def load_private_key(pem: str | bytes, password: str | bytes, *, where: str) -> PrivateKey:
    """Read a cosign/sigstore encrypted key, or an unencrypted ``EC PRIVATE KEY``/``PRIVATE KEY``.

    ``password`` may be empty (cosign allows an empty password). ``where`` names the field.
    """
    if isinstance(password, str):
        password = password.encode("utf-8")
    label, der = _pem_block(pem, where)
    if label in (COSIGN_LABEL, SIGSTORE_LABEL):
        der = _decrypt(der, password, where)
        loaded = _load_der(der, where, "the decrypted key is not a PKCS#8 private key")
    elif label in ("EC PRIVATE KEY", "PRIVATE KEY"):
        loaded = _load_der(der, where, f"the {label} PEM block is not a valid private key")
    else:
        raise CosignKeyError(
            f'{where}: unsupported PEM block "{label}": expected "{SIGSTORE_LABEL}", "{COSIGN_LABEL}", '
            '"EC PRIVATE KEY" or "PRIVATE KEY"'
        )
    _p256(loaded, where, "private")
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    return PrivateKey.of(loaded)


def _load_der(der: bytes, where: str, message: str) -> object:
    try:
        return serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise CosignKeyError(f"{where}: {message}") from None


def _decrypt(body: bytes, password: bytes, where: str) -> bytes:
    try:
        document = json.loads(body)
    except ValueError:
        raise CosignKeyError(f"{where}: the encrypted key is not JSON") from None
    kdf = _object(document, "kdf", where)
    cipher = _object(document, "cipher", where)
    if kdf.get("name") != "scrypt":
        raise CosignKeyError(
            f"{where}: unsupported key derivation {_shown(kdf.get('name'))}: expected scrypt"
        )
    if cipher.get("name") != "nacl/secretbox":
        raise CosignKeyError(
            f"{where}: unsupported cipher {_shown(cipher.get('name'))}: expected nacl/secretbox"
        )
    params = _object(kdf, "params", where)
    n, r, p = params.get("N"), params.get("r"), params.get("p")
    if (
        n not in SCRYPT_N_ACCEPTED
        or r != _SCRYPT_R
        or p != _SCRYPT_P
        or not all(type(v) is int for v in (n, r, p))
    ):
        raise CosignKeyError(
            f"{where}: unsupported scrypt parameters N={_shown(n)}, r={_shown(r)}, p={_shown(p)}: "
            "expected N 32768, 65536 or 131072 with r 8 and p 1"
        )
    salt = _base64_field(kdf, "salt", where)
    nonce = _base64_field(cipher, "nonce", where)
    ciphertext = _base64_field(document, "ciphertext", where)
    if not salt:
        raise CosignKeyError(f"{where}: the scrypt salt is empty")
    if len(nonce) != _NONCE_SIZE:
        raise CosignKeyError(f"{where}: the secretbox nonce has {len(nonce)} bytes, expected {_NONCE_SIZE}")
    assert isinstance(n, int)
    box_key = Scrypt(salt=salt, length=_BOX_KEY_SIZE, n=n, r=_SCRYPT_R, p=_SCRYPT_P).derive(password)
    try:
        return nacl.secret.SecretBox(box_key).decrypt(ciphertext, nonce)
    except nacl.exceptions.CryptoError:
        raise CosignKeyError(
            f"{where}: decryption failed: wrong password (source.cosign.password) or a damaged key"
        ) from None


def _object(document: Any, name: str, where: str) -> dict[str, Any]:
    value = document.get(name) if isinstance(document, dict) else None
    if not isinstance(value, dict):
        raise CosignKeyError(f'{where}: the encrypted key has no "{name}" object')
    return value


def _base64_field(document: dict[str, Any], name: str, where: str) -> bytes:
    value = document.get(name)
    if not isinstance(value, str):
        raise CosignKeyError(f'{where}: the encrypted key has no "{name}" string')
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise CosignKeyError(f'{where}: the encrypted key\'s "{name}" is not valid base64') from None


def _shown(value: object) -> str:
    """A value from the key file for an error message: short, and only JSON scalars."""
    if isinstance(value, str):
        return json.dumps(value[:40])
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return str(value)
    return f"<{type(value).__name__}>"


def encrypt_private_key(
    key: ec.EllipticCurvePrivateKey, password: str | bytes, *, n: int = 32768, label: str = COSIGN_LABEL
) -> bytes:
    """The key as an encrypted PEM in cosign's format (Go's JSON field order, 64-column PEM).

    The defaults (``ENCRYPTED COSIGN PRIVATE KEY``, N=32768) are the only ones containers/image 5.23
    accepts; cosign reads them too.
    """
    if n not in SCRYPT_N_ACCEPTED:
        raise ValueError(f"scrypt N must be one of {SCRYPT_N_ACCEPTED}")
    if label not in (COSIGN_LABEL, SIGSTORE_LABEL):
        raise ValueError(f"label must be {COSIGN_LABEL!r} or {SIGSTORE_LABEL!r}")
    if isinstance(password, str):
        password = password.encode("utf-8")
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    salt = secrets.token_bytes(_SALT_SIZE)
    nonce = secrets.token_bytes(_NONCE_SIZE)
    box_key = Scrypt(salt=salt, length=_BOX_KEY_SIZE, n=n, r=_SCRYPT_R, p=_SCRYPT_P).derive(password)
    ciphertext = nacl.secret.SecretBox(box_key).encrypt(der, nonce).ciphertext

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    document = {
        "kdf": {"name": "scrypt", "params": {"N": n, "r": _SCRYPT_R, "p": _SCRYPT_P}, "salt": b64(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": b64(nonce)},
        "ciphertext": b64(ciphertext),
    }
    return _pem_encode(label, json.dumps(document, separators=(",", ":")).encode("ascii"))


def _pem_encode(label: str, data: bytes) -> bytes:
    body = base64.b64encode(data).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (
        f"-----BEGIN {label}-----\n" + "".join(f"{line}\n" for line in lines) + f"-----END {label}-----\n"
    ).encode("ascii")


def generate_key_pair(password: str | bytes) -> KeyPair:
    """A new P-256 key pair: ``cosign.key`` (encrypted, N=32768) and ``cosign.pub``."""
    key = ec.generate_private_key(ec.SECP256R1())
    return KeyPair(encrypt_private_key(key, password), _public(key.public_key()).pem())


def read_passphrase_file(path: str | Path) -> bytes:
    """A passphrase file read as containers/image's tools read ``--sign-passphrase-file``.

    The first line only, with only its trailing ``\\n`` removed: a ``\\r`` or spaces stay part of
    the passphrase, and an empty file is the empty passphrase. Bytes, as Go keeps them.
    """
    return Path(path).read_bytes().split(b"\n", 1)[0]
