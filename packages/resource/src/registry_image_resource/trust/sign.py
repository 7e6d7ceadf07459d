"""Signing pushed tags into a Notary repository (SPEC B.5.8 with A.2.7).

Owns the signing flow after a successful push: which server and GUN, loading the repository key,
checking the GUN's current trust data (root self-signed, timestamp -> snapshot -> targets hashes
and signatures), adding one target per tag (``{name: tag, hashes: {sha256}, length}``) to the
``targets`` role, signing it with the repository key and publishing it; the server builds the
snapshot (it holds that key, as Docker's and notary-gcr's repositories are set up) and the
timestamp.

A GUN with no trust data yet is initialised the way notary-gcr does it, so that a fresh GUN
works: a new root key (ECDSA P-256, self-signed certificate with CN = GUN) signs a root that
names the repository key for ``targets`` and the server's keys for ``snapshot`` and
``timestamp``. The root key lives only in memory and is dropped after signing (notary-gcr keeps
it in a temporary directory nobody sees again); whoever needs to rotate keys later should run
``notary init`` with their own root key before the first signed push. Delegation roles are not
signed into directly; when ``targets`` delegates (``targets/<name>``, as ``docker trust signer add``
sets up), the tags go into each such delegation that lists the repository key and whose paths
allow the tag, as notary-gcr does, and the ``targets`` role itself is left alone.

Every failure raises a ``ResourceError`` subclass; the caller (``trust.sign_tags``) prefixes it
with the pushed digest. Nothing here may format a passphrase, password, token or key into a
message or a log line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from registry_image_resource.errors import InputError, RegistryError, RequestError, ResourceError
from registry_image_resource.log import get_logger
from registry_image_resource.protocol.models import Source
from registry_image_resource.protocol.optional_models import ContentTrust
from registry_image_resource.registry.reference import DEFAULT_REGISTRY, Repository
from registry_image_resource.trust.keys import KeyFileError, SigningKey, load_repository_key, new_root_key
from registry_image_resource.trust.metadata import (
    MetadataError,
    RoleKeys,
    Signed,
    check_file_meta,
    delegations,
    empty_targets,
    new_root,
    root_role_keys,
    sha256_hex_from_meta,
    sign_document,
    verify_role,
    with_targets,
)
from registry_image_resource.trust.notary import NotaryConnection, NotaryOptions, connect

__all__ = ["notary_gun", "notary_server", "sign"]

DOCKER_HUB_NOTARY = "https://notary.docker.io"
_DOCKER_HUB = {DEFAULT_REGISTRY, "docker.io", "registry-1.docker.io"}
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
_SCOPES = re.compile(r"^(pull|push|\*)(,(pull|push|\*))*$")


def notary_server(trust: ContentTrust, repo: Repository) -> str:
    """``content_trust.server``, else Docker Hub's Notary, else ``https://<registry host>``; HTTPS only."""
    server = trust.server.strip()
    if not server:
        return DOCKER_HUB_NOTARY if repo.registry in _DOCKER_HUB else f"https://{repo.registry}"
    parts = urlsplit(server)
    if parts.scheme != "https" or not parts.netloc:
        raise RequestError(f"valid https URL required for trust server, got {server}")
    return server.rstrip("/")


def notary_gun(repo: Repository) -> str:
    """``<registry>/<path>``, with ``docker.io`` for Docker Hub (as Docker's content trust names it)."""
    registry = "docker.io" if repo.registry in _DOCKER_HUB else repo.registry
    return f"{registry}/{repo.path}"


def _options(source: Source, trust: ContentTrust, repo: Repository) -> NotaryOptions:
    if trust.username or trust.password:
        username, password = trust.username, trust.password
    else:
        username, password = source.username, source.password
    scopes = trust.scopes.strip() or "push,pull"
    if not _SCOPES.match(scopes):
        raise RequestError(f"content_trust.scopes must be a comma list of pull, push or *, got {scopes!r}")
    return NotaryOptions(
        url=notary_server(trust, repo),
        gun=notary_gun(repo),
        username=username,
        password=password,
        scopes=scopes,
        ca_certs=source.ca_certs,
        insecure=source.insecure,
        client_cert=trust.tls_cert,
        client_key=trust.tls_key,
    )


def _signing_key(trust: ContentTrust, gun: str) -> SigningKey:
    if not trust.repository_key.strip():
        raise RequestError("content_trust.repository_key is empty")
    try:
        key = load_repository_key(trust.repository_key, trust.repository_passphrase)
    except KeyFileError as exc:
        if str(exc) == "wrong passphrase":
            raise InputError(
                "content_trust.repository_passphrase does not decrypt content_trust.repository_key"
            ) from None
        raise InputError(f"content_trust.repository_key: {exc}") from None
    wanted = trust.repository_key_id.strip()
    if wanted and wanted != key.key_id:
        raise RequestError(
            f"content_trust.repository_key_id {wanted} does not match content_trust.repository_key "
            f"(whose key id is {key.key_id})"
        )
    if key.role and key.role != "targets" and not key.role.startswith("targets/"):
        raise RequestError(
            f"content_trust.repository_key is a {key.role} key; it must be the repository's targets key"
        )
    if key.gun and key.gun != gun:
        get_logger().warning("content_trust.repository_key was made for %s, signing %s with it", key.gun, gun)
    return key


@dataclass(frozen=True, slots=True)
class TrustData:
    """An initialised GUN's verified root, snapshot and targets."""

    root: Signed
    snapshot: Signed
    targets: Signed


def _current_targets(notary: NotaryConnection, root_raw: bytes, now: datetime) -> TrustData:
    """The verified root, snapshot and targets of an initialised GUN."""
    root = Signed.parse("root", root_raw)
    root.check(now)
    verify_role(root, root_role_keys(root, "root"))
    timestamp_raw = notary.get_metadata("timestamp")
    if timestamp_raw is None:
        raise MetadataError("the server has root.json but no timestamp.json")
    timestamp = Signed.parse("timestamp", timestamp_raw)
    timestamp.check(now)
    verify_role(timestamp, root_role_keys(root, "timestamp"))
    snapshot_raw = _by_checksum(notary, timestamp, "snapshot")
    check_file_meta(timestamp, "snapshot", snapshot_raw)
    snapshot = Signed.parse("snapshot", snapshot_raw)
    snapshot.check(now)
    verify_role(snapshot, root_role_keys(root, "snapshot"))
    targets_raw = _by_checksum(notary, snapshot, "targets")
    check_file_meta(snapshot, "targets", targets_raw)
    targets = Signed.parse("targets", targets_raw)
    targets.check(now, allow_expired=True)  # we re-sign it with a new expiry anyway
    verify_role(targets, root_role_keys(root, "targets"))
    return TrustData(root, snapshot, targets)


def _by_checksum(notary: NotaryConnection, parent: Signed, role: str) -> bytes:
    checksum = sha256_hex_from_meta(parent, role)
    raw = notary.get_metadata(f"{role}.{checksum}" if checksum else role)
    if raw is None:
        raise MetadataError(f"the server has no {role}.json matching {parent.role}.json")
    return raw


def _entries(tags: list[str], digest: str, size: int) -> dict[str, tuple[bytes, int]]:
    match = _DIGEST.match(digest)
    if match is None:
        raise ResourceError(f"cannot sign digest {digest!r}: only sha256 digests can be signed")
    return {tag: (bytes.fromhex(match.group(1)), size) for tag in tags}


def _keyid(key: SigningKey, allowed: RoleKeys, where: str) -> str:
    """The id under which ``allowed`` lists ``key``; one signature must meet the threshold."""
    keyid = next((keyid for keyid, public in allowed.keys.items() if key.matches(public)), None)
    if keyid is None:
        raise RequestError(
            f"content_trust.repository_key (key id {key.key_id}) is not a {where}; "
            f"its keys are {', '.join(sorted(allowed.keys)) or 'none'}"
        )
    if allowed.threshold > 1:
        raise RequestError(
            f"the {where} needs {allowed.threshold} signatures; only one repository key is configured"
        )
    return keyid


def _updates(
    notary: NotaryConnection,
    key: SigningKey,
    current: TrustData,
    entries: dict[str, tuple[bytes, int]],
    now: datetime,
) -> dict[str, bytes]:
    """The re-signed roles: ``targets``, or (as notary-gcr) the delegations under it that our key signs."""
    gun, root, snapshot, targets = notary.options.gun, current.root, current.snapshot, current.targets
    roles = delegations(targets)
    if not roles:
        keyid = _keyid(key, root_role_keys(root, "targets"), f"targets key of {gun}")
        return {"targets": sign_document(with_targets(targets.signed, entries, now), key, keyid)}
    files: dict[str, bytes] = {}
    placed: set[str] = set()
    for role in roles:
        if not any(key.matches(public) for public in role.keys.keys.values()):
            continue
        mine = {name: entry for name, entry in entries.items() if role.allows(name)}
        if not mine:
            continue
        keyid = _keyid(key, role.keys, f"key of delegation {role.name} of {gun}")
        if sha256_hex_from_meta(snapshot, role.name) is None:
            signed = empty_targets(now)  # delegated, never published yet
        else:
            raw = _by_checksum(notary, snapshot, role.name)
            check_file_meta(snapshot, role.name, raw)
            meta = Signed.parse(role.name, raw)
            meta.check(now, allow_expired=True)
            verify_role(meta, role.keys)
            signed = meta.signed
        files[role.name] = sign_document(with_targets(signed, mine, now), key, keyid)
        placed.update(mine)
    missing = [name for name in entries if name not in placed]
    if missing:
        names = ", ".join(role.name for role in roles)
        raise RequestError(
            f"no valid signing keys for delegation roles: {gun} delegates to {names}, and "
            f"content_trust.repository_key (key id {key.key_id}) may sign none of them "
            f"for {', '.join(missing)}"
        )
    return files


def sign(source: Source, repo: Repository, tags: list[str], digest: str, size: int) -> None:
    """Add ``tags`` -> (``digest``, ``size``) to the GUN's targets role and publish it."""
    trust = source.content_trust
    if trust is None or not tags:
        return
    entries = _entries(tags, digest, size)
    options = _options(source, trust, repo)
    key = _signing_key(trust, options.gun)
    log = get_logger()
    log.debug("content trust: server %s, GUN %s, repository key %s", options.url, options.gun, key.key_id)
    now = datetime.now(UTC)
    with connect(options) as notary:
        root_raw = notary.get_metadata("root")
        try:
            if root_raw is None:
                log.info("initialising trust data for %s on %s", options.gun, options.url)
                root_key = new_root_key(options.gun, now)
                root_signed = new_root(
                    root_key.public, key.public, notary.get_key("snapshot"), notary.get_key("timestamp"), now
                )
                targets_signed = with_targets(empty_targets(now), entries, now)
                files = {
                    "root": sign_document(root_signed, root_key),
                    "targets": sign_document(targets_signed, key),
                }
            else:
                files = _updates(notary, key, _current_targets(notary, root_raw, now), entries, now)
        except MetadataError as exc:
            raise RegistryError(
                f"the trust data of {options.gun} on {options.url} is not valid: {exc}"
            ) from None
        for tag in tags:
            log.info("signing image with tag: %s", tag)
        notary.publish(files)
