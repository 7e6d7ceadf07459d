"""``out`` end to end against a real registry: every input kind, the tags it pushes, the digests.

Each test runs the resource's CLI as Concourse does (JSON on stdin, SRC as argument) and checks
the result with skopeo: ``inspect --raw`` for the exact manifest bytes and ``list-tags`` for
the tag list.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import pytest

from fake_registry import (
    Image,
    ImageConfig,
    build_image,
    build_index,
    write_docker_archive,
    write_oci_layout,
)
from fake_registry.lowlevel import decompress, write_blobs
from integration.servers import RegistryServer, run_tool, skopeo_copy

DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
VARIANTS = ["registry", "auth_registry"]


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def source_for(server: RegistryServer, repo: str, **extra: Any) -> dict[str, Any]:
    source: dict[str, Any] = {"repository": server.repository(repo), **extra}
    if server.username is not None:
        source["username"] = server.username
        source["password"] = server.password
    return source


def out(src: Path, source: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Run ``out SRC``; return its JSON answer (the test fails with stderr if it exits non-zero)."""
    result = run_out(src, source, params)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def run_out(src: Path, source: dict[str, Any], params: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    request = json.dumps({"source": source, "params": params})
    env = {**os.environ, "TEST": "true"}
    return subprocess.run(
        [sys.executable, "-m", "registry_image_resource", "out", str(src)],
        input=request,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def raw_manifest(server: RegistryServer, repo: str, ref: str) -> bytes:
    separator = "@" if ref.startswith("sha256:") else ":"
    args = ["inspect", "--raw", *skopeo_creds(server), f"docker://{server.repository(repo)}{separator}{ref}"]
    return run_tool("skopeo", *args).stdout.encode()


def list_tags(server: RegistryServer, repo: str) -> list[str]:
    result = run_tool("skopeo", "list-tags", *skopeo_creds(server), f"docker://{server.repository(repo)}")
    tags: list[str] = json.loads(result.stdout)["Tags"]
    return sorted(tags)


def skopeo_creds(server: RegistryServer) -> list[str]:
    args = ["--tls-verify=false"]
    if server.username is not None:
        args += ["--creds", f"{server.username}:{server.password}"]
    return args


def push_with_skopeo(server: RegistryServer, repo: str, tag: str, image: Image, workdir: Path) -> None:
    layout = write_oci_layout(image, workdir / f"seed-{tag}", tag)
    skopeo_copy(
        f"oci:{layout}:{tag}", f"docker://{server.repository(repo)}:{tag}", *server.skopeo_args("dest")
    )


def small_image(
    name: str = "one", architecture: str = "amd64", compression: Literal["gzip", "zstd", "none"] = "gzip"
) -> Image:
    return build_image(
        [{"etc/name": name.encode()}, {"bin/tool": b"#!/bin/sh\necho " + name.encode() + b"\n"}],
        ImageConfig(architecture=architecture),
        compression=compression,
    )


@pytest.fixture(params=VARIANTS)
def server(request: pytest.FixtureRequest) -> RegistryServer:
    value: RegistryServer = request.getfixturevalue(request.param)
    return value


def expected_docker_manifest(image: Image) -> bytes:
    layers = ",".join(
        '{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip",'
        f'"size":{layer.size},"digest":"{layer.digest}"}}'
        for layer in image.layers
    )
    return (
        '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
        '"config":{"mediaType":"application/vnd.docker.container.image.v1+json",'
        f'"size":{len(image.config)},"digest":"{image.config_digest}"}},"layers":[{layers}]}}'
    ).encode()


# --- inputs ----------------------------------------------------------------------------------


def test_docker_save_tarball_with_plain_layers(
    server: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    image = small_image()
    write_docker_archive(image, tmp_path / "image" / "image.tar", ["app:1"])
    answer = out(
        tmp_path, source_for(server, repo_name, tag="latest"), {"image": "image/*.tar", "version": "1.0"}
    )

    raw = raw_manifest(server, repo_name, "latest")
    manifest = json.loads(raw)
    assert answer == {
        "version": {"tag": "latest", "digest": sha(raw)},
        "metadata": [
            {"name": "repository", "value": server.repository(repo_name)},
            {"name": "tags", "value": "latest 1.0.0"},
        ],
    }
    assert manifest["config"]["digest"] == image.config_digest
    assert [layer["mediaType"] for layer in manifest["layers"]] == [
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    ] * 2
    assert list_tags(server, repo_name) == ["1.0.0", "latest"]
    assert raw_manifest(server, repo_name, "1.0.0") == raw


def test_docker_save_tarball_with_compressed_layers_has_ggcr_digest(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    image = small_image()
    write_docker_archive(image, tmp_path / "image.tar", compressed=True)
    answer = out(tmp_path, source_for(registry, repo_name, tag="v1"), {"image": "image.tar"})

    expected = expected_docker_manifest(image)
    assert answer["version"] == {"tag": "v1", "digest": sha(expected)}
    assert raw_manifest(registry, repo_name, "v1") == expected


def test_docker_save_zstd_layers(registry: RegistryServer, repo_name: str, tmp_path: Path) -> None:
    image = small_image(compression="zstd")
    write_docker_archive(image, tmp_path / "image.tar", compressed=True)
    answer = out(tmp_path, source_for(registry, repo_name, tag="z"), {"image": "image.tar"})
    assert answer["version"]["digest"] == sha(expected_docker_manifest(image))
    assert raw_manifest(registry, repo_name, "z") == expected_docker_manifest(image)


def test_oci_layout_single_image(server: RegistryServer, repo_name: str, tmp_path: Path) -> None:
    image = small_image()
    layout = write_oci_layout(image, tmp_path / "layout", "latest")
    index = (layout / "index.json").read_bytes()
    answer = out(tmp_path, source_for(server, repo_name, tag="latest"), {"image": "layout"})

    assert answer["version"] == {"tag": "latest", "digest": sha(index)}
    assert raw_manifest(server, repo_name, "latest") == index
    assert raw_manifest(server, repo_name, image.digest) == image.manifest


def test_oci_layout_single_image_digest(server: RegistryServer, repo_name: str, tmp_path: Path) -> None:
    image = small_image()
    layout = write_oci_layout(image, tmp_path / "layout", "latest")
    (layout / "single-image-digest").write_text(image.digest)
    answer = out(tmp_path, source_for(server, repo_name, tag="only"), {"image": "layout"})

    assert answer["version"] == {"tag": "only", "digest": image.digest}
    assert raw_manifest(server, repo_name, "only") == image.manifest


def test_oci_layout_multi_platform_index(server: RegistryServer, repo_name: str, tmp_path: Path) -> None:
    amd, arm = small_image("amd", "amd64"), small_image("arm", "arm64")
    index = build_index([amd, arm])
    layout = tmp_path / "layout"
    for item in (amd, arm):
        write_blobs(item, layout)
    (layout / "index.json").write_bytes(index.manifest)
    answer = out(tmp_path, source_for(server, repo_name, tag="multi"), {"image": "layout"})

    assert answer["version"] == {"tag": "multi", "digest": index.digest}
    assert raw_manifest(server, repo_name, "multi") == index.manifest
    assert raw_manifest(server, repo_name, amd.digest) == amd.manifest
    assert raw_manifest(server, repo_name, arm.digest) == arm.manifest


def test_oci_layout_nested_index_is_unwrapped(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    amd, arm = small_image("amd", "amd64"), small_image("arm", "arm64")
    index = build_index([amd, arm], format="docker")
    write_oci_layout(index, tmp_path / "layout", "multi")
    answer = out(tmp_path, source_for(registry, repo_name, tag="multi"), {"image": "layout"})

    assert answer["version"]["digest"] == index.digest
    raw = raw_manifest(registry, repo_name, "multi")
    assert raw == index.manifest
    assert json.loads(raw)["mediaType"] == DOCKER_LIST
    inspect = run_tool(
        "skopeo",
        "inspect",
        "--tls-verify=false",
        "--raw",
        "--config",
        f"docker://{registry.repository(repo_name)}@{arm.digest}",
    )
    assert json.loads(inspect.stdout)["architecture"] == "arm64"


def test_oci_layout_tarball(registry: RegistryServer, repo_name: str, tmp_path: Path) -> None:
    import tarfile

    image = small_image()
    layout = write_oci_layout(image, tmp_path / "layout", "latest")
    (tmp_path / "src").mkdir()
    with tarfile.open(tmp_path / "src" / "layout.tar", "w") as tar:
        tar.add(layout, arcname=".")
    answer = out(tmp_path / "src", source_for(registry, repo_name, tag="t"), {"image": "layout.tar"})
    assert answer["version"]["digest"] == sha((layout / "index.json").read_bytes())
    assert raw_manifest(registry, repo_name, image.digest) == image.manifest


# --- tags ------------------------------------------------------------------------------------


def test_additional_tags_with_prefix(server: RegistryServer, repo_name: str, tmp_path: Path) -> None:
    write_oci_layout(small_image(), tmp_path / "layout", "latest")
    (tmp_path / "tags").write_text("a b\nc a\n")
    answer = out(
        tmp_path,
        source_for(server, repo_name, tag="main"),
        {"image": "layout", "additional_tags": "tags", "tag_prefix": "x-"},
    )
    assert answer["metadata"][1] == {"name": "tags", "value": "main x-a x-b x-c x-a"}
    assert list_tags(server, repo_name) == ["main", "x-a", "x-b", "x-c"]


@pytest.mark.parametrize(
    ("variant", "existing", "version", "expected_new"),
    [
        ("", [], "1.2.3", ["1", "1.2", "1.2.3", "latest"]),
        ("", ["2.0.0"], "1.2.3", ["1", "1.2", "1.2.3"]),
        ("", ["1.3.0"], "1.2.3", ["1.2", "1.2.3"]),
        ("", ["1.2.4"], "1.2.3", ["1.2.3"]),
        ("", ["2.0.0-rc.1", "1.3.0-alpine"], "1.2.3", ["1", "1.2", "1.2.3", "latest"]),
        ("alpine", ["2.0.0", "1.3.0-slim"], "1.2.3", ["1-alpine", "1.2-alpine", "1.2.3-alpine", "alpine"]),
        ("alpine", ["1.3.0-alpine"], "1.2.3", ["1.2-alpine", "1.2.3-alpine"]),
        ("", [], "1.2.3-rc.1", ["1.2.3-rc.1"]),
    ],
)
def test_bump_aliases(
    registry: RegistryServer,
    repo_name: str,
    tmp_path: Path,
    variant: str,
    existing: list[str],
    version: str,
    expected_new: list[str],
) -> None:
    seed = small_image("seed")
    for tag in existing:
        push_with_skopeo(registry, repo_name, tag, seed, tmp_path)
    write_oci_layout(small_image(), tmp_path / "layout", "latest")
    source = source_for(registry, repo_name, **({"variant": variant} if variant else {}))
    answer = out(tmp_path, source, {"image": "layout", "version": version, "bump_aliases": True})

    assert list_tags(registry, repo_name) == sorted({*existing, *expected_new})
    assert answer["version"]["tag"] == (f"{version}-{variant}" if variant else version)


def test_bump_aliases_with_auth(auth_registry: RegistryServer, repo_name: str, tmp_path: Path) -> None:
    push_with_skopeo(auth_registry, repo_name, "1.3.0", small_image("seed"), tmp_path)
    write_oci_layout(small_image(), tmp_path / "layout", "latest")
    out(
        tmp_path,
        source_for(auth_registry, repo_name),
        {"image": "layout", "version": "1.2.0", "bump_aliases": True},
    )
    assert list_tags(auth_registry, repo_name) == ["1.2", "1.2.0", "1.3.0"]


# --- bad input: nothing is pushed --------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "params", "message"),
    [
        ({}, {"image": "missing/*.tar", "version": "1.0.0"}, "no files match glob 'missing/*.tar'"),
        (
            {"a.tar": b"x", "b.tar": b"y"},
            {"image": "*.tar", "version": "1.0.0"},
            "too many files/directories match glob '*.tar': [{src}/a.tar {src}/b.tar]",
        ),
        (
            {"image.tar": b"not a tar" * 100},
            {"image": "image.tar", "version": "1.0.0"},
            "could not load image from path 'image.tar': loading {src}/image.tar as tarball: invalid header",
        ),
        ({}, {"image": "x", "version": "nope"}, 'invalid semantic version: "nope"'),
        (
            {},
            {"image": "x", "version": "1.0.0", "additional_tags": "tags"},
            'could not parse additional tags: failed to read file at "{src}/tags": open {src}/tags: no such file or directory',
        ),
        ({}, {"image": "x"}, "no tag specified - need either 'version:' in params or 'tag:' in source"),
    ],
)
def test_bad_input_pushes_nothing(
    registry: RegistryServer,
    repo_name: str,
    tmp_path: Path,
    files: dict[str, bytes],
    params: dict[str, Any],
    message: str,
) -> None:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    result = run_out(tmp_path, {"repository": registry.repository(repo_name)}, params)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines()[-1].endswith(message.format(src=tmp_path))
    listing = run_tool(
        "skopeo", "list-tags", "--tls-verify=false", f"docker://{registry.repository(repo_name)}", check=False
    )
    assert listing.returncode != 0
    assert "404 (Not Found)" in listing.stderr


def test_plain_layer_push_decompresses_to_the_original(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    image = small_image()
    write_docker_archive(image, tmp_path / "image.tar")
    out(tmp_path, source_for(registry, repo_name, tag="t"), {"image": "image.tar"})
    copied = tmp_path / "copied"
    skopeo_copy(
        f"docker://{registry.repository(repo_name)}:t", f"oci:{copied}:t", *registry.skopeo_args("src")
    )
    manifest = json.loads(raw_manifest(registry, repo_name, "t"))
    for layer, original in zip(manifest["layers"], image.layers, strict=True):
        blob = (copied / "blobs" / "sha256" / layer["digest"][7:]).read_bytes()
        assert decompress_gzip(blob) == decompress(original)


def decompress_gzip(data: bytes) -> bytes:
    import gzip

    return gzip.decompress(data)


def test_tls_registry_with_ca_certs(tls_registry: RegistryServer, repo_name: str, tmp_path: Path) -> None:
    image = small_image()
    write_oci_layout(image, tmp_path / "layout", "latest")
    (tmp_path / "layout" / "single-image-digest").write_text(image.digest)
    source = source_for(tls_registry, repo_name, tag="secure", ca_certs=[tls_registry.ca_pem])
    answer = out(tmp_path, source, {"image": "layout"})
    assert answer["version"] == {"tag": "secure", "digest": image.digest}
    assert raw_manifest(tls_registry, repo_name, "secure") == image.manifest


def test_large_plain_layer_goes_up_in_several_chunks_and_pulls_back_intact(
    server: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    # 12 MiB that barely compress: three PATCH parts of 5 MiB (the S3/ECR minimum) in order.
    image = build_image([{"big.bin": os.urandom(12 << 20)}, {"small.txt": b"x" * 1000}])
    write_docker_archive(image, tmp_path / "image.tar")
    answer = out(tmp_path, source_for(server, repo_name, tag="t"), {"image": "image.tar"})

    raw = raw_manifest(server, repo_name, "t")
    assert answer["version"]["digest"] == sha(raw)
    copied = tmp_path / "copied"
    skopeo_copy(f"docker://{server.repository(repo_name)}:t", f"oci:{copied}:t", *server.skopeo_args("src"))
    manifest = json.loads(raw)
    assert manifest["config"]["digest"] == image.config_digest
    for layer, original in zip(manifest["layers"], image.layers, strict=True):
        blob = (copied / "blobs" / "sha256" / layer["digest"][7:]).read_bytes()
        assert (sha(blob), len(blob)) == (layer["digest"], layer["size"])
        assert decompress_gzip(blob) == decompress(original)

    # Pushed again: the same digest, and no layer sent twice.
    again = out(tmp_path, source_for(server, repo_name, tag="t"), {"image": "image.tar"})
    assert again["version"] == answer["version"]
