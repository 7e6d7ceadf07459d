"""Reading put's inputs: docker-save tarballs, OCI layouts and layout tarballs (SPEC B.5.5).

Each test builds its input byte by byte and asserts the exact manifest bytes, digests and blob
locations the push would use.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
import zstandard

from registry_image_resource.commands.put import load_image
from registry_image_resource.commands.put.inputs.docker_archive import complete
from registry_image_resource.commands.put.inputs.tree import (
    BlobFile,
    LoadedImage,
    ManifestNode,
    PendingImage,
    open_blob,
)
from registry_image_resource.errors import InputError

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1700000000
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def write_tar(path: Path, members: list[tuple[str, bytes | tuple[str, str]]]) -> Path:
    """A tarball of members: bytes are files, ("symlink"|"hardlink", target) are links."""
    with tarfile.open(path, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                kind, target = content
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = target
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return path


def read_blob(blob: BlobFile) -> bytes:
    with open_blob(blob) as reader:
        return reader.read()


CONFIG = json.dumps(
    {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
).encode()


def docker_manifest(config: bytes, layers: list[bytes]) -> bytes:
    layer_parts = ",".join(
        '{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip",'
        f'"size":{len(layer)},"digest":"{sha(layer)}"}}'
        for layer in layers
    )
    return (
        '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
        '"config":{"mediaType":"application/vnd.docker.container.image.v1+json",'
        f'"size":{len(config)},"digest":"{sha(config)}"}},"layers":[{layer_parts}]}}'
    ).encode()


def save_manifest(config: str, layers: list[str], **extra: object) -> bytes:
    return json.dumps(
        [{"Config": config, "RepoTags": ["example.com/app:1"], "Layers": layers, **extra}]
    ).encode()


# --- docker save tarballs ---------------------------------------------------------------------


def test_docker_archive_gzip_layers_pushed_as_they_are(tmp_path: Path) -> None:
    layer1 = gz(layer_tar({"a": b"one"}))
    layer2 = gz(layer_tar({"b": b"two"}))
    path = write_tar(
        tmp_path / "image.tar",
        [
            ("cfg.json", CONFIG),
            ("l1/layer.tar", layer1),
            ("l2/layer.tar", layer2),
            ("manifest.json", save_manifest("cfg.json", ["l1/layer.tar", "l2/layer.tar"])),
        ],
    )
    loaded = load_image(path, tmp_path)
    manifest = docker_manifest(CONFIG, [layer1, layer2])
    assert loaded.root.body == manifest
    assert loaded.root.digest == sha(manifest)
    assert loaded.root.media_type == DOCKER_MANIFEST
    assert loaded.root.children == ()
    assert [(b.digest, b.size, b.path) for b in loaded.root.blobs] == [
        (sha(CONFIG), len(CONFIG), path),
        (sha(layer1), len(layer1), path),
        (sha(layer2), len(layer2), path),
    ]
    assert [read_blob(b) for b in loaded.root.blobs] == [CONFIG, layer1, layer2]
    assert loaded.origins == ("example.com/app:1",)


def test_docker_archive_zstd_layer_is_labelled_gzip(tmp_path: Path) -> None:
    layer = zstandard.ZstdCompressor().compress(layer_tar({"z": b"zstd"}))
    path = write_tar(
        tmp_path / "image.tar",
        [("c", CONFIG), ("l", layer), ("manifest.json", save_manifest("c", ["l"]))],
    )
    loaded = load_image(path, tmp_path)
    assert loaded.root.body == docker_manifest(CONFIG, [layer])
    assert read_blob(loaded.root.blobs[1]) == layer


def test_docker_archive_plain_layers_wait_to_be_gzipped_on_the_way(tmp_path: Path) -> None:
    plain = layer_tar({"big": bytes(range(256)) * 20000})
    gzipped = layer_tar({"small": b"x"})
    path = write_tar(
        tmp_path / "image.tar",
        [
            ("c", CONFIG),
            ("l.tar", plain),
            ("g.tar.gz", gz(gzipped)),
            ("manifest.json", save_manifest("c", ["l.tar", "g.tar.gz"])),
        ],
    )
    work = tmp_path / "work"
    work.mkdir()
    pending = load_image(path, work)
    assert isinstance(pending, PendingImage)
    assert list(work.iterdir()) == []  # nothing compressed ahead of the push
    (layer,) = pending.plain_layers
    with open(path, "rb") as file:
        file.seek(layer.offset)
        assert file.read(layer.size) == plain
    assert pending.config == BlobFile(sha(CONFIG), len(CONFIG), path, pending.config.offset)

    compressed = gz(plain)  # whatever the streamed push reports for it
    loaded = complete(pending, {layer: (sha(compressed), len(compressed))})
    assert loaded.root.body == docker_manifest(CONFIG, [compressed, gz(gzipped)])
    assert [b.digest for b in loaded.root.blobs] == [sha(CONFIG), sha(gz(gzipped))]


def test_docker_archive_symlinks_and_hardlinks_are_followed(tmp_path: Path) -> None:
    layer = gz(layer_tar({"a": b"1"}))
    path = write_tar(
        tmp_path / "image.tar",
        [
            ("blobs/cfg", CONFIG),
            ("blobs/layer", layer),
            ("one/layer.tar", ("symlink", "../blobs/layer")),
            ("two/layer.tar", ("hardlink", "blobs/layer")),
            ("config.json", ("symlink", "blobs/cfg")),
            ("manifest.json", save_manifest("config.json", ["one/layer.tar", "two/layer.tar"])),
        ],
    )
    loaded = load_image(path, tmp_path)
    assert loaded.root.body == docker_manifest(CONFIG, [layer, layer])
    # The same layer twice is uploaded once.
    assert [b.digest for b in loaded.root.blobs] == [sha(CONFIG), sha(layer)]


def test_docker_archive_whole_file_gzipped(tmp_path: Path) -> None:
    layer = gz(layer_tar({"a": b"1"}))
    path = write_tar(
        tmp_path / "image.tar", [("c", CONFIG), ("l", layer), ("manifest.json", save_manifest("c", ["l"]))]
    )
    packed = tmp_path / "image.tar.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    work = tmp_path / "work"
    work.mkdir()
    assert load_image(packed, work).root.body == docker_manifest(CONFIG, [layer])


def test_truncated_gzip_tarball_is_one_line_naming_the_file(tmp_path: Path) -> None:
    packed = tmp_path / "image.tar.gz"
    incompressible = b"".join(hashlib.sha256(bytes([i])).digest() for i in range(256))
    packed.write_bytes(gzip.compress(incompressible)[:100])
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(InputError) as err:
        load_image(packed, work)
    assert str(err.value) == (
        f"loading {packed} as tarball: cannot decompress it: gzip stream ended early (truncated layer)"
    )


def test_docker_archive_foreign_layer_from_layer_sources(tmp_path: Path) -> None:
    layer = gz(layer_tar({"a": b"1"}))
    config = json.dumps(
        {"rootfs": {"type": "layers", "diff_ids": ["sha256:" + "a" * 64, "sha256:" + "b" * 64]}}
    )
    foreign = {
        "urls": ["https://example.com/x?a=1&b=2"],
        "digest": "sha256:" + "c" * 64,
        "size": 10,
        "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    }
    path = write_tar(
        tmp_path / "image.tar",
        [
            ("c", config.encode()),
            ("l", layer),
            (
                "manifest.json",
                save_manifest("c", ["foreign.tar", "l"], LayerSources={"sha256:" + "a" * 64: foreign}),
            ),
        ],
    )
    loaded = load_image(path, tmp_path)
    body = loaded.root.body.decode()
    assert (
        '"layers":[{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","size":10,'
        '"digest":"sha256:' + "c" * 64 + '","urls":["https://example.com/x?a=1\\u0026b=2"]},'
    ) in body
    assert [b.digest for b in loaded.root.blobs] == [sha(config.encode()), sha(layer)]


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([("c", CONFIG)], "loading {p} as tarball: file manifest.json not found in tar"),
        (
            [("c", CONFIG), ("manifest.json", json.dumps([{"Config": "c"}, {"Config": "c"}]).encode())],
            "loading {p} as tarball: tarball must contain only a single image to be used with tarball.Image",
        ),
        (
            [("c", CONFIG), ("manifest.json", b"[]")],
            "loading {p} as tarball: tarball must contain only a single image to be used with tarball.Image",
        ),
        (
            [("manifest.json", b"{not json")],
            "loading {p} as tarball: manifest.json is not valid JSON: "
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        ([("manifest.json", save_manifest("c", []))], "loading {p} as tarball: file c not found in tar"),
        (
            [("c", CONFIG), ("manifest.json", save_manifest("c", ["missing.tar"]))],
            "loading {p} as tarball: file missing.tar not found in tar",
        ),
        (
            [("c", b"nope"), ("manifest.json", save_manifest("c", []))],
            "loading {p} as tarball: config c is not valid JSON: Expecting value: line 1 column 1 (char 0)",
        ),
        (
            [("c", CONFIG), ("l", ("symlink", "l")), ("manifest.json", save_manifest("c", ["l"]))],
            "loading {p} as tarball: file l not found in tar",
        ),
        (
            [("manifest.json", json.dumps([{"Config": 1}]).encode())],
            "loading {p} as tarball: manifest.json: Config is not a file name",
        ),
    ],
)
def test_docker_archive_errors(
    tmp_path: Path, members: list[tuple[str, bytes | tuple[str, str]]], message: str
) -> None:
    path = write_tar(tmp_path / "image.tar", members)
    with pytest.raises(InputError) as err:
        load_image(path, tmp_path)
    assert str(err.value) == message.format(p=path)


def test_not_a_tarball(tmp_path: Path) -> None:
    path = tmp_path / "image.tar"
    path.write_bytes(b"this is not a tar file at all" * 40)
    with pytest.raises(InputError) as err:
        load_image(path, tmp_path)
    assert str(err.value) == f"loading {path} as tarball: invalid header"


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "image.tar"
    path.write_bytes(b"")
    with pytest.raises(InputError) as err:
        load_image(path, tmp_path)
    assert str(err.value) == f"loading {path} as tarball: empty file, not a tarball"


def test_truncated_tarball(tmp_path: Path) -> None:
    layer = gz(layer_tar({"a": b"1" * 5000}))
    path = write_tar(
        tmp_path / "image.tar", [("manifest.json", save_manifest("c", ["l"])), ("c", CONFIG), ("l", layer)]
    )
    data = path.read_bytes()
    path.write_bytes(data[: data.index(layer) + 100])
    with pytest.raises(InputError) as err:
        load_image(path, tmp_path)
    assert str(err.value) == f"loading {path} as tarball: unexpected end of data"


def test_unreadable_path(tmp_path: Path) -> None:
    (tmp_path / "dangling").symlink_to("nowhere")
    with pytest.raises(InputError) as err:
        load_image(tmp_path / "dangling", tmp_path)
    assert str(err.value) == f"stat {tmp_path}/dangling: no such file or directory"


# --- OCI layouts ------------------------------------------------------------------------------


class Layout:
    """An OCI layout written blob by blob, as a directory or a tarball."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')

    def blob(self, data: bytes) -> dict[str, object]:
        (self.root / "blobs" / "sha256" / sha(data)[7:]).write_bytes(data)
        return {"size": len(data), "digest": sha(data)}

    def image(self, name: str, media_type: str = OCI_MANIFEST) -> tuple[bytes, dict[str, object]]:
        config = json.dumps({"architecture": name, "os": "linux"}).encode()
        layer = gz(layer_tar({name: name.encode()}))
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": media_type,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **self.blob(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **self.blob(layer)}],
            },
            indent=2,
        ).encode()
        return manifest, {"mediaType": media_type, **self.blob(manifest)}

    def index(self, children: list[dict[str, object]], media_type: str = OCI_INDEX) -> bytes:
        return json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": children}).encode()

    def write_index(self, body: bytes) -> None:
        (self.root / "index.json").write_bytes(body)

    def tarball(self, path: Path) -> Path:
        with tarfile.open(path, "w") as tar:
            tar.add(self.root, arcname=".")
        return path


def blob_digests(node: ManifestNode) -> list[str]:
    return [b.digest for b in node.blobs]


def test_layout_single_image_index_is_pushed_byte_for_byte(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    manifest, descriptor = layout.image("amd64")
    index = layout.index([descriptor]) + b"\n"
    layout.write_index(index)
    loaded = load_image(tmp_path / "oci", tmp_path)
    assert loaded.root.body == index
    assert loaded.root.digest == sha(index)
    assert loaded.root.media_type == OCI_INDEX
    assert loaded.root.blobs == ()
    [child] = loaded.root.children
    assert child.body == manifest
    assert child.digest == sha(manifest)
    assert child.media_type == OCI_MANIFEST
    assert [b.path.parent for b in child.blobs] == [tmp_path / "oci" / "blobs" / "sha256"] * 2


def test_layout_single_image_digest_pushes_the_image(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    manifest, descriptor = layout.image("amd64")
    layout.write_index(layout.index([descriptor]))
    (tmp_path / "oci" / "single-image-digest").write_text(sha(manifest))
    loaded = load_image(tmp_path / "oci", tmp_path)
    assert loaded.root.body == manifest
    assert loaded.root.digest == sha(manifest)
    assert loaded.root.media_type == OCI_MANIFEST
    assert len(loaded.root.blobs) == 2


def test_layout_multi_platform_index(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    amd, amd_desc = layout.image("amd64")
    arm, arm_desc = layout.image("arm64", DOCKER_MANIFEST)
    attestation = layout.blob(b"an attestation blob")
    index = layout.index([amd_desc, arm_desc, {"mediaType": "application/vnd.in-toto+json", **attestation}])
    layout.write_index(index)
    loaded = load_image(tmp_path / "oci", tmp_path)
    assert loaded.root.body == index
    assert [c.body for c in loaded.root.children] == [amd, arm]
    assert [c.media_type for c in loaded.root.children] == [OCI_MANIFEST, DOCKER_MANIFEST]
    assert blob_digests(loaded.root) == [sha(b"an attestation blob")]


def test_layout_nested_single_entry_indexes_are_unwrapped(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    _, amd_desc = layout.image("amd64")
    _, arm_desc = layout.image("arm64")
    inner = layout.index([amd_desc, arm_desc], DOCKER_LIST)
    middle = layout.index([{"mediaType": DOCKER_LIST, **layout.blob(inner)}])
    layout.write_index(layout.index([{"mediaType": OCI_INDEX, **layout.blob(middle)}]))
    loaded = load_image(tmp_path / "oci", tmp_path)
    assert loaded.root.body == inner
    assert loaded.root.digest == sha(inner)
    assert loaded.root.media_type == DOCKER_LIST
    assert len(loaded.root.children) == 2


def test_layout_index_with_two_children_keeps_nested_indexes(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    _, amd_desc = layout.image("amd64")
    inner = layout.index([amd_desc])
    _, arm_desc = layout.image("arm64")
    root = layout.index([{"mediaType": OCI_INDEX, **layout.blob(inner)}, arm_desc])
    layout.write_index(root)
    loaded = load_image(tmp_path / "oci", tmp_path)
    assert loaded.root.body == root
    nested, image = loaded.root.children
    assert nested.body == inner
    assert [c.digest for c in nested.children] == [amd_desc["digest"]]
    assert image.digest == arm_desc["digest"]


def test_layout_root_docker_list_keeps_its_media_type(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    _, d1 = layout.image("amd64", DOCKER_MANIFEST)
    _, d2 = layout.image("arm64", DOCKER_MANIFEST)
    layout.write_index(layout.index([d1, d2], DOCKER_LIST))
    assert load_image(tmp_path / "oci", tmp_path).root.media_type == DOCKER_LIST


def test_layout_tarball(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    manifest, descriptor = layout.image("amd64")
    index = layout.index([descriptor])
    layout.write_index(index)
    path = layout.tarball(tmp_path / "layout.tar")
    loaded = load_image(path, tmp_path)
    assert loaded.root.body == index
    [child] = loaded.root.children
    assert child.body == manifest
    assert {b.path for b in child.blobs} == {path}
    assert [read_blob(b) for b in child.blobs] == [
        (tmp_path / "oci" / "blobs" / "sha256" / b.digest[7:]).read_bytes() for b in child.blobs
    ]


def test_layout_origin_from_in_repository_file(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    _, descriptor = layout.image("amd64")
    layout.write_index(layout.index([descriptor]))
    (tmp_path / "repository").write_text("registry.example/team/app")
    assert load_image(tmp_path / "oci", tmp_path).origins == ("registry.example/team/app",)


def loaded_error(path: Path) -> str:
    with pytest.raises(InputError) as err:
        load_image(path, path.parent)
    return str(err.value)


def test_layout_without_index_json(tmp_path: Path) -> None:
    Layout(tmp_path / "oci")
    assert loaded_error(tmp_path / "oci") == (
        f"new index image from path: loading {tmp_path}/oci as OCI layout: "
        f"stat {tmp_path}/oci/index.json: no such file or directory"
    )


def test_layout_single_image_digest_not_in_index(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    _, descriptor = layout.image("amd64")
    layout.write_index(layout.index([descriptor]))
    (tmp_path / "oci" / "single-image-digest").write_text("sha256:" + "0" * 64)
    assert loaded_error(tmp_path / "oci") == (
        f"loading {tmp_path}/oci as OCI layout: could not find descriptor in index: sha256:{'0' * 64}"
    )


def test_layout_missing_blob(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    manifest, descriptor = layout.image("amd64")
    layout.write_index(layout.index([descriptor]))
    layer_digest = json.loads(manifest)["layers"][0]["digest"]
    (tmp_path / "oci" / "blobs" / "sha256" / layer_digest[7:]).unlink()
    assert loaded_error(tmp_path / "oci") == (
        f"loading {tmp_path}/oci as OCI layout: blob blobs/sha256/{layer_digest[7:]} is missing"
    )


def test_layout_blob_of_wrong_size(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    manifest, descriptor = layout.image("amd64")
    layout.write_index(layout.index([descriptor]))
    layer = json.loads(manifest)["layers"][0]
    (tmp_path / "oci" / "blobs" / "sha256" / layer["digest"][7:]).write_bytes(b"short")
    assert loaded_error(tmp_path / "oci") == (
        f"loading {tmp_path}/oci as OCI layout: blob blobs/sha256/{layer['digest'][7:]} has 5 bytes, "
        f"its descriptor says {layer['size']}"
    )


def test_layout_corrupt_manifest_blob(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    manifest, descriptor = layout.image("amd64")
    layout.write_index(layout.index([descriptor]))
    corrupt = manifest.replace(b'"schemaVersion": 2', b'"schemaVersion": 3')
    (tmp_path / "oci" / "blobs" / "sha256" / sha(manifest)[7:]).write_bytes(corrupt)
    assert loaded_error(tmp_path / "oci") == (
        f"loading {tmp_path}/oci as OCI layout: blob blobs/sha256/{sha(manifest)[7:]} "
        f"does not match its digest (it is {sha(corrupt)})"
    )


@pytest.mark.parametrize(
    ("index", "message"),
    [
        (b"[", "index.json is not valid JSON: Expecting value: line 1 column 2 (char 1)"),
        (b"[]", "index.json is not a JSON object"),
        (b"{}", "index.json: manifests is not a list"),
        (
            b'{"manifests":[{"digest":"sha256:../../etc/passwd","size":1}]}',
            'index.json: manifests[0]: invalid digest "sha256:../../etc/passwd"',
        ),
        (
            b'{"manifests":[{"digest":"sha256:' + b"a" * 64 + b'","size":-1}]}',
            "index.json: manifests[0]: invalid size -1",
        ),
    ],
)
def test_layout_bad_index(tmp_path: Path, index: bytes, message: str) -> None:
    Layout(tmp_path / "oci").write_index(index)
    assert loaded_error(tmp_path / "oci") == f"loading {tmp_path}/oci as OCI layout: {message}"


def test_layout_tarball_missing_blob(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    manifest, descriptor = layout.image("amd64")
    layout.write_index(layout.index([descriptor]))
    config_digest = json.loads(manifest)["config"]["digest"]
    (tmp_path / "oci" / "blobs" / "sha256" / config_digest[7:]).unlink()
    path = layout.tarball(tmp_path / "layout.tar")
    assert loaded_error(path) == (
        f"loading {path} as OCI layout tarball: blob blobs/sha256/{config_digest[7:]} is missing"
    )


def test_loaded_image_is_frozen(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    _, descriptor = layout.image("amd64")
    layout.write_index(layout.index([descriptor]))
    loaded: LoadedImage = load_image(tmp_path / "oci", tmp_path)
    with pytest.raises(AttributeError):
        loaded.root.body = b""  # type: ignore[misc]


def test_layout_single_image_digest_naming_an_index(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    _, amd = layout.image("amd64")
    _, arm = layout.image("arm64")
    inner = layout.index([amd])
    inner_descriptor = {"mediaType": OCI_INDEX, **layout.blob(inner)}
    layout.write_index(layout.index([inner_descriptor, arm]))
    (tmp_path / "oci" / "single-image-digest").write_text(sha(inner) + "\n")
    assert loaded_error(tmp_path / "oci") == (
        f"loading {tmp_path}/oci as OCI layout: single-image-digest {sha(inner)} is not an image manifest: "
        f"{OCI_INDEX}"
    )


def test_layout_schema1_child(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    blob = layout.blob(b"{}")
    layout.write_index(
        layout.index([{"mediaType": "application/vnd.docker.distribution.manifest.v1+prettyjws", **blob}])
    )
    assert loaded_error(tmp_path / "oci") == (
        f"loading {tmp_path}/oci as OCI layout: unsupported media type "
        "application/vnd.docker.distribution.manifest.v1+prettyjws"
    )


def test_layout_manifest_without_layers(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    config = layout.blob(b"{}")
    manifest = json.dumps({"schemaVersion": 2, "config": {"mediaType": "x", **config}}).encode()
    layout.write_index(layout.index([{"mediaType": OCI_MANIFEST, **layout.blob(manifest)}]))
    assert loaded_error(tmp_path / "oci") == (
        f"loading {tmp_path}/oci as OCI layout: manifest {sha(manifest)}: layers is not a list"
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"Config": "c", "Layers": "l"}, "manifest.json: Layers is not a list of file names"),
        ({"Config": "c", "Layers": [], "LayerSources": [1]}, "manifest.json: LayerSources is not an object"),
        ("not an object", "manifest.json is not a list of images"),
    ],
)
def test_docker_archive_malformed_manifest_json(tmp_path: Path, entry: object, message: str) -> None:
    path = write_tar(tmp_path / "image.tar", [("c", CONFIG), ("manifest.json", json.dumps([entry]).encode())])
    with pytest.raises(InputError) as err:
        load_image(path, tmp_path)
    assert str(err.value) == f"loading {path} as tarball: {message}"


def test_neither_directory_nor_file(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(InputError) as err:
        load_image(tmp_path / "fifo", tmp_path)
    assert str(err.value) == f"{tmp_path}/fifo is neither a directory nor a regular file"
