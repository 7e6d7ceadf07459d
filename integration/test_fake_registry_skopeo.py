"""skopeo against the fake registry: copies in and out give the same digests as via registry:2.

The source is an OCI layout written from the fake registry's image builders; the same layout is
copied into the fake registry and into registry:2, then back out of each into fresh layouts. The
pushed manifest digests and the pulled layouts must be identical. Variants: no auth, Basic auth
(``--dest-creds``), Bearer tokens, TLS trusted through ``--dest-cert-dir``, and the impersonation
proxy serving ``docker.io`` to skopeo through ``HTTPS_PROXY``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fake_registry import (
    FakeRegistry,
    File,
    Image,
    ImageConfig,
    Index,
    Symlink,
    build_image,
    build_index,
    upload,
    write_oci_layout,
)
from integration.servers import RegistryServer, run_tool, skopeo_copy

IMAGE = build_image(
    [{"etc/motd": File("hello\n"), "bin/sh": Symlink("busybox")}, {"data.bin": bytes(range(256)) * 64}],
    ImageConfig(labels={"org.example": "skopeo"}, cmd=["sh"]),
)
INDEX = build_index(
    [
        build_image([{"arch": b"amd64"}], ImageConfig(architecture="amd64")),
        build_image(
            [{"arch": b"arm64"}], ImageConfig(architecture="arm64", variant="v8"), compression="zstd"
        ),
    ]
)


def write_layout(item: Image | Index, path: Path) -> Path:
    return write_oci_layout(item, path)


def digest_of_copy(src: str, dst: str, tmp_path: Path, *extra: str) -> str:
    digest_file = tmp_path / f"digest-{len(list(tmp_path.iterdir()))}"
    skopeo_copy(src, dst, "--digestfile", str(digest_file), *extra)
    return digest_file.read_text().strip()


def layout_manifest(path: Path) -> str:
    return json.loads((path / "index.json").read_text())["manifests"][0]["digest"]


@pytest.mark.parametrize("item", [IMAGE, INDEX], ids=["image", "index"])
def test_copy_in_and_out_same_as_registry2(
    item, registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    layout = write_layout(item, tmp_path / "src")
    with FakeRegistry() as fake:
        flags = ["--all", "--preserve-digests"]
        ours = digest_of_copy(
            f"oci:{layout}",
            f"docker://{fake.host}/{repo_name}:v1",
            tmp_path,
            *flags,
            "--dest-tls-verify=false",
        )
        theirs = digest_of_copy(
            f"oci:{layout}",
            f"docker://{registry.host}/{repo_name}:v1",
            tmp_path,
            *flags,
            *registry.skopeo_args("dest"),
        )
        assert ours == theirs == item.digest
        assert fake.manifest(repo_name, "v1").body == item.manifest

        out_fake, out_real = tmp_path / "out-fake", tmp_path / "out-real"
        skopeo_copy(
            f"docker://{fake.host}/{repo_name}:v1", f"oci:{out_fake}", "--all", "--src-tls-verify=false"
        )
        skopeo_copy(
            f"docker://{registry.host}/{repo_name}:v1",
            f"oci:{out_real}",
            "--all",
            *registry.skopeo_args("src"),
        )
        assert layout_manifest(out_fake) == layout_manifest(out_real) == item.digest
        assert sorted(p.name for p in (out_fake / "blobs" / "sha256").iterdir()) == sorted(
            p.name for p in (out_real / "blobs" / "sha256").iterdir()
        )
        # registry to registry, both directions
        back = digest_of_copy(
            f"docker://{registry.host}/{repo_name}:v1",
            f"docker://{fake.host}/{repo_name}/back:v1",
            tmp_path,
            "--all",
            *registry.skopeo_args("src"),
            "--dest-tls-verify=false",
        )
        assert back == item.digest


def test_copy_with_basic_auth(auth_registry: RegistryServer, repo_name: str, tmp_path: Path) -> None:
    layout = write_layout(IMAGE, tmp_path / "src")
    with FakeRegistry(users=["ci:s3cret"]) as fake:
        ours = digest_of_copy(
            f"oci:{layout}",
            f"docker://{fake.host}/{repo_name}:v1",
            tmp_path,
            "--dest-tls-verify=false",
            "--dest-creds",
            "ci:s3cret",
        )
        theirs = digest_of_copy(
            f"oci:{layout}",
            f"docker://{auth_registry.host}/{repo_name}:v1",
            tmp_path,
            *auth_registry.skopeo_args("dest"),
        )
        assert ours == theirs == IMAGE.digest
        result = run_tool(
            "skopeo",
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            "ci:wrong",
            f"docker://{fake.host}/{repo_name}:v1",
            check=False,
        )
        assert result.returncode != 0
        assert "401" in result.stderr or "unauthorized" in result.stderr.lower()
        assert all(r.header("authorization") in (None, "***") for r in fake.requests)


def test_copy_with_bearer_tokens(registry: RegistryServer, repo_name: str, tmp_path: Path) -> None:
    layout = write_layout(IMAGE, tmp_path / "src")
    with FakeRegistry(users=["ci:s3cret"], auth="bearer") as fake:
        ours = digest_of_copy(
            f"oci:{layout}",
            f"docker://{fake.host}/{repo_name}:v1",
            tmp_path,
            "--dest-tls-verify=false",
            "--dest-creds",
            "ci:s3cret",
        )
        assert ours == IMAGE.digest
        assert fake.requests.find("GET", "^/token$")
        out = tmp_path / "out"
        skopeo_copy(
            f"docker://{fake.host}/{repo_name}:v1",
            f"oci:{out}",
            "--src-tls-verify=false",
            "--src-creds",
            "ci:s3cret",
        )
        assert layout_manifest(out) == IMAGE.digest


def test_copy_with_tls_and_the_ca(tls_registry: RegistryServer, repo_name: str, tmp_path: Path) -> None:
    layout = write_layout(IMAGE, tmp_path / "src")
    with FakeRegistry(tls=True) as fake:
        assert fake.cert_dir is not None
        ours = digest_of_copy(
            f"oci:{layout}",
            f"docker://{fake.host}/{repo_name}:v1",
            tmp_path,
            "--dest-cert-dir",
            str(fake.cert_dir),
        )
        theirs = digest_of_copy(
            f"oci:{layout}",
            f"docker://{tls_registry.host}/{repo_name}:v1",
            tmp_path,
            *tls_registry.skopeo_args("dest"),
        )
        assert ours == theirs == IMAGE.digest
        untrusted = run_tool(
            "skopeo", "inspect", "--raw", f"docker://{fake.host}/{repo_name}:v1", check=False
        )
        assert untrusted.returncode != 0
        assert "certificate" in untrusted.stderr


def test_skopeo_through_the_impersonation_proxy(repo_name: str, tmp_path: Path) -> None:
    with FakeRegistry(proxy=True, users=["hub:pw"], auth="bearer", anonymous_pull=True) as fake:
        fake.push("library/alpine", IMAGE, "3.19")
        env = {**os.environ, **fake.proxy.env(), "HOME": str(tmp_path)}
        result = run_tool("skopeo", "inspect", "--raw", "docker://docker.io/library/alpine:3.19", env=env)
        assert result.stdout.encode() == IMAGE.manifest
        hosts = {r.host for r in fake.requests}
        assert hosts <= {"registry-1.docker.io", "index.docker.io", "auth.docker.io", "docker.io"}
        assert fake.proxy.connects
        assert all(c.endswith(":443") for c in fake.proxy.connects)


@pytest.mark.parametrize("item", [IMAGE, INDEX], ids=["image", "index"])
def test_upload_helper_seeds_registry2(
    item, registry: RegistryServer, auth_registry: RegistryServer, repo_name: str
) -> None:
    assert upload(item, registry.url, repo_name, "v1") == item.digest
    assert (
        upload(
            item,
            auth_registry.url,
            repo_name,
            "v1",
            username=auth_registry.username,
            password=auth_registry.password,
        )
        == item.digest
    )
    for server in (registry, auth_registry):
        creds = ["--creds", f"{server.username}:{server.password}"] if server.auth else []
        raw = run_tool(
            "skopeo",
            "inspect",
            "--raw",
            "--tls-verify=false",
            *creds,
            f"docker://{server.host}/{repo_name}:v1",
        )
        assert raw.stdout.encode() == item.manifest
