"""The child process that decompresses and parses a layer (``reader_process``): its frames, and
the failures only it can have. Every layer test in this folder also runs through it (the
``apply`` fixture's ``child-process`` case), so trees, hostile entries and error lines are
covered there.
"""

from __future__ import annotations

import io
import logging
import marshal
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from registry_image_resource.errors import TransportError, UnpackError
from registry_image_resource.unpack import Rootfs, apply_blob
from registry_image_resource.unpack.reader_process import _CHILD, ChildEntries

MIB = 1 << 20


def frames(output: bytes) -> list[tuple[bytes, bytes]]:
    """The child's stdout cut into (kind, payload) frames."""
    found = []
    while output:
        kind, length = struct.unpack_from("<cI", output)
        found.append((kind, output[5 : 5 + length]))
        output = output[5 + length :]
    return found


def child_output(blob: bytes) -> list[tuple[bytes, bytes]]:
    done = subprocess.run([sys.executable, "-P", "-c", _CHILD], input=blob, capture_output=True, check=True)
    return frames(done.stdout)


def fake_child(code: str) -> list[str]:
    """A command that plays the child: ``code`` runs with ``os``, ``struct`` and ``marshal``."""
    return [sys.executable, "-c", f"import os, struct, marshal, time\n{code}"]


def apply_with(root: Path, command: list[str], blob: bytes = b"") -> None:
    with Rootfs(root) as rootfs, ChildEntries(io.BytesIO(blob), command=command) as entries:
        rootfs.apply_entries(entries)


def test_small_files_travel_inline_in_one_entries_frame(L):
    blob = L.gzip([L.dir("d"), L.file("d/a", b"alpha"), L.file("d/b", b"")])
    [(kind, payload), end] = child_output(blob)
    entries, data = marshal.loads(payload)
    assert kind == b"E"
    assert [(e[0], e[1], e[5]) for e in entries] == [("d/", b"5", 0), ("d/a", b"0", 5), ("d/b", b"0", 0)]
    assert data == [b"", b"alpha", b""]
    assert end == (b"Z", b"")


def test_a_large_file_follows_its_entry_in_data_frames_of_at_most_1_mib(L):
    content = os.urandom(2 * MIB + 17)
    kinds = child_output(L.tar([L.file("big", content)]))
    (_, first), *data_frames, end = kinds
    assert marshal.loads(first)[1] == [None]
    assert [kind for kind, _ in data_frames] == [b"D"] * len(data_frames)
    assert max(len(payload) for _, payload in data_frames) <= MIB
    assert b"".join(payload for _, payload in data_frames) == content
    assert end == (b"Z", b"")


def test_a_parse_error_is_sent_after_the_entries_before_it(L):
    blob = bytearray(L.tar([L.file("a", b"1"), L.file("b", b"2")]))
    blob[1024:1028] = b"\xff\xff\xff\xff"  # b's header
    [(first, payload), error] = child_output(bytes(blob))
    assert (first, marshal.loads(payload)[1]) == (b"E", [b"1"])
    assert error == (b"X", b"invalid tar header after 'a': bad checksum")


@pytest.mark.parametrize("separate", [False, True], ids=["in-process", "child-process"])
def test_entries_before_a_broken_header_are_applied(tmp_path, L, separate):
    blob = bytearray(L.tar([L.file("a", b"1"), L.file("b", b"2")]))
    blob[1024:1028] = b"\xff\xff\xff\xff"
    with Rootfs(tmp_path / "rootfs") as rootfs, pytest.raises(UnpackError) as err:
        apply_blob(rootfs, io.BytesIO(bytes(blob)), separate=separate)
    assert str(err.value) == "invalid tar header after 'a': bad checksum"
    assert os.listdir(tmp_path / "rootfs") == ["a"]


class FailingDownload:
    """The first part of a blob, then the download's own error (as ``downloads.Tail`` raises it)."""

    def __init__(self, blob: bytes) -> None:
        self._blob = io.BytesIO(blob)

    def read(self, size: int = -1) -> bytes:
        data = self._blob.read(min(size, 4096))
        if not data:
            raise TransportError("blob sha256:abc: connection reset")
        return data


@pytest.mark.parametrize("separate", [False, True], ids=["in-process", "child-process"])
def test_a_failed_download_is_raised_as_it_is_not_as_a_cut_stream(tmp_path, L, separate):
    blob = L.gzip([L.file(f"f{n}", os.urandom(1000)) for n in range(100)])
    with Rootfs(tmp_path / "rootfs") as rootfs, pytest.raises(TransportError) as err:
        apply_blob(rootfs, FailingDownload(blob[: len(blob) // 2]), separate=separate)
    assert str(err.value) == "blob sha256:abc: connection reset"


def test_the_child_imports_nothing_from_the_working_directory(tmp_path, L, monkeypatch):
    (tmp_path / "isal.py").write_text("raise SystemExit('imported from the working directory')\n")
    monkeypatch.chdir(tmp_path)
    with Rootfs(tmp_path / "rootfs") as rootfs:
        apply_blob(rootfs, io.BytesIO(L.gzip([L.file("f", b"gzip")])), separate=True)
    assert (tmp_path / "rootfs/f").read_bytes() == b"gzip"


def test_a_child_that_dies_is_a_one_line_error(tmp_path):
    with pytest.raises(UnpackError) as err:
        apply_with(tmp_path / "rootfs", fake_child("os._exit(3)"))
    assert str(err.value) == "layer reader process failed (exit status 3)"


_TRACEBACK = 'Traceback (most recent call last):\n  File "<child>", line 1\nValueError: boom\n'


def test_a_child_traceback_stays_out_of_the_build_log(tmp_path, capfd):
    code = f"import sys; sys.stderr.write({_TRACEBACK!r}); sys.stderr.flush(); os._exit(1)"
    with pytest.raises(UnpackError) as err:
        apply_with(tmp_path / "rootfs", fake_child(code))
    assert str(err.value) == "layer reader process failed (exit status 1)"
    assert capfd.readouterr().err == ""


def test_a_failed_child_s_stderr_is_logged_at_debug(tmp_path, caplog):
    code = f"import sys; sys.stderr.write({_TRACEBACK!r}); sys.stderr.flush(); os._exit(1)"
    with caplog.at_level(logging.DEBUG, logger="registry_image_resource"), pytest.raises(UnpackError):
        apply_with(tmp_path / "rootfs", fake_child(code))
    assert caplog.messages == ["layer reader process stderr (its last 4096 bytes):\n" + _TRACEBACK.rstrip()]


def test_an_oversized_frame_is_refused_and_the_child_killed(tmp_path):
    code = "os.write(1, struct.pack('<cI', b'E', 1 << 31)); time.sleep(60)"
    with (
        Rootfs(tmp_path / "rootfs") as rootfs,
        ChildEntries(io.BytesIO(b""), command=fake_child(code)) as entries,
    ):
        with pytest.raises(UnpackError) as err:
            rootfs.apply_entries(entries)
        assert entries._process is not None
        assert entries._process.wait(timeout=10) == -9
    assert str(err.value) == "layer reader process failed (frame of 2147483648 bytes)"


def test_inline_data_not_matching_the_entry_size_is_refused(tmp_path):
    entry = ("f", b"0", 0o644, 0, 0, 5, 0, None, "")
    payload = "marshal.dumps(([" + repr(entry) + "], [b'abc']))"
    code = f"p = {payload}; os.write(1, struct.pack('<cI', b'E', len(p)) + p); time.sleep(60)"
    with pytest.raises(UnpackError) as err:
        apply_with(tmp_path / "rootfs", fake_child(code))
    assert str(err.value) == "layer reader process failed (3 bytes of data for 5)"
    assert os.listdir(tmp_path / "rootfs") == []
