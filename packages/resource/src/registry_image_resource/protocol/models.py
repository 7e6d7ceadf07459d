"""The request data every command shares: ``source`` and the objects inside it, and ``version``.

Frozen dataclasses, one per JSON object of the protocol (SPEC B.1.3, B.2): the edges of the
program. Each command's own request and params live with the command
(``commands/<name>/request.py``), so that ``check`` (run every minute per pipeline) never builds
``in``'s or ``out``'s classes. Decoding and validation of the JSON lives in ``decoding.py`` and
``source.py``; everything after decoding takes these objects and never the raw JSON. Secret
fields are excluded from ``repr`` so that a logged object can never show them. Every class has a
docstring: without one, ``dataclass`` builds it from ``inspect.signature`` at import time, which
every ``check`` would pay for. The objects most pipelines never set (``registry_mirror``,
``content_trust``, ``cosign``) live in ``optional_models.py``, imported only by a request that
carries one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from registry_image_resource.protocol.optional_models import ContentTrust, Cosign, RegistryMirror


@dataclass(frozen=True, slots=True)
class Version:
    """One version of the image: a tag and the digest it named when checked."""

    tag: str
    digest: str


@dataclass(frozen=True, slots=True)
class Platform:
    """A wanted platform. Empty fields mean "the runtime's own" (filled in by ``resolved``)."""

    architecture: str = ""
    os: str = ""
    variant: str = ""


@dataclass(frozen=True, slots=True)
class Source:
    """The ``source`` object: where the repository is, how to reach it, which tags count."""

    repository: str = ""
    insecure: bool = False
    tag: str = ""
    tag_regex: str = ""
    created_at_sort: bool = False
    variant: str = ""
    semver_constraint: str = ""
    pre_releases: bool = False
    pre_release_prefixes: tuple[str, ...] = ()
    label_regex: str = ""
    annotation_regex: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    aws_access_key_id: str = ""
    aws_secret_access_key: str = field(default="", repr=False)
    aws_session_token: str = field(default="", repr=False)
    aws_region: str = ""
    aws_role_arn: str = ""
    aws_role_arns: tuple[str, ...] = ()
    aws_account_id: str = ""
    aws_ecr_registry_id: str = ""
    azure_acr: bool = False
    azure_client_id: str = ""
    azure_tenant_id: str = ""
    azure_environment: str = ""
    registry_mirror: RegistryMirror | None = None
    content_trust: ContentTrust | None = None
    cosign: Cosign | None = None
    ca_certs: tuple[str, ...] = ()
    client_cert: str = ""
    client_key: str = field(default="", repr=False)
    platform: Platform | None = None
    debug: bool = False
