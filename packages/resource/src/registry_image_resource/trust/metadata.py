"""TUF metadata in Notary's flavour: reading, checking and building root, targets, snapshot, timestamp.

Owns the client-side TUF rules the signer applies before it trusts what a Notary server sends
(types, expiry, threshold signatures by the keys the root lists, hashes and lengths along the
timestamp -> snapshot -> targets chain) and the shape of the roles it writes. python-tuf and
securesystemslib were considered and not used: their metadata classes model the reference TUF
format (``spec_version``, ``consistent_snapshot`` semantics, ``ecdsa-sha2-nistp256`` key types,
DER signatures) while Notary uses its own key types (``ecdsa``, ``ecdsa-x509``), raw ``r||s``
signatures, base64 hashes and Go's canonical JSON, so they would need as much adapting as the
little code here. This module does no I/O and must never sign anything it has not checked.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from registry_image_resource.trust.canonical import CanonicalJSONError, canonical_json
from registry_image_resource.trust.keys import (
    KeyFileError,
    PublicKey,
    SigningKey,
    parse_public_key,
    verify_signature,
)

__all__ = [
    "Delegation",
    "MetadataError",
    "RoleKeys",
    "Signed",
    "check_file_meta",
    "delegations",
    "go_time",
    "root_role_keys",
    "sign_document",
    "verify_role",
]

ROOT_EXPIRY = timedelta(days=10 * 365)
TARGETS_EXPIRY = timedelta(days=3 * 365)
_TYPES = {"root": "Root", "targets": "Targets", "snapshot": "Snapshot", "timestamp": "Timestamp"}


class MetadataError(ValueError):
    """Metadata from the server that cannot be trusted or used; ``str()`` names the role and why."""


def go_time(moment: datetime) -> str:
    """RFC 3339 in UTC, as Go's ``time.Time`` marshals (whole seconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Signed:
    """A role's file: raw bytes, the ``signed`` object and its signatures."""

    role: str
    raw: bytes
    signed: dict[str, Any]
    signatures: list[dict[str, Any]]

    @property
    def version(self) -> int:
        version = self.signed.get("version")
        return version if isinstance(version, int) and not isinstance(version, bool) else 0

    @classmethod
    def parse(cls, role: str, raw: bytes) -> Signed:
        try:
            document = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise MetadataError(f"{role}.json is not valid JSON") from None
        signed = document.get("signed") if isinstance(document, dict) else None
        signatures = document.get("signatures") if isinstance(document, dict) else None
        if not isinstance(signed, dict) or not isinstance(signatures, list):
            raise MetadataError(f"{role}.json has no 'signed' object or 'signatures' list")
        return cls(role, raw, signed, [s for s in signatures if isinstance(s, dict)])

    def check(self, now: datetime, *, allow_expired: bool = False) -> None:
        """``_type`` and ``version`` are right and (unless allowed) it has not expired."""
        wanted = _TYPES["targets" if self.role.startswith("targets/") else self.role]
        if self.signed.get("_type") != wanted:
            raise MetadataError(f"{self.role}.json has _type {self.signed.get('_type')!r}, not {wanted}")
        if self.version < 1:
            raise MetadataError(f"{self.role}.json has no valid version")
        expires = self.signed.get("expires")
        try:
            moment = datetime.fromisoformat(expires) if isinstance(expires, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise MetadataError(f"{self.role}.json has no valid expiry")
        if moment <= now and not allow_expired:
            raise MetadataError(f"{self.role}.json expired at {expires}")


@dataclass(frozen=True, slots=True)
class RoleKeys:
    keys: dict[str, PublicKey]
    threshold: int


def root_role_keys(root: Signed, role: str) -> RoleKeys:
    """The keys and threshold ``root`` assigns to ``role``."""
    keys, roles = root.signed.get("keys"), root.signed.get("roles")
    entry = roles.get(role) if isinstance(roles, dict) else None
    if not isinstance(keys, dict) or not isinstance(entry, dict):
        raise MetadataError(f"root.json defines no {role} role")
    return _role_keys(keys, entry, f"root.json's {role} role")


def _role_keys(keys: dict[str, Any], entry: dict[str, Any], where: str) -> RoleKeys:
    keyids, threshold = entry.get("keyids"), entry.get("threshold")
    if not isinstance(keyids, list) or not isinstance(threshold, int) or threshold < 1:
        raise MetadataError(f"{where} has no keyids or threshold")
    found: dict[str, PublicKey] = {}
    for keyid in keyids:
        if isinstance(keyid, str) and keyid in keys:
            try:
                found[keyid] = parse_public_key(keys[keyid])
            except KeyFileError as exc:
                raise MetadataError(f"{where}: key {keyid}: {exc}") from None
    return RoleKeys(found, threshold)


@dataclass(frozen=True, slots=True)
class Delegation:
    """A role ``targets`` delegates to: its keys and the target path prefixes it may sign."""

    name: str
    keys: RoleKeys
    paths: tuple[str, ...]

    def allows(self, target: str) -> bool:
        return any(target.startswith(prefix) for prefix in self.paths)


def delegations(targets: Signed) -> list[Delegation]:
    """The delegations directly under ``targets`` (``targets/<name>``), in the order listed."""
    section = targets.signed.get("delegations")
    if not isinstance(section, dict):
        return []
    keys, roles = section.get("keys"), section.get("roles")
    if not isinstance(keys, dict) or not isinstance(roles, list):
        return []
    found: list[Delegation] = []
    for entry in roles:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not isinstance(name, str) or name.count("/") != 1:
            continue
        paths = entry.get("paths")
        prefixes = tuple(p for p in paths if isinstance(p, str)) if isinstance(paths, list) else ()
        found.append(Delegation(name, _role_keys(keys, entry, f"delegation {name}"), prefixes))
    return found


def verify_role(meta: Signed, allowed: RoleKeys) -> None:
    """At least ``threshold`` distinct allowed keys signed ``meta``'s canonical bytes."""
    try:
        message = canonical_json(meta.signed)
    except CanonicalJSONError as exc:
        raise MetadataError(f"{meta.role}.json: {exc}") from None
    good: set[str] = set()
    for signature in meta.signatures:
        keyid, method, sig = signature.get("keyid"), signature.get("method"), signature.get("sig")
        if not isinstance(keyid, str) or keyid not in allowed.keys or keyid in good:
            continue
        if not isinstance(method, str) or not isinstance(sig, str):
            continue
        try:
            raw = base64.b64decode(sig, validate=True)
        except ValueError:
            continue
        if verify_signature(allowed.keys[keyid], method, raw, message):
            good.add(keyid)
    if len(good) < allowed.threshold:
        raise MetadataError(
            f"{meta.role}.json is not signed by enough of its keys ({len(good)} of {allowed.threshold} valid)"
        )


def check_file_meta(parent: Signed, role: str, data: bytes) -> None:
    """``data`` has the length and hashes ``parent`` (timestamp or snapshot) records for ``role``."""
    meta = parent.signed.get("meta")
    entry = meta.get(role) if isinstance(meta, dict) else None
    if not isinstance(entry, dict):
        raise MetadataError(f"{parent.role}.json has no entry for {role}")
    hashes = entry.get("hashes")
    if entry.get("length") != len(data) or not isinstance(hashes, dict):
        raise MetadataError(f"{role}.json does not have the length {parent.role}.json records")
    checked = 0
    for name, algorithm in (("sha256", hashlib.sha256), ("sha512", hashlib.sha512)):
        if name in hashes:
            checked += 1
            if hashes[name] != base64.b64encode(algorithm(data).digest()).decode():
                raise MetadataError(f"{role}.json does not match the {name} {parent.role}.json records")
    if not checked:
        raise MetadataError(f"{parent.role}.json records no sha256 or sha512 for {role}")


def sha256_hex_from_meta(parent: Signed, role: str) -> str | None:
    """The hex sha256 ``parent`` records for ``role`` (to fetch ``<role>.<sha256>.json``)."""
    meta = parent.signed.get("meta")
    entry = meta.get(role) if isinstance(meta, dict) else None
    hashes = entry.get("hashes") if isinstance(entry, dict) else None
    value = hashes.get("sha256") if isinstance(hashes, dict) else None
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True).hex()
    except ValueError:
        return None


def sign_document(signed: dict[str, Any], key: SigningKey, keyid: str | None = None) -> bytes:
    """The file bytes of ``signed``, signed by ``key`` (listed in the role as ``keyid``).

    Byte for byte what Notary's Go code writes (``json.Marshal`` of ``data.Signed``: ``signed``
    first, as canonical JSON, then ``signatures``), because notary-server re-marshals the roles it
    parses and hashes that into the snapshot: any other layout makes clients reject the snapshot.
    """
    message = canonical_json(signed)
    signatures = [key.sign(message, keyid)]
    return b'{"signed":' + message + b',"signatures":' + canonical_json(signatures) + b"}"


def new_root(
    root_key: PublicKey, targets: PublicKey, snapshot: PublicKey, timestamp: PublicKey, now: datetime
) -> dict[str, Any]:
    """Version 1 of a root with one key per role, as ``notary init`` writes it."""
    keys = {key.key_id: key.to_json() for key in (root_key, targets, snapshot, timestamp)}
    roles = {
        name: {"keyids": [key.key_id], "threshold": 1}
        for name, key in (
            ("root", root_key),
            ("targets", targets),
            ("snapshot", snapshot),
            ("timestamp", timestamp),
        )
    }
    return {
        "_type": "Root",
        "consistent_snapshot": False,
        "expires": go_time(now + ROOT_EXPIRY),
        "keys": keys,
        "roles": roles,
        "version": 1,
    }


def empty_targets(now: datetime) -> dict[str, Any]:
    """Version 0 of a targets role (the caller adds targets and bumps the version)."""
    return {
        "_type": "Targets",
        "delegations": {"keys": {}, "roles": []},
        "expires": go_time(now + TARGETS_EXPIRY),
        "targets": {},
        "version": 0,
    }


def with_targets(
    targets: dict[str, Any], entries: dict[str, tuple[bytes, int]], now: datetime
) -> dict[str, Any]:
    """A copy of a targets ``signed`` object with ``entries`` (name -> sha256, length) set, version + 1."""
    updated = dict(targets)
    current = targets.get("targets")
    files: dict[str, Any] = dict(current) if isinstance(current, dict) else {}
    for name, (sha256, length) in entries.items():
        files[name] = {"hashes": {"sha256": base64.b64encode(sha256).decode()}, "length": length}
    updated["targets"] = files
    version = targets.get("version")
    updated["version"] = (version if isinstance(version, int) else 0) + 1
    updated["expires"] = go_time(now + TARGETS_EXPIRY)
    updated.setdefault("delegations", {"keys": {}, "roles": []})
    return updated
