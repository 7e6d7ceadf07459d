"""A throwaway certificate authority: a CA certificate for clients, server certificates on demand.

Owns key and certificate generation (ECDSA P-256, fast to make) and the server-side
``ssl.SSLContext`` for any set of host names or IP addresses, cached per name so the impersonation
proxy can mint one per ``CONNECT`` host cheaply. Must never be used outside tests: keys are kept
unencrypted in a private temporary directory that is deleted on :meth:`close`.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import ssl
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path


class CertificateAuthority:
    """A CA whose certificate clients trust (``ca_pem``, ``ca_file``, ``cert_dir``)."""

    def __init__(self, common_name: str = "fake-registry test CA") -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self._dir = Path(tempfile.mkdtemp(prefix="fake-registry-ca-"))
        self._lock = threading.Lock()
        self._contexts: dict[tuple[str, ...], ssl.SSLContext] = {}
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        self._name = name
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self.ca_pem = self._cert.public_bytes(serialization.Encoding.PEM).decode()
        self.ca_file = self._dir / "ca.pem"
        self.ca_file.write_text(self.ca_pem)
        # containers/image (skopeo --cert-dir) trusts every *.crt in a directory.
        self.cert_dir = self._dir / "certs"
        self.cert_dir.mkdir()
        (self.cert_dir / "ca.crt").write_text(self.ca_pem)

    def issue(self, hostnames: Sequence[str]) -> tuple[str, str]:
        """A server certificate and key (PEM) for these DNS names / IP addresses."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = []
        for host in hostnames:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0][:64])]))
            .issuer_name(self._name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return cert_pem, key_pem

    def server_context(self, hostnames: Sequence[str]) -> ssl.SSLContext:
        """A server ``SSLContext`` presenting a certificate for ``hostnames`` (cached)."""
        key = tuple(hostnames)
        with self._lock:
            context = self._contexts.get(key)
            if context is not None:
                return context
        cert_pem, key_pem = self.issue(hostnames)
        with tempfile.NamedTemporaryFile("w", dir=self._dir, suffix=".pem", delete=False) as f:
            f.write(cert_pem + key_pem)
            path = f.name
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(path)
        Path(path).unlink()
        with self._lock:
            self._contexts.setdefault(key, context)
            return self._contexts[key]

    def client_context(self) -> ssl.SSLContext:
        """A client ``SSLContext`` trusting only this CA."""
        return ssl.create_default_context(cadata=self.ca_pem)

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)
