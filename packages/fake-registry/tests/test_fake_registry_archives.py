"""Writing built images as docker-save tarballs and bare blob directories; layers back to tars."""

import io
import json
import tarfile

import pytest

from fake_registry import (
    ImageConfig,
    build_image,
    build_index,
    write_docker_archive,
)
from fake_registry.lowlevel import build_layer, decompress, tar_bytes, write_blobs

IMAGE = build_image([{"a": b"1"}, {"b": b"2"}])
LAYER_A, LAYER_B = (layer.diff_id.removeprefix("sha256:") + "/layer.tar" for layer in IMAGE.layers)
CONFIG_NAME = IMAGE.config_digest.removeprefix("sha256:") + ".json"


def members(path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_decompress_gives_the_layer_tar_back(compression):
    layer = build_layer({"a": b"hello"}, compression)
    assert decompress(layer) == tar_bytes({"a": b"hello"})


def test_docker_archive_tagged(tmp_path):
    path = write_docker_archive(
        IMAGE, tmp_path / "out" / "image.tar", ["example/app:v1", "example/app:latest"]
    )
    assert path == tmp_path / "out" / "image.tar"
    got = members(path)
    assert list(got) == [CONFIG_NAME, LAYER_A, LAYER_B, "manifest.json", "repositories"]
    assert got[CONFIG_NAME] == IMAGE.config
    assert got[LAYER_A] == tar_bytes({"a": b"1"})
    assert got[LAYER_B] == tar_bytes({"b": b"2"})
    assert json.loads(got["manifest.json"]) == [
        {
            "Config": CONFIG_NAME,
            "RepoTags": ["example/app:v1", "example/app:latest"],
            "Layers": [LAYER_A, LAYER_B],
        }
    ]
    last = IMAGE.layers[-1].diff_id.removeprefix("sha256:")
    assert json.loads(got["repositories"]) == {"example/app": {"v1": last, "latest": last}}


def test_docker_archive_untagged_with_compressed_layers(tmp_path):
    got = members(write_docker_archive(IMAGE, tmp_path / "image.tar", compressed=True))
    assert list(got) == [CONFIG_NAME, LAYER_A, LAYER_B, "manifest.json"]
    assert [got[LAYER_A], got[LAYER_B]] == [layer.data for layer in IMAGE.layers]
    assert json.loads(got["manifest.json"]) == [
        {"Config": CONFIG_NAME, "RepoTags": None, "Layers": [LAYER_A, LAYER_B]}
    ]


def test_docker_archive_is_deterministic(tmp_path):
    one = write_docker_archive(IMAGE, tmp_path / "one.tar", ["a:1"]).read_bytes()
    two = write_docker_archive(IMAGE, tmp_path / "two.tar", ["a:1"]).read_bytes()
    assert one == two
    with tarfile.open(fileobj=io.BytesIO(one)) as tar:
        assert {(m.mtime, m.mode) for m in tar.getmembers()} == {(1_672_531_200, 0o644)}


def test_write_blobs_of_an_index(tmp_path):
    arm = build_image([{"a": b"3"}], ImageConfig(architecture="arm64"))
    index = build_index([IMAGE, arm])
    root = write_blobs(index, tmp_path / "layout")
    assert root == tmp_path / "layout"
    expected = {index.digest, IMAGE.digest, arm.digest, *IMAGE.blobs(), *arm.blobs()}
    assert sorted(p.name for p in (root / "blobs" / "sha256").iterdir()) == sorted(
        d.removeprefix("sha256:") for d in expected
    )
    assert (root / "blobs" / "sha256" / arm.digest.removeprefix("sha256:")).read_bytes() == arm.manifest
    assert sorted(p.name for p in root.iterdir()) == ["blobs"]
