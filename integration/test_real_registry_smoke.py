"""The integration fixtures themselves: each registry variant answers, accepts a skopeo push and
serves the pushed manifest by digest; moto answers ECR and STS; servers stop when asked."""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import requests
import trustme

from fake_registry import (
    Dir,
    File,
    ImageConfig,
    Symlink,
    build_image,
    build_index,
    write_docker_archive,
    write_oci_layout,
)
from integration.servers import RegistryOptions, RegistryServer, run_tool, skopeo_copy, start_registry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
VARIANTS = ["registry", "auth_registry", "tls_registry"]


@pytest.fixture
def http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # never a proxy from the environment: loopback only
    return session


def small_image():
    return build_image(
        [
            {
                "etc": Dir(),
                "etc/hello": File(b"hello\n", mode=0o600),
                "bin": Dir(),
                "bin/sh": Symlink("busybox"),
            },
            {"etc/motd": b"layer two\n"},
        ],
        ImageConfig(cmd=["/bin/sh"], labels={"org.example.test": "smoke"}),
    )


def test_ping_plain_registry(registry: RegistryServer, http: requests.Session) -> None:
    response = http.get(f"{registry.url}/v2/", timeout=10)

    assert (response.status_code, response.headers["Docker-Distribution-API-Version"]) == (
        200,
        "registry/2.0",
    )


def test_ping_auth_registry_with_right_credentials(
    auth_registry: RegistryServer, http: requests.Session
) -> None:
    response = http.get(f"{auth_registry.url}/v2/", auth=auth_registry.auth, timeout=10)

    assert response.status_code == 200


def test_ping_auth_registry_with_wrong_password(
    auth_registry: RegistryServer, http: requests.Session
) -> None:
    response = http.get(f"{auth_registry.url}/v2/", auth=(str(auth_registry.username), "wrong"), timeout=10)

    assert (response.status_code, response.headers["WWW-Authenticate"]) == (
        401,
        'Basic realm="test-registry"',
    )


def test_ping_auth_registry_without_credentials(
    auth_registry: RegistryServer, http: requests.Session
) -> None:
    response = http.get(f"{auth_registry.url}/v2/", timeout=10)

    assert (response.status_code, response.json()["errors"][0]["code"]) == (401, "UNAUTHORIZED")


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost"])
def test_ping_tls_registry_with_ca(tls_registry: RegistryServer, http: requests.Session, name: str) -> None:
    port = tls_registry.host.rpartition(":")[2]

    response = http.get(f"https://{name}:{port}/v2/", verify=tls_registry.verify, timeout=10)

    assert response.status_code == 200


def test_tls_registry_is_untrusted_without_its_ca(
    tls_registry: RegistryServer, http: requests.Session
) -> None:
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        http.get(f"{tls_registry.url}/v2/", timeout=10)


def test_tls_registry_ca_pem_matches_ca_file(tls_registry: RegistryServer) -> None:
    assert tls_registry.ca_file is not None
    assert tls_registry.ca_file.read_text() == tls_registry.ca_pem
    ssl.create_default_context(cadata=tls_registry.ca_pem)  # parses as a CA certificate


@pytest.mark.parametrize("variant", VARIANTS)
def test_skopeo_push_oci_layout_then_head_manifest(
    variant: str, request: pytest.FixtureRequest, repo_name: str, tmp_path: Path, http: requests.Session
) -> None:
    server: RegistryServer = request.getfixturevalue(variant)
    image = small_image()
    layout = write_oci_layout(image, tmp_path / "layout", "v1")

    skopeo_copy(
        f"oci:{layout}:v1", f"docker://{server.repository(repo_name)}:v1", *server.skopeo_args("dest")
    )
    response = http.head(
        f"{server.url}/v2/{repo_name}/manifests/v1",
        headers={"Accept": OCI_MANIFEST},
        auth=server.auth,
        verify=server.verify,
        timeout=10,
    )

    assert (
        response.status_code,
        response.headers["Docker-Content-Digest"],
        response.headers["Content-Type"],
    ) == (
        200,
        image.digest,
        OCI_MANIFEST,
    )


def test_skopeo_push_multi_platform_index(
    registry: RegistryServer, repo_name: str, tmp_path: Path, http: requests.Session
) -> None:
    amd64 = build_image([{"arch": b"amd64\n"}], ImageConfig(architecture="amd64"))
    arm64 = build_image([{"arch": b"arm64\n"}], ImageConfig(architecture="arm64", variant="v8"))
    index = build_index([amd64, arm64])
    layout = write_oci_layout(index, tmp_path / "layout", "multi")

    skopeo_copy(
        f"oci:{layout}:multi",
        f"docker://{registry.repository(repo_name)}:multi",
        "--all",
        *registry.skopeo_args("dest"),
    )
    heads = {
        ref: http.head(
            f"{registry.url}/v2/{repo_name}/manifests/{ref}", headers={"Accept": accept}, timeout=10
        )
        for ref, accept in [("multi", OCI_INDEX), (amd64.digest, OCI_MANIFEST), (arm64.digest, OCI_MANIFEST)]
    }

    assert {ref: r.headers.get("Docker-Content-Digest") for ref, r in heads.items()} == {
        "multi": index.digest,
        amd64.digest: amd64.digest,
        arm64.digest: arm64.digest,
    }


def test_skopeo_reads_docker_archive(registry: RegistryServer, repo_name: str, tmp_path: Path) -> None:
    image = small_image()
    archive = write_docker_archive(image, tmp_path / "image.tar", ["example/smoke:v1"])

    skopeo_copy(
        f"docker-archive:{archive}",
        f"docker://{registry.repository(repo_name)}:v1",
        *registry.skopeo_args("dest"),
    )
    raw = run_tool(
        "skopeo",
        "inspect",
        "--config",
        "--raw",
        "--tls-verify=false",
        f"docker://{registry.repository(repo_name)}:v1",
    )

    config = json.loads(raw.stdout)
    assert (config["rootfs"]["diff_ids"], config["config"]["Labels"]) == (
        [layer.diff_id for layer in image.layers],
        {"org.example.test": "smoke"},
    )


def test_docker_archive_layout(tmp_path: Path) -> None:
    image = small_image()
    archive = write_docker_archive(image, tmp_path / "image.tar", ["example/smoke:v1"])

    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        names = sorted(tar.getnames())

    config_name = image.config_digest.removeprefix("sha256:") + ".json"
    layers = [f"{layer.diff_id.removeprefix('sha256:')}/layer.tar" for layer in image.layers]
    assert manifest == [{"Config": config_name, "RepoTags": ["example/smoke:v1"], "Layers": layers}]
    assert names == sorted([config_name, *layers, "manifest.json", "repositories"])


def test_images_are_deterministic() -> None:
    assert small_image().digest == small_image().digest


def test_started_registry_stops_and_frees_its_port(tmp_path: Path, http: requests.Session) -> None:
    with start_registry(tmp_path / "short-lived") as server:
        assert http.get(f"{server.url}/v2/", timeout=10).status_code == 200

    with pytest.raises(requests.exceptions.ConnectionError):
        http.get(f"{server.url}/v2/", timeout=2)


def test_registry_factory_mtls_variant(registry_factory, tmp_path: Path, http: requests.Session) -> None:
    client_ca = trustme.CA()
    server = registry_factory(RegistryOptions(tls_hosts=["127.0.0.1"], client_ca=client_ca))
    client = client_ca.issue_cert("client")
    pem = tmp_path / "client.pem"
    client.private_key_and_cert_chain_pem.write_to_path(str(pem))

    with pytest.raises(requests.exceptions.SSLError):
        http.get(f"{server.url}/v2/", verify=server.verify, timeout=10)
    assert http.get(f"{server.url}/v2/", verify=server.verify, cert=str(pem), timeout=10).status_code == 200


def test_moto_ecr_repository_and_authorization_token(aws_environment: dict[str, str], repo_name: str) -> None:
    import boto3

    ecr = boto3.client("ecr", region_name="us-east-1")
    created = ecr.create_repository(repositoryName=repo_name)["repository"]
    token = ecr.get_authorization_token()["authorizationData"][0]
    identity = boto3.client("sts", region_name="us-east-1").get_caller_identity()

    account = identity["Account"]
    user, _, password = base64.b64decode(token["authorizationToken"]).decode().partition(":")
    assert (created["repositoryUri"], user, bool(password), token["proxyEndpoint"]) == (
        f"{account}.dkr.ecr.us-east-1.amazonaws.com/{repo_name}",
        "AWS",
        True,
        f"https://{account}.dkr.ecr.us-east-1.amazonaws.com",
    )


def test_moto_sts_assume_role(aws_environment: dict[str, str]) -> None:
    import boto3

    sts = boto3.client("sts", region_name="us-east-1")
    account = sts.get_caller_identity()["Account"]

    assumed = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/pusher", RoleSessionName="smoke")

    assert assumed["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{account}:assumed-role/pusher/smoke"


def process_state(pid: int) -> str:
    """The one-letter state from /proc (``Z`` zombie), or ``gone``."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return "gone"


def test_servers_die_with_a_killed_test_process(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from integration.servers import spawn\n"
        f"proc = spawn(['sleep', '300'], Path({str(tmp_path / 'sleep.log')!r}))\n"
        "print(proc.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    repo_root = Path(__file__).resolve().parent.parent
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=repo_root,
        env={**os.environ, "PYTHONPATH": str(repo_root)},
        stdout=subprocess.PIPE,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert process_state(child) in ("S", "R")
    finally:
        parent.kill()  # SIGKILL: no teardown, no atexit
        parent.wait()
        parent.stdout.close()  # type: ignore[union-attr]

    deadline = time.monotonic() + 10
    while process_state(child) not in ("Z", "gone") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process_state(child) in ("Z", "gone")
