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
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry_image_resource.commands.put.globbing import find_image
from registry_image_resource.commands.put.inputs.tar_index import find_member, index_tar
from registry_image_resource.commands.put.inputs.tree import LoadedImage, ManifestNode, PendingImage
from registry_image_resource.commands.put.progress import UploadProgress
from registry_image_resource.commands.put.request import OutRequest
from registry_image_resource.commands.put.tags import LocalTags, bump_aliases, local_tags, unique
from registry_image_resource.errors import InputError, NotFoundError, ResourceError
from registry_image_resource.log import get_logger
from registry_image_resource.protocol.models import Source

if TYPE_CHECKING:
    from registry_image_resource.registry.client import RegistryClient
    from registry_image_resource.registry.reference import Repository
    from registry_image_resource.trust.cosign import PrivateKey, PublicKey

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
        cosign = _cosign_keys(source)  # a wrong password fails before anything is pushed
        # ECR is the first request of all (STS, ECR): only once the input is known to be good.
        if source.aws_region or source.azure_acr:
            source = resolve_source(source)
            try:
                repo = parse_repository(source.repository)
            except ResourceError as err:
                raise err.wrap("could not resolve repository") from None
        tags, root, signature_tag = _push(source, repo, local, loaded, cosign)
    digest = root.digest
    if source.content_trust is not None:
        _sign(source, repo, unique(tags), root)
    metadata = [
        {"name": "repository", "value": source.repository},
        {"name": "tags", "value": " ".join(tags)},
    ]
    if signature_tag is not None:
        metadata.append({"name": "cosign_signature_tag", "value": signature_tag})
    return {"version": {"tag": tags[0], "digest": digest}, "metadata": metadata}


def _cosign_keys(source: Source) -> tuple[PrivateKey, tuple[PublicKey, ...]] | None:
    """The signing key (decrypted now) and the public keys to check the result with, if signing."""
    if source.cosign is None or not source.cosign.private_key:
        return None
    from registry_image_resource.trust.cosign import load_private_key, load_public_keys

    key = load_private_key(
        source.cosign.private_key, source.cosign.password, where="source.cosign.private_key"
    )
    return key, load_public_keys(source.cosign.public_keys)


def _cosign_sign(
    client: RegistryClient, root: ManifestNode, key: PrivateKey, keys: tuple[PublicKey, ...]
) -> str:
    """Sign what was pushed (an index and every manifest under it), then check the top signature.

    Returns the top manifest's signature tag. Any failure says the image is already pushed (and
    whether it was signed).
    """
    from registry_image_resource.trust.cosign import Verified, signature_tag
    from registry_image_resource.trust.cosign.remote import push_signature, verify_digest

    log = get_logger()
    pending = [root]
    try:
        while pending:
            node = pending.pop(0)
            pending.extend(node.children)
            pushed = push_signature(client, key, node.digest)
            log.info("signed %s with key %s: %s", node.digest, key.public.fingerprint, pushed.tag)
    except ResourceError as err:
        raise err.wrap(f"image pushed as {root.digest}, but not signed") from None
    if keys:
        try:
            result = verify_digest(client, keys, root.digest)
        except ResourceError as err:
            raise err.wrap(
                f"image pushed as {root.digest} and signed, but reading its signature failed"
            ) from None
        if not isinstance(result, Verified):
            raise ResourceError(
                f"image pushed as {root.digest} and signed, but the signature does not verify with "
                f"source.cosign.public_keys: {result.reason}"
            )
    return signature_tag(root.digest)


def _push(
    source: Source,
    repo: Repository,
    local: LocalTags,
    loaded: LoadedImage | PendingImage,
    cosign: tuple[PrivateKey, tuple[PublicKey, ...]] | None,
) -> tuple[tuple[str, ...], ManifestNode, str | None]:
    """Connect, list tags for the aliases if asked, push, sign with cosign if asked.

    Returns the push list, the pushed tree's root and the cosign signature tag (None without cosign).
    """
    from registry_image_resource.commands.put.push import all_blobs, push
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
        if isinstance(loaded, PendingImage):
            blobs = 1 + len({b for b in loaded.layers if not isinstance(b, tuple)})
        else:
            blobs = len(all_blobs(loaded.root))
        progress = None if source.debug else UploadProgress(sys.stderr, blobs)
        try:
            streamed: tuple[str, ...] = ()
            reused: tuple[str, ...] = ()
            if isinstance(loaded, PendingImage):
                from registry_image_resource.commands.put.stream import push_plain_layers

                loaded, streamed, reused = push_plain_layers(client, loaded, progress=progress, tag=tags[0])
            origins = _mount_origins(repo, loaded.origins)
            known = (*streamed, *reused)
            report = push(client, loaded.root, tags, origins=origins, known=known, progress=progress)
        except ResourceError as err:
            raise err.wrap("pushing image failed") from None
        finally:
            if progress is not None:
                progress.close()
        log.info(
            "pushed %s: %d blob(s) uploaded, %d mounted, %d already there",
            loaded.root.digest,
            len(report.uploaded) + len(streamed),
            len(report.mounted),
            len(report.existing) + len(reused),
        )
        signature_tag = _cosign_sign(client, loaded.root, *cosign) if cosign is not None else None
    return tags, loaded.root, signature_tag


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


def load_image(path: Path, workdir: Path) -> LoadedImage | PendingImage:
    """What to push from ``path``: an OCI layout directory, a ``docker save`` tarball, or a layout tarball.

    A ``docker save`` tarball with uncompressed layers is a ``PendingImage`` (gzipped while pushed).

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

    return load_docker_archive(tar_path, members)


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
