"""The Docker CLI against the fake registry, side by side with registry:2.

Each test does the same thing against a fake registry and a registry:2 (the ``registry``,
``auth_registry`` and ``bearer_registry`` fixtures, the last with token auth) and compares what Docker reports: pushed digests and manifests,
pulled repo digests and image ids, ``docker manifest inspect --insecure`` output (the CLI's own
registry client, which tries HTTPS first and falls back to plain HTTP only when the answer to its
ClientHello starts with ``HTTP/``), ``docker manifest create/push``, and ``docker login`` with
Basic and Bearer auth. The engine is the one ``.ci/docker-engine.sh`` starts in CI (at
``DOCKER_HOST``); Docker treats 127.0.0.0/8 registries as insecure, so plain HTTP needs no
daemon setting. Skips without an engine, except in CI (``test_container.docker``).

Never leaves an image behind (every tag is removed) and never reaches anything but loopback;
the CLI's credentials go to a temporary ``DOCKER_CONFIG``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from fake_registry import (
    FakeRegistry,
    FakeRegistryFactory,
    ImageConfig,
    build_image,
    build_index,
    upload,
    write_docker_archive,
)
from integration.servers import RegistryServer
from integration.test_container import docker  # noqa: F401 (a fixture)
from integration.token_server import BearerAuth

pytestmark = [pytest.mark.docker]

IMAGE = build_image(
    [{"etc/motd": b"hello from docker\n"}, {"bin/tool": b"\x7fELF"}],
    ImageConfig(cmd=["/bin/tool"], labels={"org.example": "docker-cli"}),
    format="docker",
)
AMD64 = build_image([{"arch": b"amd64"}], ImageConfig(architecture="amd64"), format="docker")
ARM64 = build_image([{"arch": b"arm64"}], ImageConfig(architecture="arm64", variant="v8"), format="docker")
INDEX = build_index([AMD64, ARM64], format="docker")


class Docker:
    """The docker CLI with a private ``DOCKER_CONFIG``; remembers the tags it made, to remove them."""

    def __init__(self, cli: str, config: Path) -> None:
        self.cli = cli
        self.env = {**os.environ, "DOCKER_CONFIG": str(config)}
        self.tags: list[str] = []

    def run(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.cli, *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=300,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        return done

    def pull(self, ref: str) -> None:
        self.tags.append(ref)
        self.run("pull", "--quiet", ref)

    def tag(self, source: str, ref: str) -> None:
        self.tags.append(ref)
        self.run("tag", source, ref)

    def push(self, ref: str) -> str:
        """Push; the digest Docker reports."""
        out = self.run("push", ref).stdout
        match = re.search(r"digest: (sha256:[0-9a-f]{64}) size:", out)
        assert match is not None, out
        return match.group(1)

    def login(self, host: str, user: str, password: str) -> subprocess.CompletedProcess[str]:
        return self.run("login", "--username", user, "--password-stdin", host, input=password, check=False)

    def inspect(self, ref: str, template: str) -> str:
        return self.run("image", "inspect", "--format", template, ref).stdout.strip()

    def cleanup(self) -> None:
        for ref in reversed(self.tags):
            self.run("image", "rm", "--force", ref, check=False)


@pytest.fixture
def cli(docker: str, tmp_path: Path) -> Iterator[Docker]:  # noqa: F811
    client = Docker(docker, tmp_path / "docker-config")
    try:
        yield client
    finally:
        client.cleanup()


@pytest.fixture
def fake(fake_registry: FakeRegistry) -> FakeRegistry:
    return fake_registry


def unique(name: str) -> str:
    return f"docker-cli/{name}-{secrets.token_hex(3)}"


def manifest_bytes(
    url: str, repository: str, reference: str, auth: requests.auth.AuthBase | tuple[str, str] | None = None
) -> bytes:
    accept = ", ".join(
        [
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
        ]
    )
    r = requests.get(f"{url}/v2/{repository}/manifests/{reference}", headers={"Accept": accept}, auth=auth)
    assert r.status_code == 200, r.text
    return r.content


@pytest.fixture
def loaded(cli: Docker, tmp_path: Path) -> str:
    """IMAGE loaded into the engine from a ``docker save`` tarball; its local name."""
    name = f"docker-cli-test/{secrets.token_hex(3)}:1.0"
    archive = write_docker_archive(IMAGE, tmp_path / "image.tar", [name])
    cli.tags.append(name)
    cli.run("load", "--quiet", "--input", str(archive))
    return name


def test_push_gives_the_same_digest_and_manifest_as_registry2(
    cli: Docker, loaded: str, fake: FakeRegistry, registry: RegistryServer
) -> None:
    repo = unique("push")
    digests = []
    for target in (fake.host, registry.host):
        cli.tag(loaded, f"{target}/{repo}:1.0")
        digests.append(cli.push(f"{target}/{repo}:1.0"))
    assert digests[0] == digests[1]
    assert manifest_bytes(fake.url, repo, "1.0") == manifest_bytes(registry.url, repo, "1.0")
    assert fake.manifest(repo, digests[0]).digest == digests[0]
    tags = [requests.get(f"{url}/v2/{repo}/tags/list").json() for url in (fake.url, registry.url)]
    assert tags[0] == tags[1] == {"name": repo, "tags": ["1.0"]}


def test_pull_of_a_seeded_image_matches_registry2(
    cli: Docker, fake: FakeRegistry, registry: RegistryServer
) -> None:
    repo = unique("pull")
    fake.push(repo, IMAGE, "1.0")
    upload(IMAGE, registry.url, repo, "1.0")
    seen = []
    for target in (fake.host, registry.host):
        cli.pull(f"{target}/{repo}:1.0")
        repo_digests = json.loads(cli.inspect(f"{target}/{repo}:1.0", "{{json .RepoDigests}}"))
        seen.append(
            (
                [d.split("@", 1)[1] for d in repo_digests if d.startswith(target)],
                cli.inspect(f"{target}/{repo}:1.0", "{{.Id}}"),
            )
        )
    assert seen[0] == seen[1] == ([IMAGE.digest], IMAGE.config_digest)


def test_manifest_inspect_falls_back_from_https_to_http_as_with_registry2(
    cli: Docker, fake: FakeRegistry, registry: RegistryServer
) -> None:
    repo = unique("inspect")
    fake.push(repo, INDEX, "1.0")
    upload(INDEX, registry.url, repo, "1.0")
    outputs = [
        cli.run("manifest", "inspect", "--insecure", f"{target}/{repo}:1.0").stdout
        for target in (fake.host, registry.host)
    ]
    assert outputs[0] == outputs[1]
    assert [m["platform"]["architecture"] for m in json.loads(outputs[0])["manifests"]] == ["amd64", "arm64"]


def test_manifest_create_and_push_give_the_same_list_as_registry2(
    cli: Docker, fake: FakeRegistry, registry: RegistryServer
) -> None:
    repo = unique("list")
    digests = []
    for target, url in ((fake.host, fake.url), (registry.host, registry.url)):
        for image in (AMD64, ARM64):
            upload(image, url, repo)
        ref = f"{target}/{repo}:multi"
        cli.run(
            "manifest",
            "create",
            "--insecure",
            ref,
            f"{target}/{repo}@{AMD64.digest}",
            f"{target}/{repo}@{ARM64.digest}",
        )
        out = cli.run("manifest", "push", "--insecure", "--purge", ref).stdout.strip()
        digests.append(out.splitlines()[-1])
    assert digests[0] == digests[1]
    assert digests[0].startswith("sha256:")
    assert fake.manifest(repo, "multi").digest == digests[0]


def test_login_with_basic_auth_as_with_registry2(
    cli: Docker, fake_registry_factory: FakeRegistryFactory, auth_registry: RegistryServer
) -> None:
    assert auth_registry.username is not None
    assert auth_registry.password is not None
    fake = fake_registry_factory(users={auth_registry.username: auth_registry.password})
    results = []
    for host in (fake.host, auth_registry.host):
        good = cli.login(host, auth_registry.username, auth_registry.password)
        bad = cli.login(host, auth_registry.username, "wrong")
        results.append((good.returncode, good.stdout.strip().splitlines()[-1], bad.returncode))
    assert results[0] == results[1] == (0, "Login Succeeded", 1)


def test_bearer_login_push_pull_and_anonymous_refusals_as_with_registry2(
    cli: Docker, loaded: str, fake_registry_factory: FakeRegistryFactory, bearer_registry: RegistryServer
) -> None:
    user, password = bearer_registry.username, bearer_registry.password
    assert user is not None
    assert password is not None
    fake = fake_registry_factory(users={user: password}, auth="bearer")
    repo = unique("bearer")
    seen = []
    for host in (fake.host, bearer_registry.host):
        ref = f"{host}/{repo}:1.0"
        cli.tag(loaded, ref)
        anonymous_push = cli.run("push", ref, check=False)
        bad = cli.login(host, user, "wrong")
        good = cli.login(host, user, password)
        digest = cli.push(ref)
        cli.run("image", "rm", ref)
        cli.pull(ref)
        repo_digests = json.loads(cli.inspect(ref, "{{json .RepoDigests}}"))
        cli.run("logout", host)
        anonymous_pull = cli.run("pull", ref, check=False)
        seen.append(
            [
                (anonymous_push.returncode, anonymous_push.stderr.strip()),
                (bad.returncode, bad.stderr.strip().replace(host, "HOST")),
                (good.returncode, good.stdout.strip().splitlines()[-1]),
                digest,
                [d.replace(host, "HOST") for d in repo_digests if d.startswith(host)],
                (anonymous_pull.returncode, anonymous_pull.stderr.strip().replace(host, "HOST")),
            ]
        )
    assert seen[0] == seen[1]
    digest = seen[0][3]
    assert seen[0] == [
        (1, "denied: requested access to the resource is denied"),
        (
            1,
            'Error response from daemon: Get "http://HOST/v2/": unauthorized: incorrect username or password',
        ),
        (0, "Login Succeeded"),
        digest,
        [f"HOST/{repo}@{digest}"],
        (
            1,
            f"Error response from daemon: pull access denied for HOST/{repo}, repository does not exist or "
            "may require 'docker login': denied: requested access to the resource is denied",
        ),
    ]
    credentials = BearerAuth(user, password)
    assert manifest_bytes(fake.url, repo, "1.0", credentials) == manifest_bytes(
        bearer_registry.url, repo, "1.0", credentials
    )
    assert [r.status for r in fake.requests.find("GET", "^/token$")][-1] == 200
