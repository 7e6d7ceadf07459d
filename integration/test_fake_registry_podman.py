"""podman against the fake registry, side by side with registry:2.

The same pulls, pushes and logins against a fake registry and a registry:2 (``registry``,
``auth_registry``), comparing what podman reports: the pulled image's digest, the digest and
manifest of a push, and ``podman login`` with Basic auth and with Bearer (``bearer_registry``:
registry:2 with token auth). podman runs rootful with a private store per test (``--root``/``--runroot`` under ``tmp_path``, the ``vfs``
driver, so no kernel overlay or systemd is needed) and ``--tls-verify=false`` for the plain-HTTP
loopback registries. Without podman on PATH the test skips, or fails with REQUIRE_REAL_SERVERS=1.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from fake_registry import FakeRegistry, FakeRegistryFactory, ImageConfig, build_image, upload
from integration.servers import RegistryServer, run_tool
from integration.token_server import BearerAuth

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
def new_podman(tmp_path: Path) -> Iterator[Callable[[], Podman]]:
    """Make podmans with stores of their own (one store remembers where it saw each blob, and a
    push then reuses blobs across registries)."""
    run_tool("podman", "--version")  # skip (or fail in CI) without podman
    runroots: list[Path] = []

    def make() -> Podman:
        runroots.append(Path(tempfile.mkdtemp(prefix="podman-", dir="/tmp")))  # at most 50 characters
        return Podman(tmp_path / f"podman-{len(runroots)}", runroots[-1])

    try:
        yield make
    finally:
        for runroot in runroots:
            shutil.rmtree(runroot, ignore_errors=True)


@pytest.fixture
def podman(new_podman: Callable[[], Podman]) -> Podman:
    return new_podman()


def unique(name: str) -> str:
    return f"podman/{name}-{secrets.token_hex(3)}"


def manifest(url: str, repository: str, reference: str, auth: requests.auth.AuthBase | None = None) -> bytes:
    r = requests.get(
        f"{url}/v2/{repository}/manifests/{reference}", headers={"Accept": OCI_MANIFEST}, auth=auth
    )
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


def test_bearer_login_pull_push_and_anonymous_refusals_as_with_registry2(
    new_podman: Callable[[], Podman],
    fake_registry_factory: FakeRegistryFactory,
    bearer_registry: RegistryServer,
    tmp_path: Path,
) -> None:
    user, password = bearer_registry.username, bearer_registry.password
    assert user is not None
    assert password is not None
    fake = fake_registry_factory(users={user: password}, auth="bearer")
    repo, copy = unique("bearer"), unique("bearer-copy")
    fake.push(repo, IMAGE, "1.0")
    upload(IMAGE, bearer_registry.url, repo, "1.0", username=user, password=password)
    seen = []
    for i, host in enumerate((fake.host, bearer_registry.host)):
        podman = new_podman()
        ref = f"{host}/{repo}:1.0"
        pull_args = ("pull", "--quiet", "--tls-verify=false", "--authfile", str(podman.auth_file), ref)
        anonymous_pull = podman.run(*pull_args, check=False)
        bad = podman.login(host, user, "wrong")
        good = podman.login(host, user, password)
        pulled = podman.pull(ref)
        pushed = podman.push(ref, f"{host}/{copy}:2.0", tmp_path / f"digest-{i}")
        podman.run("logout", "--authfile", str(podman.auth_file), host)
        anonymous_push = podman.run(
            *("push", "--quiet", "--tls-verify=false", "--authfile", str(podman.auth_file)),
            *(ref, f"{host}/{copy}:3.0"),
            check=False,
        )
        seen.append(
            [
                (anonymous_pull.returncode, anonymous_pull.stderr.strip().replace(host, "HOST")),
                (bad.returncode, bad.stderr.strip().replace(host, "HOST")),
                (good.returncode, good.stdout.strip()),
                pulled,
                pushed,
                (
                    anonymous_push.returncode,
                    "denied: requested access to the resource is denied"
                    in anonymous_push.stderr.splitlines(),
                ),
            ]
        )
    assert (
        seen[0]
        == seen[1]
        == [
            (
                125,
                f"Error: initializing source docker://HOST/{repo}:1.0: reading manifest 1.0 in HOST/{repo}: "
                "errors:\ndenied: requested access to the resource is denied\nunauthorized: authentication required",
            ),
            (125, 'Error: logging into "HOST": invalid username/password'),
            (0, "Login Succeeded!"),
            IMAGE.digest,
            IMAGE.digest,
            (125, True),
        ]
    )
    credentials = BearerAuth(user, password)
    assert manifest(fake.url, copy, "2.0", credentials) == manifest(
        bearer_registry.url, copy, "2.0", credentials
    )
