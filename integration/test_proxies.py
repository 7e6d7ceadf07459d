"""HTTPS_PROXY, HTTP_PROXY and NO_PROXY through the CLI (SPEC A.2.10).

ECR's AWS calls through the proxy are in ``test_ecr.py`` (moto is reachable only as ``moto.test``
through it) and Notary's in ``test_secrets_never_shown.py`` (``notary.test``). Here: the registry
and its token endpoint, and NO_PROXY.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from fake_registry import FakeRegistry, File
from integration.resource_cli import base_env, run_resource
from integration.seed import push
from integration.servers import RegistryServer

HUB_USER = "hub-user"
HUB_PASSWORD = "hub-password-c5e7a1"


@pytest.fixture
def hub() -> Iterator[FakeRegistry]:
    """Docker Hub's flow: Bearer tokens from ``https://index.docker.io/token``, via the proxy."""
    with FakeRegistry(proxy=True, users={HUB_USER: HUB_PASSWORD}, auth="bearer") as registry:
        yield registry


@pytest.fixture
def dead_proxy() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def proxies(url: str, no_proxy: str = "") -> dict[str, str]:
    return {"HTTPS_PROXY": url, "HTTP_PROXY": url, "NO_PROXY": no_proxy}


def test_registry_and_token_endpoint_through_the_proxy(hub: FakeRegistry, tmp_path: Path) -> None:
    digest = hub.push_image("library/alpine", "3.19", layers=[{"f": File("hub\n")}]).digest
    source = {
        "repository": "alpine",
        "tag": "3.19",
        "username": HUB_USER,
        "password": HUB_PASSWORD,
        "ca_certs": [hub.ca_pem],
    }
    result = run_resource("check", {"source": source}, env=base_env(tmp_path, proxies(hub.proxy.url)))
    assert result.json == [{"tag": "3.19", "digest": digest}]
    seen = [(r.host, r.method, r.path) for r in hub.requests.all()]
    assert ("index.docker.io", "GET", "/token") in seen
    assert ("index.docker.io", "HEAD", "/v2/library/alpine/manifests/3.19") in seen
    assert set(hub.proxy.connects) == {"index.docker.io:443"}


def test_lower_case_variables_work_too(hub: FakeRegistry, tmp_path: Path) -> None:
    digest = hub.push_image("library/alpine", "3.19", layers=[{"f": File("hub\n")}]).digest
    source = {"repository": "alpine", "tag": "3.19", "username": HUB_USER, "password": HUB_PASSWORD}
    env = base_env(tmp_path, {"https_proxy": hub.proxy.url})
    result = run_resource("check", {"source": {**source, "ca_certs": [hub.ca_pem]}}, env=env)
    assert result.json == [{"tag": "3.19", "digest": digest}]


def test_no_proxy_reaches_the_registry_directly(
    registry: RegistryServer, repo_name: str, tmp_path: Path, dead_proxy: str
) -> None:
    from fake_registry import build_image

    digest = push(registry, repo_name, build_image([{"f": File("direct\n")}]), "v1")
    env = base_env(tmp_path, proxies(dead_proxy, no_proxy="127.0.0.1"))
    source = {"repository": registry.repository(repo_name), "tag": "v1"}
    assert run_resource("check", {"source": source}, env=env).json == [{"tag": "v1", "digest": digest}]


def test_an_unreachable_proxy_is_a_clear_error(
    registry: RegistryServer, repo_name: str, tmp_path: Path, dead_proxy: str
) -> None:
    env = base_env(tmp_path, proxies(dead_proxy))
    source = {"repository": registry.repository(repo_name), "tag": "v1"}
    result = run_resource("check", {"source": source}, env=env, ok=False)
    refused = "unable to connect to the proxy (HTTPS_PROXY/HTTP_PROXY): [Errno 111] Connection refused"
    assert result.last_line == (
        f"ERROR checking origin {registry.repository(repo_name)} failed: initialize transport: "
        f"GET https://{registry.host}/v2/: {refused}; GET http://{registry.host}/v2/: {refused} "
        "(gave up after 5 attempts)"
    )


def test_proxy_credentials_never_shown(
    registry: RegistryServer, repo_name: str, tmp_path: Path, dead_proxy: str
) -> None:
    with_credentials = dead_proxy.replace("http://", "http://proxy-user:proxy-password-77a1@")
    env = base_env(tmp_path, proxies(with_credentials))
    source = {"repository": registry.repository(repo_name), "tag": "v1", "debug": True}
    result = run_resource("check", {"source": source}, env=env, ok=False)
    assert "proxy-password-77a1" not in result.stderr
