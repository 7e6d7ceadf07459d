"""The push order and de-duplication, against an in-memory target (SPEC B.5.6)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest

from registry_image_resource.commands.put.inputs.tree import BlobFile, ManifestNode
from registry_image_resource.commands.put.push import manifest_levels, push
from registry_image_resource.errors import IntegrityError, RegistryError
from registry_image_resource.registry.reference import Repository


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class FakeTarget:
    """Records every call; blobs and manifests are kept in dicts."""

    def __init__(
        self, blobs: dict[str, bytes] | None = None, mountable: dict[str, set[str]] | None = None
    ) -> None:
        self.blobs = dict(blobs or {})
        self.mountable = mountable or {}
        self.manifests: dict[str, bytes] = {}
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.fail_upload: str | None = None

    def _record(self, kind: str, what: str) -> None:
        with self.lock:
            self.calls.append((kind, what))

    def blob_exists(self, digest: str) -> bool:
        self._record("head", digest)
        return digest in self.blobs

    def mount_blob(self, digest: str, from_repo: Repository) -> bool:
        self._record("mount", f"{digest} from {from_repo.path}")
        if from_repo.path == "team/forbidden":
            raise RegistryError("POST ...: 403 Forbidden: DENIED: access denied", status=403, code="DENIED")
        if digest in self.mountable.get(from_repo.path, set()):
            self.blobs[digest] = b"mounted"
            return True
        return False

    def upload_blob(self, digest: str, size: int, opener: Callable[[], BinaryIO]) -> None:
        self._record("upload", digest)
        if digest == self.fail_upload:
            raise RegistryError("upload failed", status=500)
        with opener() as reader:
            data = reader.read()
        assert len(data) == size
        assert sha(data) == digest
        self.blobs[digest] = data

    def put_manifest(self, ref: str, body: bytes, media_type: str) -> str:
        self._record("manifest", ref)
        for line in body.decode().split():
            if line.startswith("sha256:"):
                assert line in self.blobs or line in self.manifests, (
                    f"{ref} refers to {line} before it exists"
                )
        self.manifests[ref] = body
        self.manifests[sha(body)] = body
        return sha(body)


def blob(tmp_path: Path, data: bytes) -> BlobFile:
    path = tmp_path / sha(data)[7:]
    path.write_bytes(b"prefix" + data)
    return BlobFile(sha(data), len(data), path, offset=6)


def image(tmp_path: Path, name: str, *layers: bytes) -> ManifestNode:
    blobs = tuple(blob(tmp_path, data) for data in (name.encode(), *layers))
    # The fake's put_manifest checks that every whitespace-separated digest in a body exists.
    body = " ".join(b.digest for b in blobs).encode()
    return ManifestNode(body, "application/vnd.oci.image.manifest.v1+json", sha(body), blobs)


def index(*children: ManifestNode) -> ManifestNode:
    body = " ".join(["index", *(c.digest for c in children)]).encode()
    return ManifestNode(body, "application/vnd.oci.image.index.v1+json", sha(body), children=children)


def test_single_image_blobs_then_manifest_per_tag(tmp_path: Path) -> None:
    root = image(tmp_path, "config", b"layer1", b"layer2")
    target = FakeTarget()
    report = push(target, root, ["1.0", "latest", "1.0"])
    assert sorted(report.uploaded) == sorted(b.digest for b in root.blobs)
    assert [c for c in target.calls if c[0] == "manifest"] == [("manifest", "1.0"), ("manifest", "latest")]
    assert target.blobs[sha(b"layer1")] == b"layer1"
    assert target.calls.index(("manifest", "1.0")) > max(
        i for i, c in enumerate(target.calls) if c[0] == "upload"
    )


def test_existing_blobs_are_not_uploaded(tmp_path: Path) -> None:
    root = image(tmp_path, "config", b"layer1")
    target = FakeTarget(blobs={sha(b"layer1"): b"layer1", sha(b"config"): b"config"})
    report = push(target, root, ["t"])
    assert report.uploaded == ()
    assert sorted(report.existing) == sorted([sha(b"layer1"), sha(b"config")])
    assert not [c for c in target.calls if c[0] in ("upload", "mount")]


def test_blobs_are_mounted_from_an_origin_when_possible(tmp_path: Path) -> None:
    root = image(tmp_path, "config", b"layer1")
    target = FakeTarget(mountable={"team/other": {sha(b"layer1")}})
    report = push(
        target,
        root,
        ["t"],
        origins=[Repository("r.example", p) for p in ("team/missing", "team/other", "team/other")],
    )
    assert report.mounted == (sha(b"layer1"),)
    assert report.uploaded == (sha(b"config"),)
    assert [c for c in target.calls if c[0] == "mount" and c[1].startswith(sha(b"layer1"))] == [
        ("mount", f"{sha(b'layer1')} from team/missing"),
        ("mount", f"{sha(b'layer1')} from team/other"),
    ]


def test_index_children_before_the_index_and_shared_blobs_once(tmp_path: Path) -> None:
    amd = image(tmp_path, "amd", b"shared", b"amd-layer")
    arm = image(tmp_path, "arm", b"shared", b"arm-layer")
    nested = index(arm)
    root = index(amd, nested)
    target = FakeTarget()
    push(target, root, ["multi"], jobs=3)
    uploads = [c[1] for c in target.calls if c[0] == "upload"]
    assert sorted(uploads) == sorted(
        {sha(d) for d in [b"amd", b"arm", b"shared", b"amd-layer", b"arm-layer"]}
    )
    manifests = [c[1] for c in target.calls if c[0] == "manifest"]
    assert manifests.index(arm.digest) < manifests.index(nested.digest) < manifests.index("multi")
    assert manifests.index(amd.digest) < manifests.index("multi")
    assert len(manifests) == 4


def test_manifest_levels_group_by_height(tmp_path: Path) -> None:
    amd = image(tmp_path, "amd")
    arm = image(tmp_path, "arm")
    nested = index(arm, amd)
    root = index(amd, nested, amd)
    assert [[n.digest for n in level] for level in manifest_levels(root)] == [
        [amd.digest, arm.digest],
        [nested.digest],
    ]


def test_a_failed_upload_pushes_no_manifest(tmp_path: Path) -> None:
    root = image(tmp_path, "config", b"layer1", b"layer2")
    target = FakeTarget()
    target.fail_upload = sha(b"layer2")
    with pytest.raises(RegistryError, match="upload failed"):
        push(target, root, ["t"])
    assert not [c for c in target.calls if c[0] == "manifest"]


def test_registry_storing_another_digest_is_an_error(tmp_path: Path) -> None:
    root = image(tmp_path, "config")

    class Liar(FakeTarget):
        def put_manifest(self, ref: str, body: bytes, media_type: str) -> str:
            return "sha256:" + "0" * 64

    with pytest.raises(IntegrityError) as err:
        push(Liar(), root, ["t"])
    assert str(err.value) == (
        f"the registry stored manifest t as sha256:{'0' * 64}, but its content is {root.digest}"
    )


def test_uploads_run_concurrently(tmp_path: Path) -> None:
    root = image(tmp_path, "config", b"l1", b"l2", b"l3")
    barrier = threading.Barrier(4, timeout=10)

    class Concurrent(FakeTarget):
        def upload_blob(self, digest: str, size: int, opener: Callable[[], BinaryIO]) -> None:
            barrier.wait()  # all four uploads must be in flight together
            super().upload_blob(digest, size, opener)

    push(Concurrent(), root, ["t"], jobs=4)


def test_a_refused_mount_falls_back_to_upload(tmp_path: Path) -> None:
    root = image(tmp_path, "config")
    target = FakeTarget()
    report = push(target, root, ["t"], origins=[Repository("r.example", "team/forbidden")])
    assert report.uploaded == (sha(b"config"),)
    assert report.mounted == ()
