"""``in`` against the fake registry: formats, platforms, metadata, and every failure mode."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tarfile
from pathlib import Path

import pytest

from fake_registry import Dir, Fault, File, Hardlink, Symlink, Whiteout
from registry_image_resource.commands import get
from registry_image_resource.commands.get.request import decode_in
from registry_image_resource.errors import ResourceError

REPO = "test/app"


def request(registry, digest, *, tag="latest", params=None, **source):
    document = {
        "source": {"repository": f"{registry.host}/{REPO}", **source},
        "version": {"tag": tag, "digest": digest},
        "params": params or {},
    }
    return decode_in(json.dumps(document).encode())


def listing(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root)) + ("/" if p.is_dir() and not p.is_symlink() else "") for p in root.rglob("*")
    )


def top_level(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir())


def test_rootfs_writes_tree_metadata_and_version_files(fake_registry, tmp_path):
    image = fake_registry.push_image(
        REPO,
        "latest",
        layers=[{"etc": Dir(), "etc/motd": File("hello", mode=0o640), "bin": Symlink("usr/bin")}],
        labels={"org.label": "v"},
    )
    response = get.run(request(fake_registry, image.digest), tmp_path)
    assert response == {
        "version": {"tag": "latest", "digest": image.digest},
        "metadata": [
            {"name": "repository", "value": f"{fake_registry.host}/{REPO}"},
            {"name": "tag", "value": "latest"},
        ],
    }
    assert top_level(tmp_path) == ["digest", "labels.json", "metadata.json", "repository", "rootfs", "tag"]
    assert listing(tmp_path / "rootfs") == ["bin", "etc/", "etc/motd"]
    assert (tmp_path / "rootfs/etc/motd").read_text() == "hello"
    assert (tmp_path / "tag").read_bytes() == b"latest"
    assert (tmp_path / "digest").read_bytes() == image.digest.encode()
    assert (tmp_path / "repository").read_bytes() == f"{fake_registry.host}/{REPO}".encode()
    assert (tmp_path / "labels.json").read_bytes() == b'{"org.label":"v"}\n'
    assert (tmp_path / "metadata.json").read_bytes() == (
        b'{"cmd":null,"entrypoint":null,"env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],'
        b'"user":""}\n'
    )


def test_rootfs_layers_apply_in_order_with_whiteouts_and_hard_links(fake_registry, tmp_path):
    image = fake_registry.push_image(
        REPO,
        "latest",
        layers=[
            {"a": File("1"), "b": File("2"), "link": Hardlink("a"), "d": Dir(), "d/x": File("x")},
            {"a": Whiteout(), "d": Whiteout(), "c": File("3")},
        ],
    )
    get.run(request(fake_registry, image.digest), tmp_path)
    assert listing(tmp_path / "rootfs") == ["b", "c", "link"]
    assert (tmp_path / "rootfs/link").read_text() == "1"


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_each_layer_compression(fake_registry, tmp_path, compression):
    image = fake_registry.push_image(REPO, "latest", layers=[{"f": File("data")}], compression=compression)
    get.run(request(fake_registry, image.digest), tmp_path)
    assert (tmp_path / "rootfs/f").read_text() == "data"


def test_oci_format_writes_a_docker_save_tarball(fake_registry, tmp_path):
    image = fake_registry.push_image(
        REPO, "v1", layers=[{"a": File("1")}, {"b": File("2")}], labels={"l": "1"}
    )
    get.run(request(fake_registry, image.digest, tag="v1", params={"format": "oci"}), tmp_path)
    assert top_level(tmp_path) == ["digest", "image.tar", "labels.json", "repository", "tag"]
    layer_names = [f"{layer.digest.split(':')[1]}.tar.gz" for layer in image.layers]
    with tarfile.open(tmp_path / "image.tar") as archive:
        assert archive.getnames() == [image.config_digest, *layer_names, "manifest.json"]
        manifest = json.loads(archive.extractfile("manifest.json").read())  # type: ignore[union-attr]
        assert manifest == [
            {
                "Config": image.config_digest,
                "RepoTags": [f"{fake_registry.host}/{REPO}:v1"],
                "Layers": layer_names,
            }
        ]
        for layer in image.layers:
            member = archive.extractfile(f"{layer.digest.split(':')[1]}.tar.gz")
            assert member is not None
            assert member.read() == layer.data
        assert archive.extractfile(image.config_digest).read() == image.config  # type: ignore[union-attr]


def test_oci_layout_of_an_index_keeps_index_json_byte_for_byte(fake_registry, tmp_path):
    index = fake_registry.push_index(REPO, "latest", platforms=("linux/amd64", "linux/arm64/v8"))
    get.run(request(fake_registry, index.digest, params={"format": "oci-layout"}), tmp_path)
    assert top_level(tmp_path) == ["digest", "oci", "repository", "tag"]
    index_json = (tmp_path / "oci/index.json").read_bytes()
    assert "sha256:" + hashlib.sha256(index_json).hexdigest() == index.digest
    assert (tmp_path / "oci/oci-layout").read_bytes() == b'{\n    "imageLayoutVersion": "1.0.0"\n}'
    blobs = sorted(p.name for p in (tmp_path / "oci/blobs/sha256").iterdir())
    expected = {index.digest}
    for child in index.children:
        expected |= {child.digest, child.config_digest, *(layer.digest for layer in child.layers)}
    assert blobs == sorted(d.split(":")[1] for d in expected)
    for name in blobs:
        data = (tmp_path / "oci/blobs/sha256" / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == name
    assert not (tmp_path / "oci/single-image-digest").exists()


def test_oci_layout_of_an_image_wraps_it_and_names_the_single_image(fake_registry, tmp_path):
    image = fake_registry.push_image(REPO, "latest", layers=[{"a": File("1")}])
    get.run(request(fake_registry, image.digest, params={"format": "oci-layout"}), tmp_path)
    assert listing(tmp_path / "oci") == sorted(
        ["blobs/", "blobs/sha256/", "index.json", "oci-layout", "single-image-digest"]
        + [
            f"blobs/sha256/{d.split(':')[1]}"
            for d in (image.digest, image.config_digest, image.layers[0].digest)
        ]
    )
    assert (tmp_path / "oci/single-image-digest").read_bytes() == image.digest.encode()
    assert json.loads((tmp_path / "oci/index.json").read_bytes()) == {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": image.media_type,
                "size": len(image.manifest),
                "digest": image.digest,
                "artifactType": image.config_media_type,
            }
        ],
    }


def test_skip_download_writes_only_the_version_files(fake_registry, tmp_path):
    image = fake_registry.push_image(REPO, "latest")
    get.run(request(fake_registry, image.digest, params={"skip_download": True}), tmp_path)
    assert top_level(tmp_path) == ["digest", "repository", "tag"]
    assert [r.path for r in fake_registry.requests.find("GET", "/manifests/")] == [
        f"/v2/{REPO}/manifests/{image.digest}"
    ]
    assert fake_registry.requests.find("GET", "/blobs/") == []


def test_labels_and_annotations_become_metadata(fake_registry, tmp_path):
    image = fake_registry.push_image(
        REPO,
        "latest",
        labels={"org.b": "2", "org.a": "1", "other": "x"},
        annotations={"org.opencontainers.image.source": "s", "zzz": "z"},
    )
    response = get.run(
        request(
            fake_registry,
            image.digest,
            params={"skip_download": True},
            label_regex="^org",
            annotation_regex="source$",
        ),
        tmp_path,
    )
    assert response["metadata"][2:] == [
        {"name": "org.a", "value": "1"},
        {"name": "org.b", "value": "2"},
        {"name": "org.opencontainers.image.source", "value": "s"},
    ]


def test_invalid_label_regex_fails_before_any_request(fake_registry, tmp_path):
    with pytest.raises(ResourceError) as err:
        get.run(request(fake_registry, "sha256:" + "0" * 64, label_regex="("), tmp_path)
    assert str(err.value).startswith("invalid label_regex: ")
    assert len(fake_registry.requests) == 0


@pytest.mark.parametrize(
    ("source_platform", "param_platform", "expected"),
    [
        (None, None, "linux/amd64"),
        ({"architecture": "arm64"}, None, "linux/arm64/v8"),
        ({"architecture": "arm64"}, {"architecture": "arm64/v8", "os": "linux"}, "linux/arm64/v8"),
        ({"architecture": "arm64"}, {"architecture": "arm", "variant": "v7"}, "linux/arm/v7"),
        (None, {"architecture": "amd64", "os": "linux"}, "linux/amd64"),
    ],
)
def test_platform_selection_from_an_index(fake_registry, tmp_path, source_platform, param_platform, expected):
    index = fake_registry.push_index(
        REPO, "latest", platforms=("linux/amd64", "linux/arm64/v8", "linux/arm/v7")
    )
    params = {"platform": param_platform} if param_platform else {}
    source = {"platform": source_platform} if source_platform else {}
    get.run(request(fake_registry, index.digest, params=params, **source), tmp_path)
    assert (tmp_path / "rootfs/platform.txt").read_text() == expected + "\n"


def test_index_without_the_platform_lists_what_it_has(fake_registry, tmp_path):
    index = fake_registry.push_index(REPO, "latest", platforms=("linux/amd64", "linux/arm64/v8"))
    with pytest.raises(ResourceError) as err:
        get.run(request(fake_registry, index.digest, platform={"architecture": "s390x"}), tmp_path)
    assert str(err.value) == (
        f"download failed: fetching image: no child with platform linux/s390x in index "
        f"{fake_registry.host}/{REPO}@{index.digest}; it has: linux/amd64, linux/arm64/v8"
    )
    assert top_level(tmp_path) == []


def test_schema1_manifest_is_refused(fake_registry, tmp_path):
    body = json.dumps({"schemaVersion": 1, "name": REPO, "tag": "old", "fsLayers": []}).encode()
    digest = fake_registry.push_manifest(
        REPO, body, "application/vnd.docker.distribution.manifest.v1+json", "old"
    )
    with pytest.raises(ResourceError) as err:
        get.run(request(fake_registry, digest, tag="old"), tmp_path)
    assert str(err.value) == (
        'download failed: fetching image: unsupported MediaType: "application/vnd.docker.distribution.manifest.v1+json",'
        " see https://github.com/google/go-containerregistry/issues/377"
    )


def test_manifest_not_matching_the_version_digest_is_an_integrity_error(fake_registry, tmp_path):
    image = fake_registry.push_image(REPO, "latest")
    fake_registry.faults.add(Fault(method="GET", path="/manifests/", corrupt_at=3, times=None))
    with pytest.raises(ResourceError) as err:
        get.run(request(fake_registry, image.digest), tmp_path)
    assert "does not match requested digest" in str(err.value)
    assert top_level(tmp_path) == []


def test_corrupted_layer_fails_naming_the_digest_and_writes_no_version_files(fake_registry, tmp_path):
    image = fake_registry.push_image(REPO, "latest", layers=[{"big": File(os.urandom(200_000))}])
    layer = image.layers[0].digest
    fake_registry.faults.add(Fault(method="GET", path=f"/blobs/{layer}", corrupt_at=100_000, times=None))
    with pytest.raises(ResourceError) as err:
        get.run(request(fake_registry, image.digest), tmp_path)
    assert str(err.value).startswith(
        f"download failed: write rootfs: blob {layer}: content has digest sha256:"
    )
    assert "digest" not in top_level(tmp_path)
    assert "tag" not in top_level(tmp_path)


@pytest.fixture
def child_readers(monkeypatch):
    """Every ``reader_process.ChildEntries`` started during the test, in order."""
    from registry_image_resource.unpack import reader_process

    started: list[object] = []
    enter = reader_process.ChildEntries.__enter__

    def spy(self):
        started.append(self)
        return enter(self)

    monkeypatch.setattr(reader_process.ChildEntries, "__enter__", spy)
    return started


def test_layers_from_1_mib_are_read_by_a_child_process(fake_registry, tmp_path, child_readers):
    data = os.urandom(1_200_000)  # random: compressed, still over 1 MiB
    image = fake_registry.push_image(REPO, "latest", layers=[{"small": File("s")}, {"big": File(data)}])
    get.run(request(fake_registry, image.digest), tmp_path)
    assert len(child_readers) == 1
    assert listing(tmp_path / "rootfs") == ["big", "small"]
    assert (tmp_path / "rootfs/big").read_bytes() == data


def test_corrupted_layer_read_by_a_child_process_fails_naming_the_digest(
    fake_registry, tmp_path, child_readers
):
    image = fake_registry.push_image(REPO, "latest", layers=[{"big": File(os.urandom(1_200_000))}])
    layer = image.layers[0].digest
    fake_registry.faults.add(Fault(method="GET", path=f"/blobs/{layer}", corrupt_at=600_000, times=None))
    with pytest.raises(ResourceError) as err:
        get.run(request(fake_registry, image.digest), tmp_path)
    assert len(child_readers) == 1
    assert str(err.value).startswith(
        f"download failed: write rootfs: blob {layer}: content has digest sha256:"
    )


def test_dropped_layer_download_resumes_with_range(fake_registry, tmp_path):
    data = os.urandom(300_000)
    image = fake_registry.push_image(REPO, "latest", layers=[{"big": File(data)}], compression="none")
    layer = image.layers[0].digest
    fake_registry.faults.add(Fault(method="GET", path=f"/blobs/{layer}", drop_after=100_000, times=1))
    get.run(request(fake_registry, image.digest), tmp_path)
    assert (tmp_path / "rootfs/big").read_bytes() == data
    ranges = [r.header("Range") for r in fake_registry.requests.find("GET", f"/blobs/{layer}")]
    assert ranges[0] is None
    assert ranges[1] is not None
    assert ranges[1].startswith("bytes=")


def test_plain_layer_mislabelled_as_gzip_is_read_by_magic_bytes(fake_registry, tmp_path):
    image = fake_registry.push_image(REPO, "latest", layers=[{"f": File("plain")}], compression="none")
    manifest = json.loads(image.manifest)
    manifest["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
    body = json.dumps(manifest).encode()
    digest = fake_registry.push_manifest(REPO, body, image.media_type, "lying")
    get.run(request(fake_registry, digest, tag="lying"), tmp_path)
    assert (tmp_path / "rootfs/f").read_text() == "plain"


def test_missing_destination_is_a_clear_error(fake_registry, tmp_path):
    with pytest.raises(ResourceError) as err:
        get.run(request(fake_registry, "sha256:" + "0" * 64), tmp_path / "nope")
    assert str(err.value) == f"destination directory {tmp_path / 'nope'} does not exist"


def test_progress_goes_to_stderr_without_debug_and_debug_lines_with_it(
    fake_registry, tmp_path, capsys, caplog
):
    image = fake_registry.push_image(REPO, "latest", layers=[{"a": File("1")}])
    (tmp_path / "one").mkdir()
    get.run(request(fake_registry, image.digest), tmp_path / "one")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"downloaded {image.layers[0].digest[:19]}" in captured.err
    caplog.set_level(logging.DEBUG, logger="registry_image_resource")
    (tmp_path / "two").mkdir()
    get.run(request(fake_registry, image.digest, debug=True), tmp_path / "two")
    assert capsys.readouterr().err == ""
    assert f"downloaded {image.layers[0].digest} ({image.layers[0].size} bytes)" in caplog.messages


def test_failed_mirror_falls_back_to_the_origin_and_cleans_up(
    fake_registry, fake_registry_factory, tmp_path, caplog, monkeypatch
):
    from registry_image_resource.registry.client import ConnectOptions
    from registry_image_resource.registry.reference import Repository
    from registry_image_resource.sources.routing import Attempt

    image = fake_registry.push_image(REPO, "latest", layers=[{"a": File("origin")}])
    mirror = fake_registry_factory()
    # The mirror has the manifest but a corrupt layer: its attempt fails after writing rootfs/.
    mirror.push_image(REPO, "latest", layers=[{"a": File("origin")}])
    mirror.faults.add(Fault(method="GET", path="/blobs/", corrupt_at=10, times=None))
    mirror_target = Attempt(Repository(mirror.host, REPO), ConnectOptions(), is_mirror=True)
    monkeypatch.setattr(get, "mirror_attempt", lambda source, repo: mirror_target)
    with caplog.at_level(logging.WARNING, logger="registry_image_resource"):
        get.run(request(fake_registry, image.digest), tmp_path)
    assert any(m.startswith(f"download from mirror {mirror.host}/{REPO} failed: ") for m in caplog.messages)
    assert (tmp_path / "rootfs/a").read_text() == "origin"
    assert (tmp_path / "repository").read_text() == f"{fake_registry.host}/{REPO}"
    assert mirror.requests.find("GET", "/blobs/") != []


def test_hostile_hard_link_fails_with_one_line_naming_layer_and_entry(fake_registry, tmp_path):
    image = fake_registry.push_image(REPO, "latest", layers=[{"stolen": Hardlink("../../etc/passwd")}])
    with pytest.raises(ResourceError) as err:
        get.run(request(fake_registry, image.digest), tmp_path)
    assert str(err.value) == (
        f"download failed: write rootfs: extract layer 1/1 {image.layers[0].digest}: "
        "entry 'stolen' links outside of target directory: ../../etc/passwd"
    )
    assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.parametrize(
    ("compression", "suffix"), [("zstd", ".tar.zst"), ("none", ".tar"), ("gzip", ".tar.gz")]
)
def test_oci_format_names_layers_by_media_type(fake_registry, tmp_path, compression, suffix):
    image = fake_registry.push_image(REPO, "latest", layers=[{"a": File("1")}], compression=compression)
    get.run(request(fake_registry, image.digest, params={"format": "oci"}), tmp_path)
    with tarfile.open(tmp_path / "image.tar") as archive:
        assert archive.getnames()[1] == image.layers[0].digest.split(":")[1] + suffix
