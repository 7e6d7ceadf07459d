"""The real ``notary`` client (Debian package, 0.7) against the Notary stub."""

import hashlib
import shutil

import pytest

from integration.availability import unavailable
from notary_stub import NotaryClient, NotaryCommandError, Target

GUN = "registry.example/team/app"


@pytest.fixture
def notary_binary():
    if shutil.which("notary") is None:
        unavailable("the notary client is not installed (apt-get install notary)")
    return "notary"


@pytest.fixture
def tls_stub(notary_server_factory):
    return notary_server_factory(tls=True)


@pytest.fixture
def client(tls_stub, tmp_path, notary_binary):
    return NotaryClient(tmp_path / "client", tls_stub.url, ca_file=tls_stub.ca_file)


def payload(tmp_path, text):
    path = tmp_path / f"{text}.txt"
    path.write_bytes(text.encode())
    return path, hashlib.sha256(text.encode()).hexdigest()


def test_init_add_publish_list_verify(client, tmp_path):
    file, digest = payload(tmp_path, "hello")
    client.run("init", GUN, "-p")
    client.run("add", GUN, "v1", str(file))
    client.run("publish", GUN)
    assert client.list_targets(GUN) == [Target("v1", digest, 5, "targets")]
    assert client.run("verify", GUN, "v1", stdin=b"hello").stdout == b"hello"


def test_verify_refuses_content_that_does_not_match(client, tmp_path):
    file, _ = payload(tmp_path, "hello")
    client.run("init", GUN, "-p")
    client.run("add", GUN, "v1", str(file))
    client.run("publish", GUN)
    with pytest.raises(NotaryCommandError, match="data not present in the trusted collection"):
        client.run("verify", GUN, "v1", stdin=b"tampered")


def test_a_second_client_trusts_what_the_first_published(client, tls_stub, tmp_path, notary_binary):
    file, digest = payload(tmp_path, "hello")
    client.run("init", GUN, "-p")
    client.run("add", GUN, "v1", str(file))
    client.run("publish", GUN)
    reader = NotaryClient(tmp_path / "reader", tls_stub.url, ca_file=tls_stub.ca_file)
    assert reader.list_targets(GUN) == [Target("v1", digest, 5, "targets")]


def test_server_managed_snapshot_after_key_rotate(client, tls_stub, tmp_path):
    first, first_digest = payload(tmp_path, "one")
    second, second_digest = payload(tmp_path, "second")
    client.run("init", GUN, "-p")
    client.run("key", "rotate", GUN, "snapshot", "-r")
    client.run("add", GUN, "v1", str(first))
    client.run("add", GUN, "v2", str(second))
    client.run("publish", GUN)
    assert client.list_targets(GUN) == [
        Target("v1", first_digest, 3, "targets"),
        Target("v2", second_digest, 6, "targets"),
    ]
    assert [path for path in client.key_files() if "role: snapshot" in path.read_text()] == []


def test_list_of_an_unknown_gun_fails_clearly(client):
    with pytest.raises(NotaryCommandError, match="does not have trust data for"):
        client.run("list", GUN)


def test_delete_with_remote_removes_the_trust_data(client, tmp_path):
    file, _ = payload(tmp_path, "hello")
    client.run("init", GUN, "-p")
    client.run("add", GUN, "v1", str(file))
    client.run("publish", GUN)
    client.run("delete", GUN, "--remote")
    with pytest.raises(NotaryCommandError, match="does not have trust data for"):
        client.run("list", GUN)


def test_the_client_authenticates_with_a_token(notary_server_factory, tmp_path, notary_binary):
    server = notary_server_factory(tls=True, users={"alice": "s3cret"}, auth="bearer")
    file, digest = payload(tmp_path, "hello")
    client = NotaryClient(
        tmp_path / "c", server.url, ca_file=server.ca_file, username="alice", password="s3cret"
    )
    client.run("init", GUN, "-p")
    client.run("add", GUN, "v1", str(file))
    client.run("publish", GUN)
    assert client.list_targets(GUN) == [Target("v1", digest, 5, "targets")]


def test_the_client_publishes_with_basic_auth(notary_server_factory, tmp_path, notary_binary):
    # The client sends Basic credentials only for writes (read-only commands try a token), so
    # this checks the publish; notary-server itself only knows token auth.
    server = notary_server_factory(tls=True, users={"alice": "s3cret"}, auth="basic")
    file, _ = payload(tmp_path, "hello")
    client = NotaryClient(
        tmp_path / "c", server.url, ca_file=server.ca_file, username="alice", password="s3cret"
    )
    client.run("init", GUN, "-p")
    client.run("add", GUN, "v1", str(file))
    client.run("publish", GUN)
    assert [r.status for r in server.requests if r.method == "POST"] == [200, 200]


def test_wrong_credentials_fail_the_publish(notary_server_factory, tmp_path, notary_binary):
    server = notary_server_factory(tls=True, users={"alice": "s3cret"}, auth="bearer")
    client = NotaryClient(
        tmp_path / "c", server.url, ca_file=server.ca_file, username="alice", password="wrong"
    )
    with pytest.raises(NotaryCommandError):
        client.run("init", GUN, "-p")
