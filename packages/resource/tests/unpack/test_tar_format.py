"""The tar reader reads a layer as Go's archive/tar does (issue 14 item 10), through its read-ahead.

Numbers in headers and PAX records follow Go's parsers exactly (``1_0``, signs, spaces and
non-ASCII digits refused where Go refuses them), a PAX header is at most 1 MiB and replaces an
earlier one instead of merging with it, and the read-ahead buffer hands out the same bytes
whatever size the stream's reads come in.
"""

from __future__ import annotations

import io
import tarfile

import pytest

from registry_image_resource.errors import UnpackError
from registry_image_resource.unpack import tarfields
from registry_image_resource.unpack.tarstream import TarReader


def _header(
    name: str, *, size: int = 0, kind: bytes = tarfile.REGTYPE, fields: dict[int, bytes] | None = None
) -> bytes:
    """A ustar header with raw bytes put at given offsets, checksum fixed last."""
    info = tarfile.TarInfo(name)
    info.size, info.type, info.mtime = size, kind, 1_600_000_000
    block = bytearray(info.tobuf(format=tarfile.USTAR_FORMAT))
    for offset, raw in (fields or {}).items():
        block[offset : offset + len(raw)] = raw
    block[148:156] = b" " * 8
    block[148:156] = f"{sum(block):06o}\0 ".encode()
    return bytes(block)


def _pax_block(records: bytes) -> bytes:
    return (
        _header("PaxHeaders/x", size=len(records), kind=tarfile.XHDTYPE)
        + records
        + bytes(-len(records) % 512)
    )


def _record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode()
    length = len(body) + 1
    length += len(str(length)) - 1
    if len(str(length)) + len(body) != length:
        length += 1
    return str(length).encode() + body


def _entries(blob: bytes, chunk: int = 1 << 20) -> list[tuple[str, int, bytes]]:
    reader = TarReader(io.BytesIO(blob), chunk=chunk)
    return [(entry.name, entry.mtime_ns, reader.read(entry.size)) for entry in reader]


END = bytes(1024)


@pytest.mark.parametrize(
    "value",
    ["1_0", " 10", "10 ", "1 0", "\u0661\u0660", "\uff11\uff10", "0x10", "", "1e1"],
)
def test_pax_size_refused_as_go_refuses_it(value, L, apply, tmp_path):
    blob = _pax_block(_record("size", value)) + _header("f", size=10) + b"0123456789".ljust(512, b"\0") + END
    if value == "":
        # Go keeps the header's own value for an empty record.
        assert _entries(blob) == [("f", 1_600_000_000 * 10**9, b"0123456789")]
        return
    with pytest.raises(UnpackError) as err:
        apply(tmp_path / "rootfs", blob)
    assert str(err.value).startswith("f: invalid PAX header: ")
    assert not (tmp_path / "rootfs" / "f").exists()


def test_a_size_of_1_0_is_rejected_not_read_as_ten(L, apply, tmp_path):
    spec = L.file("f", b"0123456789", pax={"size": "1_0"})
    with pytest.raises(UnpackError) as err:
        apply(tmp_path / "rootfs", L.tar([spec]))
    assert str(err.value) == "f: invalid PAX header: invalid number '1_0'"


@pytest.mark.parametrize(
    ("text", "value"),
    [("10", 10), ("+10", 10), ("-3", -3), ("0009", 9), (str(2**63 - 1), 2**63 - 1)],
)
def test_pax_integers_as_strconv_parseint(text, value):
    assert tarfields.go_int(text) == value


@pytest.mark.parametrize("text", ["1_0", "", "+", "--1", " 1", "1 ", "\u0661", str(2**63), "0x1"])
def test_pax_integers_go_refuses(text):
    with pytest.raises(tarfields.FieldError):
        tarfields.go_int(text)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1600000000", 1_600_000_000 * 10**9),
        ("1600000000.25", 1_600_000_000 * 10**9 + 250_000_000),
        ("1.1234567899", 1_123_456_789),
        ("-1.5", -1_500_000_000),
        ("1.", 10**9),
    ],
)
def test_pax_times_as_go(text, ns):
    assert tarfields.pax_time_ns(text) == ns


@pytest.mark.parametrize("text", [".5", "1.5x", "1.-5", "1_0.5", "1.\u0665"])
def test_pax_times_go_refuses(text):
    with pytest.raises(tarfields.FieldError):
        tarfields.pax_time_ns(text)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (b"0000644\0", 0o644),
        (b"  644 \0\0", 0o644),
        (b"\0\0\0\0\0\0\0\0", 0),
        (b"\x80\0\0\0\0\0\0\x10", 16),  # base-256
        (b"\xff\xff\xff\xff\xff\xff\xff\xfe", -2),  # base-256, negative
    ],
)
def test_header_numbers_as_go(field, value):
    assert tarfields.numeric(field) == value


@pytest.mark.parametrize(
    "field",
    [
        b"1_0\0\0\0\0\0",
        b"6 44\0\0\0\0",
        b"+644\0\0\0\0",
        b"0008\0\0\0\0",
        b"\x80\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
    ],
)
def test_header_numbers_go_refuses(field):
    with pytest.raises(tarfields.FieldError):
        tarfields.numeric(field)


def test_header_size_1_0_is_an_invalid_header(apply, tmp_path):
    blob = _header("first") + _header("f", fields={124: b"0000000001_0"}) + END
    with pytest.raises(UnpackError) as err:
        apply(tmp_path / "rootfs", blob)
    assert str(err.value) == "invalid tar header after 'first': invalid octal number b'0000000001_0'"


def test_base256_size_and_negative_size(apply, tmp_path):
    big = (
        _header("f", fields={124: b"\x80" + (10).to_bytes(11, "big")}) + b"0123456789".ljust(512, b"\0") + END
    )
    assert _entries(big) == [("f", 1_600_000_000 * 10**9, b"0123456789")]
    negative = _header("g", fields={124: b"\xff" * 12}) + END
    with pytest.raises(UnpackError) as err:
        apply(tmp_path / "rootfs", negative)
    assert str(err.value) == "g: negative size"


def test_signed_checksum_is_accepted():
    block = bytearray(_header("caf\xe9"))
    block[148:156] = b" " * 8
    signed = sum(b - 256 if b > 127 else b for b in block)
    block[148:156] = f"{signed:06o}\0 ".encode()
    assert [e.name for e in TarReader(io.BytesIO(bytes(block) + END))] == ["caf\xe9"]


def test_a_later_pax_header_replaces_an_earlier_one():
    blob = (
        _pax_block(_record("path", "from-first") + _record("mtime", "5"))
        + _pax_block(_record("mtime", "7"))
        + _header("own-name")
        + END
    )
    assert _entries(blob) == [("own-name", 7 * 10**9, b"")]


def test_pax_records_refused_as_go(apply, tmp_path):
    for records in (
        b"9 a=b\n",
        b"5 a=\n\0\0\0",
        b"6 =bc\n",
        b"6 abc\n",
        b"+6 a=b\n",
        b"0x6 a=b\n",
        b"7 path=\0\n",
    ):
        with pytest.raises(UnpackError) as err:
            apply(tmp_path / "rootfs", _pax_block(records) + _header("f") + END)
        assert str(err.value).startswith("invalid PAX header 'PaxHeaders/x': "), records


class _Counting(io.RawIOBase):
    """An endless-looking stream of ``head`` then zeros, counting what is read from it."""

    def __init__(self, head: bytes, total: int) -> None:
        self.head, self.total, self.read_bytes = head, total, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        count = min(len(buffer), self.total - self.read_bytes)
        start = self.read_bytes
        piece = self.head[start : start + count]
        buffer[: len(piece)] = piece
        buffer[len(piece) : count] = bytes(count - len(piece))
        self.read_bytes += count
        return count


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME])
def test_a_huge_extension_header_is_refused_before_it_is_read(kind):
    size = 4 << 20
    stream = _Counting(_header("PaxHeaders/big", size=size, kind=kind), 4 * (size + 512))
    with pytest.raises(UnpackError) as err:
        list(TarReader(stream))
    assert "larger than 1 MiB (4194304 bytes)" in str(err.value)
    assert stream.read_bytes <= 1 << 20  # one read-ahead, not the 4 MiB payload


def test_pax_header_of_exactly_1_mib_is_read():
    filler = _record("comment", "x" * ((1 << 20) - 20))
    filler = _record("comment", "x" * ((1 << 20) - 20 - (len(filler) - (1 << 20))))
    assert len(filler) == 1 << 20
    assert _entries(_pax_block(filler) + _header("f") + END) == [("f", 1_600_000_000 * 10**9, b"")]


class _Trickle(io.RawIOBase):
    """Hands out at most ``step`` bytes per read, to cross every buffer boundary."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.pos = data, step, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        piece = self.data[self.pos : self.pos + min(self.step, len(buffer))]
        buffer[: len(piece)] = piece
        self.pos += len(piece)
        return len(piece)


@pytest.mark.parametrize(("chunk", "step"), [(1024, 1), (1024, 700), (1536, 4096), (1 << 20, 1 << 20)])
def test_read_ahead_gives_the_same_entries_whatever_the_read_sizes(L, chunk, step):
    specs = [L.file(f"d/f{i}", bytes([i]) * (i * 97 % 3000)) for i in range(40)]
    specs.append(L.file("long/" + "n" * 200, b"tail", pax={"mtime": "3.5"}))
    blob = L.tar(specs)
    expected = [(s.name, int(s.mtime) * 10**9 if not s.pax else 3_500_000_000, s.data) for s in specs]
    reader = TarReader(_Trickle(blob, step), chunk=chunk)
    got = []
    for entry in reader:
        pieces = []
        while piece := reader.chunk():
            pieces.append(bytes(piece))
        got.append((entry.name, entry.mtime_ns, b"".join(pieces)))
    assert got == expected


def test_unread_data_is_skipped_and_readinto_copies(L):
    blob = L.tar([L.file("a", b"A" * 5000), L.file("b", b"B" * 10)])
    reader = TarReader(_Trickle(blob, 333), chunk=1024)
    first = next(reader)
    view = memoryview(bytearray(100))
    assert reader.readinto(view) == 100
    assert bytes(view) == b"A" * 100
    assert first.name == "a"
    second = next(reader)
    assert (second.name, reader.read(100)) == ("b", b"B" * 10)
    assert list(reader) == []


def test_truncated_data_is_an_error_through_chunk(L):
    blob = L.tar([L.file("a", b"A" * 5000)])[:2048]
    reader = TarReader(io.BytesIO(blob), chunk=1024)
    next(reader)
    assert [len(reader.chunk()), len(reader.chunk())] == [512, 1024]
    with pytest.raises(UnpackError) as err:
        reader.chunk()
    assert str(err.value) == "unexpected end of layer (truncated tar stream)"
