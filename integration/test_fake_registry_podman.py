"""podman against the fake registry, side by side with registry:2.

The same pulls, pushes and logins against a fake registry and a registry:2 (``registry``,
``auth_registry``), comparing what podman reports: the pulled image's digest, the digest and
manifest of a push, and ``podman login`` with Basic auth (and Bearer, fake only). podman runs
rootful with a private store per test (``--root``/``--runroot`` under ``tmp_path``, the ``vfs``
driver, so no kernel overlay or systemd is needed) and ``--tls-verify=false`` for the plain-HTTP
loopback registries. Without podman on PATH the test skips, or fails with REQUIRE_REAL_SERVERS=1.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from fake_registry import FakeRegistry, FakeRegistryFactory, ImageConfig, build_image, upload
from integration.servers import RegistryServer, run_tool

IMAGE = build_image(
    [{"etc/motd": b"hello from podman\n"}, {"data.bin": bytes(range(256)) * 16}],
    ImageConfig(cmd=["/bin/sh"], labels={"org.example": "podman"}),
)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class Podman:
    """podman with a store of its own under ``root``."""

    def __init__(self, root: Path, runroot: Path) -> None:
        self.global_args = [
            *("--root", str(root / "storage"), "--runroot", str(runroot)),
            *("--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"),
        ]
        self.auth_file = root / "auth.json"
        root.mkdir(parents=True, exist_ok=True)
        self.auth_file.write_text("{}")  # podman wants the file to exist; logins add to it

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_tool("podman", *self.global_args, *args, timeout=300, check=check)

    def pull(self, ref: str, *extra: str) -> str:
        """Pull; the digest of the manifest podman pulled."""
        self.run("pull", "--quiet", "--tls-verify=false", "--authfile", str(self.auth_file), *extra, ref)
        return self.run("image", "inspect", "--format", "{{.Digest}}", ref).stdout.strip()

    def push(self, source: str, ref: str, digest_file: Path) -> str:
        self.run(
            *("push", "--quiet", "--tls-verify=false", "--authfile", str(self.auth_file)),
            *("--digestfile", str(digest_file), source, ref),
        )
        return digest_file.read_text().strip()

    def login(self, host: str, user: str, password: str) -> subprocess.CompletedProcess[str]:
        return run_tool(
            "podman",
            *self.global_args,
            *("login", "--tls-verify=false", "--authfile", str(self.auth_file)),
            *("--username", user, "--password-stdin", host),
            input=password.encode(),
            check=False,
        )


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Podman]:
    run_tool("podman", "--version")  # skip (or fail in CI) without podman
    runroot = Path(tempfile.mkdtemp(prefix="podman-", dir="/tmp"))  # podman wants at most 50 characters
    try:
        yield Podman(tmp_path / "podman", runroot)
    finally:
        shutil.rmtree(runroot, ignore_errors=True)


def unique(name: str) -> str:
    return f"podman/{name}-{secrets.token_hex(3)}"


def manifest(url: str, repository: str, reference: str) -> bytes:
    r = requests.get(f"{url}/v2/{repository}/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200, r.text
    return r.content


def test_pull_gets_the_seeded_digest_as_from_registry2(
    podman: Podman, fake_registry: FakeRegistry, registry: RegistryServer
) -> None:
    repo = unique("pull")
    fake_registry.push(repo, IMAGE, "1.0")
    upload(IMAGE, registry.url, repo, "1.0")
    digests = [podman.pull(f"{host}/{repo}:1.0") for host in (fake_registry.host, registry.host)]
    assert digests == [IMAGE.digest, IMAGE.digest]


def test_push_gives_the_same_digest_and_manifest_as_registry2(
    podman: Podman,
    fake_registry: FakeRegistry,
    fake_registry_factory: FakeRegistryFactory,
    registry: RegistryServer,
    tmp_path: Path,
) -> None:
    # pulled from a third registry, so podman compresses the layers anew for both pushes (a push
    # back to the registry it pulled from reuses the blobs it already has there)
    source_repo, repo = unique("source"), unique("push")
    elsewhere = fake_registry_factory()
    elsewhere.push(source_repo, IMAGE, "1.0")
    source = f"{elsewhere.host}/{source_repo}:1.0"
    podman.pull(source)
    digests = [
        podman.push(source, f"{host}/{repo}:2.0", tmp_path / f"digest-{i}")
        for i, host in enumerate((fake_registry.host, registry.host))
    ]
    assert digests[0] == digests[1]
    assert manifest(fake_registry.url, repo, "2.0") == manifest(registry.url, repo, "2.0")


def test_login_with_basic_auth_as_with_registry2(
    podman: Podman, fake_registry_factory: FakeRegistryFactory, auth_registry: RegistryServer
) -> None:
    assert auth_registry.username is not None
    assert auth_registry.password is not None
    fake = fake_registry_factory(users={auth_registry.username: auth_registry.password})
    results = []
    for host in (fake.host, auth_registry.host):
        good = podman.login(host, auth_registry.username, auth_registry.password)
        bad = podman.login(host, auth_registry.username, "wrong")
        results.append((good.returncode, good.stdout.strip(), bad.returncode))
    assert results[0] == results[1] == (0, "Login Succeeded!", 125)


def test_login_and_pull_with_bearer_tokens(
    podman: Podman, fake_registry_factory: FakeRegistryFactory
) -> None:
    fake = fake_registry_factory(users={"ci": "s3cret"}, auth="bearer")
    repo = unique("bearer")
    fake.push(repo, IMAGE, "1.0")
    assert podman.login(fake.host, "ci", "wrong").returncode == 125
    good = podman.login(fake.host, "ci", "s3cret")
    assert (good.returncode, good.stdout.strip()) == (0, "Login Succeeded!")
    assert podman.pull(f"{fake.host}/{repo}:1.0") == IMAGE.digest
    assert fake.requests.find("GET", f"^/v2/{repo}/manifests/1.0$")[-1].status == 200
