"""Content-trust signing (SPEC B.5.8, A.2.7): the resource signs, the real notary client checks.

Signing runs against the Notary stub (TLS with its CA in ``ca_certs``, token auth) and against the
real notary-server built from Debian's sources; afterwards a fresh ``notary`` client lists and
verifies what the resource published.
"""

import hashlib
import json
import select
import shutil
import socket
import socketserver
import threading
from pathlib import Path

import pytest

from integration.availability import unavailable
from integration.notary_servers import notary_server
from integration.servers import ServerUnavailable, free_port
from notary_stub import NotaryClient, Target
from registry_image_resource.errors import AuthError, InputError, RegistryError, RequestError, TransportError
from registry_image_resource.protocol.models import Source
from registry_image_resource.protocol.optional_models import ContentTrust
from registry_image_resource.registry.reference import Repository
from registry_image_resource.trust import sign_tags
from registry_image_resource.trust.keys import load_repository_key

REPO = Repository("registry.example:5000", "team/app")
GUN = "registry.example:5000/team/app"
PASSPHRASE = "targets-passphrase-8c1f"
MANIFEST = json.dumps(
    {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}
).encode()
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
PUSHED = f"image pushed as {DIGEST}, but signing failed"


@pytest.fixture(scope="module")
def notary_binary():
    if shutil.which("notary") is None:
        unavailable("the notary client is not installed (apt-get install notary)")


@pytest.fixture
def stub(notary_server_factory, notary_binary):
    return notary_server_factory(tls=True, users={"signer": "signer-password-51"}, auth="bearer")


@pytest.fixture
def client(stub, tmp_path):
    return NotaryClient(
        tmp_path / "client",
        stub.url,
        ca_file=stub.ca_file,
        username="signer",
        password="signer-password-51",
        passphrase=PASSPHRASE,
    )


def generate_targets_key(client):
    """A targets key made by the real client: (key file text, key id)."""
    before = set(client.key_files())
    client.run("key", "generate", "ecdsa", "--role", "targets")
    (path,) = set(client.key_files()) - before
    return path.read_text(), path.stem


def gun_targets_key(client, gun):
    (path,) = [
        p for p in client.key_files() if f"gun: {gun}" in p.read_text() and "role: targets" in p.read_text()
    ]
    return path.read_text(), path.stem


def source_for(stub, key, **overrides):
    text, key_id = key
    trust = {
        "server": stub.url,
        "repository_key": text,
        "repository_key_id": key_id,
        "repository_passphrase": PASSPHRASE,
        "username": "signer",
        "password": "signer-password-51",
        **overrides,
    }
    return Source(repository=REPO.name, ca_certs=(stub.ca_pem,), content_trust=ContentTrust(**trust))


def reader(server, tmp_path, **auth):
    return NotaryClient(tmp_path / "reader", server.url, ca_file=getattr(server, "ca_file", None), **auth)


def expected(*tags):
    return [Target(tag, DIGEST.removeprefix("sha256:"), len(MANIFEST), "targets") for tag in tags]


def assert_no_secret(text, *secrets):
    for secret in secrets:
        assert secret not in text


# --- against the stub ---------------------------------------------------------------------------


def test_signing_a_fresh_gun_initialises_it_and_the_client_lists_every_tag(stub, client, tmp_path):
    sign_tags(
        source_for(stub, generate_targets_key(client)), REPO, ["1.2.3", "latest"], DIGEST, len(MANIFEST)
    )
    fresh = reader(stub, tmp_path, username="signer", password="signer-password-51")
    assert fresh.list_targets(GUN) == expected("1.2.3", "latest")
    assert fresh.run("verify", GUN, "1.2.3", stdin=MANIFEST).stdout == MANIFEST


def test_signing_adds_to_a_gun_the_notary_client_initialised(stub, client, tmp_path):
    (tmp_path / "readme").write_text("docs")
    client.run("init", GUN, "-p")
    client.run("key", "rotate", GUN, "snapshot", "-r")
    client.run("add", GUN, "docs", str(tmp_path / "readme"))
    client.run("publish", GUN)
    sign_tags(source_for(stub, gun_targets_key(client, GUN)), REPO, ["2.0"], DIGEST, len(MANIFEST))
    rows = {row.name: row for row in client.list_targets(GUN)}
    assert sorted(rows) == ["2.0", "docs"]
    assert rows["2.0"] == expected("2.0")[0]


def test_signing_a_tag_again_moves_it_to_the_new_digest(stub, client, tmp_path):
    key = generate_targets_key(client)
    sign_tags(source_for(stub, key), REPO, ["latest"], "sha256:" + "0" * 64, 10)
    sign_tags(source_for(stub, key), REPO, ["latest"], DIGEST, len(MANIFEST))
    assert reader(stub, tmp_path, username="signer", password="signer-password-51").list_targets(
        GUN
    ) == expected("latest")


def test_source_credentials_are_used_when_content_trust_has_none(stub, client, tmp_path):
    source = source_for(stub, generate_targets_key(client), username="", password="")
    source = Source(
        repository=source.repository,
        username="signer",
        password="signer-password-51",
        ca_certs=source.ca_certs,
        content_trust=source.content_trust,
    )
    sign_tags(source, REPO, ["1.0"], DIGEST, len(MANIFEST))
    assert reader(stub, tmp_path, username="signer", password="signer-password-51").list_targets(
        GUN
    ) == expected("1.0")


def test_wrong_passphrase_is_one_clear_line_without_the_secret(stub, client):
    source = source_for(stub, generate_targets_key(client), repository_passphrase="wrong-passphrase-77")
    with pytest.raises(InputError) as caught:
        sign_tags(source, REPO, ["1.0"], DIGEST, len(MANIFEST))
    assert str(caught.value) == (
        f"{PUSHED}: content_trust.repository_passphrase does not decrypt content_trust.repository_key"
    )
    assert_no_secret(str(caught.value), "wrong-passphrase-77", PASSPHRASE, "signer-password-51")
    assert stub.requests.summary() == []


def test_wrong_key_id_names_both_ids(stub, client):
    text, key_id = generate_targets_key(client)
    source = source_for(stub, (text, "f" * 64))
    with pytest.raises(RequestError) as caught:
        sign_tags(source, REPO, ["1.0"], DIGEST, len(MANIFEST))
    assert str(caught.value) == (
        f"{PUSHED}: content_trust.repository_key_id {'f' * 64} does not match "
        f"content_trust.repository_key (whose key id is {key_id})"
    )


def test_unreachable_server(client, stub):
    port = free_port()
    source = source_for(stub, generate_targets_key(client), server=f"https://127.0.0.1:{port}")
    with pytest.raises(TransportError) as caught:
        sign_tags(source, REPO, ["1.0"], DIGEST, len(MANIFEST))
    assert str(caught.value) == (
        f"{PUSHED}: cannot reach the Notary server https://127.0.0.1:{port}: [Errno 111] Connection refused "
        "(gave up after 5 attempts)"
    )


def test_wrong_notary_password_is_an_auth_error(stub, client):
    source = source_for(stub, generate_targets_key(client), password="bad-password-93")
    with pytest.raises(AuthError) as caught:
        sign_tags(source, REPO, ["1.0"], DIGEST, len(MANIFEST))
    assert str(caught.value) == (
        f"{PUSHED}: the Notary token server {stub.url}/auth/token refused the credentials for {GUN} (401); "
        "check content_trust.username/password"
    )
    assert_no_secret(str(caught.value), "bad-password-93")


def test_a_key_that_is_not_a_targets_key_of_the_gun(stub, client):
    client.run("init", GUN, "-p")
    client.run("key", "rotate", GUN, "snapshot", "-r")
    _, gun_key_id = gun_targets_key(client, GUN)
    text, other_id = generate_targets_key(client)
    with pytest.raises(RequestError) as caught:
        sign_tags(source_for(stub, (text, other_id)), REPO, ["1.0"], DIGEST, len(MANIFEST))
    assert str(caught.value) == (
        f"{PUSHED}: content_trust.repository_key (key id {other_id}) is not a targets key of {GUN}; "
        f"its keys are {gun_key_id}"
    )


def test_a_gun_whose_snapshot_key_the_server_lacks(stub, client):
    client.run("init", GUN, "-p")  # the client keeps the snapshot key
    with pytest.raises(RegistryError) as caught:
        sign_tags(source_for(stub, gun_targets_key(client, GUN)), REPO, ["1.0"], DIGEST, len(MANIFEST))
    assert str(caught.value) == (
        f"{PUSHED}: publishing targets for {GUN}: the Notary server answered 400 INVALID_UPDATE: "
        "no snapshot was included in update and server does not hold current snapshot key for repository"
    )


def test_a_server_certificate_from_an_unknown_ca(stub, client):
    source = source_for(stub, generate_targets_key(client))
    source = Source(repository=source.repository, content_trust=source.content_trust)
    with pytest.raises(TransportError) as caught:
        sign_tags(source, REPO, ["1.0"], DIGEST, len(MANIFEST))
    assert str(caught.value) == (
        f"{PUSHED}: cannot reach the Notary server {stub.url}: "
        "TLS certificate verify failed: self-signed certificate in certificate chain "
        "(the registry's certificate is not trusted: add its CA to source.ca_certs)"
    )


def test_plain_http_is_refused_for_remote_servers(stub, client):
    source = source_for(stub, generate_targets_key(client), server="http://notary.example.com")
    with pytest.raises(RequestError) as caught:
        sign_tags(source, REPO, ["1.0"], DIGEST, len(MANIFEST))
    assert (
        str(caught.value)
        == f"{PUSHED}: valid https URL required for trust server, got http://notary.example.com"
    )


# --- against the real notary-server -------------------------------------------------------------


@pytest.fixture(scope="module")
def real_notary_server(tmp_path_factory, notary_binary):
    try:
        with notary_server(tmp_path_factory.mktemp("notary-server")) as url:
            yield url
    except ServerUnavailable as exc:
        unavailable(str(exc))


def plain_source(server, key):
    """A source signing into the real notary-server (no auth; its CA in ca_certs)."""
    text, key_id = key
    trust = ContentTrust(
        server=server.url, repository_key=text, repository_key_id=key_id, repository_passphrase=PASSPHRASE
    )
    return Source(repository=REPO.name, ca_certs=(server.ca_pem,), content_trust=trust)


def test_real_notary_server_fresh_gun(real_notary_server, tmp_path):
    repo = Repository("registry.example:5000", f"fresh/{tmp_path.name}")
    gun = f"registry.example:5000/fresh/{tmp_path.name}"
    signer = NotaryClient(
        tmp_path / "signer", real_notary_server.url, ca_file=real_notary_server.ca_file, passphrase=PASSPHRASE
    )
    sign_tags(
        plain_source(real_notary_server, generate_targets_key(signer)),
        repo,
        ["1.0", "latest"],
        DIGEST,
        len(MANIFEST),
    )
    fresh = NotaryClient(tmp_path / "reader", real_notary_server.url, ca_file=real_notary_server.ca_file)
    assert fresh.list_targets(gun) == expected("1.0", "latest")
    assert fresh.run("verify", gun, "latest", stdin=MANIFEST).stdout == MANIFEST


def test_real_notary_server_gun_initialised_by_the_client(real_notary_server, tmp_path):
    repo = Repository("registry.example:5000", f"client/{tmp_path.name}")
    gun = f"registry.example:5000/client/{tmp_path.name}"
    client = NotaryClient(
        tmp_path / "client", real_notary_server.url, ca_file=real_notary_server.ca_file, passphrase=PASSPHRASE
    )
    client.run("init", gun, "-p")
    client.run("key", "rotate", gun, "snapshot", "-r")
    sign_tags(
        plain_source(real_notary_server, gun_targets_key(client, gun)), repo, ["2.0"], DIGEST, len(MANIFEST)
    )
    sign_tags(
        plain_source(real_notary_server, gun_targets_key(client, gun)), repo, ["2.1"], DIGEST, len(MANIFEST)
    )
    assert NotaryClient(
        tmp_path / "reader", real_notary_server.url, ca_file=real_notary_server.ca_file
    ).list_targets(gun) == expected("2.0", "2.1")


def test_real_notary_server_refuses_a_gun_whose_snapshot_key_it_lacks(real_notary_server, tmp_path):
    repo = Repository("registry.example:5000", f"local/{tmp_path.name}")
    gun = f"registry.example:5000/local/{tmp_path.name}"
    client = NotaryClient(
        tmp_path / "client", real_notary_server.url, ca_file=real_notary_server.ca_file, passphrase=PASSPHRASE
    )
    client.run("init", gun, "-p")
    with pytest.raises(RegistryError) as caught:
        sign_tags(
            plain_source(real_notary_server, gun_targets_key(client, gun)),
            repo,
            ["1.0"],
            DIGEST,
            len(MANIFEST),
        )
    assert str(caught.value).startswith(
        f"{PUSHED}: publishing targets for {gun}: the Notary server answered 400 INVALID_UPDATE"
    )
    assert b"No targets present in this repository." in client.run("list", gun).stdout


def delegate(client, tmp_path, gun, name, *paths):
    """``notary delegation add`` of a new key made by the real client; returns its key file text."""
    output = tmp_path / name.replace("/", "-")
    client.run("key", "generate", "ecdsa", "--role", name, "-o", str(output))
    path_args = [f"--paths={p}" for p in paths] if paths else ["--all-paths"]
    client.run("delegation", "add", gun, name, f"{output}.pem", *path_args)
    client.run("publish", gun)
    return Path(f"{output}-key.pem").read_text()


def test_signing_into_a_delegation(stub, client, tmp_path):
    client.run("init", GUN, "-p")
    client.run("key", "rotate", GUN, "snapshot", "-r")
    releases = delegate(client, tmp_path, GUN, "targets/releases")
    sign_tags(source_for(stub, (releases, "")), REPO, ["1.0", "latest"], DIGEST, len(MANIFEST))
    rows = client.list_targets(GUN)
    assert rows == [
        Target(t, DIGEST.removeprefix("sha256:"), len(MANIFEST), "targets/releases")
        for t in ("1.0", "latest")
    ]


def test_a_delegation_whose_paths_do_not_allow_the_tag(stub, client, tmp_path):
    client.run("init", GUN, "-p")
    client.run("key", "rotate", GUN, "snapshot", "-r")
    releases = delegate(client, tmp_path, GUN, "targets/releases", "v")
    with pytest.raises(RequestError) as caught:
        sign_tags(source_for(stub, (releases, "")), REPO, ["latest"], DIGEST, len(MANIFEST))
    key_id = load_repository_key(releases, PASSPHRASE).key_id
    assert str(caught.value) == (
        f"{PUSHED}: no valid signing keys for delegation roles: {GUN} delegates to targets/releases, and "
        f"content_trust.repository_key (key id {key_id}) may sign none of them for latest"
    )


def test_real_notary_server_delegation(real_notary_server, tmp_path):
    repo = Repository("registry.example:5000", f"delegated/{tmp_path.name}")
    gun = f"registry.example:5000/delegated/{tmp_path.name}"
    client = NotaryClient(
        tmp_path / "client", real_notary_server.url, ca_file=real_notary_server.ca_file, passphrase=PASSPHRASE
    )
    client.run("init", gun, "-p")
    client.run("key", "rotate", gun, "snapshot", "-r")
    releases = delegate(client, tmp_path, gun, "targets/releases")
    sign_tags(plain_source(real_notary_server, (releases, "")), repo, ["3.0"], DIGEST, len(MANIFEST))
    assert NotaryClient(
        tmp_path / "reader", real_notary_server.url, ca_file=real_notary_server.ca_file
    ).list_targets(gun) == [Target("3.0", DIGEST.removeprefix("sha256:"), len(MANIFEST), "targets/releases")]


def test_client_certificates_from_content_trust(notary_server_factory, client, tmp_path):
    import trustme

    client_ca = trustme.CA()
    issued = client_ca.issue_cert("signer@example.com")
    server = notary_server_factory(tls=True, client_ca=client_ca.cert_pem.bytes().decode())
    key = generate_targets_key(client)
    cert_pem = "".join(blob.bytes().decode() for blob in issued.cert_chain_pems)
    key_pem = issued.private_key_pem.bytes().decode()
    source = source_for(server, key, tls_cert=cert_pem, tls_key=key_pem, username="", password="")
    sign_tags(source, REPO, ["1.0"], DIGEST, len(MANIFEST))
    assert json.loads(server.metadata(GUN, "targets"))["signed"]["targets"]["1.0"]["length"] == len(MANIFEST)

    without = source_for(server, key, username="", password="")
    with pytest.raises(TransportError) as caught:
        sign_tags(without, REPO, ["2.0"], DIGEST, len(MANIFEST))
    # TLS 1.3 reports the refusal as an alert or as EOF depending on timing
    assert str(caught.value).startswith(f"{PUSHED}: cannot reach the Notary server {server.url}: ")
    assert "content_trust.tls_cert and content_trust.tls_key" in str(caught.value) or "EOF" in str(
        caught.value
    )
    assert_no_secret(str(caught.value), key_pem)


class _Tunnel(socketserver.BaseRequestHandler):
    """A minimal HTTPS proxy: answers CONNECT and relays bytes; records each CONNECT line."""

    def handle(self):
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        line = head.split(b"\r\n")[0].decode()
        self.server.connects.append(line)
        host, port = line.split()[1].rsplit(":", 1)
        with socket.create_connection((host, int(port))) as upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            peers = {self.request: upstream, upstream: self.request}
            while True:
                ready, _, _ = select.select(list(peers), [], [], 30)
                if not ready:
                    return
                for sock in ready:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    peers[sock].sendall(chunk)


@pytest.fixture
def https_proxy(monkeypatch):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Tunnel)
    server.daemon_threads = True
    server.connects = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_signing_goes_through_https_proxy(stub, client, tmp_path, https_proxy):
    key = generate_targets_key(client)
    sign_tags(source_for(stub, key), REPO, ["1.0"], DIGEST, len(MANIFEST))
    assert {line.split()[:2] == ["CONNECT", stub.host] for line in https_proxy.connects} == {True}
    assert json.loads(stub.metadata(GUN, "targets"))["signed"]["targets"]["1.0"]["length"] == len(MANIFEST)
