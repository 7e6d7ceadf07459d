"""``docker save`` pushes with uncompressed layers: gzipped on several cores while uploaded.

The compressed stream must be deterministic (the same digest whatever the cores and timing), one
gzip member whose content is exactly the layer (its diff_id), uploaded by chunked PATCHes in
order and verified by digest and size; a broken upload is retried from the start or fails with
one line, and nothing is tagged before every layer is in.
"""

from __future__ import annotations

import concurrent.futures
import gzip
import hashlib
import io
import json
import tarfile
import zlib
from pathlib import Path

import pytest

from registry_image_resource.commands import put
from registry_image_resource.commands.put import compress
from registry_image_resource.commands.put.progress import UploadProgress
from registry_image_resource.commands.put.request import OutRequest, PutParams
from registry_image_resource.errors import InputError, IntegrityError, ResourceError
from registry_image_resource.protocol.models import Source
from registry_image_resource.registry.client import ConnectOptions, RegistryClient
from registry_image_resource.registry.reference import Repository

MIB = 1 << 20
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def text(size: int, seed: int = 0) -> bytes:
    """Compressible but not trivial bytes."""
    out = bytearray()
    counter = seed
    while len(out) < size:
        out += hashlib.sha256(str(counter).encode()).hexdigest().encode() * 3 + b"\n"
        counter += 1
    return bytes(out[:size])


def gzip_of(path: Path, size: int, *, workers: int = 2, ahead: int = compress.AHEAD) -> bytes:
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return b"".join(compress.gzip_chunks(path, 0, size, pool, ahead=ahead))


@pytest.mark.parametrize("size", [0, 1, compress.BLOCK - 1, compress.BLOCK, 3 * compress.BLOCK + 12345])
def test_parallel_gzip_is_one_member_holding_exactly_the_layer(tmp_path: Path, size: int) -> None:
    data = text(size)
    path = tmp_path / "layer.tar"
    path.write_bytes(data)
    out = gzip_of(path, size)
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert decompressor.decompress(out) == data  # the diff_id is unchanged
    assert decompressor.eof
    assert decompressor.unused_data == b""
    assert sha(gzip.decompress(out)) == sha(data)


def test_parallel_gzip_digest_does_not_depend_on_cores_or_queue(tmp_path: Path) -> None:
    data = text(3 * compress.BLOCK + 777)
    path = tmp_path / "layer.tar"
    path.write_bytes(data)
    digests = {
        sha(gzip_of(path, len(data), workers=workers, ahead=ahead))
        for workers in (1, 2, 4)
        for ahead in (1, 4)
    }
    assert len(digests) == 1


def test_parallel_gzip_of_a_range_inside_a_file(tmp_path: Path) -> None:
    data = text(2 * compress.BLOCK)
    path = tmp_path / "image.tar"
    path.write_bytes(b"x" * 512 + data + b"y" * 512)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        out = b"".join(compress.gzip_chunks(path, 512, len(data), pool))
    assert gzip.decompress(out) == data


def test_a_layer_shorter_than_its_header_says_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "layer.tar"
    path.write_bytes(b"abc")
    with pytest.raises(InputError) as caught:
        gzip_of(path, 10)
    assert str(caught.value) == f"{path}: file ended 7 bytes early"


# --- chunked uploads -------------------------------------------------------------------------------


def _client(registry, path: str = "test/app") -> RegistryClient:
    return RegistryClient.connect(
        Repository(registry.host, path), ConnectOptions(), "push,pull", env={"TEST": "true"}
    )


def test_chunked_upload_patches_in_order_then_puts_the_digest(fake_registry) -> None:
    data = text(2500)
    parts = [data[i : i + 300] for i in range(0, len(data), 300)]
    with _client(fake_registry) as client:
        digest, size = client.upload_chunks(lambda: iter(parts), part=1000)
    assert (digest, size) == (sha(data), len(data))
    assert fake_registry.blob("test/app", digest) == data
    patches = [r for r in fake_registry.requests if r.method == "PATCH"]
    assert [r.header("Content-Range") for r in patches] == ["0-1199", "1200-2399", "2400-2499"]
    puts = [r for r in fake_registry.requests if r.method == "PUT"]
    assert len(puts) == 1
    assert puts[0].header("Content-Length") == "0"


def test_a_patch_cut_off_mid_way_restarts_the_upload(fake_registry) -> None:
    data = text(5000)
    fake_registry.faults.drop_request(100, r"/blobs/uploads/", method="PATCH", times=2)
    calls = []

    def chunks():
        calls.append(1)
        return iter([data[:2000], data[2000:]])

    with _client(fake_registry) as client:
        digest, size = client.upload_chunks(chunks, part=1000)
    assert (digest, size) == (sha(data), len(data))
    assert fake_registry.blob("test/app", digest) == data
    # Each cut fails the attempt, and the upload starts over: a new session, compressed again.
    assert len(calls) == 3
    assert [r.method for r in fake_registry.requests if "/blobs/uploads/" in r.path].count("POST") == 3


def test_an_upload_that_keeps_failing_is_one_line(fake_registry) -> None:
    fake_registry.faults.status(500, r"/blobs/uploads/", method="PATCH", times=None)
    with _client(fake_registry) as client, pytest.raises(ResourceError) as caught:
        client.upload_chunks(lambda: iter([b"abc"]), part=1000)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("PATCH ")
    assert "gave up after" in message


# --- the whole put -----------------------------------------------------------------------------------


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _layer(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            _add(tar, name, data)
    return out.getvalue()


def write_docker_save(path: Path, layers: list[bytes]) -> bytes:
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha(x) for x in layers]},
        }
    ).encode()
    manifest = [
        {"Config": "c.json", "RepoTags": [], "Layers": [f"{i}/layer.tar" for i in range(len(layers))]}
    ]
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, "c.json", config)
        for i, layer in enumerate(layers):
            _add(tar, f"{i}/layer.tar", layer)
        _add(tar, "manifest.json", json.dumps(manifest).encode())
    return config


def _out(registry, src: Path, **source: object) -> dict[str, object]:
    request = OutRequest(
        source=Source(repository=f"{registry.host}/test/app", tag="latest", **source),  # type: ignore[arg-type]
        params=PutParams(image="image.tar"),
    )
    return put.run(request, src)


def test_put_of_plain_layers_streams_them_gzipped_with_their_diff_ids(fake_registry, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST", "true")
    layers = [_layer({"a.txt": text(2 * compress.BLOCK + 5)}), _layer({"b.txt": text(1000, seed=9)})]
    config = write_docker_save(tmp_path / "image.tar", layers)

    first = _out(fake_registry, tmp_path, debug=True)
    stored = fake_registry.manifest("test/app", "latest")
    document = json.loads(stored.body)
    assert first["version"] == {"tag": "latest", "digest": stored.digest}
    assert document["config"]["digest"] == sha(config)
    for descriptor, layer in zip(document["layers"], layers, strict=True):
        blob = fake_registry.blob("test/app", descriptor["digest"])
        assert (sha(blob), len(blob)) == (descriptor["digest"], descriptor["size"])
        assert sha(gzip.decompress(blob)) == sha(layer)
    assert [r.method for r in fake_registry.requests if "/blobs/uploads/" in r.path].count("PATCH") == 2

    # Pushed again to another repository: the same bytes, so the same digests and manifest.
    request = OutRequest(
        source=Source(repository=f"{fake_registry.host}/test/other", tag="latest", debug=True),
        params=PutParams(image="image.tar"),
    )
    assert put.run(request, tmp_path)["version"] == first["version"]

    # Pushed again under the same tag: the image there has the same config, so its layers are
    # these layers compressed; nothing is compressed or sent again.
    fake_registry.requests.clear()
    again = _out(fake_registry, tmp_path, debug=True)
    assert again["version"] == first["version"]
    assert [r.method for r in fake_registry.requests if "/blobs/uploads/" in r.path] == []


def test_layers_compressed_by_another_tool_under_the_tag_are_reused(fake_registry, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST", "true")
    layers = [_layer({"a.txt": text(5000)}), _layer({"b.txt": text(700, seed=3)})]
    config = write_docker_save(tmp_path / "image.tar", layers)
    theirs = [gzip.compress(layer, compresslevel=9, mtime=0) for layer in layers]
    config_digest = fake_registry.push_blob("test/app", config)
    descriptors = []
    for blob in theirs:
        descriptors.append(
            {
                "mediaType": DOCKER_LAYER,
                "size": len(blob),
                "digest": fake_registry.push_blob("test/app", blob),
            }
        )
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "size": len(config), "digest": config_digest},
            "layers": descriptors,
        }
    ).encode()
    fake_registry.push_manifest("test/app", body, DOCKER_MANIFEST, "latest")
    fake_registry.requests.clear()

    _out(fake_registry, tmp_path, debug=True)
    assert [r.method for r in fake_registry.requests if "/blobs/uploads/" in r.path] == []
    stored = json.loads(fake_registry.manifest("test/app", "latest").body)
    assert stored["layers"] == descriptors


def test_an_image_with_another_config_under_the_tag_is_not_reused(fake_registry, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST", "true")
    fake_registry.push_image("test/app", ["latest"], layers=[{"a.txt": b"other"}])
    write_docker_save(tmp_path / "image.tar", [_layer({"a.txt": text(3000)})])
    fake_registry.requests.clear()
    _out(fake_registry, tmp_path, debug=True)
    patches = [r for r in fake_registry.requests if r.method == "PATCH"]
    assert len(patches) == 1  # the layer, compressed and sent (the config goes up whole)


def test_a_failed_layer_upload_tags_nothing(fake_registry, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST", "true")
    # Two layers: the first failure is reported, and the other layer stops at its next chunk.
    write_docker_save(tmp_path / "image.tar", [_layer({"a.txt": text(3000)}), _layer({"b": text(4 * MIB)})])
    fake_registry.faults.status(500, r"/blobs/uploads/", method="PATCH", times=None)
    with pytest.raises(ResourceError) as caught:
        _out(fake_registry, tmp_path, debug=True)
    assert str(caught.value).startswith("pushing image failed: PATCH ")
    assert "\n" not in str(caught.value)
    assert fake_registry.tags("test/app") == []
    assert not [r for r in fake_registry.requests if "/manifests/" in r.path and r.method == "PUT"]


def test_put_shows_upload_progress_unless_debug(fake_registry, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TEST", "true")
    layer = _layer({"a.txt": text(1000)})
    write_docker_save(tmp_path / "image.tar", [layer])
    _out(fake_registry, tmp_path)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("uploaded ")]
    assert [line.rsplit(", ", 1)[1] for line in lines] == ["1/2", "2/2"]

    _out(fake_registry, tmp_path, debug=True)
    assert not [
        line for line in capsys.readouterr().err.splitlines() if line.startswith(("uploaded ", "existing "))
    ]


# --- progress ------------------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_plain_stream_one_line_per_blob() -> None:
    stream = io.StringIO()
    progress = UploadProgress(stream, 3, interval=3600)
    progress.advance(2 * MIB)
    progress.done("sha256:" + "a" * 64, 2 * MIB, "uploaded")
    progress.done("sha256:" + "b" * 64, MIB, "existing")
    progress.done("sha256:" + "c" * 64, 512, "mounted")
    progress.close()
    assert stream.getvalue() == (
        "uploaded sha256:aaaaaaaaaaaa (2.0 MiB), 1/3\n"
        "existing sha256:bbbbbbbbbbbb (1.0 MiB), 2/3\n"
        "mounted sha256:cccccccccccc (0.0 MiB), 3/3\n"
    )


def test_progress_plain_stream_reports_bytes_while_they_flow() -> None:
    stream = io.StringIO()
    progress = UploadProgress(stream, 2, interval=0)
    progress.advance(3 * MIB)
    assert stream.getvalue() == "0/2 blobs, 3.0 MiB uploaded\n"


def test_progress_terminal_line_redrawn_and_cleared() -> None:
    stream = Terminal()
    progress = UploadProgress(stream, 1, interval=0)
    progress.advance(MIB)
    progress.done("sha256:a", MIB, "uploaded")
    progress.close()
    assert stream.getvalue() == (
        "\r\x1b[K0/1 blobs, 1.0 MiB uploaded\r\x1b[K1/1 blobs, 1.0 MiB uploaded\r\x1b[K"
    )


def test_progress_on_a_broken_stderr_does_not_fail_the_put() -> None:
    stream = io.StringIO()
    stream.close()
    progress = UploadProgress(stream, 1, interval=0)
    progress.advance(1)
    progress.done("sha256:a", 1, "uploaded")
    progress.close()


def test_chunked_upload_follows_each_location_and_checks_the_range(stub_server) -> None:
    # registry:2 carries the upload's state in each answer's Location: the next PATCH goes there.
    Reply = type(stub_server).reply_class
    base = "/v2/test/app/blobs/uploads/u1"
    stub_server.route("POST", "/v2/test/app/blobs/uploads/", Reply(202, {"Location": f"{base}?_state=a"}))
    stub_server.route("PATCH", base, lambda r: Reply(202, {"Location": f"{base}?_state=b", "Range": "0-1"}))
    stub_server.route("PUT", base, Reply(201))
    with _client(stub_server) as client:
        assert client.upload_chunks(lambda: iter([b"ab"]), part=1) == (sha(b"ab"), 2)
    assert [(r.method, r.query) for r in stub_server.seen(path=base)] == [
        ("PATCH", [("_state", "a")]),
        ("PUT", [("_state", "b"), ("digest", sha(b"ab"))]),
    ]


def test_a_registry_that_lost_bytes_of_an_upload_is_an_integrity_error(stub_server) -> None:
    Reply = type(stub_server).reply_class
    base = "/v2/test/app/blobs/uploads/u1"
    stub_server.route("POST", "/v2/test/app/blobs/uploads/", Reply(202, {"Location": base}))
    stub_server.route("PATCH", base, Reply(202, {"Location": base, "Range": "0-0"}))
    with _client(stub_server) as client, pytest.raises(IntegrityError) as caught:
        client.upload_chunks(lambda: iter([b"abc"]), part=1)
    assert str(caught.value) == (
        f"PATCH http://{stub_server.host}{base}: the registry holds 1 bytes of the upload, not 3"
    )
    assert not stub_server.seen("PUT")
