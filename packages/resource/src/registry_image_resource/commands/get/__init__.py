"""``in``: fetch the version's image into DEST (SPEC B.4, A.2.1, A.2.2).

``run`` owns the flow: resolve the repository (and the Docker Hub mirror, tried first and
abandoned with a warning on any error), fetch the manifest by the version digest (verified), then
write the asked format (``rootfs.py``, ``docker_archive.py``, ``layout.py``), compute the
metadata, and only then write the version files ``tag``, ``digest`` and ``repository``; a get
that failed removes what it wrote, so DEST is left as it was. Submodules: ``downloads`` (the
concurrent, verified blob pipeline), ``image`` (platform selection), ``progress``, ``files``,
``request`` (the request and its params).
This package must never write outside DEST nor log a credential.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry_image_resource.commands.get.downloads import DEFAULT_CONCURRENCY
from registry_image_resource.commands.get.files import write_file
from registry_image_resource.commands.get.image import ImageWithConfig, resolve_image, with_config
from registry_image_resource.commands.get.progress import DebugProgress, Progress
from registry_image_resource.commands.get.request import InRequest, effective_platform
from registry_image_resource.errors import InputError, RequestError, ResourceError
from registry_image_resource.log import get_logger
from registry_image_resource.protocol.models import Platform
from registry_image_resource.protocol.regex import PatternError, compile_re2
from registry_image_resource.registry.client import (
    Manifest,
    RegistryClient,
)
from registry_image_resource.registry.reference import Repository, parse_repository
from registry_image_resource.sources.routing import (
    Attempt,
    mirror_attempt,
    mirror_then_origin,
    origin_attempt,
    resolve_source,
)

if TYPE_CHECKING:
    from registry_image_resource.trust.cosign import PublicKey

__all__ = ["run"]

_OUTPUTS = ("rootfs", "image.tar", "oci", "metadata.json", "labels.json")
_log = get_logger()


@dataclass(frozen=True, slots=True)
class _Fetched:
    top: Manifest
    image: ImageWithConfig | None
    verified_by: PublicKey | None = None


def _compile(pattern: str, field: str) -> Any:
    if not pattern:
        return None
    try:
        return compile_re2(pattern)
    except PatternError as err:
        raise RequestError(f"invalid {field}: {err}") from None


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
    target: Attempt,
    request: InRequest,
    dest: Path,
    *,
    origin: Repository,
    platform: Platform,
    want_image: bool,
    keys: tuple[PublicKey, ...],
) -> _Fetched:
    params, version, debug = request.params, request.version, request.source.debug
    _log.info("fetching %s@%s", target.repository.name, version.digest)
    fmt = params.format or "rootfs"
    with RegistryClient.connect(target.repository, target.options) as client:
        # Before anything is fetched into DEST: the version's digest (an index's, for a platform
        # pick) must carry a signature by one of the keys, naming the origin repository.
        verified_by = _verify(client, keys, version.digest, origin) if keys else None
        try:
            top = client.get_manifest(version.digest)
        except ResourceError as err:
            raise err.wrap("fetch descriptor") from None
        image: ImageWithConfig | None = None

        def image_of() -> ImageWithConfig:
            try:
                return with_config(client, resolve_image(client, top, platform, target.repository.name))
            except ResourceError as err:
                raise err.wrap("fetching image") from None

        if not params.skip_download:
            if fmt == "oci-layout":
                from registry_image_resource.commands.get.layout import write_layout

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
            else:  # "rootfs" or "oci": decode_in accepts no other format
                image = image_of()
                layers = image.image.parsed.layers
                sizes = {layer.digest: layer.size for layer in layers}
                progress = _progress(debug, sizes)
                try:
                    if fmt == "rootfs":
                        from registry_image_resource.commands.get.rootfs import write_rootfs

                        write_rootfs(client, image, dest, concurrency=DEFAULT_CONCURRENCY, progress=progress)
                    else:
                        from registry_image_resource.commands.get.docker_archive import write_docker_archive

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
        if want_image and image is None:
            image = image_of()
        return _Fetched(top, image, verified_by)


def _verify(
    client: RegistryClient, keys: tuple[PublicKey, ...], digest: str, origin: Repository
) -> PublicKey:
    from registry_image_resource.trust.cosign import SignatureError, Verified
    from registry_image_resource.trust.cosign.remote import verify_digest

    result = verify_digest(client, keys, digest, origin.name)
    if not isinstance(result, Verified):
        raise SignatureError(f"signature verification failed for {origin.name}@{digest}: {result.reason}")
    _log.info("signature verified with key %s", result.key.fingerprint)
    return result.key


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
    # The patterns first: a bad one fails before any request, ECR's included (as in check).
    label_re = _compile(source.label_regex, "label_regex")
    annotation_re = _compile(source.annotation_regex, "annotation_regex")
    keys: tuple[PublicKey, ...] = ()
    if source.cosign is not None and source.cosign.public_keys:
        from registry_image_resource.trust.cosign import load_public_keys

        keys = load_public_keys(source.cosign.public_keys)
    source = resolve_source(source)
    request = replace(request, source=source)
    try:
        repo = parse_repository(source.repository)
    except RequestError as err:
        raise err.wrap("failed to resolve repository") from None
    platform = effective_platform(source, request.params)
    want_image = label_re is not None or annotation_re is not None
    before = _existing_outputs(dest)

    def fetch(attempt: Attempt) -> _Fetched:
        try:
            return _download(
                attempt, request, dest, origin=repo, platform=platform, want_image=want_image, keys=keys
            )
        except ResourceError as err:
            # The mirror's errors are warnings (mirror_failed); the origin's end the get, and
            # leave DEST as it was.
            if attempt.is_mirror:
                raise
            _remove_new_outputs(dest, before)
            raise err.wrap("download failed") from None
        except BaseException:  # a bug or an interrupt leaves DEST as it was too
            _remove_new_outputs(dest, before)
            raise

    def mirror_failed(attempt: Attempt, err: ResourceError | None) -> None:
        _log.warning("download from mirror %s failed: %s", attempt.repository.name, err)
        _remove_new_outputs(dest, before)

    fetched = mirror_then_origin(
        mirror_attempt(source, repo), lambda: origin_attempt(source, repo), fetch, mirror_failed
    )

    metadata = [{"name": "repository", "value": source.repository}, {"name": "tag", "value": version.tag}]
    if fetched.image is not None:
        if label_re is not None:
            metadata += _matching(label_re, fetched.image.config.labels)
        if annotation_re is not None:
            metadata += _matching(annotation_re, fetched.image.image.parsed.annotations)
    if fetched.verified_by is not None:
        metadata.append({"name": "cosign_key_fingerprint", "value": fetched.verified_by.fingerprint})

    # Last, and only now: the files that say "this version is here".
    for name, value in (("tag", version.tag), ("digest", version.digest), ("repository", source.repository)):
        try:
            write_file(dest / name, value.encode())
        except OSError as err:
            raise ResourceError(f"saving version info failed: write image {name}: {_describe(err)}") from None
    return {"version": {"tag": version.tag, "digest": version.digest}, "metadata": metadata}
