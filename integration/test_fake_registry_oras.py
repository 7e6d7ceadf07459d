"""oras (the ORAS project's Python SDK, ``oras`` on PyPI) against the fake registry and registry:2.

The same artifact pushes and pulls against a fake registry and a registry:2 (``registry``,
``auth_registry``, ``bearer_registry`` with token auth): the pushed manifests must be byte for byte the same, monolithic and chunked
(``PATCH`` with ``Content-Range``), and the pulled files the same. The Go ``oras`` CLI is in
neither Debian nor PyPI nor npm, so the SDK stands in for it.

Limits of the SDK, not of the registries, that shape these tests: its ``login`` does not check
credentials (it always answers "Login Succeeded"), so a wrong password shows only on the next
request; and its Bearer flow keeps the first token it gets and asks for a new one only on 403, so a
push whose first request (a blob ``HEAD``) got a pull-only token fails on any registry that
answers 401 ``insufficient_scope`` (registry:2's token servers, Docker Hub, the fake): Bearer is
tested with pulls, and that push refused alike by both.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import oras.client
import oras.decorator
import pytest
import requests

from fake_registry import FakeRegistry, FakeRegistryFactory
from integration.seed import push_blob, push_manifest
from integration.servers import RegistryServer

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONTENT = b"an artifact, not an image\n" * 40


def unique(name: str) -> str:
    return f"oras/{name}-{secrets.token_hex(3)}"


@pytest.fixture
def artifact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``report.txt`` in the working directory (oras names a layer by its path as given)."""
    monkeypatch.chdir(tmp_path)
    Path("report.txt").write_bytes(CONTENT)
    return "report.txt"


def manifest(url: str, repository: str, reference: str, auth: tuple[str, str] | None = None) -> bytes:
    r = requests.get(
        f"{url}/v2/{repository}/manifests/{reference}", headers={"Accept": OCI_MANIFEST}, auth=auth
    )
    assert r.status_code == 200, r.text
    return r.content


def client(
    host: str, tmp_path: Path, user: str | None = None, password: str | None = None, **kw: Any
) -> oras.client.OrasClient:
    c = oras.client.OrasClient(hostname=host, insecure=True, **kw)
    if user is not None and password is not None:
        c.login(user, password, hostname=host, config_path=str(tmp_path / "oras-auth.json"))
    return c


@pytest.mark.parametrize("chunked", [False, True], ids=["monolithic", "chunked"])
def test_push_gives_the_same_manifest_as_registry2(
    artifact: str, tmp_path: Path, fake_registry: FakeRegistry, registry: RegistryServer, chunked: bool
) -> None:
    repo = unique("push")
    for host in (fake_registry.host, registry.host):
        answer = client(host, tmp_path).push(
            target=f"{host}/{repo}:v1", files=[artifact], do_chunked=chunked, chunk_size=256
        )
        assert answer.status_code == 201
    assert manifest(fake_registry.url, repo, "v1") == manifest(registry.url, repo, "v1")
    patches = fake_registry.requests.find("PATCH", f"^/v2/{repo}/blobs/uploads/")
    assert [r.header("Content-Range") for r in patches] == (
        [f"{i}-{min(i + 255, len(CONTENT) - 1)}" for i in range(0, len(CONTENT), 256)] if chunked else []
    )


def test_pull_gives_the_same_files_as_registry2(
    artifact: str, tmp_path: Path, fake_registry: FakeRegistry, registry: RegistryServer
) -> None:
    repo = unique("pull")
    pulled = []
    for i, host in enumerate((fake_registry.host, registry.host)):
        c = client(host, tmp_path)
        c.push(target=f"{host}/{repo}:v1", files=[artifact])
        [path] = c.pull(target=f"{host}/{repo}:v1", outdir=str(tmp_path / f"out-{i}"))
        pulled.append((Path(path).name, Path(path).read_bytes()))
    assert pulled[0] == pulled[1] == ("report.txt", CONTENT)


def test_basic_auth_push_and_a_wrong_password_as_with_registry2(
    artifact: str, tmp_path: Path, fake_registry_factory: FakeRegistryFactory, auth_registry: RegistryServer
) -> None:
    user, password = auth_registry.username, auth_registry.password
    assert user is not None
    assert password is not None
    fake = fake_registry_factory(users={user: password})
    repo = unique("basic")
    outcomes = []
    for host in (fake.host, auth_registry.host):
        good = client(host, tmp_path / host.replace(":", "-"), user, password, auth_backend="basic")
        pushed = good.push(target=f"{host}/{repo}:v1", files=[artifact]).status_code
        bad = client(host, tmp_path / f"bad-{host.replace(':', '-')}", user, "wrong", auth_backend="basic")
        # the upload's POST gets 401, which the SDK quotes
        with pytest.raises(ValueError, match=r"^Issue retrieving session url: ") as refused:
            bad.push(target=f"{host}/{repo}:v2", files=[artifact])
        outcomes.append((pushed, str(refused.value)))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == 201
    assert outcomes[0][1].startswith("Issue retrieving session url: {'errors': [{'code': 'UNAUTHORIZED'")
    assert manifest(fake.url, repo, "v1", (user, password)) == manifest(
        auth_registry.url, repo, "v1", auth_registry.auth
    )


def test_bearer_pull_refusals_and_push_as_with_registry2(
    artifact: str,
    tmp_path: Path,
    fake_registry: FakeRegistry,
    fake_registry_factory: FakeRegistryFactory,
    bearer_registry: RegistryServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the SDK retries a refused token request five times, sleeping 3 to 83 seconds in between:
    # its sleeps are recorded instead (compared below), not waited for
    waits: list[float] = []
    monkeypatch.setattr(oras.decorator, "time", SimpleNamespace(sleep=waits.append))
    user, password = bearer_registry.username, bearer_registry.password
    assert user is not None
    assert password is not None
    repo = unique("bearer")
    # pushed without auth, then copied as is into both registries with token auth
    client(fake_registry.host, tmp_path).push(target=f"{fake_registry.host}/{repo}:v1", files=[artifact])
    body = manifest(fake_registry.url, repo, "v1")
    document = json.loads(body)
    blobs = {
        d["digest"]: fake_registry.blob(repo, d["digest"]) for d in [document["config"], *document["layers"]]
    }
    fake = fake_registry_factory(users={user: password}, auth="bearer")
    for data in blobs.values():
        fake.push_blob(repo, data)
    fake.push_manifest(repo, body, OCI_MANIFEST, "v1")
    with requests.Session() as session:
        session.auth = bearer_registry.request_auth
        for digest, data in blobs.items():
            push_blob(session, bearer_registry, repo, digest, data)
        push_manifest(session, bearer_registry, repo, "v1", body, OCI_MANIFEST)

    outcomes = []
    for i, (host, url) in enumerate(((fake.host, fake.url), (bearer_registry.host, bearer_registry.url))):
        good = client(host, tmp_path / f"good-{i}", user, password)
        [path] = good.pull(target=f"{host}/{repo}:v1", outdir=str(tmp_path / f"out-{i}"))
        waits.clear()
        with pytest.raises(ValueError, match=r"^Cannot respond to request for authentication\.$"):
            client(host, tmp_path / f"wrong-{i}", user, "wrong").pull(
                target=f"{host}/{repo}:v1", outdir=str(tmp_path / f"wrong-out-{i}")
            )
        retried = list(waits)
        with pytest.raises(ValueError, match=r"^Issue with ") as anonymous:
            client(host, tmp_path / f"anonymous-{i}").pull(
                target=f"{host}/{repo}:v1", outdir=str(tmp_path / f"anonymous-out-{i}")
            )
        # a new client: the SDK keeps its first token (pull only, for the blob HEAD) and gives up
        # on the upload POST's 401
        with pytest.raises(ValueError, match=r"^Issue retrieving session url: ") as push:
            client(host, tmp_path / f"push-{i}", user, password).push(
                target=f"{host}/{repo}-push:v1", files=[artifact]
            )
        outcomes.append(
            (
                (Path(path).name, Path(path).read_bytes()),
                retried,
                str(anonymous.value).replace(url, "URL"),
                str(push.value),
            )
        )
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][:3] == (
        ("report.txt", CONTENT),
        [3, 5, 11, 29, 83],
        f"Issue with URL/v2/{repo}/manifests/v1: Unauthorized",
    )
    assert outcomes[0][3].startswith("Issue retrieving session url: {'errors': [{'code': 'UNAUTHORIZED'")
    token_statuses = [r.status for r in fake.requests.find("GET", "^/token$")]
    assert (token_statuses[0], set(token_statuses)) == (200, {200, 401})  # the good pull's, the wrong ones
