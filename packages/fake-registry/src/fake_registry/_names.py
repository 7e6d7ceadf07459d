"""Names the registry accepts: repositories, tags and digests (distribution's grammar).

Owns validation only. Everything that reaches storage went through here, so a repository name
can never be used to escape the storage root (no component starts with a dot or underscore).
"""

from __future__ import annotations

import hashlib
import re

from fake_registry._errors import RegistryError

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DIGEST_RE = re.compile(r"(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})")
NAME_MAX = 255

HASHES = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}


def valid_name(name: str) -> bool:
    return len(name) <= NAME_MAX and NAME_RE.fullmatch(name) is not None


def check_name(name: str) -> str:
    if not valid_name(name):
        raise RegistryError("NAME_INVALID", {"name": name})
    return name


def check_digest(digest: str) -> str:
    if DIGEST_RE.fullmatch(digest) is None:
        raise RegistryError("DIGEST_INVALID", {}, has_detail=True)
    return digest


def check_tag(tag: str) -> str:
    if TAG_RE.fullmatch(tag) is None:
        raise RegistryError("TAG_INVALID", {"Tag": tag})
    return tag


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{HASHES[algorithm](data).hexdigest()}"
