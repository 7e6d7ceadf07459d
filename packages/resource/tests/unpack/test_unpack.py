"""Layer semantics: what each kind of entry does to the rootfs, layer after layer."""

from __future__ import annotations

import io
import logging
import os
import tarfile
from pathlib import Path

import pytest

from registry_image_resource.errors import UnpackError
from registry_image_resource.unpack import Rootfs, apply_blob, detect

ROOT = os.geteuid() == 0
M = 1_600_000_000


def test_exact_tree_with_modes_and_times(tmp_path, L, apply, snapshot):
    layer = L.tar(
        [
            L.dir("bin", 0o755, mtime=M + 1),
            L.file("bin/sh", b"#!", 0o755, mtime=M + 2),
            L.file("bin/su", b"su", 0o4755, mtime=M + 3),
            L.file("bin/wall", b"wall", 0o2755, mtime=M + 4),
            L.dir("tmp", 0o1777, mtime=M + 5),
            L.dir("srv", 0o2750, mtime=M + 6),
            L.file("srv/secret", b"s", 0o600, mtime=M + 7),
            L.symlink("sh", "bin/sh", mtime=M + 8),
        ]
    )
    apply(tmp_path / "rootfs", layer)
    assert snapshot(tmp_path / "rootfs", owners=False) == [
        ("bin", "d", "0o755", "", M + 1),
        ("bin/sh", "f", "0o755", "#!", M + 2),
        ("bin/su", "f", "0o4755", "su", M + 3),
        ("bin/wall", "f", "0o2755", "wall", M + 4),
        ("sh", "l", "0o777", "bin/sh", M + 8),
        ("srv", "d", "0o2750", "", M + 6),
        ("srv/secret", "f", "0o600", "s", M + 7),
        ("tmp", "d", "0o1777", "", M + 5),
    ]


@pytest.mark.skipif(not ROOT, reason="ownership is only applied when running as root")
def test_numeric_ownership_when_root(tmp_path, L, apply, snapshot):
    layer = L.tar(
        [
            L.dir("home", uid=1000, gid=1001),
            L.file("home/f", b"x", 0o4750, uid=1000, gid=1001),
            L.symlink("home/l", "/nowhere", uid=1002, gid=1003),
            L.fifo("home/p", uid=1004, gid=1005),
        ]
    )
    apply(tmp_path / "rootfs", layer)
    rows = {row[0]: row[4:6] for row in snapshot(tmp_path / "rootfs")}
    assert rows == {
        "home": (1000, 1001),
        "home/f": (1000, 1001),
        "home/l": (1002, 1003),
        "home/p": (1004, 1005),
    }
    # chown happens before chmod, so setuid survives
    assert (tmp_path / "rootfs/home/f").stat().st_mode & 0o7777 == 0o4750


def test_without_chown_keeps_our_ids_and_restores_locked_dir_mode(tmp_path, L, apply, snapshot):
    layer = L.tar([L.dir("ro", 0o555, uid=4242), L.file("ro/f", b"x", 0o444, uid=4242)])
    apply(tmp_path / "rootfs", layer, chown=False)
    rows = snapshot(tmp_path / "rootfs", times=False)
    assert rows == [
        ("ro", "d", "0o555", "", os.geteuid(), os.getegid()),
        ("ro/f", "f", "0o444", "x", os.geteuid(), os.getegid()),
    ]


def test_directory_times_restored_after_children_and_later_layers(tmp_path, L, apply, snapshot):
    base = L.tar([L.dir("a", mtime=M), L.dir("a/b", mtime=M + 1), L.file("a/b/f", b"1", mtime=M + 2)])
    upper = L.tar([L.file("a/b/g", b"2", mtime=M + 3), L.whiteout("a/b/f")])
    apply(tmp_path / "rootfs", base, upper)
    assert snapshot(tmp_path / "rootfs", owners=False) == [
        ("a", "d", "0o755", "", M),
        ("a/b", "d", "0o755", "", M + 1),
        ("a/b/g", "f", "0o644", "2", M + 3),
    ]


def test_pax_fractional_mtime_and_atime(tmp_path, L, apply):
    spec = L.file("f", b"x", pax={"mtime": "1600000000.25", "atime": "1700000000.5"})
    apply(tmp_path / "rootfs", L.tar([spec]))
    info = (tmp_path / "rootfs/f").stat()
    assert (info.st_mtime_ns, info.st_atime_ns) == (1_600_000_000_250_000_000, 1_700_000_000_500_000_000)


def test_whiteout_removes_file_and_whole_directory(tmp_path, L, apply, snapshot):
    base = L.tar([L.file("keep", b"k"), L.file("gone", b"g"), L.dir("d"), L.file("d/x", b"x"), L.dir("d/e")])
    upper = L.tar([L.whiteout("gone"), L.whiteout("d"), L.whiteout("never-existed")])
    apply(tmp_path / "rootfs", base, upper)
    assert snapshot(tmp_path / "rootfs", owners=False, times=False) == [("keep", "f", "0o644", "k")]


def test_whiteout_removes_a_symlink_not_its_target(tmp_path, L, apply, snapshot):
    base = L.tar([L.dir("t"), L.file("t/f", b"f"), L.symlink("l", "t")])
    apply(tmp_path / "rootfs", base, L.tar([L.whiteout("l")]))
    assert snapshot(tmp_path / "rootfs", owners=False, times=False) == [
        ("t", "d", "0o755", ""),
        ("t/f", "f", "0o644", "f"),
    ]


def test_opaque_whiteout_hides_lower_layers_but_keeps_this_layers_entries(tmp_path, L, apply, snapshot):
    base = L.tar(
        [L.dir("d"), L.file("d/old", b"o"), L.dir("d/sub"), L.file("d/sub/old", b"o"), L.file("x", b"x")]
    )
    # The marker after this layer's own entries (as some tools write it) and before them.
    after = L.tar([L.dir("d"), L.dir("d/sub"), L.file("d/sub/new", b"n"), L.opaque("d")])
    apply(tmp_path / "a", base, after)
    before = L.tar([L.dir("d"), L.opaque("d"), L.dir("d/sub"), L.file("d/sub/new", b"n")])
    apply(tmp_path / "b", base, before)
    expected = [
        ("d", "d", "0o755", ""),
        ("d/sub", "d", "0o755", ""),
        ("d/sub/new", "f", "0o644", "n"),
        ("x", "f", "0o644", "x"),
    ]
    assert snapshot(tmp_path / "a", owners=False, times=False) == expected
    assert snapshot(tmp_path / "b", owners=False, times=False) == expected


def test_opaque_whiteout_for_a_missing_directory_creates_it(tmp_path, L, apply, snapshot):
    apply(tmp_path / "rootfs", L.tar([L.file("x", b"x")]), L.tar([L.opaque("new/dir")]))
    assert snapshot(tmp_path / "rootfs", owners=False, times=False) == [
        ("new", "d", "0o755", ""),
        ("new/dir", "d", "0o755", ""),
        ("x", "f", "0o644", "x"),
    ]


def test_hard_links_share_the_inode_and_survive_removal_of_the_original(tmp_path, L, apply, snapshot):
    base = L.tar(
        [
            L.dir("d"),
            L.file("d/orig", b"data", 0o640),
            L.hardlink("d/link", "d/orig"),
            L.hardlink("abs", "/d/orig"),
        ]
    )
    apply(tmp_path / "one", base)
    assert os.path.samefile(tmp_path / "one/d/orig", tmp_path / "one/d/link")
    assert os.path.samefile(tmp_path / "one/d/orig", tmp_path / "one/abs")
    assert (tmp_path / "one/d/orig").stat().st_nlink == 3
    apply(tmp_path / "two", base, L.tar([L.whiteout("d/orig")]))
    assert snapshot(tmp_path / "two", owners=False, times=False) == [
        ("abs", "f", "0o640", "data"),
        ("d", "d", "0o755", ""),
        ("d/link", "f", "0o640", "data"),
    ]


def test_hard_link_to_a_missing_file_fails(tmp_path, L, apply):
    with pytest.raises(UnpackError) as err:
        apply(tmp_path / "rootfs", L.tar([L.hardlink("l", "nope")]))
    assert str(err.value) == "entry 'l' links to a missing file: nope"


def test_regular_file_replaces_a_symlink_instead_of_writing_through_it(tmp_path, L, apply, snapshot):
    base = L.tar([L.file("target", b"original"), L.symlink("link", "target")])
    upper = L.tar([L.file("link", b"replacement", 0o600)])
    apply(tmp_path / "rootfs", base, upper)
    assert snapshot(tmp_path / "rootfs", owners=False, times=False) == [
        ("link", "f", "0o600", "replacement"),
        ("target", "f", "0o644", "original"),
    ]


def test_file_replaces_directory_and_directory_replaces_file(tmp_path, L, apply, snapshot):
    base = L.tar([L.dir("d"), L.file("d/x", b"x"), L.file("f", b"f")])
    upper = L.tar([L.file("d", b"now a file"), L.dir("f", 0o700), L.file("f/y", b"y")])
    apply(tmp_path / "rootfs", base, upper)
    assert snapshot(tmp_path / "rootfs", owners=False, times=False) == [
        ("d", "f", "0o644", "now a file"),
        ("f", "d", "0o700", ""),
        ("f/y", "f", "0o644", "y"),
    ]


def test_directory_over_directory_keeps_contents_and_takes_new_mode(tmp_path, L, apply, snapshot):
    apply(tmp_path / "rootfs", L.tar([L.dir("d"), L.file("d/x", b"x")]), L.tar([L.dir("d", 0o750)]))
    assert snapshot(tmp_path / "rootfs", owners=False, times=False) == [
        ("d", "d", "0o750", ""),
        ("d/x", "f", "0o644", "x"),
    ]


def test_fifo_with_mode(tmp_path, L, apply, snapshot):
    apply(tmp_path / "rootfs", L.tar([L.fifo("run/pipe", 0o620)]))
    assert snapshot(tmp_path / "rootfs", owners=False, times=False) == [
        ("run", "d", "0o755", ""),
        ("run/pipe", "p", "0o620", ""),
    ]


def test_devices_are_skipped_with_a_debug_line(tmp_path, L, caplog):
    caplog.set_level(logging.DEBUG, logger="registry_image_resource")
    with Rootfs(tmp_path / "rootfs") as rootfs:
        stats = rootfs.apply_layer(io.BytesIO(L.tar([L.chardev("dev/null"), L.file("ok", b"1")])))
    assert stats.skipped == ["dev/null"]
    assert sorted(os.listdir(tmp_path / "rootfs")) == ["ok"]
    assert "skipping device dev/null" in caplog.messages


def test_long_names_in_pax_and_gnu_formats(tmp_path, L, apply):
    deep = "/".join(["d" * 60] * 5) + "/file"
    link = "l" * 120
    for fmt, where in ((tarfile.PAX_FORMAT, "pax"), (tarfile.GNU_FORMAT, "gnu")):
        apply(tmp_path / where, L.tar([L.file(deep, b"deep"), L.symlink(link, "/" + deep)], fmt=fmt))
        assert (tmp_path / where / deep).read_bytes() == b"deep"
        assert os.readlink(tmp_path / where / link) == "/" + deep


def test_large_file_streams_through_intact(tmp_path, L, apply):
    data = os.urandom(3 * (1 << 20) + 17)
    apply(tmp_path / "rootfs", L.gzip([L.file("big", data)]))
    assert (tmp_path / "rootfs/big").read_bytes() == data


@pytest.mark.parametrize("encoding", ["tar", "gzip", "zstd"])
def test_compression_detected_by_magic_bytes(tmp_path, L, apply, snapshot, encoding):
    specs = [L.file("hello", b"world")]
    blob = {"tar": L.tar, "gzip": L.gzip, "zstd": L.zstd}[encoding](specs)
    assert detect(blob[:4]) == encoding
    apply(tmp_path / "rootfs", blob)
    assert snapshot(tmp_path / "rootfs", owners=False, times=False) == [("hello", "f", "0o644", "world")]


def test_multi_member_gzip_is_read_whole(tmp_path, L, apply):
    import gzip

    raw = L.tar([L.file("a", b"a" * 5000), L.file("b", b"b")])
    blob = gzip.compress(raw[:4096], mtime=0) + gzip.compress(raw[4096:], mtime=0)
    apply(tmp_path / "rootfs", blob)
    assert (tmp_path / "rootfs/b").read_bytes() == b"b"


def test_empty_layer_is_fine(tmp_path, apply):
    apply(tmp_path / "rootfs", b"")
    assert os.listdir(tmp_path / "rootfs") == []


def test_truncated_gzip_is_an_unpack_error(tmp_path, L, apply):
    blob = L.gzip([L.file("f", os.urandom(100_000))])
    with pytest.raises(UnpackError) as err:
        apply(tmp_path / "rootfs", blob[: len(blob) // 2])
    assert str(err.value) in {
        "gzip stream ended early (truncated layer)",
        "unexpected end of layer (truncated tar stream)",
    }


def test_truncated_plain_tar_is_an_unpack_error(tmp_path, L, apply):
    blob = L.tar([L.file("f", b"x" * 2000)])
    with pytest.raises(UnpackError) as err:
        apply(tmp_path / "rootfs", blob[:1024])
    assert str(err.value) == "unexpected end of layer (truncated tar stream)"


def test_corrupt_header_is_an_unpack_error(tmp_path, L, apply):
    blob = bytearray(L.tar([L.file("f", b"x")]))
    blob[0:4] = b"\xff\xff\xff\xff"
    with pytest.raises(UnpackError) as err:
        apply(tmp_path / "rootfs", bytes(blob))
    assert str(err.value) == "invalid tar header: bad checksum"


def test_unsupported_entry_type(tmp_path, L, apply):
    blob = L.tar([L.file("vol")], fmt=tarfile.USTAR_FORMAT)
    raw = bytearray(blob)
    # Rewrite the type flag to 'V' (GNU volume header) and fix the checksum.
    header = bytearray(raw[:512])
    header[156:157] = b"V"
    header[148:156] = b" " * 8
    header[148:155] = f"{sum(header):06o}\0".encode()
    raw[:512] = header
    with pytest.raises(UnpackError) as err:
        apply(tmp_path / "rootfs", bytes(raw))
    assert str(err.value) == "vol: unsupported entry type (V)"


def test_a_failed_removal_fails_the_layer(tmp_path, L, apply, monkeypatch):
    from types import SimpleNamespace

    from registry_image_resource.unpack import layers

    def refuse(path: str, *, dir_fd: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    base = L.tar([L.dir("d"), L.file("d/f", b"x")])
    monkeypatch.setattr(layers, "shutil", SimpleNamespace(rmtree=refuse))
    with pytest.raises(UnpackError) as err:
        apply(tmp_path / "rootfs", base, L.tar([L.whiteout("d"), L.file("after", b"a")]))
    assert str(err.value) == "remove d: Operation not permitted"
    assert not (tmp_path / "rootfs/after").exists()


def test_entry_for_the_root_itself_is_skipped(tmp_path, L, apply, snapshot):
    apply(tmp_path / "rootfs", L.tar([L.dir("./", 0o700), L.file("./f", b"f")]))
    assert (tmp_path / "rootfs").stat().st_mode & 0o777 == 0o755
    assert snapshot(tmp_path / "rootfs", owners=False, times=False) == [("f", "f", "0o644", "f")]


def test_file_under_a_path_component_that_is_a_file_fails(tmp_path, L, apply):
    with pytest.raises(UnpackError) as err:
        apply(tmp_path / "rootfs", L.tar([L.file("f", b"f"), L.file("f/g", b"g")]))
    assert str(err.value) == "f/g: Not a directory"


def test_path_with_unicode_and_odd_bytes(tmp_path, L, apply):
    apply(tmp_path / "rootfs", L.tar([L.file("naïve €.txt", b"u")]))
    assert (tmp_path / "rootfs" / "naïve €.txt").read_bytes() == b"u"


def test_streaming_reader_accepts_a_non_seekable_source(tmp_path, L):
    class OneByte:
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def read(self, size: int = -1) -> bytes:
            return self._data.read(1 if size != 0 else 0)

    root = tmp_path / "rootfs"
    with Rootfs(root) as rootfs:
        apply_blob(rootfs, OneByte(L.gzip([L.file("f", b"slow")])))
    assert Path(root, "f").read_bytes() == b"slow"


@pytest.mark.parametrize("fmt", ["gnu", "posix", "ustar"])
def test_same_tree_as_gnu_tar_for_archives_gnu_tar_wrote(tmp_path, apply, snapshot, fmt):
    import shutil
    import subprocess

    if shutil.which("tar") is None:
        pytest.fail("GNU tar is needed for this test")
    src = tmp_path / "src"
    (src / "dir" / ("long" * 30)).mkdir(parents=True)
    (src / "dir" / "file").write_bytes(b"content")
    (src / "dir" / ("long" * 30) / ("name" * 30)).write_bytes(b"deep")
    os.symlink("dir/file", src / "link")
    os.link(src / "dir" / "file", src / "hard")
    os.mkfifo(src / "fifo")
    os.chmod(src / "dir" / "file", 0o4751)
    os.utime(src / "dir" / "file", (1_500_000_000, 1_500_000_000))
    archive = tmp_path / "layer.tar"
    names = ["dir", "link", "hard", "fifo"] if fmt != "ustar" else ["dir/file", "link", "hard", "fifo"]
    subprocess.run(["tar", f"--format={fmt}", "-cf", archive, "-C", src, *names], check=True)
    expected = tmp_path / "expected"
    expected.mkdir()
    subprocess.run(["tar", "-xpf", archive, "-C", expected], check=True)
    apply(tmp_path / "rootfs", archive.read_bytes())
    ours, theirs = snapshot(tmp_path / "rootfs"), snapshot(expected)
    if fmt == "ustar":
        # "dir" is not in this archive: each side makes it at its own "now", which may fall in
        # different seconds.
        ours, theirs = ([row[:-1] if row[0] == "dir" else row for row in rows] for rows in (ours, theirs))
    assert ours == theirs


def test_whiteout_spares_what_the_same_layer_made(tmp_path, L, apply, snapshot):
    base = L.tar([L.file("x", b"lower"), L.dir("d"), L.file("d/old", b"o")])
    upper = L.tar([L.file("x", b"upper"), L.whiteout("x"), L.file("d/new", b"n"), L.whiteout("d")])
    apply(tmp_path / "rootfs", base, upper)
    assert snapshot(tmp_path / "rootfs", owners=False, times=False) == [
        ("d", "d", "0o755", ""),
        ("d/new", "f", "0o644", "n"),
        ("x", "f", "0o644", "upper"),
    ]


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_modes_do_not_depend_on_the_umask(tmp_path, L, apply, snapshot, umask):
    layer = L.tar(
        [
            L.file("rw", b"", 0o666),
            L.file("x", b"", 0o777),
            L.file("ro", b"", 0o444),
            L.file("s", b"", 0o6711),
        ]
    )
    previous = os.umask(umask)
    try:
        apply(tmp_path / "rootfs", layer)
    finally:
        os.umask(previous)
    assert [row[:3] for row in snapshot(tmp_path / "rootfs", owners=False, times=False)] == [
        ("ro", "f", "0o444"),
        ("rw", "f", "0o666"),
        ("s", "f", "0o6711"),
        ("x", "f", "0o777"),
    ]
