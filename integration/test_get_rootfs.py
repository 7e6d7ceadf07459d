"""``in`` with ``format: rootfs`` against a real ``registry:2``: the exact tree a layered image gives.

Images are built with the fake registry's builders and pushed over the distribution API; the
resource runs as a subprocess exactly as Concourse runs it.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from fake_registry import (
    Device,
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
from fake_registry.lowlevel import build_layer
from integration.seed import push, run_in
from integration.servers import RegistryServer

ROOT = os.geteuid() == 0
T = 1_650_000_000


def tree(root: Path) -> list[tuple[object, ...]]:
    """(path, kind, mode, uid, gid, content or link target, mtime) for every path under ``root``."""
    rows: list[tuple[object, ...]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                kind, content = "l", os.readlink(path)
            elif stat.S_ISDIR(info.st_mode):
                kind, content = "d", ""
            elif stat.S_ISFIFO(info.st_mode):
                kind, content = "p", ""
            else:
                kind, content = "f", path.read_bytes().decode()
            rows.append(
                (
                    str(path.relative_to(root)),
                    kind,
                    oct(stat.S_IMODE(info.st_mode)),
                    info.st_uid,
                    info.st_gid,
                    content,
                    int(info.st_mtime),
                )
            )
    return sorted(rows)


def fetch(
    registry: RegistryServer, repo_name: str, dest: Path, digest: str, **params: object
) -> dict[str, object]:
    dest.mkdir(exist_ok=True)
    result = run_in(
        dest,
        {"repository": registry.repository(repo_name)},
        {"tag": "latest", "digest": digest},
        dict(params),
    )
    return json.loads(result.stdout)


@pytest.mark.skipif(not ROOT, reason="ownership is applied only when running as root (CI runs as root)")
def test_modes_owners_and_times(registry, repo_name, tmp_path):
    image = build_image(
        [
            {
                "usr": Dir(mode=0o755, mtime=T),
                "usr/bin": Dir(mode=0o755, mtime=T + 1),
                "usr/bin/su": File("su", mode=0o4755, uid=0, gid=0, mtime=T + 2),
                "usr/bin/wall": File("wall", mode=0o2755, gid=5, mtime=T + 3),
                "tmp": Dir(mode=0o1777, mtime=T + 4),
                "home": Dir(mode=0o755, mtime=T + 5),
                "home/user": Dir(mode=0o700, uid=1000, gid=1000, mtime=T + 6),
                "home/user/.profile": File("p", mode=0o600, uid=1000, gid=1000, mtime=T + 7),
                "home/user/link": Symlink("/etc/passwd", uid=1000, gid=1000, mtime=T + 8),
                "run": Dir(mtime=T + 9),
                "run/fifo": Fifo(mode=0o620, uid=7, gid=8, mtime=T + 10),
            }
        ]
    )
    digest = push(registry, repo_name, image)
    fetch(registry, repo_name, tmp_path / "dest", digest)
    assert tree(tmp_path / "dest/rootfs") == [
        ("home", "d", "0o755", 0, 0, "", T + 5),
        ("home/user", "d", "0o700", 1000, 1000, "", T + 6),
        ("home/user/.profile", "f", "0o600", 1000, 1000, "p", T + 7),
        ("home/user/link", "l", "0o777", 1000, 1000, "/etc/passwd", T + 8),
        ("run", "d", "0o755", 0, 0, "", T + 9),
        ("run/fifo", "p", "0o620", 7, 8, "", T + 10),
        ("tmp", "d", "0o1777", 0, 0, "", T + 4),
        ("usr", "d", "0o755", 0, 0, "", T),
        ("usr/bin", "d", "0o755", 0, 0, "", T + 1),
        ("usr/bin/su", "f", "0o4755", 0, 0, "su", T + 2),
        ("usr/bin/wall", "f", "0o2755", 0, 5, "wall", T + 3),
    ]


def test_whiteouts_opaque_whiteouts_and_removed_hard_links(registry, repo_name, tmp_path):
    image = build_image(
        [
            {
                "keep": File("keep", mtime=T),
                "gone": File("gone", mtime=T),
                "orig": File("shared", mtime=T),
                "hl": Hardlink("orig"),
                "dir": Dir(mtime=T),
                "dir/old": File("old", mtime=T),
                "tree": Dir(mtime=T),
                "tree/a": File("a", mtime=T),
            },
            {
                "gone": Whiteout(),
                "orig": Whiteout(),
                "tree": Whiteout(),
                "dir": OpaqueWhiteout(),
                "dir/new": File("new", mtime=T + 1),
            },
        ]
    )
    digest = push(registry, repo_name, image)
    fetch(registry, repo_name, tmp_path / "dest", digest)
    assert [row[:3] + row[5:] if row[1] != "d" else row[:3] for row in tree(tmp_path / "dest/rootfs")] == [
        ("dir", "d", "0o755"),
        ("dir/new", "f", "0o644", "new", T + 1),
        ("hl", "f", "0o644", "shared", T),
        ("keep", "f", "0o644", "keep", T),
    ]


def test_symlink_replaced_by_a_file_does_not_write_through(registry, repo_name, tmp_path):
    image = build_image(
        [
            {"etc": Dir(), "etc/target": File("original"), "etc/link": Symlink("target")},
            {"etc/link": File("replacement")},
        ]
    )
    digest = push(registry, repo_name, image)
    fetch(registry, repo_name, tmp_path / "dest", digest)
    rootfs = tmp_path / "dest/rootfs"
    assert (rootfs / "etc/target").read_text() == "original"
    assert not (rootfs / "etc/link").is_symlink()
    assert (rootfs / "etc/link").read_text() == "replacement"


def test_devices_are_skipped(registry, repo_name, tmp_path):
    image = build_image([{"dev": Dir(), "dev/null": Device(1, 3), "dev/ok": File("ok")}])
    digest = push(registry, repo_name, image)
    fetch(registry, repo_name, tmp_path / "dest", digest)
    assert sorted(os.listdir(tmp_path / "dest/rootfs/dev")) == ["ok"]


@pytest.mark.parametrize("compression", ["zstd", "none", "gzip"])
def test_layer_compressions(registry, repo_name, tmp_path, compression):
    image = build_image([{"a": File("one")}, {"b": File("two")}], compression=compression)
    digest = push(registry, repo_name, image)
    fetch(registry, repo_name, tmp_path / "dest", digest)
    assert sorted(os.listdir(tmp_path / "dest/rootfs")) == ["a", "b"]


def test_plain_layer_mislabelled_as_gzip(registry, repo_name, tmp_path):
    layer = build_layer(
        {"f": File("plain")}, "none", media_type="application/vnd.oci.image.layer.v1.tar+gzip"
    )
    zstd_as_gzip = build_layer(
        {"g": File("zstd")}, "zstd", media_type="application/vnd.oci.image.layer.v1.tar+gzip"
    )
    image = build_image([layer, zstd_as_gzip])
    digest = push(registry, repo_name, image)
    fetch(registry, repo_name, tmp_path / "dest", digest)
    assert (tmp_path / "dest/rootfs/f").read_text() == "plain"
    assert (tmp_path / "dest/rootfs/g").read_text() == "zstd"


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        ({"architecture": "amd64", "os": "linux"}, "amd64"),
        ({"architecture": "arm64", "os": "linux"}, "arm64-v8"),
        ({"architecture": "arm64/v8", "os": "linux"}, "arm64-v8"),
        ({"architecture": "arm", "os": "linux", "variant": "v7"}, "arm-v7"),
        ({"architecture": "arm", "os": "linux", "variant": "v6"}, "arm-v6"),
    ],
)
def test_multi_platform_selection(registry, repo_name, tmp_path, platform, expected):
    children = [
        build_image([{"which": File(name)}], ImageConfig(architecture=arch, variant=variant))
        for name, arch, variant in [
            ("amd64", "amd64", None),
            ("arm64-v8", "arm64", "v8"),
            ("arm-v6", "arm", "v6"),
            ("arm-v7", "arm", "v7"),
        ]
    ]
    digest = push(registry, repo_name, build_index(children))
    fetch(registry, repo_name, tmp_path / "dest", digest, platform=platform)
    assert (tmp_path / "dest/rootfs/which").read_text() == expected


def test_index_without_the_platform_fails_listing_platforms(registry, repo_name, tmp_path):
    children = [build_image([{"x": File("x")}], ImageConfig(architecture="amd64"))]
    digest = push(registry, repo_name, build_index(children))
    dest = tmp_path / "dest"
    dest.mkdir()
    result = run_in(
        dest,
        {"repository": registry.repository(repo_name)},
        {"tag": "latest", "digest": digest},
        {"platform": {"architecture": "riscv64", "os": "linux"}},
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert (
        result.stderr.rstrip()
        .splitlines()[-1]
        .endswith(
            f"no child with platform linux/riscv64 in index {registry.repository(repo_name)}@{digest}; it has: linux/amd64"
        )
    )
    assert os.listdir(dest) == []


def test_hostile_layer_changes_nothing_outside_dest(registry, repo_name, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("secret")
    before = sorted((p.name, p.stat().st_mtime_ns, p.read_text()) for p in outside.iterdir())
    image = build_image(
        [
            {
                "../../outside/secret": File("pwned"),
                f"{outside}/secret": File("pwned"),
                "escape": Symlink(str(outside)),
                "escape/secret": File("pwned"),
                "up": Symlink("../../../.."),
                "up/outside/new": File("pwned"),
            },
            {"escape/secret": Whiteout(), "../outside/secret": Whiteout()},
        ]
    )
    digest = push(registry, repo_name, image)
    fetch(registry, repo_name, tmp_path / "dest", digest)
    assert sorted((p.name, p.stat().st_mtime_ns, p.read_text()) for p in outside.iterdir()) == before
    assert sorted(os.listdir(tmp_path)) == ["dest", "outside"]
    rootfs = tmp_path / "dest/rootfs"
    # Inside the rootfs the second layer's whiteouts removed what the first layer redirected there.
    assert not (rootfs / "outside/secret").exists()
    assert (rootfs / "outside/new").read_text() == "pwned"
    assert os.readlink(rootfs / "escape") == str(outside)
    assert not (rootfs / str(outside).lstrip("/") / "secret").exists()
