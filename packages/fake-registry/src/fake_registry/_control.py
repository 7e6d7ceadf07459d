"""The control API: the fake registry driven over HTTP, for test suites in any language.

Off by default; ``FakeRegistry(control=True)`` or ``serve --control`` answers requests under
:data:`CONTROL_PREFIX` (``/_fake/``, a prefix no repository name can take, since a component
never starts with ``_``). Routes, all JSON:

- ``GET /_fake/faults``: the rules, in matching order, with ``id``, ``hits`` and ``remaining``;
  ``POST /_fake/faults``: add one rule (or a list), :meth:`Fault.from_json`'s fields;
  ``DELETE /_fake/faults``: clear them; ``DELETE /_fake/faults/ID``: drop one.
- ``POST /_fake/images``, ``POST /_fake/indexes``: seed an image or index from a JSON description
  of its files (:func:`image_from_json`), answered with its digests.
- ``GET /_fake/requests`` (``?method=&path=`` filter like ``RequestLog.find``): the request log and
  its one-line summary; ``DELETE /_fake/requests``: clear it.
- ``POST /_fake/reset``: forget content, faults and the request log, as the pytest fixture does.

Owns the wire format only: faults are :class:`Fault` rules added to the same :class:`Faults` the
Python API fills, and seeding calls ``FakeRegistry.push_image``/``push_index``, so nothing here is
a second implementation. Control requests never get faults, auth or a place in the request log.
Must never be reachable unless asked for: it lets any client rewrite the registry.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from fake_registry._app import Request, Response, json_response
from fake_registry._errors import RegistryError
from fake_registry._faults import Fault
from fake_registry._image import (
    Device,
    Dir,
    Entry,
    Fifo,
    File,
    Format,
    Hardlink,
    Image,
    ImageConfig,
    Index,
    OpaqueWhiteout,
    Symlink,
    Whiteout,
    build_image,
    parse_platform,
)

if TYPE_CHECKING:
    from fake_registry._registry import FakeRegistry

CONTROL_PREFIX = "/_fake/"
MAX_CONTROL_BODY = 64 << 20  # a seed carries its files (base64 in JSON); tests seed small images


class ControlError(Exception):
    """A control request the API refuses: answered ``{"error": message}`` with ``status``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class ControlAPI:
    """The ``/_fake/`` routes of one :class:`FakeRegistry`."""

    def __init__(self, registry: FakeRegistry) -> None:
        self.registry = registry

    def handle(self, req: Request) -> Response:
        try:
            return self._dispatch(req)
        except ControlError as err:
            return json_response(err.status, {"error": str(err)})
        except RegistryError as err:  # a seed the registry refuses (bad name or tag)
            return json_response(400, {"error": err.message, "code": err.code, "detail": err.detail})

    def _dispatch(self, req: Request) -> Response:
        route = req.path[len(CONTROL_PREFIX) :].rstrip("/")
        routes: dict[tuple[str, str], Callable[[Request], Response]] = {
            ("faults", "GET"): self._list_faults,
            ("faults", "POST"): self._add_faults,
            ("faults", "DELETE"): self._clear_faults,
            ("images", "POST"): self._seed_image,
            ("indexes", "POST"): self._seed_index,
            ("requests", "GET"): self._list_requests,
            ("requests", "DELETE"): self._clear_requests,
            ("reset", "POST"): self._reset,
        }
        head, _, rest = route.partition("/")
        if head == "faults" and rest:
            if req.method != "DELETE":
                raise ControlError(f"{req.method} not allowed on {req.path}", 405)
            return self._remove_fault(rest)
        handler = routes.get((head, req.method))
        if handler is None:
            if any(name == head for name, _ in routes):
                raise ControlError(f"{req.method} not allowed on {req.path}", 405)
            raise ControlError(f"no control route {req.path}", 404)
        return handler(req)

    # -- faults --------------------------------------------------------------------------------

    def _list_faults(self, req: Request) -> Response:
        return json_response(200, {"faults": [r.to_json() for r in self.registry.faults.rules()]})

    def _add_faults(self, req: Request) -> Response:
        doc = _read_json(req)
        items = doc if isinstance(doc, list) else [doc]
        try:
            faults = [Fault.from_json(item) for item in items]
        except ValueError as err:
            raise ControlError(str(err)) from None
        rules = [self.registry.faults.rule(self.registry.faults.add(fault)).to_json() for fault in faults]
        return json_response(201, rules if isinstance(doc, list) else rules[0])

    def _clear_faults(self, req: Request) -> Response:
        self.registry.faults.clear()
        return json_response(200, {"faults": []})

    def _remove_fault(self, text: str) -> Response:
        if not text.isdigit() or not self.registry.faults.remove(int(text)):
            raise ControlError(f"no fault rule {text}", 404)
        return json_response(200, {"removed": int(text)})

    # -- seeding -------------------------------------------------------------------------------

    def _seed_image(self, req: Request) -> Response:
        doc = _object(_read_json(req), "an image")
        repository, tags = _target(doc)
        image = image_from_json(doc, subject_of=lambda ref: self._subject(repository, ref))
        self.registry.push(repository, image, *tags)
        return json_response(201, describe(image))

    def _seed_index(self, req: Request) -> Response:
        doc = _object(_read_json(req), "an index")
        repository, tags = _target(doc)
        _known(doc, _INDEX_KEYS, "an index")
        fmt = _choice(doc, "format", ("oci", "docker"), "oci")
        manifests = doc.get("manifests")
        if manifests is not None:
            if not isinstance(manifests, list) or not manifests:
                raise ControlError("'manifests' must be a non-empty list of images")
            children: list[Image | Index] = [
                image_from_json(_object(m, "an image"), default_format=fmt, in_index=True) for m in manifests
            ]
            index = self.registry.push_index(
                repository, tags, children, format=fmt, annotations=_strings(doc, "annotations")
            )
        else:
            platforms = doc.get("platforms", ["linux/amd64", "linux/arm64/v8"])
            if not isinstance(platforms, list) or not all(isinstance(p, str) for p in platforms):
                raise ControlError("'platforms' must be a list like [\"linux/amd64\"]")
            index = self.registry.push_index(
                repository,
                tags,
                platforms=platforms,
                layers=[_files(layer) for layer in _list(doc, "layers")],
                format=fmt,
                compression=_choice(doc, "compression", ("gzip", "zstd", "none"), "gzip"),
                annotations=_strings(doc, "annotations"),
            )
        return json_response(201, describe(index))

    def _subject(self, repository: str, reference: str) -> dict[str, Any]:
        stored = self.registry.manifest(repository, reference)
        return {"mediaType": stored.media_type, "digest": stored.digest, "size": len(stored.body)}

    # -- request log and reset -----------------------------------------------------------------

    def _list_requests(self, req: Request) -> Response:
        found = self.registry.requests.find(req.param("method") or None, req.param("path") or "")
        return json_response(
            200,
            {
                "requests": [r.to_json() for r in found],
                "summary": [f"{r.method} {r.path} {r.status}" for r in found],
            },
        )

    def _clear_requests(self, req: Request) -> Response:
        self.registry.requests.clear()
        return json_response(200, {"requests": [], "summary": []})

    def _reset(self, req: Request) -> Response:
        self.registry.clear()
        return json_response(200, {})


# -- JSON descriptions of images ---------------------------------------------------------------

_IMAGE_KEYS = {
    "repository",
    "tag",
    "tags",
    "layers",
    "config",
    "platform",
    "format",
    "compression",
    "annotations",
    "labels",
    "created",
    "artifact_type",
    "subject",
}
_INDEX_KEYS = {
    "repository",
    "tag",
    "tags",
    "manifests",
    "platforms",
    "layers",
    "format",
    "compression",
    "annotations",
}
_CONFIG_KEYS = {
    "architecture",
    "os",
    "variant",
    "env",
    "user",
    "cmd",
    "entrypoint",
    "working_dir",
    "labels",
    "created",
    "exposed_ports",
    "volumes",
    "stop_signal",
}


def image_from_json(
    doc: Mapping[str, Any],
    *,
    subject_of: Callable[[str], dict[str, Any]] | None = None,
    default_format: Format = "oci",
    in_index: bool = False,
) -> Image:
    """Build the image a JSON description asks for (the control API's ``POST /_fake/images``).

    ``layers`` is a list of layers, each an object of tar entry name to entry: a string is a
    UTF-8 text file; an object has ``type`` (``file``, ``dir``, ``symlink``, ``hardlink``,
    ``whiteout``, ``opaque_whiteout``, ``fifo``, ``device``) and that entry's fields as in
    Python (``content`` text or ``base64`` bytes, ``mode``, ``uid``, ``gid``, ``mtime``,
    ``target``, ``major``/``minor``/``kind``). ``config`` holds :class:`ImageConfig`'s fields;
    ``platform``, ``labels`` and ``created`` are shortcuts for them.
    """
    keys = _IMAGE_KEYS - {"repository", "tag", "tags"} if in_index else _IMAGE_KEYS
    _known(doc, keys, "an image")
    config_doc = _object(doc.get("config", {}), "'config'")
    _known(config_doc, _CONFIG_KEYS, "'config'")
    config = ImageConfig(**config_doc)
    changes: dict[str, Any] = {}
    platform = doc.get("platform")
    if platform is not None:
        if not isinstance(platform, str):
            raise ControlError("'platform' must be a string like \"linux/arm64/v8\"")
        p = parse_platform(platform)
        changes.update(architecture=p.architecture, os=p.os, variant=p.variant)
    if "labels" in doc:
        changes["labels"] = _strings(doc, "labels")
    if "created" in doc:
        changes["created"] = doc["created"]
    if changes:
        import dataclasses

        config = dataclasses.replace(config, **changes)
    layers = doc.get("layers", [{"hello.txt": "hello\n"}])
    if not isinstance(layers, list):
        raise ControlError("'layers' must be a list of objects of files")
    subject = doc.get("subject")
    if subject is not None:
        if not isinstance(subject, str) or subject_of is None:
            raise ControlError("'subject' must be the tag or digest of a manifest in the repository")
        subject = subject_of(subject)
    artifact_type = doc.get("artifact_type")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ControlError("'artifact_type' must be a string")
    try:
        return build_image(
            [_files(layer) for layer in layers],
            config,
            format=_choice(doc, "format", ("oci", "docker"), default_format),
            compression=_choice(doc, "compression", ("gzip", "zstd", "none"), "gzip"),
            annotations=_strings(doc, "annotations"),
            subject=subject,
            artifact_type=artifact_type,
        )
    except (TypeError, ValueError) as err:
        raise ControlError(f"cannot build the image: {err}") from None


def describe(item: Image | Index) -> dict[str, Any]:
    """What a seed answers: the digests a test needs to pull or assert on."""
    if isinstance(item, Index):
        return {
            "digest": item.digest,
            "mediaType": item.media_type,
            "size": len(item.manifest),
            "manifests": [describe(child) for child in item.children],
        }
    return {
        "digest": item.digest,
        "mediaType": item.media_type,
        "size": len(item.manifest),
        "config": {"digest": item.config_digest, "size": len(item.config)},
        "layers": [{"digest": layer.digest, "size": layer.size} for layer in item.layers],
        **({"platform": dict(item.platform)} if item.platform else {}),
    }


_ENTRY_FIELDS: dict[str, tuple[type[Any], set[str]]] = {
    "file": (File, {"mode", "uid", "gid", "mtime", "uname", "gname", "xattrs"}),
    "dir": (Dir, {"mode", "uid", "gid", "mtime"}),
    "symlink": (Symlink, {"target", "uid", "gid", "mtime"}),
    "hardlink": (Hardlink, {"target", "uid", "gid", "mtime"}),
    "fifo": (Fifo, {"mode", "uid", "gid", "mtime"}),
    "device": (Device, {"major", "minor", "kind", "mode", "mtime"}),
    "whiteout": (Whiteout, {"mtime"}),
    "opaque_whiteout": (OpaqueWhiteout, {"mtime"}),
}


def _files(layer: object) -> dict[str, Entry | bytes | str]:
    files = _object(layer, "a layer")
    return {name: _entry(name, value) for name, value in files.items()}


def _entry(name: str, value: object) -> Entry | str:
    if isinstance(value, str):
        return value
    spec = _object(value, f"entry {name!r}")
    kind = spec.get("type", "file")
    if kind not in _ENTRY_FIELDS:
        raise ControlError(f"entry {name!r}: unknown type {kind!r}; known: {sorted(_ENTRY_FIELDS)}")
    cls, fields = _ENTRY_FIELDS[kind]
    args = {k: v for k, v in spec.items() if k != "type"}
    if kind == "file":
        if "content" in args and "base64" in args:
            raise ControlError(f"entry {name!r}: 'content' or 'base64', not both")
        if "base64" in args:
            try:
                args["content"] = base64.b64decode(args.pop("base64"), validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise ControlError(f"entry {name!r}: 'base64' is not base64") from None
        fields = fields | {"content"}
    unknown = sorted(set(args) - fields)
    if unknown:
        raise ControlError(f"entry {name!r}: unknown field {unknown[0]!r} for a {kind}")
    try:
        entry: Entry = cls(**args)
    except TypeError as err:
        raise ControlError(f"entry {name!r}: {err}") from None
    return entry


def _read_json(req: Request) -> Any:
    data = req.body.read(MAX_CONTROL_BODY + 1)
    if len(data) > MAX_CONTROL_BODY:
        raise ControlError(f"body over {MAX_CONTROL_BODY} bytes", 413)
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError) as err:
        raise ControlError(f"body is not JSON: {err}") from None


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ControlError(f"{what} must be a JSON object")
    return value


def _known(doc: Mapping[str, Any], keys: set[str], what: str) -> None:
    unknown = sorted(set(doc) - keys)
    if unknown:
        raise ControlError(f"unknown field {unknown[0]!r} in {what}; known: {sorted(keys)}")


def _target(doc: Mapping[str, Any]) -> tuple[str, list[str]]:
    repository = doc.get("repository")
    if not isinstance(repository, str):
        raise ControlError("'repository' must be a string like \"team/app\"")
    if "tag" in doc and "tags" in doc:
        raise ControlError("'tag' or 'tags', not both")
    tags = doc.get("tags", [doc["tag"]] if "tag" in doc else ["latest"])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ControlError("'tags' must be a list of strings")
    return repository, tags


def _list(doc: Mapping[str, Any], key: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise ControlError(f"{key!r} must be a list")
    return value


def _strings(doc: Mapping[str, Any], key: str) -> dict[str, str] | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ControlError(f"{key!r} must be an object of strings")
    return value


def _choice(doc: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: Any) -> Any:
    value = doc.get(key, default)
    if value not in allowed:
        raise ControlError(f"{key!r} must be one of {list(allowed)}")
    return value
