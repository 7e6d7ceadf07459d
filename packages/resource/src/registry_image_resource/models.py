"""The resource's request data: frozen dataclasses, one per JSON object of the protocol.

These are the edges of the program (SPEC B.1.3, B.2). Decoding and validation of the JSON lives in
``request.py``; everything after decoding takes these objects and never the raw JSON. Secret fields
are excluded from ``repr`` so that a logged object can never show them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Version:
    tag: str
    digest: str


@dataclass(frozen=True, slots=True)
class Platform:
    """A wanted platform. Empty fields mean "the runtime's own" (filled in by ``resolved``)."""

    architecture: str = ""
    os: str = ""
    variant: str = ""


@dataclass(frozen=True, slots=True)
class RegistryMirror:
    host: str
    username: str = ""
    password: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class ContentTrust:
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
class Source:
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
    ca_certs: tuple[str, ...] = ()
    client_cert: str = ""
    client_key: str = field(default="", repr=False)
    platform: Platform | None = None
    debug: bool = False


@dataclass(frozen=True, slots=True)
class GetParams:
    format: str = "rootfs"
    platform: Platform | None = None
    skip_download: bool = False


@dataclass(frozen=True, slots=True)
class PutParams:
    image: str = ""
    version: str = ""
    bump_aliases: bool = False
    additional_tags: str = ""
    tag_prefix: str = ""


@dataclass(frozen=True, slots=True)
class CheckRequest:
    source: Source
    version: Version | None = None


@dataclass(frozen=True, slots=True)
class InRequest:
    source: Source
    version: Version
    params: GetParams = GetParams()


@dataclass(frozen=True, slots=True)
class OutRequest:
    source: Source
    params: PutParams = PutParams()
