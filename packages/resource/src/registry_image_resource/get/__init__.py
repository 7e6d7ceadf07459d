"""``in``: fetch the version's image into DEST (SPEC B.4, A.2.1, A.2.2).

``run`` owns the flow: resolve the repository (and the Docker Hub mirror, tried first and
abandoned with a warning on any error), fetch the manifest by the version digest (verified), then
write the asked format (``rootfs.py``, ``docker_archive.py``, ``layout.py``), compute the
metadata, and only then write the version files ``tag``, ``digest`` and ``repository``, so a get
that failed never leaves a result that looks complete. Submodules: ``downloads`` (the concurrent,
verified blob pipeline), ``image`` (platform selection), ``progress``, ``files``.
This package must never write outside DEST nor log a credential.
"""

from __future__ import annotations

import logging
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from registry_image_resource.errors import InputError, RequestError, ResourceError
from registry_image_resource.get.downloads import DEFAULT_CONCURRENCY
from registry_image_resource.get.files import write_file
from registry_image_resource.get.image import ImageWithConfig, resolve_image, with_config
from registry_image_resource.get.progress import DebugProgress, Progress
from registry_image_resource.get_put_models import InRequest
from registry_image_resource.models import Platform, Source
from registry_image_resource.reference import Repository, parse_repository
from registry_image_resource.registry.client import (
    ConnectOptions,
    Manifest,
    RegistryClient,
    options_from_source,
)
from registry_image_resource.request import effective_platform
from registry_image_resource.routing import mirror_attempt, resolve_source

__all__ = ["FORMATS", "run"]

FORMATS = ("rootfs", "oci", "oci-layout")
_OUTPUTS = ("rootfs", "image.tar", "oci", "metadata.json", "labels.json")
_log = logging.getLogger("registry_image_resource")


@dataclass(frozen=True, slots=True)
class _Target:
    """Where to download from: the origin or the mirror, with that registry's own credentials."""

    repo: Repository
    options: ConnectOptions


@dataclass(frozen=True, slots=True)
class _Fetched:
    top: Manifest
    image: ImageWithConfig | None


def _compile(pattern: str, field: str) -> Any:
    if not pattern:
        return None
    import re2

    options = re2.Options()
    options.log_errors = False  # else RE2 prints its own line on stderr
    try:
        return re2.compile(pattern, options)
    except re2.error as err:
        reason = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else str(err)
        raise RequestError(f"invalid {field}: {reason}") from None


def _mirror(source: Source, repo: Repository) -> _Target | None:
    """The Docker Hub mirror to try first (SPEC B.4.8), with its own credentials."""
    attempt = mirror_attempt(source, repo)
    return None if attempt is None else _Target(attempt.repository, attempt.options)


def _existing_outputs(dest: Path) -> set[str]:
    return {name for name in _OUTPUTS if (dest / name).exists() or (dest / name).is_symlink()}


def _remove_new_outputs(dest: Path, before: set[str]) -> None:
    """Undo what a failed attempt wrote, so the next attempt starts clean."""
    for name in _OUTPUTS:
        if name in before:
            continue
        path = dest / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _progress(debug: bool, sizes: dict[str, int]) -> Progress | DebugProgress:
    if debug:
        return DebugProgress(_log, sizes.items())
    return Progress(sys.stderr, sizes.items())


def _download(
    target: _Target,
    request: InRequest,
    dest: Path,
    *,
    origin: Repository,
    platform: Platform,
    want_image: bool,
) -> _Fetched:
    params, version, debug = request.params, request.version, request.source.debug
    _log.info("fetching %s@%s", target.repo.name, version.digest)
    fmt = params.format or "rootfs"
    with RegistryClient.connect(target.repo, target.options) as client:
        try:
            top = client.get_manifest(version.digest)
        except ResourceError as err:
            raise err.wrap("fetch descriptor") from None
        image: ImageWithConfig | None = None

        def image_of() -> ImageWithConfig:
            try:
                return with_config(client, resolve_image(client, top, platform, target.repo.name))
            except ResourceError as err:
                raise err.wrap("fetching image") from None

        if not params.skip_download:
            if fmt == "oci-layout":
                from registry_image_resource.get.layout import write_layout

                def layout_progress(sizes: dict[str, int]) -> Progress | DebugProgress:
                    return _progress(debug, sizes)

                try:
                    write_layout(
                        client, top, dest, concurrency=DEFAULT_CONCURRENCY, progress_for=layout_progress
                    )
                except ResourceError as err:
                    raise err.wrap("write oci layout") from None
                except OSError as err:
                    raise ResourceError(f"write oci layout: {_describe(err)}") from None
            elif fmt in ("rootfs", "oci"):
                image = image_of()
                layers = image.image.parsed.layers
                sizes = {layer.digest: layer.size for layer in layers}
                progress = _progress(debug, sizes)
                try:
                    if fmt == "rootfs":
                        from registry_image_resource.get.rootfs import write_rootfs

                        write_rootfs(client, image, dest, concurrency=DEFAULT_CONCURRENCY, progress=progress)
                    else:
                        from registry_image_resource.get.docker_archive import write_docker_archive

                        write_docker_archive(
                            client,
                            image,
                            dest,
                            origin.tag(version.tag),
                            concurrency=DEFAULT_CONCURRENCY,
                            progress=progress,
                        )
                except ResourceError as err:
                    raise err.wrap("write oci image" if fmt == "oci" else "write rootfs") from None
                except OSError as err:
                    what = "write oci image" if fmt == "oci" else "write rootfs"
                    raise ResourceError(f"{what}: {_describe(err)}") from None
                finally:
                    progress.close()
            else:
                raise RequestError(
                    f"unknown format provided, must be one of 'rootfs', 'oci', 'oci-layout': {fmt}"
                )
        if want_image and image is None:
            image = image_of()
        return _Fetched(top, image)


def _describe(err: OSError) -> str:
    reason = err.strerror or str(err)
    return f"{err.filename}: {reason}" if err.filename else reason


def _matching(pattern: Any, values: Any) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in sorted(values.items()) if pattern.search(k)]


def run(request: InRequest, dest: Path) -> dict[str, Any]:
    """Fetch ``request.version`` into ``dest``; the InResponse document."""
    source, version = request.source, request.version
    if not dest.is_dir():
        raise InputError(f"destination directory {dest} does not exist")
    source = resolve_source(source)
    request = replace(request, source=source)
    label_re = _compile(source.label_regex, "label_regex")
    annotation_re = _compile(source.annotation_regex, "annotation_regex")
    try:
        repo = parse_repository(source.repository)
    except RequestError as err:
        raise err.wrap("failed to resolve repository") from None
    mirror = _mirror(source, repo)
    platform = effective_platform(source, request.params)
    want_image = label_re is not None or annotation_re is not None

    fetched: _Fetched | None = None
    if mirror is not None:
        before = _existing_outputs(dest)
        try:
            fetched = _download(mirror, request, dest, origin=repo, platform=platform, want_image=want_image)
        except ResourceError as err:
            _log.warning("download from mirror %s failed: %s", mirror.repo.name, err)
            _remove_new_outputs(dest, before)
    if fetched is None:
        origin = _Target(repo, options_from_source(source))
        try:
            fetched = _download(origin, request, dest, origin=repo, platform=platform, want_image=want_image)
        except ResourceError as err:
            raise err.wrap("download failed") from None

    metadata = [{"name": "repository", "value": source.repository}, {"name": "tag", "value": version.tag}]
    if fetched.image is not None:
        if label_re is not None:
            metadata += _matching(label_re, fetched.image.config.labels)
        if annotation_re is not None:
            metadata += _matching(annotation_re, fetched.image.image.parsed.annotations)

    # Last, and only now: the files that say "this version is here".
    for name, value in (("tag", version.tag), ("digest", version.digest), ("repository", source.repository)):
        try:
            write_file(dest / name, value.encode())
        except OSError as err:
            raise ResourceError(f"saving version info failed: write image {name}: {_describe(err)}") from None
    return {"version": {"tag": version.tag, "digest": version.digest}, "metadata": metadata}
