"""What the stub accepts and refuses on publish, with metadata built here (no notary client)."""

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from notary_stub import MemoryStorage, NotaryError, Repositories, canonical_json
from notary_stub._keys import ServerKey, verify_signature
from notary_stub._repository import file_meta, go_marshal

GUN = "registry.example/team/app"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def later(days):
    return (NOW + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


ROOT_EXPIRES, TARGETS_EXPIRES = later(3650), later(1000)


def signed_file(body, *keys):
    message = canonical_json(body)
    return (
        b'{"signed":' + message + b',"signatures":' + canonical_json([k.sign(message) for k in keys]) + b"}"
    )


class Gun:
    """A client's keys for one GUN, and the root naming them plus the server's keys."""

    def __init__(self, repos, snapshot_on_server=True):
        self.repos = repos
        self.root_key, self.targets_key = ServerKey.generate(), ServerKey.generate()
        self.snapshot_key = (
            repos.get_or_create_key(GUN, "snapshot") if snapshot_on_server else ServerKey.generate()
        )
        self.timestamp_key = repos.get_or_create_key(GUN, "timestamp")

    def root(self, version=1, expires=ROOT_EXPIRES, signers=None):
        keys = [self.root_key, self.targets_key, self.snapshot_key, self.timestamp_key]
        body = {
            "_type": "Root",
            "consistent_snapshot": False,
            "expires": expires,
            "keys": {k.public.key_id: k.public.to_json() for k in keys},
            "roles": {
                role: {"keyids": [key.public.key_id], "threshold": 1}
                for role, key in zip(("root", "targets", "snapshot", "timestamp"), keys, strict=True)
            },
            "version": version,
        }
        return signed_file(body, *(signers or [self.root_key]))

    def targets(self, version=1, expires=TARGETS_EXPIRES, names=("v1",), signers=None):
        body = {
            "_type": "Targets",
            "delegations": {"keys": {}, "roles": []},
            "expires": expires,
            "targets": {
                n: {"hashes": {"sha256": base64.b64encode(b"\0" * 32).decode()}, "length": 1} for n in names
            },
            "version": version,
        }
        return signed_file(body, *(signers or [self.targets_key]))


@pytest.fixture
def repos():
    return Repositories(MemoryStorage())


def refusal(repos, files):
    """(code, message) of the NotaryError that publishing ``files`` raises."""
    with pytest.raises(NotaryError) as caught:
        repos.update(GUN, files, now=NOW)
    return caught.value.code, caught.value.message


def test_a_valid_publish_gets_a_server_snapshot_and_timestamp(repos):
    gun = Gun(repos)
    root, targets = gun.root(), gun.targets()
    repos.update(GUN, {"root": root, "targets": targets}, now=NOW)
    snapshot = json.loads(repos.current(GUN, "snapshot").raw)
    timestamp = json.loads(repos.current(GUN, "timestamp").raw)
    assert snapshot["signed"]["meta"] == {
        "root": file_meta(go_marshal(root)),
        "targets": file_meta(go_marshal(targets)),
    }
    assert snapshot["signed"]["expires"] == "2028-12-31T00:00:00Z"
    assert timestamp["signed"]["meta"] == {"snapshot": file_meta(repos.current(GUN, "snapshot").raw)}
    assert (snapshot["signed"]["version"], timestamp["signed"]["version"]) == (1, 1)
    signature = timestamp["signatures"][0]
    assert signature["keyid"] == gun.timestamp_key.public.key_id
    assert verify_signature(
        gun.timestamp_key.public,
        "ecdsa",
        base64.b64decode(signature["sig"]),
        canonical_json(timestamp["signed"]),
    )


def test_versions_and_checksums_stay_reachable(repos):
    gun = Gun(repos)
    repos.update(GUN, {"root": gun.root(), "targets": gun.targets()}, now=NOW)
    second = gun.targets(version=2, names=("v1", "v2"))
    repos.update(GUN, {"targets": second}, now=NOW)
    assert repos.by_version(GUN, "targets", 2) == second
    assert repos.by_checksum(GUN, "targets", hashlib.sha256(second).hexdigest()) == second
    assert repos.by_checksum(GUN, "targets", hashlib.sha512(second).hexdigest()) == second
    assert repos.current(GUN, "timestamp").version == 2


def test_a_bad_targets_signature_is_refused_and_nothing_is_stored(repos):
    gun = Gun(repos)
    stranger = ServerKey.generate()
    assert refusal(repos, {"root": gun.root(), "targets": gun.targets(signers=[stranger])}) == (
        "INVALID_UPDATE",
        "targets: valid signatures did not meet the threshold of the targets role (0 of 1)",
    )
    assert repos.current(GUN, "root") is None


def test_an_old_version_is_refused(repos):
    gun = Gun(repos)
    repos.update(GUN, {"root": gun.root(), "targets": gun.targets()}, now=NOW)
    assert refusal(repos, {"targets": gun.targets(version=1)}) == (
        "VERSION",
        "targets: version 1 is not newer than stored version 1",
    )


def test_expired_metadata_is_refused(repos):
    gun = Gun(repos)
    expired = gun.targets(expires="2025-12-31T00:00:00Z")
    assert refusal(repos, {"root": gun.root(), "targets": expired}) == (
        "INVALID_UPDATE",
        "targets: metadata has expired",
    )


def test_a_new_root_must_be_signed_by_the_previous_root_key(repos):
    gun = Gun(repos)
    repos.update(GUN, {"root": gun.root(), "targets": gun.targets()}, now=NOW)
    gun.root_key = ServerKey.generate()
    assert refusal(repos, {"root": gun.root(version=2)}) == (
        "INVALID_UPDATE",
        "root: valid signatures did not meet the threshold of the previous root (0 of 1)",
    )


def test_root_versions_may_only_step_by_one(repos):
    gun = Gun(repos)
    repos.update(GUN, {"root": gun.root(), "targets": gun.targets()}, now=NOW)
    assert refusal(repos, {"root": gun.root(version=3)}) == (
        "INVALID_UPDATE",
        "Root modifications must increment the version. Current 1, new 3",
    )


def test_without_the_snapshot_key_the_client_must_send_a_snapshot(repos):
    gun = Gun(repos, snapshot_on_server=False)
    assert refusal(repos, {"root": gun.root(), "targets": gun.targets()}) == (
        "INVALID_UPDATE",
        "no snapshot was included in update and server does not hold current snapshot key for repository",
    )


def test_a_client_snapshot_must_match_the_roles(repos):
    gun = Gun(repos, snapshot_on_server=False)
    root, targets = gun.root(), gun.targets()
    body = {
        "_type": "Snapshot",
        "expires": later(1000),
        "meta": {"root": file_meta(root), "targets": file_meta(b"other bytes")},
        "version": 1,
    }
    files = {"root": root, "targets": targets, "snapshot": signed_file(body, gun.snapshot_key)}
    assert refusal(repos, files) == (
        "INVALID_UPDATE",
        "snapshot: the meta for targets does not match its data",
    )
    body["meta"]["targets"] = file_meta(targets)
    repos.update(
        GUN, {"root": root, "targets": targets, "snapshot": signed_file(body, gun.snapshot_key)}, now=NOW
    )
    assert repos.current(GUN, "timestamp").version == 1


def test_a_root_without_the_servers_timestamp_key_is_refused(repos):
    gun = Gun(repos)
    gun.timestamp_key = ServerKey.generate()
    assert refusal(repos, {"root": gun.root(), "targets": gun.targets()}) == (
        "INVALID_UPDATE",
        "no timestamp keys exist on the server",
    )


def test_no_root_anywhere(repos):
    gun = Gun(repos)
    assert refusal(repos, {"targets": gun.targets()}) == (
        "INVALID_UPDATE",
        "no pre-existing root and no root provided in update.",
    )


def test_delete_forgets_metadata_but_keeps_server_keys(repos):
    gun = Gun(repos)
    repos.update(GUN, {"root": gun.root(), "targets": gun.targets()}, now=NOW)
    repos.delete(GUN)
    assert repos.current(GUN, "root") is None
    assert repos.get_or_create_key(GUN, "timestamp").public == gun.timestamp_key.public


def test_an_expired_timestamp_is_re_signed_when_fetched(repos):
    gun = Gun(repos)
    repos.update(GUN, {"root": gun.root(), "targets": gun.targets()}, now=NOW)
    first = repos.current(GUN, "timestamp")
    assert repos.current_timestamp(GUN, now=NOW + timedelta(days=13)) == first
    fresh = repos.current_timestamp(GUN, now=NOW + timedelta(days=15))
    body = json.loads(fresh.raw)["signed"]
    assert (fresh.version, body["expires"]) == (2, "2026-01-30T00:00:00Z")
    assert body["meta"] == json.loads(first.raw)["signed"]["meta"]
