"""A GUN's trust data: validating what clients publish, generating snapshot and timestamp.

Owns the TUF rules the stub enforces, after notary-server's ``validateUpdate``: a root must be
signed by a threshold of its own root keys (and of the previous root's), roles must be signed by a
threshold of the keys the root (or the parent delegation) lists, versions must go up, nothing may
be expired, and a client-sent snapshot must match the roles it describes. When the client sends
no snapshot the server builds one with the snapshot key it holds; it always signs a fresh
timestamp. It never speaks HTTP (``_app`` does) and never stores a role that failed validation:
an update is applied whole or not at all.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from notary_stub._canonical import CanonicalJSONError, canonical_json
from notary_stub._keys import PublicKey, ServerKey, parse_public_key, verify_signature
from notary_stub._storage import Storage

__all__ = ["NotaryError", "Repositories", "file_meta"]

BASE_ROLES = ("root", "targets", "snapshot", "timestamp")
_TYPES = {"root": "Root", "targets": "Targets", "snapshot": "Snapshot", "timestamp": "Timestamp"}
_ROLE = re.compile(r"^(root|snapshot|timestamp|targets(/[^/\s]+)*)$")
SNAPSHOT_EXPIRY = timedelta(days=3 * 365)
TIMESTAMP_EXPIRY = timedelta(days=14)


class NotaryError(Exception):
    """An error with notary-server's wire code and HTTP status; ``str()`` is its message."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


def valid_role(role: str) -> bool:
    return bool(_ROLE.match(role))


def file_meta(data: bytes) -> dict[str, Any]:
    """Notary's FileMeta with its default hashes (sha256 and sha512, base64)."""
    return {
        "hashes": {
            "sha256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
            "sha512": base64.b64encode(hashlib.sha512(data).digest()).decode(),
        },
        "length": len(data),
    }


def go_marshal(raw: bytes) -> bytes:
    """``raw`` as notary-server re-serialises a role before hashing it into the snapshot.

    notary-server parses what clients publish and hashes Go's ``json.Marshal`` of the parsed
    ``data.Signed`` (``signed`` first, in canonical form, then ``signatures`` with ``keyid``,
    ``method``, ``sig``), not the bytes it received and serves. A client that lays its files out
    differently gets a snapshot that its readers reject; the stub does the same, so such a client
    fails against the stub as it would against the real server.
    """
    document = json.loads(raw)
    signatures = [
        {"keyid": s.get("keyid"), "method": s.get("method"), "sig": s.get("sig")}
        for s in document.get("signatures", [])
        if isinstance(s, dict)
    ]
    return (
        b'{"signed":'
        + canonical_json(document["signed"])
        + b',"signatures":'
        + canonical_json(signatures)
        + b"}"
    )


def _go_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: Any, role: str) -> datetime:
    if not isinstance(text, str):
        raise NotaryError("INVALID_UPDATE", f"{role}: expires must be a timestamp")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise NotaryError("INVALID_UPDATE", f"{role}: expires {text!r} is not RFC 3339") from exc
    if moment.tzinfo is None:
        raise NotaryError("INVALID_UPDATE", f"{role}: expires {text!r} has no time zone")
    return moment


@dataclass(frozen=True, slots=True)
class Signed:
    """One role's metadata file as received: raw bytes plus the parsed parts."""

    role: str
    raw: bytes
    signed: dict[str, Any]
    signatures: list[dict[str, Any]]

    @property
    def version(self) -> int:
        version = self.signed.get("version")
        return version if isinstance(version, int) else 0

    @classmethod
    def parse(cls, role: str, raw: bytes) -> Signed:
        try:
            document = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise NotaryError("MALFORMED_JSON", f"{role}: the update is not valid JSON") from exc
        if not isinstance(document, dict):
            raise NotaryError("MALFORMED_JSON", f"{role}: the update is not a JSON object")
        signed, signatures = document.get("signed"), document.get("signatures")
        if not isinstance(signed, dict) or not isinstance(signatures, list):
            raise NotaryError("MALFORMED_JSON", f"{role}: the update needs 'signed' and 'signatures'")
        if not all(isinstance(s, dict) for s in signatures):
            raise NotaryError("MALFORMED_JSON", f"{role}: every signature must be an object")
        return cls(role, raw, signed, signatures)


@dataclass(frozen=True, slots=True)
class RoleKeys:
    """The keys and threshold that may sign a role."""

    keys: dict[str, PublicKey]
    threshold: int


def _base_type(role: str) -> str:
    return _TYPES["targets" if role.startswith("targets/") else role]


def check_common(meta: Signed, now: datetime) -> None:
    """Type, version and expiry, as notary's builder checks them for every role."""
    if meta.signed.get("_type") != _base_type(meta.role):
        raise NotaryError("INVALID_UPDATE", f"{meta.role}: _type must be {_base_type(meta.role)}")
    version = meta.signed.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise NotaryError("INVALID_UPDATE", f"{meta.role}: version must be a positive integer")
    if _parse_time(meta.signed.get("expires"), meta.role) <= now:
        raise NotaryError("INVALID_UPDATE", f"{meta.role}: metadata has expired")


def verify_threshold(meta: Signed, allowed: RoleKeys, signer: str) -> None:
    """At least ``threshold`` distinct keys of ``allowed`` signed ``meta``'s canonical bytes."""
    try:
        message = canonical_json(meta.signed)
    except CanonicalJSONError as exc:
        raise NotaryError("INVALID_UPDATE", f"{meta.role}: {exc}") from exc
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
    if len(good) < max(allowed.threshold, 1):
        raise NotaryError(
            "INVALID_UPDATE",
            f"{meta.role}: valid signatures did not meet the threshold of {signer} "
            f"({len(good)} of {allowed.threshold})",
        )


def root_role_keys(root: dict[str, Any], role: str) -> RoleKeys:
    """The keys a root lists for one of the base roles."""
    keys, roles = root.get("keys"), root.get("roles")
    if not isinstance(keys, dict) or not isinstance(roles, dict):
        raise NotaryError("INVALID_UPDATE", "root: keys and roles must be objects")
    entry = roles.get(role)
    if not isinstance(entry, dict):
        raise NotaryError("INVALID_UPDATE", f"root: no {role} role")
    return _role_keys(keys, entry, f"root's {role} role")


def _role_keys(keys: dict[str, Any], entry: dict[str, Any], where: str) -> RoleKeys:
    keyids, threshold = entry.get("keyids"), entry.get("threshold")
    if not isinstance(keyids, list) or not isinstance(threshold, int) or threshold < 1:
        raise NotaryError("INVALID_UPDATE", f"{where} needs keyids and a threshold of at least 1")
    found: dict[str, PublicKey] = {}
    for keyid in keyids:
        if not isinstance(keyid, str) or keyid not in keys:
            raise NotaryError("INVALID_UPDATE", f"{where} lists key {keyid!r} which is not defined")
        try:
            found[keyid] = parse_public_key(keys[keyid])
        except ValueError as exc:
            raise NotaryError("INVALID_UPDATE", f"{where}: key {keyid}: {exc}") from exc
    if len(found) < threshold:
        raise NotaryError("INVALID_UPDATE", f"{where} has fewer keys than its threshold")
    return RoleKeys(found, threshold)


def delegation_keys(parent: dict[str, Any], role: str) -> RoleKeys:
    """The keys a targets (or delegated targets) role delegates ``role`` to."""
    delegations = parent.get("delegations")
    if not isinstance(delegations, dict):
        raise NotaryError("INVALID_UPDATE", f"{role}: the parent role has no delegations")
    keys, roles = delegations.get("keys"), delegations.get("roles")
    if not isinstance(keys, dict) or not isinstance(roles, list):
        raise NotaryError("INVALID_UPDATE", f"{role}: the parent's delegations are malformed")
    for entry in roles:
        if isinstance(entry, dict) and entry.get("name") == role:
            return _role_keys(keys, entry, f"delegation {role}")
    raise NotaryError("INVALID_UPDATE", f"{role}: the parent role does not delegate to it")


@dataclass(frozen=True, slots=True)
class Stored:
    """The current version of a role and its bytes."""

    version: int
    raw: bytes


class Repositories:
    """All GUNs of one server: thread-safe reads, one writer at a time."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._lock = threading.RLock()

    # reads -------------------------------------------------------------------------------

    def current(self, gun: str, role: str) -> Stored | None:
        versions = self.storage.versions(gun, role)
        if not versions:
            return None
        return Stored(versions[-1], self.storage.read(gun, role, versions[-1]))

    def by_version(self, gun: str, role: str, version: int) -> bytes | None:
        if version not in self.storage.versions(gun, role):
            return None
        return self.storage.read(gun, role, version)

    def by_checksum(self, gun: str, role: str, checksum: str) -> bytes | None:
        algorithm = {64: hashlib.sha256, 96: hashlib.sha384, 128: hashlib.sha512}.get(len(checksum))
        if algorithm is None:
            return None
        for version in reversed(self.storage.versions(gun, role)):
            data = self.storage.read(gun, role, version)
            if algorithm(data).hexdigest() == checksum.lower():
                return data
        return None

    def current_timestamp(self, gun: str, now: datetime | None = None) -> Stored | None:
        """The current timestamp, re-signed first when it has expired (as notary-server does)."""
        now = now or datetime.now(UTC)
        with self._lock:
            stored = self.current(gun, "timestamp")
            snapshot, root = self.current(gun, "snapshot"), self.current(gun, "root")
            if stored is None or snapshot is None or root is None:
                return stored
            expires = Signed.parse("timestamp", stored.raw).signed.get("expires")
            if isinstance(expires, str) and _parse_time(expires, "timestamp") > now:
                return stored
            root_signed = Signed.parse("root", root.raw).signed
            snapshot_meta = Signed.parse("snapshot", snapshot.raw)
            fresh = self._generate_timestamp(gun, snapshot_meta, root_signed, now)
            self.storage.write_many(gun, [("timestamp", fresh.version, fresh.raw)])
            return Stored(fresh.version, fresh.raw)

    # keys --------------------------------------------------------------------------------

    def get_or_create_key(self, gun: str, role: str) -> ServerKey:
        """The newest key the server holds for ``role``, created on first use."""
        with self._lock:
            keys = self.storage.keys(gun, role)
            if keys:
                return ServerKey(keys[-1])
            return self.rotate_key(gun, role)

    def rotate_key(self, gun: str, role: str) -> ServerKey:
        """A new key for ``role``; the old ones stay usable until a root stops listing them."""
        with self._lock:
            key = ServerKey.generate()
            self.storage.add_key(gun, role, key.private_pem)
            return key

    def _signing_key(self, gun: str, role: str, allowed: RoleKeys) -> ServerKey | None:
        for pem in reversed(self.storage.keys(gun, role)):
            key = ServerKey(pem)
            if key.public.key_id in allowed.keys:
                return key
        return None

    # writes ------------------------------------------------------------------------------

    def delete(self, gun: str) -> None:
        with self._lock:
            self.storage.delete(gun)

    def update(self, gun: str, files: dict[str, bytes], now: datetime | None = None) -> None:
        """Validate and apply one multipart publish; raises ``NotaryError`` and stores nothing."""
        now = now or datetime.now(UTC)
        with self._lock:
            for role in files:
                if not valid_role(role) or role == "timestamp":
                    raise NotaryError("INVALID_ROLE", f"{role} cannot be published by a client")
            updates = {role: Signed.parse(role, raw) for role, raw in files.items()}
            for meta in updates.values():
                check_common(meta, now)
            root = self._validate_root(gun, updates.get("root"))
            targets_roles = sorted(
                (r for r in updates if r == "targets" or r.startswith("targets/")),
                key=lambda r: (r.count("/"), r),
            )
            for role in targets_roles:
                self._validate_targets(gun, updates, root, role)
            applied: dict[str, Signed] = dict(updates)
            if "snapshot" in updates:
                self._validate_snapshot(gun, updates, root)
            else:
                applied["snapshot"] = self._generate_snapshot(gun, updates, root, now)
            applied["timestamp"] = self._generate_timestamp(gun, applied["snapshot"], root, now)
            for role, meta in applied.items():
                stored = self.current(gun, role)
                if stored is not None and stored.version >= meta.version:
                    raise NotaryError(
                        "VERSION",
                        f"{role}: version {meta.version} is not newer than stored version {stored.version}",
                    )
            self.storage.write_many(gun, [(r, m.version, m.raw) for r, m in applied.items()])

    def _stored_signed(self, gun: str, role: str) -> dict[str, Any] | None:
        stored = self.current(gun, role)
        if stored is None:
            return None
        return Signed.parse(role, stored.raw).signed

    def _validate_root(self, gun: str, update: Signed | None) -> dict[str, Any]:
        previous = self.current(gun, "root")
        if update is None:
            if previous is None:
                raise NotaryError("INVALID_UPDATE", "no pre-existing root and no root provided in update.")
            return Signed.parse("root", previous.raw).signed
        new_root = update.signed
        for role in BASE_ROLES:
            root_role_keys(new_root, role)
        if previous is not None:
            old_root = Signed.parse("root", previous.raw).signed
            if update.version not in (previous.version, previous.version + 1):
                raise NotaryError(
                    "INVALID_UPDATE",
                    "Root modifications must increment the version. "
                    f"Current {previous.version}, new {update.version}",
                )
            verify_threshold(update, root_role_keys(old_root, "root"), "the previous root")
        verify_threshold(update, root_role_keys(new_root, "root"), "the root role")
        return new_root

    def _validate_targets(
        self, gun: str, updates: dict[str, Signed], root: dict[str, Any], role: str
    ) -> None:
        meta = updates[role]
        if role == "targets":
            verify_threshold(meta, root_role_keys(root, "targets"), "the targets role")
            return
        parent_role = role.rsplit("/", 1)[0]
        parent = (
            updates[parent_role].signed if parent_role in updates else self._stored_signed(gun, parent_role)
        )
        if parent is None:
            raise NotaryError("INVALID_UPDATE", f"{role}: parent role {parent_role} does not exist")
        verify_threshold(meta, delegation_keys(parent, role), f"delegation {role}")

    def _role_bytes(self, gun: str, updates: dict[str, Signed], role: str) -> bytes | None:
        if role in updates:
            return updates[role].raw
        stored = self.current(gun, role)
        return None if stored is None else stored.raw

    def _validate_snapshot(self, gun: str, updates: dict[str, Signed], root: dict[str, Any]) -> None:
        snapshot = updates["snapshot"]
        verify_threshold(snapshot, root_role_keys(root, "snapshot"), "the snapshot role")
        meta = snapshot.signed.get("meta")
        if not isinstance(meta, dict):
            raise NotaryError("INVALID_UPDATE", "snapshot: meta must be an object")
        for role in ("root", "targets"):
            if role not in meta:
                raise NotaryError("INVALID_UPDATE", f"snapshot: no meta for {role}")
        for role, entry in meta.items():
            data = self._role_bytes(gun, updates, role)
            if data is None:
                continue
            if not isinstance(entry, dict) or not _matches(entry, data):
                raise NotaryError("INVALID_UPDATE", f"snapshot: the meta for {role} does not match its data")

    def _generate_snapshot(
        self, gun: str, updates: dict[str, Signed], root: dict[str, Any], now: datetime
    ) -> Signed:
        key = self._signing_key(gun, "snapshot", root_role_keys(root, "snapshot"))
        if key is None:
            raise NotaryError(
                "INVALID_UPDATE",
                "no snapshot was included in update and server does not hold "
                "current snapshot key for repository",
            )
        previous = self._stored_signed(gun, "snapshot")
        meta: dict[str, Any] = (
            dict(previous["meta"]) if previous and isinstance(previous.get("meta"), dict) else {}
        )
        for role in ("root", "targets", *sorted(r for r in updates if r.startswith("targets/"))):
            data = self._role_bytes(gun, updates, role)
            if data is None:
                raise NotaryError("INVALID_UPDATE", f"cannot build a snapshot: no {role} metadata")
            meta[role] = file_meta(go_marshal(data))
        version = (previous.get("version", 0) if previous else 0) + 1
        body = {
            "_type": "Snapshot",
            "expires": _go_time(now + SNAPSHOT_EXPIRY),
            "meta": meta,
            "version": version,
        }
        return _sign("snapshot", body, key)

    def _generate_timestamp(self, gun: str, snapshot: Signed, root: dict[str, Any], now: datetime) -> Signed:
        key = self._signing_key(gun, "timestamp", root_role_keys(root, "timestamp"))
        if key is None:
            raise NotaryError("INVALID_UPDATE", "no timestamp keys exist on the server")
        previous = self._stored_signed(gun, "timestamp")
        version = (previous.get("version", 0) if previous else 0) + 1
        body = {
            "_type": "Timestamp",
            "expires": _go_time(now + TIMESTAMP_EXPIRY),
            "meta": {"snapshot": file_meta(snapshot.raw)},
            "version": version,
        }
        return _sign("timestamp", body, key)


def _matches(entry: dict[str, Any], data: bytes) -> bool:
    hashes = entry.get("hashes")
    if entry.get("length") != len(data) or not isinstance(hashes, dict) or not hashes:
        return False
    checked = False
    for name, algorithm in (("sha256", hashlib.sha256), ("sha512", hashlib.sha512)):
        if name in hashes:
            checked = True
            if hashes[name] != base64.b64encode(algorithm(data).digest()).decode():
                return False
    return checked


def _sign(role: str, body: dict[str, Any], key: ServerKey) -> Signed:
    # Laid out as Go's json.Marshal of notary's data.Signed writes it: "signed" first.
    message = canonical_json(body)
    signature = key.sign(message)
    raw = b'{"signed":' + message + b',"signatures":' + canonical_json([signature]) + b"}"
    return Signed(role, raw, body, [signature])
