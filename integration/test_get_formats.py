"""``in`` against a real ``registry:2``: each format's exact file set, skip_download and metadata.

The outputs are also read back by skopeo (docker-archive and oci transports), so they are what
other tools expect, not only what our own readers accept.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from fake_registry import File, ImageConfig, build_image, build_index
from integration.seed import push, run_in
from integration.servers import RegistryServer, run_tool


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())


def fetch(
    registry: RegistryServer, repo: str, dest: Path, digest: str, tag: str = "v1", **params: object
) -> dict:
    dest.mkdir(exist_ok=True)
    result = run_in(
        dest, {"repository": registry.repository(repo)}, {"tag": tag, "digest": digest}, dict(params)
    )
    return json.loads(result.stdout)


def image_with_labels():
    return build_image(
        [{"a": File("1")}, {"b": File("2")}],
        ImageConfig(
            cmd=["/bin/sh", "-c", "echo <&>"], entrypoint=["/init"], user="app", labels={"z": "1", "a": "2"}
        ),
        annotations={"org.opencontainers.image.source": "https://example.test/src"},
    )


def test_rootfs_file_set_and_metadata_files(registry, repo_name, tmp_path):
    image = image_with_labels()
    digest = push(registry, repo_name, image)
    response = fetch(registry, repo_name, tmp_path / "dest", digest)
    dest = tmp_path / "dest"
    assert files_under(dest) == [
        "digest",
        "labels.json",
        "metadata.json",
        "repository",
        "rootfs/a",
        "rootfs/b",
        "tag",
    ]
    assert (dest / "metadata.json").read_text() == (
        '{"cmd":["/bin/sh","-c","echo \\u003c\\u0026\\u003e"],"entrypoint":["/init"],'
        '"env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"user":"app"}\n'
    )
    assert (dest / "labels.json").read_text() == '{"a":"2","z":"1"}\n'
    assert (dest / "tag").read_text() == "v1"
    assert (dest / "digest").read_text() == digest
    assert (dest / "repository").read_text() == registry.repository(repo_name)
    assert response == {
        "version": {"tag": "v1", "digest": digest},
        "metadata": [
            {"name": "repository", "value": registry.repository(repo_name)},
            {"name": "tag", "value": "v1"},
        ],
    }


def test_oci_format_is_a_docker_archive_skopeo_reads(registry, repo_name, tmp_path):
    image = image_with_labels()
    digest = push(registry, repo_name, image)
    fetch(registry, repo_name, tmp_path / "dest", digest, format="oci")
    dest = tmp_path / "dest"
    assert files_under(dest) == ["digest", "image.tar", "labels.json", "repository", "tag"]
    inspected = json.loads(run_tool("skopeo", "inspect", f"docker-archive:{dest / 'image.tar'}").stdout)
    assert inspected["Labels"] == {"a": "2", "z": "1"}
    # docker-archive layers are listed by their uncompressed digests
    assert inspected["Layers"] == [layer.diff_id for layer in image.layers]
    config = json.loads(
        run_tool("skopeo", "inspect", "--config", f"docker-archive:{dest / 'image.tar'}").stdout
    )
    assert config["config"]["User"] == "app"


def test_oci_layout_of_a_multi_platform_index(registry, repo_name, tmp_path):
    children = [
        build_image([{"p": File(arch)}], ImageConfig(architecture=arch))
        for arch in ("amd64", "arm64", "s390x")
    ]
    index = build_index(children)
    digest = push(registry, repo_name, index)
    fetch(registry, repo_name, tmp_path / "dest", digest, format="oci-layout")
    dest = tmp_path / "dest"
    blobs = {index.digest}
    for child in children:
        blobs |= {child.digest, child.config_digest, *(layer.digest for layer in child.layers)}
    assert files_under(dest) == sorted(
        ["digest", "repository", "tag", "oci/index.json", "oci/oci-layout"]
        + [f"oci/blobs/sha256/{b.split(':')[1]}" for b in blobs]
    )
    assert (dest / "oci/index.json").read_bytes() == index.manifest
    for blob in blobs:
        hex_digest = blob.split(":")[1]
        assert hashlib.sha256((dest / "oci/blobs/sha256" / hex_digest).read_bytes()).hexdigest() == hex_digest


def test_oci_layout_of_a_single_image(registry, repo_name, tmp_path):
    image = image_with_labels()
    digest = push(registry, repo_name, image)
    fetch(registry, repo_name, tmp_path / "dest", digest, format="oci-layout")
    oci = tmp_path / "dest/oci"
    assert (oci / "single-image-digest").read_text() == digest
    inspected = json.loads(run_tool("skopeo", "inspect", f"oci:{oci}").stdout)
    assert inspected["Digest"] == digest
    assert inspected["Layers"] == [layer.digest for layer in image.layers]


def test_skip_download_writes_only_version_files(registry, repo_name, tmp_path):
    digest = push(registry, repo_name, image_with_labels())
    fetch(registry, repo_name, tmp_path / "dest", digest, skip_download=True)
    assert sorted(os.listdir(tmp_path / "dest")) == ["digest", "repository", "tag"]


def test_label_and_annotation_metadata(registry, repo_name, tmp_path):
    digest = push(registry, repo_name, image_with_labels())
    dest = tmp_path / "dest"
    dest.mkdir()
    result = run_in(
        dest,
        {
            "repository": registry.repository(repo_name),
            "label_regex": ".",
            "annotation_regex": "image\\.source",
        },
        {"tag": "v1", "digest": digest},
        {"skip_download": True},
    )
    assert json.loads(result.stdout)["metadata"] == [
        {"name": "repository", "value": registry.repository(repo_name)},
        {"name": "tag", "value": "v1"},
        {"name": "a", "value": "2"},
        {"name": "z", "value": "1"},
        {"name": "org.opencontainers.image.source", "value": "https://example.test/src"},
    ]


def test_unknown_digest_fails_with_the_registry_error(registry, repo_name, tmp_path):
    push(registry, repo_name, image_with_labels())
    dest = tmp_path / "dest"
    dest.mkdir()
    missing = "sha256:" + "1" * 64
    result = run_in(
        dest,
        {"repository": registry.repository(repo_name)},
        {"tag": "v1", "digest": missing},
        {},
        check=False,
    )
    assert result.returncode == 1
    last = result.stderr.rstrip().splitlines()[-1]
    assert "download failed: fetch descriptor: " in last
    assert "MANIFEST_UNKNOWN" in last
    assert os.listdir(dest) == []


def test_get_with_htpasswd_auth(auth_registry, repo_name, tmp_path):
    digest = push(auth_registry, repo_name, image_with_labels())
    dest = tmp_path / "dest"
    dest.mkdir()
    source = {
        "repository": auth_registry.repository(repo_name),
        "username": auth_registry.username,
        "password": auth_registry.password,
    }
    result = run_in(dest, source, {"tag": "v1", "digest": digest}, {"format": "oci"})
    assert (dest / "image.tar").stat().st_size > 0
    assert auth_registry.password not in result.stderr


def test_get_over_tls_with_ca_certs(tls_registry, repo_name, tmp_path):
    digest = push(tls_registry, repo_name, image_with_labels())
    dest = tmp_path / "dest"
    dest.mkdir()
    source = {"repository": tls_registry.repository(repo_name), "ca_certs": [tls_registry.ca_pem]}
    run_in(dest, source, {"tag": "v1", "digest": digest})
    assert sorted(os.listdir(dest / "rootfs")) == ["a", "b"]
