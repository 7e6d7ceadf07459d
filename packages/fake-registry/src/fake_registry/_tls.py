"""A throwaway certificate authority: a CA certificate for clients, server certificates on demand.

One implementation for the fake registry and the Notary stub (``NotaryServer(ca=...)`` takes
one, so both serve certificates a client trusts through one CA file). Key and certificate
generation is trustme's (ECDSA P-256, fast to make; a library that exists to mint test CAs), so
nothing here builds X.509 by hand; this class adds what trustme does not: the CA written out for
clients that want a file or a ``--cert-dir`` directory, and a server ``ssl.SSLContext`` for any
set of host names or IP addresses, cached per name so the impersonation proxy can mint one per
``CONNECT`` host cheaply.

Must never be used outside tests: keys are kept unencrypted in memory and the CA certificate in
a private temporary directory that is deleted on :meth:`close`.
"""

from __future__ import annotations

import shutil
import ssl
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import trustme


class CertificateAuthority:
    """A CA whose certificate clients trust (``ca_pem``, ``ca_file``, ``cert_dir``)."""

    def __init__(self, organization: str = "fake-registry test CA") -> None:
        import trustme

        self._ca = trustme.CA(organization_name=organization)
        self._dir = Path(tempfile.mkdtemp(prefix="fake-registry-ca-"))
        self._lock = threading.Lock()
        self._contexts: dict[tuple[str, ...], ssl.SSLContext] = {}
        self.ca_pem = self._ca.cert_pem.bytes().decode()
        self.ca_file = self._dir / "ca.pem"
        self.ca_file.write_text(self.ca_pem)
        # containers/image (skopeo --cert-dir) trusts every *.crt in a directory.
        self.cert_dir = self._dir / "certs"
        self.cert_dir.mkdir()
        (self.cert_dir / "ca.crt").write_text(self.ca_pem)

    def _leaf(self, hostnames: Sequence[str]) -> trustme.LeafCert:
        # The first name also as the legacy common name, which X.509 caps at 64 characters.
        common_name = hostnames[0] if len(hostnames[0]) <= 64 else None
        return self._ca.issue_cert(*hostnames, common_name=common_name)

    def issue(self, hostnames: Sequence[str]) -> tuple[str, str]:
        """A server certificate and key (PEM) for these DNS names / IP addresses."""
        leaf = self._leaf(hostnames)
        return leaf.cert_chain_pems[0].bytes().decode(), leaf.private_key_pem.bytes().decode()

    def server_context(self, hostnames: Sequence[str]) -> ssl.SSLContext:
        """A server ``SSLContext`` presenting a certificate for ``hostnames`` (cached)."""
        key = tuple(hostnames)
        with self._lock:
            context = self._contexts.get(key)
            if context is not None:
                return context
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._leaf(hostnames).configure_cert(context)
        with self._lock:
            self._contexts.setdefault(key, context)
            return self._contexts[key]

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)
