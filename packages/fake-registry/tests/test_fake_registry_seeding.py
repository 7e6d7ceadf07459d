"""Seeding helpers: layers from dicts, compression, configs, images, indexes, read back."""

import gzip
import io
import json
import tarfile

import pytest
import zstandard

from fake_registry import (
    Dir,
    Fifo,
    File,
    Hardlink,
    ImageConfig,
    OpaqueWhiteout,
    Symlink,
    Whiteout,
    build_image,
    build_index,
)
from fake_registry.lowlevel import build_layer, tar_bytes


def members(raw: bytes) -> list[tuple]:
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        return [(m.name, m.type, m.mode, m.uid, m.gid, m.mtime, m.linkname) for m in tar.getmembers()]


def test_tar_entries_in_order_with_metadata():
    raw = tar_bytes(
        {
            "etc": Dir(mode=0o700, uid=1, gid=2, mtime=10),
            "etc/conf": File("x=1\n", mode=0o4755, uid=3, gid=4, mtime=20),
            "etc/link": Symlink("/etc/conf"),
            "etc/hard": Hardlink("etc/conf"),
            "etc/old": Whiteout(),
            "var": OpaqueWhiteout(),
            "pipe": Fifo(),
            "plain": b"bytes",
        }
    )
    assert members(raw) == [
        ("etc", tarfile.DIRTYPE, 0o700, 1, 2, 10, ""),
        ("etc/conf", tarfile.REGTYPE, 0o4755, 3, 4, 20, ""),
        ("etc/link", tarfile.SYMTYPE, 0o777, 0, 0, 1672531200, "/etc/conf"),
        ("etc/hard", tarfile.LNKTYPE, 0o644, 0, 0, 1672531200, "etc/conf"),
        ("etc/.wh.old", tarfile.REGTYPE, 0o644, 0, 0, 1672531200, ""),
        ("var/.wh..wh..opq", tarfile.REGTYPE, 0o644, 0, 0, 1672531200, ""),
        ("pipe", tarfile.FIFOTYPE, 0o644, 0, 0, 1672531200, ""),
        ("plain", tarfile.REGTYPE, 0o644, 0, 0, 1672531200, ""),
    ]


def test_hostile_names_are_kept_verbatim():
    assert [m[0] for m in members(tar_bytes({"../escape": b"x", "/abs": b"y"}))] == ["../escape", "/abs"]


@pytest.mark.parametrize(
    ("compression", "media_type", "decompress"),
    [
        ("gzip", "application/vnd.oci.image.layer.v1.tar+gzip", gzip.decompress),
        (
            "zstd",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            lambda d: zstandard.ZstdDecompressor().decompressobj().decompress(d),
        ),
        ("none", "application/vnd.oci.image.layer.v1.tar", lambda d: d),
    ],
)
def test_layer_compression(compression, media_type, decompress):
    layer = build_layer({"a": b"hello"}, compression)
    assert layer.media_type == media_type
    assert decompress(layer.data) == tar_bytes({"a": b"hello"})
    assert layer.diff_id.startswith("sha256:")


def test_layers_are_deterministic():
    assert build_layer({"a": b"1"}).digest == build_layer({"a": b"1"}).digest


def test_mislabelled_layer():
    layer = build_layer({"a": b"1"}, "none", media_type="application/vnd.oci.image.layer.v1.tar+gzip")
    assert layer.media_type.endswith("+gzip")
    assert layer.data[:2] != b"\x1f\x8b"


def test_config_fields():
    image = build_image(
        [{"a": b"1"}],
        ImageConfig(
            architecture="arm64",
            variant="v8",
            env=["A=1"],
            user="nobody",
            cmd=["sh"],
            entrypoint=["/init"],
            labels={"org.example": "yes"},
            created="2024-05-06T07:08:09Z",
            working_dir="/w",
        ),
    )
    config = json.loads(image.config)
    assert config["architecture"] == "arm64"
    assert config["variant"] == "v8"
    assert config["os"] == "linux"
    assert config["created"] == "2024-05-06T07:08:09Z"
    assert config["config"] == {
        "Env": ["A=1"],
        "User": "nobody",
        "Cmd": ["sh"],
        "Entrypoint": ["/init"],
        "WorkingDir": "/w",
        "Labels": {"org.example": "yes"},
    }
    assert config["rootfs"] == {"type": "layers", "diff_ids": [image.layers[0].diff_id]}


def test_docker_format_image():
    image = build_image([{"a": b"1"}], format="docker")
    manifest = json.loads(image.manifest)
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert manifest["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert manifest["layers"][0]["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"


def test_index_lists_platforms():
    amd = build_image([{"a": b"1"}])
    arm = build_image([{"a": b"2"}], ImageConfig(architecture="arm64", variant="v8"))
    index = json.loads(build_index([amd, arm], annotations={"x": "y"}).manifest)
    assert [m["platform"] for m in index["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
    ]
    assert index["annotations"] == {"x": "y"}


def test_push_image_and_read_back(fake_registry):
    image = fake_registry.push_image(
        "s/app",
        ["1.0", "latest"],
        layers=[{"f": File("hi")}],
        labels={"l": "v"},
        platform="linux/arm64",
        annotations={"a": "b"},
    )
    assert fake_registry.tags("s/app") == ["1.0", "latest"]
    stored = fake_registry.manifest("s/app", "1.0")
    assert (stored.body, stored.digest, stored.media_type) == (image.manifest, image.digest, image.media_type)
    assert stored.json()["annotations"] == {"a": "b"}
    config = json.loads(fake_registry.blob("s/app", image.config_digest))
    assert (config["architecture"], config["config"]["Labels"]) == ("arm64", {"l": "v"})


def test_push_index_default_platforms(fake_registry):
    index = fake_registry.push_index("s/multi", "v1")
    doc = fake_registry.manifest("s/multi", "v1").json()
    assert doc["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert [m["platform"]["architecture"] for m in doc["manifests"]] == ["amd64", "arm64"]
    for child in index.children:
        assert fake_registry.manifest("s/multi", child.digest).body == child.manifest


def test_tag_and_delete_tag(fake_registry):
    image = fake_registry.push_image("s/app", "v1")
    assert fake_registry.tag("s/app", "v1", "v2") == image.digest
    fake_registry.delete_tag("s/app", "v1")
    assert fake_registry.tags("s/app") == ["v2"]


def test_push_manifest_verbatim(fake_registry):
    digest = fake_registry.push_manifest(
        "s/old", b'{"schemaVersion":1}', "application/vnd.docker.distribution.manifest.v1+prettyjws", "v1"
    )
    assert fake_registry.manifest("s/old", "v1").digest == digest
