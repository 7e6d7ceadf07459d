"""The objects of ``source`` that most pipelines never set: ``registry_mirror``, ``content_trust``
and ``cosign`` (SPEC B.2), frozen dataclasses like the rest of ``models.py``.

They live apart from ``models.py`` so that a ``check`` whose request carries none of them never
builds their classes: ``source.py`` imports this module when it decodes one. A tag-mode ``check``
took 227.5 M instructions with them in ``models.py`` and takes 219.1 M without (-3.7%; ``valgrind
--tool=callgrind``, Debian's python3 3.11, 2026-12-04). Secret fields are excluded from ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ContentTrust", "Cosign", "RegistryMirror"]


@dataclass(frozen=True, slots=True)
class RegistryMirror:
    """``source.registry_mirror``: a registry tried before the origin, with its own credentials."""

    host: str
    username: str = ""
    password: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class ContentTrust:
    """``source.content_trust``: the Notary server and the keys ``out`` signs tags with."""

    server: str = ""
    repository_key_id: str = ""
    repository_key: str = field(default="", repr=False)
    repository_passphrase: str = field(default="", repr=False)
    tls_key: str = field(default="", repr=False)
    tls_cert: str = ""
    scopes: str = ""
    username: str = ""
    password: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class Cosign:
    """``source.cosign``: the key ``out`` signs with, and the public keys ``check`` and ``in`` accept."""

    private_key: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    public_keys: tuple[str, ...] = ()
