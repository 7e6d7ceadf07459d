"""check and in against "ECR", end to end and offline (SPEC B.6.4, A.2.10).

moto's server answers STS and ECR (reached by boto3 only through ``HTTP_PROXY``, under the name
``moto.test``); each AWS account's ``<account>.dkr.ecr.us-east-1.amazonaws.com`` is a real
``registry:2`` with TLS and htpasswd user ``AWS`` whose password is the one moto's
GetAuthorizationToken hands out for that account, reached through ``HTTPS_PROXY`` with the proxy's
CA in ``ca_certs``. So a run succeeds only when the right credentials (static keys, one role, a
chain of two) produced the right token for the right registry host.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from fake_registry import File, build_image, write_oci_layout
from integration.resource_cli import base_env, run_resource
from integration.routing_worlds import (
    CHAIN_ACCOUNT,
    NAMED_ACCOUNT,
    ROLE_A,
    ROLE_ACCOUNT,
    ROLE_B,
    SECRET_ACCESS_KEY,
    STATIC_ACCOUNT,
    EcrWorld,
    ecr_host,
    ecr_password,
    ecr_world,
    servers_or_skip,
)
from integration.seed import push

IMAGE = build_image([{"hello.txt": File("from ECR\n")}])

# (source fields, account whose registry holds the image, account named in the repository)
CREDENTIALS: dict[str, tuple[dict[str, Any], str, str]] = {
    "static keys": ({}, STATIC_ACCOUNT, STATIC_ACCOUNT),
    "static keys with session token": (
        {"aws_session_token": "FwoGZXIvYXdzEXAMPLESESSIONTOKEN"},
        STATIC_ACCOUNT,
        STATIC_ACCOUNT,
    ),
    "one role": ({"aws_role_arn": ROLE_A}, ROLE_ACCOUNT, ROLE_ACCOUNT),
    "chain of two roles": ({"aws_role_arns": [ROLE_A, ROLE_B]}, CHAIN_ACCOUNT, CHAIN_ACCOUNT),
    "aws_account_id": ({"aws_account_id": NAMED_ACCOUNT}, STATIC_ACCOUNT, NAMED_ACCOUNT),
}


@pytest.fixture(scope="module")
def world(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EcrWorld]:
    with servers_or_skip("ECR world"), ecr_world(tmp_path_factory.mktemp("ecr"), moto_server) as w:
        yield w


@pytest.fixture
def env(world: EcrWorld, tmp_path: Path) -> dict[str, str]:
    return base_env(tmp_path, world.env)


def seeded(world: EcrWorld, account: str, repo: str) -> str:
    return push(world.registries[account], repo, IMAGE, "v1")


@pytest.mark.parametrize("case", list(CREDENTIALS))
def test_check(world: EcrWorld, env: dict[str, str], repo_name: str, case: str) -> None:
    fields, account, named = CREDENTIALS[case]
    digest = seeded(world, account, repo_name)
    result = run_resource("check", {"source": world.source(repo_name, tag="v1", **fields)}, env=env)
    assert result.json == [{"tag": "v1", "digest": digest}]
    assert f"{ecr_host(named)}:443" in world.front.proxy.connects


@pytest.mark.parametrize("case", list(CREDENTIALS))
def test_in(world: EcrWorld, env: dict[str, str], repo_name: str, tmp_path: Path, case: str) -> None:
    fields, account, named = CREDENTIALS[case]
    digest = seeded(world, account, repo_name)
    dest = tmp_path / "dest"
    dest.mkdir()
    request = {"source": world.source(repo_name, **fields), "version": {"tag": "v1", "digest": digest}}
    result = run_resource("in", request, str(dest), env=env)
    rewritten = f"{ecr_host(named)}/{repo_name}"
    assert result.json == {
        "version": {"tag": "v1", "digest": digest},
        "metadata": [{"name": "repository", "value": rewritten}, {"name": "tag", "value": "v1"}],
    }
    assert (dest / "repository").read_text() == rewritten
    assert (dest / "rootfs" / "hello.txt").read_text() == "from ECR\n"


@pytest.mark.parametrize("case", list(CREDENTIALS))
def test_out(world: EcrWorld, env: dict[str, str], repo_name: str, tmp_path: Path, case: str) -> None:
    fields, account, named = CREDENTIALS[case]
    src = tmp_path / "src"
    write_oci_layout(IMAGE, src / "image")
    request = {"source": world.source(repo_name, tag="pushed", **fields), "params": {"image": "image"}}
    result = run_resource("out", request, str(src), env=env)
    rewritten = f"{ecr_host(named)}/{repo_name}"
    digest = result.json["version"]["digest"]
    assert result.json == {
        "version": {"tag": "pushed", "digest": digest},
        "metadata": [{"name": "repository", "value": rewritten}, {"name": "tags", "value": "pushed"}],
    }
    # It landed in that account's registry, under the tag, with the digest out reported.
    server = world.registries[account]
    landed = requests.get(
        f"{server.url}/v2/{repo_name}/manifests/pushed",
        headers={"Accept": ", ".join((IMAGE.media_type, "application/vnd.oci.image.index.v1+json"))},
        auth=server.auth,
        verify=server.verify,
        timeout=30,
    )
    assert landed.status_code == 200
    assert f"sha256:{hashlib.sha256(landed.content).hexdigest()}" == digest


def test_default_credential_chain(world: EcrWorld, tmp_path: Path, repo_name: str) -> None:
    digest = seeded(world, STATIC_ACCOUNT, repo_name)
    env = base_env(
        tmp_path,
        {**world.env, "AWS_ACCESS_KEY_ID": "AKIAENVIRONMENTKEY01", "AWS_SECRET_ACCESS_KEY": "env-secret-key"},
    )
    source = world.source(repo_name, tag="v1", aws_access_key_id="", aws_secret_access_key="")
    assert run_resource("check", {"source": source}, env=env).json == [{"tag": "v1", "digest": digest}]


def test_conflicting_role_fields(world: EcrWorld, env: dict[str, str]) -> None:
    source = world.source("app", tag="v1", aws_role_arn=ROLE_A, aws_role_arns=[ROLE_B])
    result = run_resource("check", {"source": source}, env=env, ok=False)
    assert result.last_line == (
        "ERROR source.aws_role_arn cannot be set at the same time as source.aws_role_arns"
    )


def test_failing_role_is_named_without_secrets(world: EcrWorld, env: dict[str, str]) -> None:
    source = world.source("app", tag="v1", aws_role_arns=[ROLE_A, "not-an-arn"], debug=True)
    result = run_resource("check", {"source": source}, env=env, ok=False)
    assert result.last_line == (
        "ERROR cannot authenticate with ECR: error assuming role 'not-an-arn': Parameter validation "
        "failed: Invalid length for parameter RoleArn, value: 10, valid min length: 20"
    )
    assert SECRET_ACCESS_KEY not in result.stderr


def test_wrong_token_for_the_registry_is_a_registry_error(
    world: EcrWorld, env: dict[str, str], repo_name: str
) -> None:
    # The static keys' token (account 123456789012) does not open account 111111111111's registry.
    seeded(world, ROLE_ACCOUNT, repo_name)
    source = world.source(repo_name, tag="v1", aws_account_id=ROLE_ACCOUNT)
    result = run_resource("check", {"source": source}, env=env, ok=False)
    assert result.last_line.startswith(f"ERROR checking origin {ecr_host(ROLE_ACCOUNT)}/{repo_name} failed: ")
    assert "401 Unauthorized" in result.last_line
    assert ecr_password(STATIC_ACCOUNT) not in result.stderr


def test_debug_shows_the_role_chain_and_no_credentials(
    world: EcrWorld, env: dict[str, str], repo_name: str
) -> None:
    seeded(world, CHAIN_ACCOUNT, repo_name)
    source = world.source(repo_name, tag="v1", aws_role_arns=[ROLE_A, ROLE_B], debug=True)
    result = run_resource("check", {"source": source}, env=env)
    lines = result.stderr.splitlines()
    assert lines[:3] == [
        f"DEBUG assuming role: {ROLE_A}",
        f"DEBUG assuming role: {ROLE_B}",
        f"DEBUG ECR proxy endpoint: https://{ecr_host(CHAIN_ACCOUNT)}",
    ]
    for secret in (SECRET_ACCESS_KEY, ecr_password(CHAIN_ACCOUNT)):
        assert secret not in result.stderr
    assert json.loads(result.stdout)[0]["tag"] == "v1"
