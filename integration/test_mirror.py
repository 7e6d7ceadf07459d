"""The Docker Hub mirror in check and in, end to end through the CLI (SPEC B.3.5, B.4.8).

"Docker Hub" is a fake registry answering ``index.docker.io`` through its impersonation proxy
(``HTTPS_PROXY``, its CA in ``ca_certs``); the mirror is another fake registry on loopback with its
own user. Both keep a request log, which is how the tests see who was asked what.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fake_registry import FakeRegistry, Fault, File
from integration.resource_cli import Result, base_env, run_resource
from integration.routing_worlds import proxy_env

MIRROR_USER = "mirror-user"
MIRROR_PASSWORD = "mirror-password-4f1d9c"
HUB_PATH = "library/alpine"  # what the repository "alpine" means on Docker Hub


@pytest.fixture
def hub() -> Iterator[FakeRegistry]:
    """Docker Hub: anonymous pulls, answering for index.docker.io (and any other name)."""
    with FakeRegistry(proxy=True) as registry:
        yield registry


@pytest.fixture
def mirror() -> Iterator[FakeRegistry]:
    with FakeRegistry(users={MIRROR_USER: MIRROR_PASSWORD}) as registry:
        yield registry


@pytest.fixture
def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def source(hub: FakeRegistry, mirror_host: str, repository: str = "alpine", **fields: Any) -> dict[str, Any]:
    return {
        "repository": repository,
        "ca_certs": [hub.ca_pem],
        "registry_mirror": {"host": mirror_host, "username": MIRROR_USER, "password": MIRROR_PASSWORD},
        **fields,
    }


def run(hub: FakeRegistry, tmp_path: Path, command: str, request: dict[str, Any], *args: str) -> Result:
    env = base_env(tmp_path, proxy_env(hub, no_proxy="127.0.0.1"))
    return run_resource(command, request, *args, env=env)


def check(hub: FakeRegistry, tmp_path: Path, mirror_host: str, **fields: Any) -> Result:
    return run(hub, tmp_path, "check", {"source": source(hub, mirror_host, tag="3.19", **fields)})


def get(hub: FakeRegistry, tmp_path: Path, mirror_host: str, digest: str) -> tuple[Result, Path]:
    dest = tmp_path / "dest"
    dest.mkdir()
    request = {"source": source(hub, mirror_host), "version": {"tag": "3.19", "digest": digest}}
    return run(hub, tmp_path, "in", request, str(dest)), dest


def hub_image(hub: FakeRegistry) -> str:
    return hub.push_image(HUB_PATH, "3.19", layers=[{"from": File("hub\n")}]).digest


def mirror_image(mirror: FakeRegistry) -> str:
    return mirror.push_image(HUB_PATH, "3.19", layers=[{"from": File("mirror\n")}]).digest


# --- check -----------------------------------------------------------------------------------


def test_check_hit_answers_from_the_mirror_alone(
    hub: FakeRegistry, mirror: FakeRegistry, tmp_path: Path
) -> None:
    hub_image(hub)
    mirrored = mirror_image(mirror)
    result = check(hub, tmp_path, mirror.host)
    assert result.json == [{"tag": "3.19", "digest": mirrored}]
    assert hub.requests.all() == []
    assert hub.proxy.connects == []


def test_check_miss_falls_back_to_docker_hub(hub: FakeRegistry, mirror: FakeRegistry, tmp_path: Path) -> None:
    origin = hub_image(hub)
    result = check(hub, tmp_path, mirror.host)
    assert result.json == [{"tag": "3.19", "digest": origin}]
    assert (
        f"WARNING checking mirror {mirror.host}/{HUB_PATH} failed: tag not found"
        in result.stderr.splitlines()
    )
    assert {r.host for r in hub.requests.all()} == {"index.docker.io"}


def test_check_mirror_down_falls_back(hub: FakeRegistry, tmp_path: Path, closed_port: str) -> None:
    origin = hub_image(hub)
    result = check(hub, tmp_path, closed_port)
    assert result.json == [{"tag": "3.19", "digest": origin}]
    assert any(
        line.startswith(f"WARNING checking mirror {closed_port}/{HUB_PATH} failed: initialize transport: ")
        for line in result.stderr.splitlines()
    )


def test_check_mirror_error_falls_back(hub: FakeRegistry, mirror: FakeRegistry, tmp_path: Path) -> None:
    origin = hub_image(hub)
    mirror_image(mirror)
    mirror.faults.add(Fault(path="/manifests/", status=404, times=None))
    assert check(hub, tmp_path, mirror.host).json == [{"tag": "3.19", "digest": origin}]


def test_check_other_registries_never_use_the_mirror(
    hub: FakeRegistry, mirror: FakeRegistry, tmp_path: Path
) -> None:
    # ghcr.io is answered by the same fake through the proxy; the mirror applies to Docker Hub only.
    digest = hub.push_image("team/app", "3.19", layers=[{"from": File("ghcr\n")}]).digest
    mirror.push_image("team/app", "3.19", layers=[{"from": File("mirror\n")}])
    result = check(hub, tmp_path, mirror.host, repository="ghcr.io/team/app")
    assert result.json == [{"tag": "3.19", "digest": digest}]
    assert mirror.requests.all() == []
    assert {r.host for r in hub.requests.all()} == {"ghcr.io"}


def test_mirror_credentials_never_reach_docker_hub(
    hub: FakeRegistry, mirror: FakeRegistry, tmp_path: Path
) -> None:
    hub_image(hub)
    check(hub, tmp_path, mirror.host)
    # The mirror was asked with credentials; Docker Hub (no source credentials) with none at all.
    assert "***" in {r.header("Authorization") for r in mirror.requests.all()}
    assert hub.requests.all() != []
    assert [r.header("Authorization") for r in hub.requests.all()] == [None] * len(hub.requests.all())


# --- in --------------------------------------------------------------------------------------


def test_in_hit_downloads_from_the_mirror_alone(
    hub: FakeRegistry, mirror: FakeRegistry, tmp_path: Path
) -> None:
    digest = mirror_image(mirror)
    hub.push_image(HUB_PATH, "3.19", layers=[{"from": File("mirror\n")}])  # the same image upstream
    result, dest = get(hub, tmp_path, mirror.host, digest)
    assert result.json["version"] == {"tag": "3.19", "digest": digest}
    assert (dest / "rootfs" / "from").read_text() == "mirror\n"
    # dest/repository names the origin, never the mirror
    assert (dest / "repository").read_text() == "alpine"
    assert hub.requests.all() == []


def test_in_miss_falls_back_to_docker_hub(hub: FakeRegistry, mirror: FakeRegistry, tmp_path: Path) -> None:
    digest = hub_image(hub)
    result, dest = get(hub, tmp_path, mirror.host, digest)
    assert (dest / "rootfs" / "from").read_text() == "hub\n"
    assert any(
        line.startswith(f"WARNING download from mirror {mirror.host}/{HUB_PATH} failed: ")
        for line in result.stderr.splitlines()
    )


def test_in_mirror_down_falls_back(hub: FakeRegistry, tmp_path: Path, closed_port: str) -> None:
    digest = hub_image(hub)
    result, dest = get(hub, tmp_path, closed_port, digest)
    assert (dest / "rootfs" / "from").read_text() == "hub\n"
    assert any(
        line.startswith(
            f"WARNING download from mirror {closed_port}/{HUB_PATH} failed: initialize transport: "
        )
        for line in result.stderr.splitlines()
    )


def test_in_broken_mirror_blob_falls_back(hub: FakeRegistry, mirror: FakeRegistry, tmp_path: Path) -> None:
    digest = hub_image(hub)
    mirror.push_image(HUB_PATH, "3.19", layers=[{"from": File("hub\n")}])
    mirror.faults.add(Fault(method="GET", path="/blobs/", corrupt_at=5, times=None))
    result, dest = get(hub, tmp_path, mirror.host, digest)
    assert (dest / "rootfs" / "from").read_text() == "hub\n"
    assert mirror.requests.find("GET", "/blobs/") != []
    assert any(line.startswith("WARNING download from mirror ") for line in result.stderr.splitlines())
