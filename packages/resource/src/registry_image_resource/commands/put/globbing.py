"""Go's ``filepath.Join``, ``filepath.Clean``, ``filepath.Match`` and ``filepath.Glob``, for put's params.

The Go resource joins ``params.image`` and ``params.additional_tags`` under the put's source
directory with ``filepath.Join`` and expands the image with ``filepath.Glob`` (SPEC B.5.3, B.5.4).
Users' pipelines depend on the details (``*`` matches leading dots but never crosses ``/``; ``\\``
escapes; no ``**``; an absolute value still lands under the source directory), which neither
``glob`` nor ``fnmatch`` reproduce, so this module ports the Go algorithm. It owns pattern syntax
and directory listing only; it must never open or interpret the files it finds.
"""

from __future__ import annotations

import os

__all__ = ["BadPatternError", "find_image", "go_clean", "go_glob", "go_join", "go_match"]


class BadPatternError(ValueError):
    """Go's ``filepath.ErrBadPattern``; ``str()`` is Go's text."""

    def __init__(self) -> None:
        super().__init__("syntax error in pattern")


def go_clean(path: str) -> str:
    """Go's ``filepath.Clean`` on Unix: lexical, no file system access."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def go_join(*elements: str) -> str:
    """Go's ``filepath.Join``: empty elements dropped, the rest joined by ``/`` and cleaned.

    An absolute later element does not reset the path as ``os.path.join`` would:
    ``go_join("/src", "/x")`` is ``/src/x``.
    """
    kept = [e for e in elements if e != ""]
    if not kept:
        return ""
    return go_clean("/".join(kept))


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    """Split off the next run of stars and the non-star chunk after it."""
    star = False
    while pattern.startswith("*"):
        pattern = pattern[1:]
        star = True
    in_range = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if i + 1 < len(pattern):
                i += 1
        elif char == "[":
            in_range = True
        elif char == "]":
            in_range = False
        elif char == "*" and not in_range:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _get_esc(chunk: str) -> tuple[str, str]:
    """One possibly escaped character of a character class, and the rest of the chunk."""
    if chunk == "" or chunk[0] in "-]":
        raise BadPatternError
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if chunk == "":
            raise BadPatternError
    char, rest = chunk[0], chunk[1:]
    if rest == "":
        raise BadPatternError
    return char, rest


def _match_chunk(chunk: str, name: str) -> tuple[str, bool]:
    """Match ``chunk`` against the start of ``name``: (rest of name, matched).

    Once the match has failed the chunk is still read to the end, so that a malformed pattern is
    reported whatever the name.
    """
    failed = False
    while chunk:
        if not failed and name == "":
            failed = True
        head = chunk[0]
        if head == "[":
            char = ""
            if not failed:
                char, name = name[0], name[1:]
            chunk = chunk[1:]
            negated = False
            if chunk.startswith("^"):
                negated = True
                chunk = chunk[1:]
            matched = False
            ranges = 0
            while True:
                if chunk.startswith("]") and ranges > 0:
                    chunk = chunk[1:]
                    break
                low, chunk = _get_esc(chunk)
                high = low
                if chunk[0] == "-":
                    high, chunk = _get_esc(chunk[1:])
                if not failed and low <= char <= high:
                    matched = True
                ranges += 1
            if matched == negated:
                failed = True
        elif head == "?":
            if not failed:
                if name[0] == "/":
                    failed = True
                name = name[1:]
            chunk = chunk[1:]
        else:
            if head == "\\":
                chunk = chunk[1:]
                if chunk == "":
                    raise BadPatternError
            if not failed:
                if chunk[0] != name[0]:
                    failed = True
                name = name[1:]
            chunk = chunk[1:]
    if failed:
        return "", False
    return name, True


def go_match(pattern: str, name: str) -> bool:
    """Go's ``filepath.Match``: does ``name`` match all of ``pattern``? Raises ``BadPatternError``."""
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and chunk == "":
            # A trailing star matches the rest of the name unless it holds a separator.
            return "/" not in name
        rest, ok = _match_chunk(chunk, name)
        # The last chunk must consume the whole name, else a star may still make it match.
        if ok and (rest == "" or pattern):
            name = rest
            continue
        if star:
            found = False
            i = 0
            while i < len(name) and name[i] != "/":
                rest, ok = _match_chunk(chunk, name[i + 1 :])
                if ok:
                    if pattern == "" and rest != "":
                        i += 1
                        continue
                    name = rest
                    found = True
                    break
                i += 1
            if found:
                continue
        # No match: the rest of the pattern must still be well formed.
        while pattern:
            _, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "")
        return False
    return name == ""


def _has_meta(path: str) -> bool:
    return any(char in path for char in "*?[\\")


def _glob_dir(directory: str, pattern: str, matches: list[str]) -> None:
    """Append the names in ``directory`` matching ``pattern``, sorted; I/O errors are ignored as in Go."""
    try:
        if not os.path.isdir(directory):
            return
        names = sorted(os.listdir(directory))
    except OSError:
        return
    for name in names:
        if go_match(pattern, name):
            matches.append(go_join(directory, name))


def _clean_glob_path(path: str) -> str:
    if path == "":
        return "."
    if path == "/":
        return path
    return path[:-1]


def go_glob(pattern: str, _depth: int = 0) -> list[str]:
    """Go's ``filepath.Glob``: the paths matching ``pattern``; raises ``BadPatternError``.

    Without metacharacters the pattern matches itself iff ``lstat`` succeeds (a dangling
    symlink counts). Each directory level is listed and sorted, so results are in byte order
    per level.
    """
    if _depth > 10000:
        raise BadPatternError
    go_match(pattern, "")  # well-formedness of the whole pattern
    if not _has_meta(pattern):
        try:
            os.lstat(pattern)
        except (OSError, ValueError):
            return []
        return [pattern]
    cut = pattern.rfind("/") + 1
    directory, file_pattern = pattern[:cut], pattern[cut:]
    directory = _clean_glob_path(directory)
    matches: list[str] = []
    if not _has_meta(directory):
        _glob_dir(directory, file_pattern, matches)
        return matches
    if directory == pattern:
        raise BadPatternError
    for parent in go_glob(directory, _depth + 1):
        _glob_dir(parent, file_pattern, matches)
    return matches


def find_image(src: str, image: str) -> str:
    """The one path ``params.image`` names under ``src`` (SPEC B.5.4), or the Go resource's error."""
    from registry_image_resource.errors import InputError, RequestError

    pattern = go_join(src, image)
    try:
        matches = go_glob(pattern)
    except BadPatternError as err:
        raise RequestError(f"failed to glob path '{image}': {err}") from None
    if not matches:
        raise InputError(f"no files match glob '{image}'")
    if len(matches) > 1:
        raise InputError(f"too many files/directories match glob '{image}': [{' '.join(matches)}]")
    return matches[0]
