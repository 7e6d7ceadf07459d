"""The repository key: reading Notary's encrypted key files, key ids, signing and verifying.

Owns the key material of content-trust signing. Notary (and Docker) store keys as PEM blocks of
type ``ENCRYPTED PRIVATE KEY`` with ``role:``/``gun:`` header lines: PKCS#8 encrypted with PBES2
(PBKDF2-HMAC-SHA1, AES-256-CBC), whose decrypted ``PrivateKeyInfo`` says version 1 (RFC 5958 v2,
"public key present") without carrying the public key. pyca/cryptography rightly refuses that
structure, so this module decrypts PBES2 itself with cryptography's primitives (PBKDF2, AES-CBC),
rewrites the version to 0 and lets cryptography load the result. It must never put a passphrase
or key bytes into an error message or a log line.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from registry_image_resource.trust.canonical import canonical_json

__all__ = [
    "KeyFileError",
    "PublicKey",
    "SigningKey",
    "key_id",
    "load_repository_key",
    "new_root_key",
    "parse_public_key",
    "verify_signature",
]


class KeyFileError(ValueError):
    """The key file cannot be read, decrypted or used; ``str()`` is safe to show."""


# --- DER reading (just what PKCS#8/PBES2 needs) ---------------------------------------------


def _tlv(data: bytes, offset: int) -> tuple[int, bytes, int]:
    """(tag, value, next offset) of the DER element at ``offset``."""
    if offset + 2 > len(data):
        raise KeyFileError("truncated DER")
    tag, length = data[offset], data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or offset + count > len(data):
            raise KeyFileError("bad DER length")
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    if offset + length > len(data):
        raise KeyFileError("truncated DER")
    return tag, data[offset : offset + length], offset + length


def _sequence(data: bytes) -> list[tuple[int, bytes]]:
    items: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(data):
        tag, value, offset = _tlv(data, offset)
        items.append((tag, value))
    return items


def _oid(value: bytes) -> str:
    if not value:
        raise KeyFileError("empty OID")
    parts = [value[0] // 40, value[0] % 40]
    number = 0
    for byte in value[1:]:
        number = (number << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(number)
            number = 0
    return ".".join(str(p) for p in parts)


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


_PBES2 = "1.2.840.113549.1.5.13"
_PBKDF2 = "1.2.840.113549.1.5.12"
_PRF: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1.2.840.113549.2.7": hashes.SHA1,
    "1.2.840.113549.2.9": hashes.SHA256,
    "1.2.840.113549.2.10": hashes.SHA384,
    "1.2.840.113549.2.11": hashes.SHA512,
}
_AES_CBC = {"2.16.840.1.101.3.4.1.2": 16, "2.16.840.1.101.3.4.1.22": 24, "2.16.840.1.101.3.4.1.42": 32}


def _decrypt_pbes2(der: bytes, passphrase: bytes) -> bytes:
    """The ``PrivateKeyInfo`` DER inside an ``EncryptedPrivateKeyInfo`` (PBES2 with PBKDF2 and AES-CBC)."""
    try:
        _, outer, _ = _tlv(der, 0)
        (_, algorithm), (_, encrypted) = _sequence(outer)
        (_, scheme_oid), (_, params) = _sequence(algorithm)[:2]
        if _oid(scheme_oid) != _PBES2:
            raise KeyFileError("the key is not encrypted with PBES2")
        (_, kdf), (_, cipher) = _sequence(params)
        (_, kdf_oid), (_, kdf_params) = _sequence(kdf)[:2]
        if _oid(kdf_oid) != _PBKDF2:
            raise KeyFileError("the key's PBES2 does not use PBKDF2")
        kdf_items = _sequence(kdf_params)
        salt, iterations = kdf_items[0][1], int.from_bytes(kdf_items[1][1], "big")
        prf = _PRF["1.2.840.113549.2.7"]
        for tag, value in kdf_items[2:]:
            if tag == 0x30:
                prf_oid = _oid(_sequence(value)[0][1])
                if prf_oid not in _PRF:
                    raise KeyFileError("the key's PBKDF2 uses an unsupported hash")
                prf = _PRF[prf_oid]
        (_, cipher_oid), (_, iv) = _sequence(cipher)[:2]
        key_size = _AES_CBC.get(_oid(cipher_oid))
        if key_size is None:
            raise KeyFileError("the key is encrypted with an unsupported cipher (only AES-CBC)")
    except (ValueError, IndexError) as exc:
        if isinstance(exc, KeyFileError) and str(exc).startswith("the key"):
            raise
        raise KeyFileError("the key is not a valid encrypted PKCS#8 structure") from None
    aes_key = PBKDF2HMAC(algorithm=prf(), length=key_size, salt=salt, iterations=iterations).derive(
        passphrase
    )
    decryptor = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(encrypted) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise KeyFileError("wrong passphrase") from None


def _with_version_zero(private_key_info: bytes) -> bytes:
    """The same ``PrivateKeyInfo`` with version 0 (Notary writes 1 without a public key field)."""
    try:
        tag, body, end = _tlv(private_key_info, 0)
        version_tag, version, after_version = _tlv(body, 0)
    except KeyFileError:
        raise KeyFileError("wrong passphrase") from None
    if tag != 0x30 or version_tag != 0x02 or end != len(private_key_info):
        raise KeyFileError("wrong passphrase")
    if version != b"\x01":
        return private_key_info
    rest = b"\x02\x01\x00" + body[after_version:]
    return b"\x30" + _der_length(len(rest)) + rest


# --- PEM with headers -----------------------------------------------------------------------

_PEM = re.compile(r"-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----", re.DOTALL)


@dataclass(frozen=True, slots=True)
class PemBlock:
    kind: str
    headers: dict[str, str]
    der: bytes = field(repr=False)


def parse_pem(text: str) -> PemBlock:
    """The first PEM block in ``text`` with its ``name: value`` header lines."""
    match = _PEM.search(text.replace("\r\n", "\n"))
    if match is None:
        raise KeyFileError("no PEM block found")
    headers: dict[str, str] = {}
    body: list[str] = []
    for raw in match.group(2).split("\n"):
        line = raw.strip()
        if not line:
            continue
        name, colon, value = line.partition(":")
        if colon and not body and re.fullmatch(r"[A-Za-z0-9_-]+", name):
            headers[name.strip().lower()] = value.strip()
        else:
            body.append(line)
    try:
        der = base64.b64decode("".join(body), validate=True)
    except ValueError:
        raise KeyFileError("the PEM body is not base64") from None
    return PemBlock(match.group(1), headers, der)


# --- public keys and signatures ---------------------------------------------------------------


def key_id(keytype: str, public: bytes) -> str:
    """The TUF key id Notary computes: sha256 of the canonical JSON of the public key object."""
    document = {"keytype": keytype, "keyval": {"private": None, "public": base64.b64encode(public).decode()}}
    return hashlib.sha256(canonical_json(document)).hexdigest()


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A public key as TUF metadata carries it (``ecdsa``: DER SPKI; ``ecdsa-x509``: PEM cert)."""

    keytype: str
    public: bytes

    @property
    def key_id(self) -> str:
        return key_id(self.keytype, self.public)

    def to_json(self) -> dict[str, Any]:
        return {
            "keytype": self.keytype,
            "keyval": {"private": None, "public": base64.b64encode(self.public).decode()},
        }


def parse_public_key(document: Any) -> PublicKey:
    """A key object from metadata or the server's ``<role>.key``; ``KeyFileError`` when malformed."""
    if not isinstance(document, dict):
        raise KeyFileError("a key must be a JSON object")
    keytype, keyval = document.get("keytype"), document.get("keyval")
    if (
        not isinstance(keytype, str)
        or not isinstance(keyval, dict)
        or not isinstance(keyval.get("public"), str)
    ):
        raise KeyFileError("a key needs a keytype and keyval.public")
    try:
        return PublicKey(keytype.lower(), base64.b64decode(keyval["public"], validate=True))
    except ValueError:
        raise KeyFileError("keyval.public is not base64") from None


def _verifier(key: PublicKey) -> ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | None:
    try:
        if key.keytype == "ecdsa":
            loaded = serialization.load_der_public_key(key.public)
        elif key.keytype == "ecdsa-x509":
            loaded = x509.load_pem_x509_certificate(key.public).public_key()
        elif key.keytype == "ed25519":
            return ed25519.Ed25519PublicKey.from_public_bytes(key.public)
        else:
            return None
    except (ValueError, UnsupportedAlgorithm):
        return None
    return loaded if isinstance(loaded, ec.EllipticCurvePublicKey) else None


def verify_signature(key: PublicKey, method: str, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is a valid Notary signature (``ecdsa`` r||s or ``eddsa``) of ``message``."""
    public = _verifier(key)
    try:
        if isinstance(public, ed25519.Ed25519PublicKey):
            if method.lower() != "eddsa":
                return False
            public.verify(signature, message)
            return True
        if public is None or method.lower() != "ecdsa":
            return False
        size = (public.curve.key_size + 7) // 8
        if len(signature) != 2 * size:
            return False
        r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
        public.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


# --- private keys -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An ECDSA private key with the TUF public key it signs as."""

    private: ec.EllipticCurvePrivateKey = field(repr=False)
    public: PublicKey
    role: str = ""
    gun: str = ""

    @property
    def key_id(self) -> str:
        return self.public.key_id

    @classmethod
    def from_private(cls, private: ec.EllipticCurvePrivateKey, role: str = "", gun: str = "") -> SigningKey:
        der = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(private, PublicKey("ecdsa", der), role, gun)

    def sign(self, message: bytes, keyid: str | None = None) -> dict[str, str]:
        """A TUF signature object: ``ecdsa``, raw big-endian r||s over SHA-256 of ``message``.

        ``keyid`` names the key as the role lists it when that is not our own id (a delegation
        that lists the key as an ``ecdsa-x509`` certificate).
        """
        r, s = decode_dss_signature(self.private.sign(message, ec.ECDSA(hashes.SHA256())))
        size = (self.private.curve.key_size + 7) // 8
        raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
        return {"keyid": keyid or self.key_id, "method": "ecdsa", "sig": base64.b64encode(raw).decode()}

    def matches(self, key: PublicKey) -> bool:
        """``key`` (plain or certificate) is this key's public half."""
        public = _verifier(key)
        return isinstance(public, ec.EllipticCurvePublicKey) and (
            public.public_numbers() == self.private.public_key().public_numbers()
        )


def load_repository_key(text: str, passphrase: str) -> SigningKey:
    """Load ``content_trust.repository_key`` (Notary's key file) with its passphrase."""
    block = parse_pem(text)
    if block.kind == "ENCRYPTED PRIVATE KEY":
        der = _with_version_zero(_decrypt_pbes2(block.der, passphrase.encode()))
    elif block.kind in ("PRIVATE KEY", "EC PRIVATE KEY"):
        der = _with_version_zero(block.der) if block.kind == "PRIVATE KEY" else block.der
    else:
        raise KeyFileError(f"unsupported PEM block {block.kind!r} (want ENCRYPTED PRIVATE KEY)")
    try:
        private = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        if block.kind == "ENCRYPTED PRIVATE KEY":
            raise KeyFileError("wrong passphrase") from None
        raise KeyFileError("the key cannot be loaded") from None
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        raise KeyFileError("only ECDSA repository keys are supported")
    return SigningKey.from_private(private, block.headers.get("role", ""), block.headers.get("gun", ""))


def new_root_key(gun: str, now: datetime.datetime) -> SigningKey:
    """A fresh ECDSA P-256 root key whose public half is a self-signed certificate with CN = ``gun``.

    Notary's clients accept a root key only as an ``ecdsa-x509`` certificate whose common name
    is the GUN (trust pinning checks it), valid for ten years like ``notary init`` makes them.
    """
    private = ec.generate_private_key(ec.SECP256R1())
    with warnings.catch_warnings():
        # X.509 caps a common name at 64 characters, GUNs go to 255; Go (and so Notary) does not
        # enforce the cap and checks CN == GUN, so we write the long name as Go would.
        warnings.simplefilter("ignore", UserWarning)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, gun, _validate=len(gun) <= 64)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=10 * 365))
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    return SigningKey(private, PublicKey("ecdsa-x509", pem), "root", gun)
