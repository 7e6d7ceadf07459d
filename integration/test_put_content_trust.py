"""``out`` with ``content_trust`` end to end: push to registry:2, sign with Notary, check with the real client.

The resource runs as Concourse runs it (JSON on stdin, ``out SRC``), with ``debug: true`` and every
secret set; afterwards a fresh ``notary`` client lists each pushed tag with sha256 = the pushed
digest and length = the pushed manifest's size, against the Notary stub and the real notary-server.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fake_registry import ImageConfig, build_image, build_index, write_docker_archive
from fake_registry.lowlevel import write_blobs
from integration.availability import unavailable
from integration.notary_servers import notary_server
from integration.servers import RegistryServer, ServerUnavailable, run_tool
from notary_stub import NotaryClient, Target

PASSPHRASE = "put-targets-passphrase-3e9d"
NOTARY_USER, NOTARY_PASSWORD = "signer", "notary-password-b7"


@pytest.fixture(scope="module")
def notary_binary() -> None:
    if shutil.which("notary") is None:
        unavailable("the notary client is not installed (apt-get install notary)")


@pytest.fixture
def stub(notary_server_factory, notary_binary):
    return notary_server_factory(tls=True, users={NOTARY_USER: NOTARY_PASSWORD}, auth="bearer")


def targets_key(client: NotaryClient) -> tuple[str, str]:
    client.run("key", "generate", "ecdsa", "--role", "targets")
    (path,) = client.key_files()
    return path.read_text(), path.stem


def run_out(src: Path, source: dict[str, Any], params: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    request = json.dumps({"source": source, "params": params})
    return subprocess.run(
        [sys.executable, "-m", "registry_image_resource", "out", str(src)],
        input=request,
        capture_output=True,
        text=True,
        env={**os.environ, "TEST": "true"},
        timeout=300,
        check=False,
    )


def raw_manifest(registry: RegistryServer, repo: str, digest: str) -> bytes:
    ref = f"docker://{registry.repository(repo)}@{digest}"
    return run_tool("skopeo", "inspect", "--raw", "--tls-verify=false", ref).stdout.encode()


def trust_source(
    registry: RegistryServer, repo: str, server_url: str, key: tuple[str, str], **trust: str
) -> dict[str, Any]:
    text, key_id = key
    content_trust = {
        "server": server_url,
        "repository_key": text,
        "repository_key_id": key_id,
        "repository_passphrase": PASSPHRASE,
        "username": NOTARY_USER,
        "password": NOTARY_PASSWORD,
        **trust,
    }
    return {
        "repository": registry.repository(repo),
        "tag": "latest",
        "debug": True,
        "content_trust": content_trust,
    }


def secrets_in(source: dict[str, Any]) -> list[str]:
    trust = source["content_trust"]
    lines = [line for line in trust["repository_key"].splitlines() if len(line) > 16 and "-----" not in line]
    return [trust["repository_passphrase"], trust["password"], *lines]


def small_image(name: str, architecture: str = "amd64"):
    return build_image([{"etc/name": name.encode()}], ImageConfig(architecture=architecture))


def test_out_signs_every_pushed_tag(registry, repo_name, stub, tmp_path):
    client = NotaryClient(tmp_path / "notary", stub.url, ca_file=stub.ca_file, passphrase=PASSPHRASE)
    source = trust_source(registry, repo_name, stub.url, targets_key(client))
    source["ca_certs"] = [stub.ca_pem]
    write_docker_archive(small_image("one"), tmp_path / "image.tar", ["app:1"])
    result = run_out(tmp_path, source, {"image": "image.tar", "version": "1.2.3"})
    assert result.returncode == 0, result.stderr
    digest = json.loads(result.stdout)["version"]["digest"]
    size = len(raw_manifest(registry, repo_name, digest))
    reader = NotaryClient(
        tmp_path / "reader", stub.url, ca_file=stub.ca_file, username=NOTARY_USER, password=NOTARY_PASSWORD
    )
    gun = registry.repository(repo_name)
    assert reader.list_targets(gun) == [
        Target(tag, digest.removeprefix("sha256:"), size, "targets") for tag in ("1.2.3", "latest")
    ]
    for secret in secrets_in(source):
        assert secret not in result.stdout + result.stderr


def test_a_multi_arch_push_signs_the_index(registry, repo_name, stub, tmp_path):
    client = NotaryClient(tmp_path / "notary", stub.url, ca_file=stub.ca_file, passphrase=PASSPHRASE)
    source = trust_source(registry, repo_name, stub.url, targets_key(client))
    source["ca_certs"] = [stub.ca_pem]
    amd, arm = small_image("amd", "amd64"), small_image("arm", "arm64")
    index = build_index([amd, arm])
    layout = tmp_path / "layout"
    for item in (amd, arm):
        write_blobs(item, layout)
    (layout / "index.json").write_bytes(index.manifest)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    result = run_out(tmp_path, source, {"image": "layout"})
    assert result.returncode == 0, result.stderr
    digest = json.loads(result.stdout)["version"]["digest"]
    assert digest == "sha256:" + hashlib.sha256(index.manifest).hexdigest()
    reader = NotaryClient(
        tmp_path / "reader", stub.url, ca_file=stub.ca_file, username=NOTARY_USER, password=NOTARY_PASSWORD
    )
    assert reader.list_targets(registry.repository(repo_name)) == [
        Target("latest", digest.removeprefix("sha256:"), len(index.manifest), "targets")
    ]


def test_a_signing_failure_fails_the_put_and_says_the_image_was_pushed(registry, repo_name, stub, tmp_path):
    client = NotaryClient(tmp_path / "notary", stub.url, ca_file=stub.ca_file, passphrase=PASSPHRASE)
    source = trust_source(
        registry, repo_name, stub.url, targets_key(client), repository_passphrase="wrong-passphrase-0a"
    )
    source["ca_certs"] = [stub.ca_pem]
    image = small_image("one")
    write_docker_archive(image, tmp_path / "image.tar", ["app:1"])
    result = run_out(tmp_path, source, {"image": "image.tar"})
    assert (result.returncode, result.stdout) == (1, "")
    last = result.stderr.strip().splitlines()[-1]
    assert last.endswith(
        ", but signing failed: content_trust.repository_passphrase does not decrypt content_trust.repository_key"
    )
    pushed = last.split()[last.split().index("as") + 1].rstrip(",")
    assert raw_manifest(registry, repo_name, pushed)  # the push itself happened
    for secret in [*secrets_in(source), PASSPHRASE]:
        assert secret not in result.stderr


@pytest.fixture
def real_notary(tmp_path, notary_binary):
    workdir = tmp_path / "notary-server"
    workdir.mkdir()
    try:
        with notary_server(workdir) as server:
            yield server
    except ServerUnavailable as exc:
        unavailable(str(exc))


def test_out_signs_against_the_real_notary_server(registry, repo_name, real_notary, tmp_path):
    client = NotaryClient(
        tmp_path / "notary", real_notary.url, ca_file=real_notary.ca_file, passphrase=PASSPHRASE
    )
    source = trust_source(registry, repo_name, real_notary.url, targets_key(client), username="", password="")
    source["ca_certs"] = [real_notary.ca_pem]
    write_docker_archive(small_image("real"), tmp_path / "image.tar", ["app:1"])
    result = run_out(tmp_path, source, {"image": "image.tar", "version": "2.0.0"})
    assert result.returncode == 0, result.stderr
    digest = json.loads(result.stdout)["version"]["digest"]
    size = len(raw_manifest(registry, repo_name, digest))
    reader = NotaryClient(tmp_path / "reader", real_notary.url, ca_file=real_notary.ca_file)
    assert reader.list_targets(registry.repository(repo_name)) == [
        Target(tag, digest.removeprefix("sha256:"), size, "targets") for tag in ("2.0.0", "latest")
    ]


@pytest.mark.parametrize("case", ["wrong key id", "unreachable server"])
def test_other_signing_failures_through_the_cli(registry, repo_name, stub, tmp_path, case):
    from integration.servers import free_port

    client = NotaryClient(tmp_path / "notary", stub.url, ca_file=stub.ca_file, passphrase=PASSPHRASE)
    key = targets_key(client)
    port = free_port()
    overrides = {
        "wrong key id": {"repository_key_id": "0" * 64},
        "unreachable server": {"server": f"https://127.0.0.1:{port}"},
    }[case]
    source = trust_source(registry, repo_name, stub.url, key, **overrides)
    source["ca_certs"] = [stub.ca_pem]
    write_docker_archive(small_image("one"), tmp_path / "image.tar", ["app:1"])
    result = run_out(tmp_path, source, {"image": "image.tar"})
    assert (result.returncode, result.stdout) == (1, "")
    last = result.stderr.strip().splitlines()[-1]
    pushed = last.split()[last.split().index("as") + 1].rstrip(",")
    reason = {
        "wrong key id": f"content_trust.repository_key_id {'0' * 64} does not match content_trust.repository_key "
        f"(whose key id is {key[1]})",
        "unreachable server": f"cannot reach the Notary server https://127.0.0.1:{port}: "
        "[Errno 111] Connection refused (gave up after 5 attempts)",
    }[case]
    assert last == f"ERROR image pushed as {pushed}, but signing failed: {reason}"
    for secret in secrets_in(source):
        assert secret not in result.stderr
