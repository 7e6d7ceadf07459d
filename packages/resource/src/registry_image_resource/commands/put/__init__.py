"""The ``out`` command: push an image tarball or OCI layout under a list of tags (SPEC B.5).

Flow: the local tag list, the ``image`` glob and the input are all checked before the first
request (so nothing is pushed from invalid input); then the ``bump_aliases`` listing, then the
push. This module owns that order and the choice of reader. Submodules: ``request`` (the request
and its params), ``inputs`` (the readers: ``docker save`` tarballs and OCI layouts), ``globbing``
(the ``image`` glob), ``tags`` (the tag list and ``bump_aliases``), ``push`` (the upload).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry_image_resource.commands.put.globbing import find_image
from registry_image_resource.commands.put.inputs.tar_index import find_member, index_tar
from registry_image_resource.commands.put.inputs.tree import LoadedImage, ManifestNode
from registry_image_resource.commands.put.request import OutRequest
from registry_image_resource.commands.put.tags import LocalTags, bump_aliases, local_tags, unique
from registry_image_resource.errors import InputError, NotFoundError, ResourceError
from registry_image_resource.log import get_logger
from registry_image_resource.protocol.models import Source

if TYPE_CHECKING:
    from registry_image_resource.registry.client import RegistryClient
    from registry_image_resource.registry.reference import Repository

_CHUNK = 1024 * 1024


def run(request: OutRequest, src: Path) -> dict[str, Any]:
    """Push the image ``params.image`` names under ``src``; return the OutResponse JSON (SPEC B.5.7).

    Every local check (repository, version, additional tags, glob, the input itself) runs before
    the first request, ECR authentication included, so invalid input never leaves a partial push
    behind. The local errors come in the Go resource's order (SPEC B.5.1).
    """
    from registry_image_resource.registry.reference import parse_repository
    from registry_image_resource.sources.routing import resolve_source

    source, params = request.source, request.params
    try:
        repo = parse_repository(source.repository)
    except ResourceError as err:
        raise err.wrap("could not resolve repository") from None
    local = local_tags(source, params, src)
    match = find_image(str(src), params.image)
    with tempfile.TemporaryDirectory(prefix="registry-image-out-") as workdir:
        try:
            loaded = load_image(Path(match), Path(workdir))
        except ResourceError as err:
            raise err.wrap(f"could not load image from path '{params.image}'") from None
        # ECR is the first request of all (STS, ECR): only once the input is known to be good.
        if source.aws_region or source.azure_acr:
            source = resolve_source(source)
            try:
                repo = parse_repository(source.repository)
            except ResourceError as err:
                raise err.wrap("could not resolve repository") from None
        tags, digest = _push(source, repo, local, loaded)
    if source.content_trust is not None:
        _sign(source, repo, unique(tags), loaded.root)
    return {
        "version": {"tag": tags[0], "digest": digest},
        "metadata": [
            {"name": "repository", "value": source.repository},
            {"name": "tags", "value": " ".join(tags)},
        ],
    }


def _push(
    source: Source, repo: Repository, local: LocalTags, loaded: LoadedImage
) -> tuple[tuple[str, ...], str]:
    """Connect, list tags for the aliases if asked, push; the push list and the pushed digest."""
    from registry_image_resource.commands.put.push import push
    from registry_image_resource.registry.client import RegistryClient, options_from_source

    log = get_logger()
    try:
        client = RegistryClient.connect(repo, options_from_source(source), "push,pull")
    except ResourceError as err:
        raise err.wrap("failed to set repo/auth options") from None
    with client:
        aliases: list[str] = []
        if local.bump and local.version is not None:
            aliases = bump_aliases(local.version, local.variant, _existing_tags(client))
        tags = local.with_aliases(aliases)
        log.info("pushing tag(s) %s", ", ".join(unique(tags)))
        try:
            report = push(client, loaded.root, tags, origins=_mount_origins(repo, loaded.origins))
        except ResourceError as err:
            raise err.wrap("pushing image failed") from None
        log.info(
            "pushed %s: %d blob(s) uploaded, %d mounted, %d already there",
            loaded.root.digest,
            len(report.uploaded),
            len(report.mounted),
            len(report.existing),
        )
    return tags, loaded.root.digest


def _existing_tags(client: RegistryClient) -> list[str]:
    """The repository's tags for ``bump_aliases``; a repository that does not exist yet has none."""
    try:
        return client.list_tags()
    except NotFoundError as err:
        if err.code in ("NAME_UNKNOWN", "NOT_FOUND"):
            return []
        raise err.wrap("determine aliases: list repository tags") from None
    except ResourceError as err:
        raise err.wrap("determine aliases: list repository tags") from None


def _mount_origins(repo: Repository, names: tuple[str, ...]) -> list[Repository]:
    """Repositories on the same registry that the input came from (``RepoTags``, ``in``'s files)."""
    from registry_image_resource.registry.reference import parse_repository

    origins = []
    for name in names:
        text = name.split("@", 1)[0]
        if text.rfind(":") > text.rfind("/"):
            text = text[: text.rfind(":")]
        try:
            origin = parse_repository(text)
        except ResourceError:
            continue
        if origin.registry == repo.registry and origin.path != repo.path:
            origins.append(origin)
    return origins


def _sign(source: Source, repo: Repository, tags: list[str], root: ManifestNode) -> None:
    """Content trust (SPEC B.5.8, A.2.7): the single call site, after a successful push."""
    from registry_image_resource import trust

    trust.sign_tags(source, repo, tags, root.digest, len(root.body))


def load_image(path: Path, workdir: Path) -> LoadedImage:
    """What to push from ``path``: an OCI layout directory, a ``docker save`` tarball, or a layout tarball.

    A tarball compressed as a whole (``docker save | gzip``) is decompressed into ``workdir`` first.
    """
    try:
        info = os.stat(path)
    except OSError as err:
        raise InputError(f"stat {path}: {(err.strerror or str(err)).lower()}") from None
    if stat.S_ISDIR(info.st_mode):
        from registry_image_resource.commands.put.inputs.oci_layout import load_layout_dir

        return load_layout_dir(path)
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{path} is neither a directory nor a regular file")
    tar_path = _decompressed(path, workdir)
    members = index_tar(tar_path, f"loading {path} as tarball")
    if find_member(members, "manifest.json") is None and find_member(members, "index.json") is not None:
        from registry_image_resource.commands.put.inputs.oci_layout import load_layout_tar

        return load_layout_tar(tar_path, members)
    from registry_image_resource.commands.put.inputs.docker_archive import load_docker_archive

    return load_docker_archive(tar_path, members, workdir)


def _decompressed(path: Path, workdir: Path) -> Path:
    """``path`` itself, or a decompressed copy in ``workdir`` when it is gzip or zstd compressed."""
    from registry_image_resource.unpack.compression import decompressed, detect

    with open(path, "rb") as file:
        if detect(file.read(4)) == "tar":
            return path
    target = workdir / (path.name + ".tar")
    try:
        with open(path, "rb") as raw, decompressed(raw, threaded=False) as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out, _CHUNK)
    except ResourceError as err:
        raise InputError(f"loading {path} as tarball: cannot decompress it: {err}") from None
    return target
