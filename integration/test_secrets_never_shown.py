"""No secret in any output: check, in and out with ``debug: true`` and every secret field set (A.2.8).

The runs go through the ECR world (static keys with a session token, a chain of two roles through
moto's STS, the ECR token as registry password) and out also signs with content trust against the
Notary stub, reached through the same proxy as ``notary.test`` (A.2.10). Every secret of the
request, and every credential the resource obtains on the way whose value the test can know, is
then searched for in stdout and stderr, in the forms a log line could carry it.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from fake_registry import File, build_image, write_oci_layout
from integration.availability import unavailable
from integration.resource_cli import Result, base_env, run_resource
from integration.routing_worlds import (
    CHAIN_ACCOUNT,
    ROLE_A,
    ROLE_B,
    SECRET_ACCESS_KEY,
    EcrWorld,
    ecr_host,
    ecr_password,
    ecr_world,
    servers_or_skip,
)
from integration.seed import push
from notary_stub import NotaryClient

IMAGE = build_image([{"secret-free.txt": File("nothing to see\n")}])
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLE-session-token-7d0c2a"
SOURCE_USER = "source-user"
SOURCE_PASSWORD = "source-password-0b8e51"
MIRROR_PASSWORD = "mirror-password-9a2c77"
NOTARY_USER = "signer"
NOTARY_PASSWORD = "notary-password-3f61e4"
PASSPHRASE = "targets-passphrase-e2b950"
NOTARY_NAME = "notary.test"


@pytest.fixture(scope="module")
def world(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EcrWorld]:
    with servers_or_skip("ECR world"), ecr_world(tmp_path_factory.mktemp("secrets"), moto_server) as w:
        yield w


@pytest.fixture
def notary(world: EcrWorld, notary_server_factory: Callable[..., Any]) -> Any:
    """A Notary stub with token auth, answering as ``https://notary.test`` through the proxy."""
    if shutil.which("notary") is None:
        unavailable("the notary client is not installed (apt-get install notary)")
    stub = notary_server_factory(tls=True, users={NOTARY_USER: NOTARY_PASSWORD}, auth="bearer")
    world.front.proxy.route(NOTARY_NAME, stub.url, ca_file=stub.ca_file)
    return stub


def pem_pair() -> tuple[str, str]:
    issued = trustme.CA().issue_cert("client")
    return issued.cert_chain_pems[0].bytes().decode(), issued.private_key_pem.bytes().decode()


def targets_key(notary: Any, workdir: Path) -> tuple[str, str]:
    """(key file text, key id) of a targets key made by the real notary client."""
    client = NotaryClient(
        workdir / "notary-client",
        notary.url,
        ca_file=notary.ca_file,
        username=NOTARY_USER,
        password=NOTARY_PASSWORD,
        passphrase=PASSPHRASE,
    )
    client.run("key", "generate", "ecdsa", "--role", "targets")
    (path,) = client.key_files()
    return path.read_text(), path.stem


@pytest.fixture
def secret_source(world: EcrWorld, notary: Any, repo_name: str, tmp_path: Path) -> dict[str, Any]:
    client_cert, client_key = pem_pair()
    tls_cert, tls_key = pem_pair()
    key_text, key_id = targets_key(notary, tmp_path)
    return world.source(
        repo_name,
        tag="v1",
        debug=True,
        username=SOURCE_USER,
        password=SOURCE_PASSWORD,
        aws_session_token=SESSION_TOKEN,
        aws_role_arns=[ROLE_A, ROLE_B],
        client_cert=client_cert,
        client_key=client_key,
        registry_mirror={"host": "mirror.test", "username": "mirror-user", "password": MIRROR_PASSWORD},
        content_trust={
            "server": f"https://{NOTARY_NAME}",
            "repository_key": key_text,
            "repository_key_id": key_id,
            "repository_passphrase": PASSPHRASE,
            "tls_cert": tls_cert,
            "tls_key": tls_key,
            "username": NOTARY_USER,
            "password": NOTARY_PASSWORD,
        },
    )


def secrets_of(source: dict[str, Any]) -> list[str]:
    """Every secret value, its JSON-escaped and Basic forms, and each body line of a PEM secret."""
    trust = source["content_trust"]
    values = [
        SOURCE_PASSWORD,
        SECRET_ACCESS_KEY,
        SESSION_TOKEN,
        MIRROR_PASSWORD,
        PASSPHRASE,
        NOTARY_PASSWORD,
        ecr_password(CHAIN_ACCOUNT),
        source["client_key"],
        trust["repository_key"],
        trust["tls_key"],
    ]
    basic = [
        (SOURCE_USER, SOURCE_PASSWORD),
        ("mirror-user", MIRROR_PASSWORD),
        (NOTARY_USER, NOTARY_PASSWORD),
        ("AWS", ecr_password(CHAIN_ACCOUNT)),
    ]
    values += [base64.b64encode(f"{u}:{p}".encode()).decode() for u, p in basic]
    forms = set(values) | {json.dumps(v)[1:-1] for v in values}
    for pem in (source["client_key"], trust["repository_key"], trust["tls_key"]):
        forms |= {
            line for line in pem.splitlines() if line and not line.startswith("-----") and ":" not in line
        }
    return sorted(forms)


def assert_clean(result: Result, secrets: list[str]) -> None:
    assert "DEBUG " in result.stderr  # debug was on, so there was something to leak into
    output = result.stdout + result.stderr
    leaked = [s for s in secrets if s in output]
    assert leaked == []


@pytest.mark.timeout(300)  # three whole runs, each through STS, ECR and the proxy
def test_check_in_and_out_show_no_secret(
    world: EcrWorld, secret_source: dict[str, Any], repo_name: str, tmp_path: Path
) -> None:
    env = base_env(tmp_path, world.env)
    secrets = secrets_of(secret_source)
    digest = push(world.registries[CHAIN_ACCOUNT], repo_name, IMAGE, "v1")

    checked = run_resource("check", {"source": secret_source}, env=env)
    assert checked.json == [{"tag": "v1", "digest": digest}]
    assert_clean(checked, secrets)

    dest = tmp_path / "dest"
    dest.mkdir()
    got = run_resource("in", {"source": secret_source, "version": checked.json[0]}, str(dest), env=env)
    assert (dest / "repository").read_text() == f"{ecr_host(CHAIN_ACCOUNT)}/{repo_name}"
    assert_clean(got, secrets)

    src = tmp_path / "src"
    write_oci_layout(IMAGE, src / "image")
    request = {"source": {**secret_source, "tag": "signed"}, "params": {"image": "image"}}
    put = run_resource("out", request, str(src), env=env)
    assert put.json["version"]["tag"] == "signed"
    assert_clean(put, secrets)
    # The signing went through the proxy like every other call; the mirror, set but not for an ECR
    # repository, was never contacted.
    assert f"{NOTARY_NAME}:443" in world.front.proxy.connects
    assert not any(c.startswith("mirror.test") for c in world.front.proxy.connects)


def test_a_failing_run_shows_no_secret(
    world: EcrWorld, secret_source: dict[str, Any], tmp_path: Path
) -> None:
    env = base_env(tmp_path, world.env)
    missing = {"tag": "v1", "digest": "sha256:" + "0" * 64}
    dest = tmp_path / "dest"
    dest.mkdir()
    result = run_resource("in", {"source": secret_source, "version": missing}, str(dest), env=env, ok=False)
    assert result.last_line.startswith("ERROR download failed: fetch descriptor: ")
    assert_clean(result, secrets_of(secret_source))
