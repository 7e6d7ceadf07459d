"""The small-file path: parents resolved once and kept by the entries' own spelling, ``fchown``
skipped only where it would change nothing, and the general path taking over whenever a cached
parent may no longer be what the name means."""

from __future__ import annotations

import os

import pytest

ROOT = os.geteuid() == 0


def test_many_files_in_few_directories_match_the_general_path(tmp_path, L, apply, snapshot):
    specs = [L.dir("a"), L.dir("a/b")]
    specs += [L.file(f"a/b/f{i}", f"{i}".encode(), mode=0o600 + i % 8) for i in range(50)]
    specs += [L.file(f"./a/./b/g{i}", b"g") for i in range(5)]  # another spelling, same parent
    specs += [L.file(f"a/x/../b/h{i}", b"h") for i in range(5)]
    apply(tmp_path / "rootfs", L.tar(specs))
    rows = snapshot(tmp_path / "rootfs", owners=False)
    names = [row[0] for row in rows]
    assert len(names) == 2 + 50 + 5 + 5  # "a/x/../b" is cleaned lexically: no a/x
    assert rows[names.index("a/b/f7")][:4] == ("a/b/f7", "f", "0o607", "7")
    assert rows[names.index("a/b/h4")][:4] == ("a/b/h4", "f", "0o644", "h")


def test_a_cached_parent_replaced_by_a_symlink_is_not_written_through(tmp_path, L, apply):
    # d/ is cached by d/f1; then d becomes a symlink out of the rootfs: d/f2 must land inside.
    outside = tmp_path / "outside"
    outside.mkdir()
    layer = L.tar(
        [
            L.dir("d"),
            L.file("d/f1", b"1"),
            L.symlink("d", str(outside)),
            L.file("d/f2", b"pwned"),
        ]
    )
    apply(tmp_path / "rootfs", layer)
    assert list(outside.iterdir()) == []
    assert (tmp_path / "rootfs" / str(outside).lstrip("/") / "f2").read_bytes() == b"pwned"


def test_dotdot_leaf_and_whiteout_take_the_general_path(tmp_path, L, apply, snapshot):
    base = L.tar([L.dir("d"), L.file("d/old", b"o"), L.file("d/keep", b"k")])
    # d/ is cached by d/new; "d/.." names the rootfs itself and "d/.wh.old" is a whiteout.
    upper = L.tar([L.file("d/new", b"n"), L.whiteout("d/old"), L.file("d/..", b"x")])
    apply(tmp_path / "rootfs", base, upper)
    names = [row[0] for row in snapshot(tmp_path / "rootfs", owners=False)]
    assert names == ["d", "d/keep", "d/new"]


@pytest.mark.skipif(not ROOT, reason="ownership is only applied when running as root")
def test_files_in_a_setgid_directory_still_get_their_own_group(tmp_path, L, apply):
    layer = L.tar(
        [
            L.dir("s", mode=0o2775, gid=5),
            L.file("s/own", b"x", uid=0, gid=0),
            L.dir("p", mode=0o755, gid=5),
            L.file("p/own", b"x", uid=0, gid=0),
            L.dir("p", mode=0o2775, gid=5),  # mode changes after the parent was cached
            L.file("p/later", b"x", uid=0, gid=0),
            L.file("p/other", b"x", uid=7, gid=8),
        ]
    )
    apply(tmp_path / "rootfs", layer)
    root = tmp_path / "rootfs"
    assert (root / "s/own").stat().st_gid == 0
    assert (root / "p/own").stat().st_gid == 0
    assert (root / "p/later").stat().st_gid == 0
    assert ((root / "p/other").stat().st_uid, (root / "p/other").stat().st_gid) == (7, 8)


def test_many_directories_overflow_the_descriptor_cache(tmp_path, L, apply):
    from registry_image_resource.unpack import layers

    count = layers._CACHE_LIMIT * 2 + 3
    specs = [L.file(f"d{i}/f", f"{i}".encode()) for i in range(count)]
    specs += [L.file(f"d{i}/g", b"g") for i in range(count)]  # parents evicted and re-resolved
    before = len(os.listdir("/proc/self/fd"))
    apply(tmp_path / "rootfs", L.tar(specs))
    assert len(os.listdir("/proc/self/fd")) == before  # every cached descriptor closed
    assert (tmp_path / f"rootfs/d{count - 1}/f").read_bytes() == f"{count - 1}".encode()
    assert (tmp_path / "rootfs/d0/g").read_bytes() == b"g"
