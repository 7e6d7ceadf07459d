"""Getting built images out of Python: into any registry over HTTP, or into an OCI layout on disk.

Owns a deliberately small distribution-API client (standard library only) that pushes an
:class:`Image` or :class:`Index` to a real registry (registry:2, this fake, anything speaking the
spec) with Basic or Bearer auth, so tests can seed every registry with the same helpers; and the
OCI image layout and ``docker save`` tarball writers (for ``skopeo copy oci:...``, ``umoci`` or the
resource's ``put``). Must never retry, guess or hide an error: any unexpected status raises
:class:`UploadError` naming the request.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import re
import ssl
import tarfile
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from fake_registry._image import DEFAULT_MTIME, Image, Index, decompress


class UploadError(Exception):
    """A registry answered an upload request with an unexpected status."""


class _Client:
    def __init__(
        self,
        url: str,
        repository: str,
        *,
        username: str | None,
        password: str | None,
        ca_file: str | Path | None,
        verify: bool,
    ) -> None:
        self.base = urllib.parse.urlsplit(url.rstrip("/"))
        self.repository = repository
        self.username = username
        self.password = password
        self.context: ssl.SSLContext | None = None
        if self.base.scheme == "https":
            self.context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
            if not verify:
                self.context.check_hostname = False
                self.context.verify_mode = ssl.CERT_NONE
        self.authorization: str | None = None

    def _connection(self, netloc: str, scheme: str) -> http.client.HTTPConnection:
        if scheme == "https":
            return http.client.HTTPSConnection(netloc, context=self.context, timeout=60)
        return http.client.HTTPConnection(netloc, timeout=60)

    def request(
        self,
        method: str,
        target: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
    ) -> http.client.HTTPResponse:
        for attempt in range(2):
            parts = urllib.parse.urlsplit(urllib.parse.urljoin(self.base.geturl() + "/", target))
            conn = self._connection(parts.netloc, parts.scheme)
            sent = dict(headers or {})
            if self.authorization:
                sent["Authorization"] = self.authorization
            sent["Content-Length"] = str(len(body))
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status == 401 and attempt == 0:
                self._authenticate(response.getheader("WWW-Authenticate") or "")
                continue
            if response.status not in expect:
                raise UploadError(f"{method} {path}: HTTP {response.status} (expected {expect})")
            return response
        raise UploadError(f"{method} {target}: still unauthorised after authenticating")

    def _authenticate(self, challenge: str) -> None:
        basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if not challenge.lower().startswith("bearer"):
            if self.username is None or self.password is None:
                raise UploadError("the registry wants credentials and none were given")
            self.authorization = f"Basic {basic}"
            return
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = urllib.parse.urlsplit(params.get("realm", ""))
        query = urllib.parse.urlencode(
            {"service": params.get("service", ""), "scope": f"repository:{self.repository}:pull,push"}
        )
        conn = self._connection(realm.netloc, realm.scheme)
        headers = {"Authorization": f"Basic {basic}"} if self.username is not None else {}
        conn.request("GET", f"{realm.path}?{query}", headers=headers)
        response = conn.getresponse()
        answer = response.read()
        conn.close()
        if response.status != 200:
            raise UploadError(f"token endpoint {realm.geturl()}: HTTP {response.status}")
        doc = json.loads(answer)
        self.authorization = f"Bearer {doc.get('token') or doc.get('access_token')}"

    def blob(self, digest: str, data: bytes) -> None:
        name = self.repository
        if self.request("HEAD", f"/v2/{name}/blobs/{digest}", expect=(200, 404)).status == 200:
            return
        started = self.request("POST", f"/v2/{name}/blobs/uploads/", expect=(202,))
        location = started.getheader("Location") or ""
        separator = "&" if "?" in location else "?"
        self.request(
            "PUT",
            f"{location}{separator}digest={urllib.parse.quote(digest)}",
            data,
            {"Content-Type": "application/octet-stream"},
            expect=(201,),
        )

    def manifest(self, reference: str, body: bytes, media_type: str) -> None:
        self.request(
            "PUT",
            f"/v2/{self.repository}/manifests/{reference}",
            body,
            {"Content-Type": media_type},
            expect=(201,),
        )


def upload(
    item: Image | Index,
    url: str,
    repository: str,
    *tags: str,
    username: str | None = None,
    password: str | None = None,
    ca_file: str | Path | None = None,
    verify: bool = True,
) -> str:
    """Push ``item`` (blobs, child manifests, then the manifest) to the registry at ``url`` and
    tag it with ``tags``; returns its digest. Existing blobs are skipped (HEAD first)."""
    client = _Client(url, repository, username=username, password=password, ca_file=ca_file, verify=verify)

    def push(x: Image | Index) -> None:
        if isinstance(x, Index):
            for child in x.children:
                push(child)
        else:
            for digest, data in x.blobs().items():
                client.blob(digest, data)
        client.manifest(x.digest, x.manifest, x.media_type)

    push(item)
    for tag in tags:
        client.manifest(tag, item.manifest, item.media_type)
    return item.digest


def write_blobs(item: Image | Index, path: str | Path) -> Path:
    """Write every blob and manifest ``item`` needs under ``path/blobs/sha256/`` (children first,
    then ``item``'s own manifest); for layouts a test assembles itself."""
    root = Path(path)
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes, digest: str) -> None:
        (blobs / digest.split(":", 1)[1]).write_bytes(data)

    def add(x: Image | Index) -> None:
        if isinstance(x, Index):
            for child in x.children:
                add(child)
        else:
            for digest, data in x.blobs().items():
                put(data, digest)
        put(x.manifest, x.digest)

    add(item)
    return root


def write_oci_layout(item: Image | Index, path: str | Path, tag: str | None = None) -> Path:
    """Write ``item`` as an OCI image layout directory (``oci-layout``, ``index.json``,
    ``blobs/``), its descriptor annotated with ``org.opencontainers.image.ref.name`` if ``tag``."""
    root = write_blobs(item, path)
    descriptor = item.descriptor() if isinstance(item, Index) else item.descriptor(with_platform=False)
    if tag:
        descriptor["annotations"] = {"org.opencontainers.image.ref.name": tag}
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [descriptor],
    }
    (root / "index.json").write_text(json.dumps(index))
    return root


def write_docker_archive(
    image: Image, path: str | Path, repo_tags: Sequence[str] = (), *, compressed: bool = False
) -> Path:
    """Write ``image`` as a ``docker save`` tarball (classic layout: ``manifest.json``,
    ``<config digest>.json``, ``<diff id>/layer.tar``, ``repositories`` when tagged).

    Layers are stored uncompressed as ``docker save`` does, unless ``compressed`` (the layer blob
    as is, which newer tools also accept). ``repo_tags`` are like ``"repo:tag"``.
    """
    target = Path(path)
    config_name = image.config_digest.removeprefix("sha256:") + ".json"
    members: list[tuple[str, bytes]] = [(config_name, image.config)]
    layer_names = []
    for layer in image.layers:
        name = layer.diff_id.removeprefix("sha256:") + "/layer.tar"
        members.append((name, layer.data if compressed else decompress(layer)))
        layer_names.append(name)
    manifest = [{"Config": config_name, "RepoTags": list(repo_tags) or None, "Layers": layer_names}]
    members.append(("manifest.json", json.dumps(manifest).encode()))
    repositories: dict[str, dict[str, str]] = {}
    last_layer = image.layers[-1].diff_id.removeprefix("sha256:") if image.layers else ""
    for repo_tag in repo_tags:
        repo, _, tag = repo_tag.rpartition(":")
        repositories.setdefault(repo, {})[tag] = last_layer
    if repositories:
        members.append(("repositories", json.dumps(repositories).encode()))
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), DEFAULT_MTIME, 0o644
            tar.addfile(info, io.BytesIO(data))
    return target
