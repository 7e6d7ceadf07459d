"""Hostile layers: no entry may create, change, link to or delete anything outside the rootfs.

Each case unpacks into ``sandbox/dest/rootfs`` next to ``sandbox/outside`` (a file, a directory
and a symlink) and proves, with an exact snapshot including inodes and ctimes, that nothing
outside ``dest`` changed, then checks where the entry landed inside the rootfs instead.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from registry_image_resource.errors import UnpackError


@pytest.fixture
def sandbox(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    os.chmod(outside / "secret", 0o600)
    (outside / "dir").mkdir(mode=0o700)
    (outside / "dir" / "inner").write_bytes(b"inner")
    (tmp_path / "dest").mkdir()
    return tmp_path


def state(sandbox: Path, snapshot) -> list[object]:
    """Everything outside dest/: the sandbox's own entries and the whole outside tree, exactly."""
    # dest/ itself changes (rootfs/ appears in it); only its identity and mode must not.
    top = sorted((p.name, p.lstat().st_ino, p.lstat().st_mode) for p in sandbox.iterdir())
    info = (sandbox / "outside").lstat()
    return [
        top,
        (info.st_mode, info.st_mtime_ns, info.st_ctime_ns),
        snapshot(sandbox / "outside", exact=True),
    ]


def run(sandbox: Path, apply, snapshot, *layers: bytes) -> Path:
    """Apply ``layers``; assert nothing outside dest changed; return the rootfs path."""
    before = state(sandbox, snapshot)
    rootfs = sandbox / "dest" / "rootfs"
    try:
        apply(rootfs, *layers)
    finally:
        assert state(sandbox, snapshot) == before
    return rootfs


def files(root: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = "-> " + os.readlink(path)
            elif path.is_dir():
                found[rel] = "dir"
            elif stat.S_ISFIFO(path.lstat().st_mode):
                found[rel] = "fifo"
            else:
                found[rel] = path.read_bytes().decode()
    return found


@pytest.mark.parametrize(
    "name",
    ["../x", "../../x", "../../../../../../x", "a/../../x", "./../x", "/x", "//x", "/../x", "a/../../../x"],
)
def test_dotdot_and_absolute_names_land_inside(sandbox, L, apply, snapshot, name):
    rootfs = run(sandbox, apply, snapshot, L.tar([L.file(name, b"pwned")]))
    assert files(rootfs) == {"x": "pwned"}


def test_dotdot_towards_the_real_outside_lands_in_the_rootfs(sandbox, L, apply, snapshot):
    rootfs = run(sandbox, apply, snapshot, L.tar([L.file("../../outside/secret", b"pwned")]))
    assert files(rootfs) == {"outside": "dir", "outside/secret": "pwned"}


def test_pax_path_with_dotdot(sandbox, L, apply, snapshot):
    spec = L.file("harmless", b"pwned", pax={"path": "../../outside/secret"})
    rootfs = run(sandbox, apply, snapshot, L.tar([spec]))
    assert files(rootfs) == {"outside": "dir", "outside/secret": "pwned"}


def test_relative_symlinked_parent_is_resolved_inside(sandbox, L, apply, snapshot):
    layer = L.tar([L.symlink("etc", "../../outside"), L.file("etc/secret", b"pwned")])
    rootfs = run(sandbox, apply, snapshot, layer)
    assert files(rootfs) == {"etc": "-> ../../outside", "outside": "dir", "outside/secret": "pwned"}


def test_absolute_symlinked_parent_to_the_real_outside_is_resolved_inside(sandbox, L, apply, snapshot):
    outside = str(sandbox / "outside")
    layer = L.tar([L.symlink("etc", outside), L.file("etc/secret", b"pwned"), L.dir("etc/dir", 0o777)])
    rootfs = run(sandbox, apply, snapshot, layer)
    assert (rootfs / outside.lstrip("/") / "secret").read_bytes() == b"pwned"
    assert (rootfs / outside.lstrip("/") / "dir").is_dir()


def test_symlink_made_in_an_earlier_layer_is_resolved_inside(sandbox, L, apply, snapshot):
    outside = str(sandbox / "outside")
    rootfs = run(
        sandbox,
        apply,
        snapshot,
        L.tar([L.symlink("etc", outside)]),
        L.tar([L.file("etc/secret", b"pwned")]),
    )
    assert (rootfs / outside.lstrip("/") / "secret").read_bytes() == b"pwned"


def test_symlink_chain_is_resolved_inside(sandbox, L, apply, snapshot):
    layer = L.tar(
        [
            L.dir("a"),
            L.symlink("a/one", "../two"),
            L.symlink("two", "three/.."),
            L.dir("three"),
            L.symlink("three/up", "../../../../.."),
            L.symlink("four", "a/one/three/up/outside"),
            L.file("four/secret", b"pwned"),
        ]
    )
    rootfs = run(sandbox, apply, snapshot, layer)
    assert files(rootfs)["outside/secret"] == "pwned"


def test_symlink_to_root_used_as_parent(sandbox, L, apply, snapshot):
    outside = str(sandbox / "outside")
    layer = L.tar(
        [L.symlink("root", "/"), L.file(f"root{outside}/secret", b"pwned"), L.file("root/top", b"t")]
    )
    rootfs = run(sandbox, apply, snapshot, layer)
    assert (rootfs / outside.lstrip("/") / "secret").read_bytes() == b"pwned"
    assert (rootfs / "top").read_bytes() == b"t"


def test_symlink_loop_is_an_error(sandbox, L, apply, snapshot):
    layer = L.tar([L.symlink("a", "b"), L.symlink("b", "a"), L.file("a/x", b"x")])
    with pytest.raises(UnpackError) as err:
        run(sandbox, apply, snapshot, layer)
    assert str(err.value) == "a/x: Too many levels of symbolic links"


@pytest.mark.parametrize(
    "target", ["../outside/secret", "../../outside/secret", "a/../../x", "../../../../etc/passwd"]
)
def test_hard_link_pointing_outside_is_an_error(sandbox, L, apply, snapshot, target):
    with pytest.raises(UnpackError) as err:
        run(sandbox, apply, snapshot, L.tar([L.hardlink("stolen", target)]))
    assert str(err.value) == f"entry 'stolen' links outside of target directory: {target}"


def test_hard_link_with_absolute_host_path_stays_inside(sandbox, L, apply, snapshot):
    target = str(sandbox / "outside" / "secret")
    with pytest.raises(UnpackError) as err:
        run(sandbox, apply, snapshot, L.tar([L.hardlink("stolen", target)]))
    assert str(err.value) == f"entry 'stolen' links to a missing file: {target}"


def test_hard_link_through_a_symlinked_parent_stays_inside(sandbox, L, apply, snapshot):
    outside = str(sandbox / "outside")
    layer = L.tar([L.symlink("lnk", outside), L.hardlink("stolen", "lnk/secret")])
    with pytest.raises(UnpackError) as err:
        run(sandbox, apply, snapshot, layer)
    assert str(err.value) == "entry 'stolen' links to a missing file: lnk/secret"


def test_hard_link_to_a_symlink_links_the_symlink_itself(sandbox, L, apply, snapshot):
    outside = str(sandbox / "outside" / "secret")
    layer = L.tar([L.symlink("lnk", outside), L.hardlink("hl", "lnk"), L.file("hl", b"overwrite")])
    rootfs = run(sandbox, apply, snapshot, layer)
    assert files(rootfs) == {"lnk": f"-> {outside}", "hl": "overwrite"}


@pytest.mark.parametrize(
    "name", ["../.wh.secret", "../../outside/.wh.secret", "../../.wh.outside", "/../.wh.dest"]
)
def test_whiteout_with_dotdot_removes_nothing_outside(sandbox, L, apply, snapshot, name):
    rootfs = run(sandbox, apply, snapshot, L.tar([L.file("keep", b"k")]), L.tar([L.file(name)]))
    assert files(rootfs) == {"keep": "k"}


def test_whiteout_through_a_symlinked_parent_removes_nothing_outside(sandbox, L, apply, snapshot):
    outside = str(sandbox / "outside")
    layer = L.tar([L.symlink("lnk", outside), L.whiteout("lnk/secret"), L.whiteout("lnk/dir")])
    rootfs = run(sandbox, apply, snapshot, layer)
    assert files(rootfs) == {"lnk": f"-> {outside}"}


def test_whiteout_of_a_symlink_to_outside_removes_only_the_link(sandbox, L, apply, snapshot):
    outside = str(sandbox / "outside")
    rootfs = run(sandbox, apply, snapshot, L.tar([L.symlink("lnk", outside)]), L.tar([L.whiteout("lnk")]))
    assert files(rootfs) == {}


def test_opaque_whiteout_through_a_symlink_clears_nothing_outside(sandbox, L, apply, snapshot):
    outside = str(sandbox / "outside")
    layer = L.tar([L.symlink("lnk", outside), L.opaque("lnk"), L.symlink("up", "../.."), L.opaque("up")])
    rootfs = run(sandbox, apply, snapshot, layer)
    assert files(rootfs)["lnk"] == f"-> {outside}"


def test_opaque_whiteout_at_dotdot_clears_only_the_rootfs(sandbox, L, apply, snapshot):
    rootfs = run(
        sandbox,
        apply,
        snapshot,
        L.tar([L.file("old", b"o")]),
        L.tar([L.opaque("../.."), L.file("new", b"n")]),
    )
    assert files(rootfs) == {"new": "n"}


def test_invalid_whiteout_names_are_errors(sandbox, L, apply, snapshot):
    with pytest.raises(UnpackError) as err:
        run(sandbox, apply, snapshot, L.tar([L.file("a/.wh..")]))
    assert str(err.value) == "a/.wh..: invalid whiteout entry"


@pytest.mark.parametrize("kind", ["file", "dir", "fifo", "hardlink", "symlink"])
def test_entry_over_a_symlink_to_outside_replaces_the_link(sandbox, L, apply, snapshot, kind):
    target = str(sandbox / "outside" / ("dir" if kind == "dir" else "secret"))
    replacement, expected = {
        "file": (L.file("victim", b"pwned", 0o777), "pwned"),
        "dir": (L.dir("victim", 0o777), "dir"),
        "fifo": (L.fifo("victim", 0o666), "fifo"),
        "hardlink": (L.hardlink("victim", "other"), "o"),
        "symlink": (L.symlink("victim", "elsewhere"), "-> elsewhere"),
    }[kind]
    layer = L.tar([L.file("other", b"o"), L.symlink("victim", target), replacement])
    rootfs = run(sandbox, apply, snapshot, layer)
    assert files(rootfs) == {"other": "o", "victim": expected}


def test_root_entry_of_any_type_never_replaces_the_rootfs(sandbox, L, apply, snapshot):
    outside = str(sandbox / "outside")
    layer = L.tar([L.symlink(".", outside), L.symlink("./", outside), L.file("/", b"x"), L.file("f", b"f")])
    rootfs = run(sandbox, apply, snapshot, layer)
    assert not rootfs.is_symlink()
    assert files(rootfs) == {"f": "f"}


def test_symlink_is_stored_verbatim_and_never_followed_by_later_metadata(sandbox, L, apply, snapshot):
    outside = str(sandbox / "outside" / "secret")
    # A directory entry with the link's name in a later layer must not chmod/chown the target.
    rootfs = run(
        sandbox,
        apply,
        snapshot,
        L.tar([L.symlink("s", outside, mtime=1)]),
        L.tar([L.symlink("s", outside, mtime=2, uid=123)]),
    )
    assert os.readlink(rootfs / "s") == outside
    assert (rootfs / "s").lstat().st_mtime == 2
