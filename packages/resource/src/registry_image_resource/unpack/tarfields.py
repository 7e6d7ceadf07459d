"""Numbers and PAX records of the tar format, parsed exactly as Go's ``archive/tar`` parses them.

A layer must read the same way here as in every Go tool (containerd, the Go resource, skopeo):
Python's ``int()`` accepts ``1_0``, ``+1``, inner whitespace and, on text, any Unicode digit,
so a ``size=1_0`` record that Go rejects would give a 10-byte file here and shift every later
header. This module owns those rules (Go's ``parseNumeric``/``parseOctal``, ``strconv.ParseInt``,
``parsePAXRecord``, ``parsePAXTime``) and the 1 MiB bound on a PAX header or GNU long name
(Go's ``maxSpecialFileSize``). It raises ``FieldError`` (a ``ValueError``); the reader adds the
entry's name. It must never touch the filesystem.
"""

from __future__ import annotations

MAX_SPECIAL = 1 << 20  # Go's maxSpecialFileSize: a PAX header or GNU long name/link
_INT64_MAX = (1 << 63) - 1
_INT64_MIN = -(1 << 63)
_NULS = b" \0"


class FieldError(ValueError):
    """A header field or PAX record that Go's archive/tar would refuse (``ErrHeader``)."""


def octal(field: bytes) -> int:
    """Go's ``parseOctal``: spaces and NULs trimmed at both ends, then ASCII octal digits only."""
    text = field.strip(_NULS)
    if not text:
        return 0
    # bytes.isdigit is ASCII-only: it refuses signs, '_' and inner spaces that int() would take.
    if not text.isdigit():
        raise FieldError(f"invalid octal number {field!r}")
    try:
        return int(text, 8)
    except ValueError:
        raise FieldError(f"invalid octal number {field!r}") from None


def numeric(field: bytes) -> int:
    """Go's ``parseNumeric``: base-256 (GNU/star) when the first byte's top bit is set, else octal."""
    if field and field[0] & 0x80:
        return _base256(field)
    return octal(field)


def _base256(field: bytes) -> int:
    invert = 0xFF if field[0] & 0x40 else 0
    value = 0
    for index, raw in enumerate(field):
        byte = (raw ^ invert) & (0x7F if index == 0 else 0xFF)
        if value >> 56:
            raise FieldError("base-256 number overflows 64 bits")
        value = value << 8 | byte
    if value >> 63:
        raise FieldError("base-256 number overflows 64 bits")
    return ~value if invert else value


def go_int(text: str) -> int:
    """Go's ``strconv.ParseInt(text, 10, 64)``: an optional sign, ASCII digits, int64 range."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not (digits.isascii() and digits.isdigit()):
        raise FieldError(f"invalid number {text!r}")
    value = int(text)
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise FieldError(f"number out of range {text!r}")
    return value


def pax_time_ns(text: str) -> int:
    """Go's ``parsePAXTime`` in nanoseconds: seconds as ParseInt, fraction digits cut to 9."""
    seconds, _, fraction = text.partition(".")
    whole = go_int(seconds)
    if not fraction:
        return whole * 1_000_000_000
    if not (fraction.isascii() and fraction.isdigit()):
        raise FieldError(f"invalid time {text!r}")
    nanos = int((fraction + "000000000")[:9])
    if seconds.startswith("-"):
        nanos = -nanos
    return whole * 1_000_000_000 + nanos


_NUL_CHECKED = frozenset({"path", "linkpath", "uname", "gname"})


def parse_pax(data: bytes) -> dict[str, str]:
    """The records of one PAX extended header, refused as Go's ``parsePAX`` refuses them."""
    if len(data) > MAX_SPECIAL:
        raise FieldError("PAX header larger than 1 MiB")
    records: dict[str, str] = {}
    rest = data
    while rest:
        space = rest.find(b" ")
        if space < 0:
            raise FieldError("PAX record without a length")
        length_text = rest[:space].decode("ascii", "replace")
        length = go_int(length_text)
        if length < 5 or length > len(rest):
            raise FieldError("PAX record length out of range")
        record = rest[space + 1 : length]
        if length - space - 1 <= 0 or not record.endswith(b"\n"):
            raise FieldError("PAX record not ended by a newline")
        key, equals, value = record[:-1].partition(b"=")
        if not equals or not key:
            raise FieldError("PAX record without a key")
        if b"\0" in (value if key.decode("utf-8", "surrogateescape") in _NUL_CHECKED else key):
            raise FieldError("PAX record with a NUL byte")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        rest = rest[length:]
    return records
