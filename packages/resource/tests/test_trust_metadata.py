"""TUF metadata the signer reads and writes, in Notary's layout."""

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from registry_image_resource.trust.canonical import canonical_json
from registry_image_resource.trust.keys import SigningKey
from registry_image_resource.trust.metadata import (
    MetadataError,
    RoleKeys,
    Signed,
    check_file_meta,
    empty_targets,
    sign_document,
    verify_role,
    with_targets,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def exactly(text):
    return f"^{re.escape(text)}$"


def new_key():
    return SigningKey.from_private(ec.generate_private_key(ec.SECP256R1()))


def test_files_are_laid_out_as_go_marshals_notary_signed():
    key = new_key()
    raw = sign_document({"b": 1, "a": "x"}, key)
    assert raw.startswith(
        b'{"signed":{"a":"x","b":1},"signatures":[{"keyid":"'
        + key.key_id.encode()
        + b'","method":"ecdsa","sig":"'
    )
    assert raw.endswith(b'"}]}')


def test_with_targets_adds_entries_bumps_version_and_expiry():
    targets = empty_targets(NOW)
    updated = with_targets(targets, {"1.0": (b"\xab" * 32, 123)}, NOW)
    assert updated["version"] == 1
    assert updated["targets"] == {
        "1.0": {"hashes": {"sha256": base64.b64encode(b"\xab" * 32).decode()}, "length": 123}
    }
    assert updated["expires"] == "2029-01-01T03:04:05Z"
    again = with_targets(updated, {"2.0": (b"\x01" * 32, 5)}, NOW)
    assert (again["version"], sorted(again["targets"])) == (2, ["1.0", "2.0"])


def test_verify_role_counts_distinct_valid_signatures():
    first, second = new_key(), new_key()
    raw = sign_document(empty_targets(NOW), first)
    meta = Signed.parse("targets", raw)
    verify_role(meta, RoleKeys({first.key_id: first.public}, 1))
    with pytest.raises(
        MetadataError, match=exactly("targets.json is not signed by enough of its keys (0 of 1 valid)")
    ):
        verify_role(meta, RoleKeys({second.key_id: second.public}, 1))


def test_a_tampered_role_fails_verification():
    key = new_key()
    document = json.loads(sign_document(empty_targets(NOW), key))
    document["signed"]["version"] = 7
    meta = Signed.parse("targets", canonical_json(document))
    with pytest.raises(
        MetadataError, match=exactly("targets.json is not signed by enough of its keys (0 of 1 valid)")
    ):
        verify_role(meta, RoleKeys({key.key_id: key.public}, 1))


def test_expired_metadata_is_refused_unless_allowed():
    signed = empty_targets(NOW - timedelta(days=4 * 365))
    signed["version"] = 1
    meta = Signed.parse("targets", sign_document(signed, new_key()))
    with pytest.raises(MetadataError, match=exactly("targets.json expired at 2025-01-02T03:04:05Z")):
        meta.check(NOW)
    meta.check(NOW, allow_expired=True)


def test_file_meta_must_match_length_and_hashes():
    data = b"snapshot bytes"
    parent = Signed(
        "timestamp",
        b"",
        {
            "meta": {
                "snapshot": {
                    "length": len(data),
                    "hashes": {"sha256": base64.b64encode(hashlib.sha256(data).digest()).decode()},
                }
            }
        },
        [],
    )
    check_file_meta(parent, "snapshot", data)
    with pytest.raises(
        MetadataError, match=exactly("snapshot.json does not have the length timestamp.json records")
    ):
        check_file_meta(parent, "snapshot", data + b"!")
    with pytest.raises(
        MetadataError, match=exactly("snapshot.json does not match the sha256 timestamp.json records")
    ):
        check_file_meta(parent, "snapshot", b"x" * len(data))


def test_unparseable_metadata_names_the_role():
    with pytest.raises(MetadataError, match=exactly("root.json is not valid JSON")):
        Signed.parse("root", b"<html>")
