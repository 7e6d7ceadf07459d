"""The stub's HTTP surface: routes, keys, validation errors, auth, TLS, storage and the CLI."""

import base64
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from notary_stub import NotaryServer
from notary_stub._keys import ServerKey, key_id

GUN = "registry.example/team/app"


def call(url, method="GET", body=None, headers=None, context=None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def multipart(files):
    boundary = "stubboundary"
    chunks = []
    for role, data in files.items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{role}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_ping_answers_empty_object(notary_server):
    assert call(f"{notary_server.url}/v2/")[::2] == (200, b"{}")


def test_metadata_is_404_before_the_first_publish(notary_server):
    status, _, body = call(f"{notary_server.url}/v2/{GUN}/_trust/tuf/root.json")
    assert status == 404
    assert json.loads(body)["errors"][0]["code"] == "METADATA_NOT_FOUND"


def test_timestamp_key_is_created_on_first_use_and_then_stable(notary_server):
    url = f"{notary_server.url}/v2/{GUN}/_trust/tuf/timestamp.key"
    first = json.loads(call(url)[2])
    second = json.loads(call(url)[2])
    assert first == second
    assert first["keytype"] == "ecdsa"
    assert first["keyval"]["private"] is None


def test_rotating_a_key_returns_a_new_one(notary_server):
    url = f"{notary_server.url}/v2/{GUN}/_trust/tuf/snapshot.key"
    before = json.loads(call(url)[2])
    rotated = json.loads(call(url, method="POST", body=b"")[2])
    assert rotated != before
    assert json.loads(call(url)[2]) == rotated


def test_key_id_is_sha256_of_the_canonical_public_key():
    key = ServerKey.generate().public
    document = json.dumps(key.to_json(), sort_keys=True, separators=(",", ":")).encode()
    import hashlib

    assert key.key_id == key_id("ecdsa", key.public) == hashlib.sha256(document).hexdigest()


def test_publish_without_any_root_is_refused(notary_server):
    body, headers = multipart({"targets": b'{"signed": {}, "signatures": []}'})
    status, _, answer = call(f"{notary_server.url}/v2/{GUN}/_trust/tuf/", "POST", body, headers)
    assert status == 400
    assert json.loads(answer)["errors"][0] == {
        "code": "INVALID_UPDATE",
        "message": "targets: _type must be Targets",
        "detail": None,
    }


def test_clients_may_not_publish_a_timestamp(notary_server):
    body, headers = multipart({"timestamp": b"{}"})
    status, _, answer = call(f"{notary_server.url}/v2/{GUN}/_trust/tuf/", "POST", body, headers)
    assert (status, json.loads(answer)["errors"][0]["code"]) == (400, "INVALID_ROLE")


def test_malformed_json_is_refused(notary_server):
    body, headers = multipart({"root": b"not json"})
    status, _, answer = call(f"{notary_server.url}/v2/{GUN}/_trust/tuf/", "POST", body, headers)
    assert (status, json.loads(answer)["errors"][0]["code"]) == (400, "MALFORMED_JSON")


def test_a_non_multipart_upload_is_refused(notary_server):
    status, _, answer = call(
        f"{notary_server.url}/v2/{GUN}/_trust/tuf/", "POST", b"{}", {"Content-Type": "application/json"}
    )
    assert (status, json.loads(answer)["errors"][0]["code"]) == (400, "MALFORMED_UPLOAD")


def test_requests_are_logged_like_the_fake_registrys(notary_server):
    call(f"{notary_server.url}/v2/")
    call(f"{notary_server.url}/v2/{GUN}/_trust/tuf/root.json?x=1")
    assert notary_server.requests.summary() == ["GET /v2/ 200", f"GET /v2/{GUN}/_trust/tuf/root.json 404"]
    [entry] = notary_server.requests.find("GET", "root.json$")
    assert (entry.query, entry.host) == ("x=1", notary_server.host)
    notary_server.requests.clear()
    assert notary_server.requests.summary() == []


def test_the_request_log_masks_credentials(notary_server_factory):
    server = notary_server_factory(users=["alice:s3cret"])
    call(
        f"{server.url}/v2/", headers={"Authorization": "Basic " + base64.b64encode(b"alice:s3cret").decode()}
    )
    assert [(r.header("Authorization"), r.status) for r in server.requests] == [("***", 200)]


def test_users_as_name_password_strings(notary_server_factory):
    server = notary_server_factory(users=["alice:s3cret", "bob:pw:with:colons"])
    for pair in (b"alice:s3cret", b"bob:pw:with:colons"):
        assert (
            call(f"{server.url}/v2/", headers={"Authorization": "Basic " + base64.b64encode(pair).decode()})[
                0
            ]
            == 200
        )


def test_host_and_port_are_keyword_only():
    with pytest.raises(TypeError):
        NotaryServer("127.0.0.1", 0)  # type: ignore[misc]


def test_tls_shares_a_ca_with_a_fake_registry(fake_registry_factory, notary_server_factory):
    import ssl

    reg = fake_registry_factory(tls=True)
    server = notary_server_factory(tls=True, ca=reg.ca)
    assert (server.ca_file, server.ca_pem) == (reg.ca_file, reg.ca_pem)
    context = ssl.create_default_context(cafile=str(reg.ca_file))
    assert call(f"{server.url}/v2/", context=context)[::2] == (200, b"{}")
    server.stop()
    assert reg.ca_file.exists()  # a shared CA belongs to its owner


def test_basic_auth_challenges_and_accepts_the_right_password(notary_server_factory):
    server = notary_server_factory(users={"alice": "s3cret"})
    status, headers, _ = call(f"{server.url}/v2/")
    assert (status, headers["WWW-Authenticate"]) == (401, 'Basic realm="notary-stub"')
    good = {"Authorization": "Basic " + base64.b64encode(b"alice:s3cret").decode()}
    bad = {"Authorization": "Basic " + base64.b64encode(b"alice:wrong").decode()}
    assert call(f"{server.url}/v2/", headers=good)[0] == 200
    assert call(f"{server.url}/v2/", headers=bad)[0] == 401


def test_token_auth_grants_the_requested_repository_scope_only(notary_server_factory):
    server = notary_server_factory(users={"alice": "s3cret"}, auth="bearer")
    url = f"{server.url}/v2/{GUN}/_trust/tuf/timestamp.key"
    status, headers, _ = call(url)
    assert status == 401
    assert headers["WWW-Authenticate"] == (
        f'Bearer realm="{server.url}/auth/token",service="notary-stub",scope="repository:{GUN}:push,pull"'
    )
    basic = {"Authorization": "Basic " + base64.b64encode(b"alice:s3cret").decode()}
    token_url = f"{server.url}/auth/token?service=notary-stub&scope=repository:{GUN}:push,pull"
    token = json.loads(call(token_url, headers=basic)[2])["token"]
    assert call(url, headers={"Authorization": f"Bearer {token}"})[0] == 200
    other = f"{server.url}/v2/other/repo/_trust/tuf/timestamp.key"
    assert call(other, headers={"Authorization": f"Bearer {token}"})[0] == 401


def test_token_endpoint_refuses_a_wrong_password(notary_server_factory):
    server = notary_server_factory(users={"alice": "s3cret"}, auth="bearer")
    basic = {"Authorization": "Basic " + base64.b64encode(b"alice:nope").decode()}
    assert call(f"{server.url}/auth/token?scope=repository:x:pull", headers=basic)[0] == 401


def test_tls_serves_a_certificate_from_its_own_ca(notary_server_factory):
    import ssl

    server = notary_server_factory(tls=True)
    assert server.url.startswith("https://127.0.0.1:")
    context = ssl.create_default_context(cafile=str(server.ca_file))
    assert call(f"{server.url}/v2/", context=context)[::2] == (200, b"{}")
    with pytest.raises(urllib.error.URLError):
        call(f"{server.url}/v2/", context=ssl.create_default_context())


def test_directory_storage_keeps_keys_across_restarts(tmp_path):
    with NotaryServer(storage=tmp_path) as server:
        first = call(f"{server.url}/v2/{GUN}/_trust/tuf/timestamp.key")[2]
    with NotaryServer(storage=tmp_path) as server:
        again = call(f"{server.url}/v2/{GUN}/_trust/tuf/timestamp.key")[2]
    assert first == again
    assert [p.name for p in tmp_path.iterdir()] == ["registry.example%2Fteam%2Fapp"]


def test_cli_prints_the_ready_line_first_and_stops_on_sigterm(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "notary_stub",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls",
            "--ca-out",
            str(tmp_path / "ca.pem"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        line = process.stdout.readline().decode()
        assert line.startswith("listening on https://127.0.0.1:")
        assert Path(tmp_path / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == 0


def test_an_anonymous_token_grants_nothing(notary_server_factory):
    server = notary_server_factory(users={"alice": "s3cret"}, auth="bearer")
    token = json.loads(call(f"{server.url}/auth/token?scope=repository:{GUN}:pull")[2])["token"]
    url = f"{server.url}/v2/{GUN}/_trust/tuf/root.json"
    assert call(url, headers={"Authorization": f"Bearer {token}"})[0] == 401


def test_an_unknown_auth_mode_is_refused():
    with pytest.raises(ValueError, match=r"^auth must be 'basic' or 'bearer', not 'token'$"):
        NotaryServer(users=["a:b"], auth="token")


def test_cli_auth_bearer_with_users():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "notary_stub",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--user",
            "a:b",
            "--auth",
            "bearer",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        url = process.stdout.readline().decode().strip().removeprefix("listening on ")
        status, headers, _ = call(f"{url}/v2/{GUN}/_trust/tuf/root.json")
        assert (status, headers["WWW-Authenticate"]) == (
            401,
            f'Bearer realm="{url}/auth/token",service="notary-stub",scope="repository:{GUN}:pull"',
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == 0
