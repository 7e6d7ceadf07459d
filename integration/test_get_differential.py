"""The rootfs ``in`` writes equals what ``umoci raw unpack`` makes of the same image.

Each image is pushed to ``registry:2``, copied to an OCI layout with skopeo and unpacked by umoci;
the resource fetches it from the registry. Both trees are compared by name, type, mode,
ownership, size, content, link target and (for everything but directories) mtime.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

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
from fake_registry.lowlevel import Layer
from integration.seed import push, run_in
from integration.servers import run_tool, skopeo_copy

ROOT = os.geteuid() == 0
T = 1_600_000_000


def snapshot(root: Path) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            info = path.lstat()
            mode = info.st_mode
            if stat.S_ISLNK(mode):
                kind, content = "link", os.readlink(path)
            elif stat.S_ISDIR(mode):
                kind, content = "dir", ""
            elif stat.S_ISFIFO(mode):
                kind, content = "fifo", ""
            else:
                kind, content = "file", hashlib.sha256(path.read_bytes()).hexdigest()
            mtime = None if kind == "dir" else info.st_mtime_ns // 1_000_000_000
            size = info.st_size if kind == "file" else None
            rows.append(
                (
                    str(path.relative_to(root)),
                    kind,
                    oct(stat.S_IMODE(mode)),
                    info.st_uid,
                    info.st_gid,
                    size,
                    content,
                    mtime,
                )
            )
    return sorted(rows)


def raw_layer(entries: list[tuple[str, bytes]]) -> Layer:
    """A gzip layer with regular files in exactly this order (a dict cannot repeat a name)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = T + 1
            archive.addfile(info, io.BytesIO(data))
    raw = out.getvalue()
    blob = gzip.compress(raw, mtime=0)
    return Layer(
        data=blob,
        media_type="application/vnd.oci.image.layer.v1.tar+gzip",
        digest="sha256:" + hashlib.sha256(blob).hexdigest(),
        diff_id="sha256:" + hashlib.sha256(raw).hexdigest(),
    )


IMAGES = {
    "basic": lambda: build_image(
        [
            {
                "bin": Dir(mtime=T),
                "bin/busybox": File(os.urandom(70_000), mode=0o755, mtime=T + 1),
                "bin/sh": Symlink("busybox", mtime=T + 2),
                "bin/ls": Hardlink("bin/busybox"),
                "etc": Dir(mtime=T),
                "etc/passwd": File("root:x:0:0::/root:/bin/sh\n", mtime=T + 3),
                "etc/shadow": File("root:*:1::::::\n", mode=0o640, gid=42, mtime=T + 4),
                "usr/bin/su": File("su", mode=0o4755, mtime=T + 5),
                "tmp": Dir(mode=0o1777, mtime=T),
                "srv": Dir(mode=0o2775, uid=1000, gid=1000, mtime=T),
                "srv/data": File("d", mode=0o600, uid=1000, gid=1000, mtime=T + 6),
                "run/pipe": Fifo(mode=0o600, mtime=T + 7),
                "abs": Symlink("/etc/passwd", mtime=T + 8),
                "dangling": Symlink("../../nowhere", mtime=T + 9),
            }
        ]
    ),
    "layered": lambda: build_image(
        [
            {
                "a": Dir(mtime=T),
                "a/one": File("1", mtime=T),
                "a/two": File("2", mtime=T),
                "b": Dir(mtime=T),
                "b/x": File("x", mtime=T),
                "c": File("file", mtime=T),
                "orig": File("shared", mode=0o750, mtime=T),
                "hl": Hardlink("orig"),
                "link": Symlink("a/one", mtime=T),
            },
            {
                "a/two": Whiteout(),
                "b": OpaqueWhiteout(),
                "b/y": File("y", mtime=T + 1),
                "c": Dir(mtime=T + 1),
                "c/inside": File("now a dir", mtime=T + 1),
                "orig": Whiteout(),
                "link": File("was a link", mtime=T + 1),
            },
            {
                "a": Whiteout(),
                "new": Dir(mode=0o700, mtime=T + 2),
                "new/f": File("f", mode=0o444, mtime=T + 2),
            },
        ]
    ),
    # (umoci 0.4 refuses zstd layers, so those are covered against our expectations elsewhere.)
    "uncompressed": lambda: build_image(
        [{"z": Dir(mtime=T), "z/data": File(os.urandom(10_000), mtime=T)}, {"z/more": File("m", mtime=T)}],
        compression="none",
    ),
    "docker-format": lambda: build_image(
        [{"etc": Dir(mtime=T), "etc/os-release": File("ID=test", mtime=T)}, {"etc/os-release": Whiteout()}],
        format="docker",
    ),
    "same-layer-whiteout": lambda: build_image(
        [
            {"x": File("lower", mtime=T), "d": Dir(mtime=T), "d/old": File("o", mtime=T)},
            raw_layer(
                [
                    ("x", b"upper"),
                    (".wh.x", b""),
                    ("d/new", b"n"),
                    ("d/.wh.old", b""),
                    ("d2/f", b"f"),
                    (".wh.d2", b""),
                ]
            ),
        ]
    ),
    "platform-index": lambda: build_index(
        [
            build_image([{"arch": File("arm64", mtime=T)}], ImageConfig(architecture="arm64")),
            build_image([{"arch": File("amd64", mtime=T)}, {"extra": File("e", mtime=T)}], ImageConfig()),
        ]
    ),
}


@pytest.mark.skipif(not ROOT, reason="umoci and the resource keep ownership only as root (CI runs as root)")
@pytest.mark.parametrize("name", sorted(IMAGES))
def test_rootfs_equals_umoci_raw_unpack(registry, repo_name, tmp_path, name):
    item = IMAGES[name]()
    digest = push(registry, repo_name, item)
    layout = tmp_path / "layout"
    skopeo_copy(
        f"docker://{registry.repository(repo_name)}@{digest}",
        f"oci:{layout}:image",
        *registry.skopeo_args("src"),
        "--override-arch",
        "amd64",
        "--override-os",
        "linux",
    )
    expected = tmp_path / "umoci"
    run_tool("umoci", "raw", "unpack", "--image", f"{layout}:image", str(expected))

    dest = tmp_path / "dest"
    dest.mkdir()
    run_in(
        dest,
        {"repository": registry.repository(repo_name)},
        {"tag": "latest", "digest": digest},
        {"platform": {"architecture": "amd64", "os": "linux"}},
    )
    assert snapshot(dest / "rootfs") == snapshot(expected)
