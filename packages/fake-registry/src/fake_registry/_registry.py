"""``FakeRegistry``: the registry as a library, running in a background thread.

Owns the life cycle (start, ready, clear, stop) and the seeding API that writes straight into
storage (seeding is not logged as requests, so a test's request log shows only its own client).
Must never block the caller beyond start-up, and never leaves a thread or socket behind after
``stop``/``__exit__``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from fake_registry._app import Registry
from fake_registry._auth import AuthConfig, Authenticator, AuthMode, parse_users
from fake_registry._errors import RegistryError
from fake_registry._faults import Faults, RequestLog
from fake_registry._image import (
    Compression,
    Files,
    Format,
    Image,
    ImageConfig,
    Index,
    Layer,
    build_image,
    build_index,
    parse_platform,
)
from fake_registry._manifests import parse_manifest
from fake_registry._names import check_name, check_tag, digest_of
from fake_registry._server import RegistryHTTPServer
from fake_registry._storage import UPLOAD_TIMEOUT, Storage
from fake_registry._tls import CertificateAuthority


@dataclass(frozen=True, slots=True)
class StoredManifest:
    """A manifest as the registry holds it."""

    body: bytes
    media_type: str
    digest: str

    def json(self) -> Any:
        import json

        return json.loads(self.body)


class FakeRegistryFactory(Protocol):
    """The type of the ``fake_registry_factory`` fixture: ``FakeRegistry``'s keyword arguments in,
    a started registry out (stopped when the test ends)."""

    def __call__(self, **options: Any) -> FakeRegistry: ...


class FakeRegistry:
    """A fake OCI registry on a loopback port, served from a thread.

    ``with FakeRegistry() as reg:`` starts it; ``reg.url`` (``http://127.0.0.1:PORT``) and
    ``reg.host`` (``127.0.0.1:PORT``) address it. ``users`` turns on auth (``auth="basic"`` by
    default when users are given, or ``"bearer"`` for the token flow); ``tls=True`` serves HTTPS
    with a certificate from ``reg.ca`` for ``hostnames`` (default ``127.0.0.1``, ``localhost``,
    ``::1``); ``storage`` is a directory to keep state in (default: memory). ``proxy=True`` also
    starts the HTTPS impersonation proxy (``reg.proxy``; see :class:`ImpersonationProxy`).
    ``strict_accept=True`` refuses OCI manifests and indexes to clients whose ``Accept`` does
    not list them, as registry:2 does (404 ``MANIFEST_UNKNOWN``). ``realm`` is the Basic realm.
    ``upload_timeout`` is how many seconds an upload session lives after it started (default a
    week, as registry:2 purges abandoned uploads); later requests to it get 404
    ``BLOB_UPLOAD_UNKNOWN``. ``control=True`` answers the control API under ``/_fake/``
    (faults, seeding, request log and reset over HTTP, for test suites in other languages; see
    ``fake_registry._control``).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        users: Mapping[str, str] | Iterable[str] | None = None,
        auth: AuthMode | None = None,
        anonymous_pull: bool = False,
        acl: Mapping[str, Mapping[str, str]] | None = None,
        tls: bool = False,
        hostnames: Sequence[str] = (),
        storage: Path | str | None = None,
        proxy: bool = False,
        proxy_port: int = 0,
        proxy_host: str | None = None,
        ca: CertificateAuthority | None = None,
        delete_enabled: bool = True,
        strict_accept: bool = False,
        realm: str = "fake-registry",
        control: bool = False,
        upload_timeout: float = UPLOAD_TIMEOUT,
    ) -> None:
        user_map = parse_users(users)
        mode: AuthMode = auth or ("basic" if user_map else "none")
        self.auth_config = AuthConfig(
            mode=mode, users=user_map, acl=acl, anonymous_pull=anonymous_pull, basic_realm=realm
        )
        self.storage = Storage(storage, upload_timeout=upload_timeout)
        self.faults = Faults()
        self.requests = RequestLog()
        self._own_ca = ca is None and (tls or proxy)
        self.ca: CertificateAuthority | None = ca or (CertificateAuthority() if tls or proxy else None)
        self.registry = Registry(
            self.storage,
            Authenticator(self.auth_config),
            delete_enabled=delete_enabled,
            strict_accept=strict_accept,
        )
        context = None
        if tls:
            assert self.ca is not None
            names = list(hostnames) or ["127.0.0.1", "localhost", "::1"]
            context = self.ca.server_context(names)
        self._server = RegistryHTTPServer((host, port), self.registry, self.faults, self.requests, context)
        if control:
            from fake_registry._control import ControlAPI

            self._server.control = ControlAPI(self).handle
        self._thread: threading.Thread | None = None
        self.proxy: Any = None
        if proxy:
            from fake_registry._proxy import ImpersonationProxy

            assert self.ca is not None
            self.proxy = ImpersonationProxy(self, host=proxy_host or host, port=proxy_port)

    # -- life cycle ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        """``HOST:PORT`` as a registry client writes it (IPv6 in brackets)."""
        address = str(self._server.server_address[0])
        if ":" in address:
            address = f"[{address}]"
        return f"{address}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self._server.scheme}://{self.host}"

    @property
    def ca_pem(self) -> str | None:
        """The CA certificate (PEM) clients must trust, with ``tls=True`` or ``proxy=True``."""
        return self.ca.ca_pem if self.ca else None

    @property
    def ca_file(self) -> Path | None:
        return self.ca.ca_file if self.ca else None

    @property
    def cert_dir(self) -> Path | None:
        """A directory with ``ca.crt``, for ``skopeo --cert-dir``/``--dest-cert-dir``."""
        return self.ca.cert_dir if self.ca else None

    def start(self) -> FakeRegistry:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                daemon=True,
                name="fake-registry",
            )
            self._thread.start()
            if self.proxy is not None:
                self.proxy.start()
        return self

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.close_connections()
        self._server.server_close()
        self.storage.close()
        if self.ca is not None and self._own_ca:
            self.ca.close()

    def __enter__(self) -> FakeRegistry:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def clear(self) -> None:
        """Forget all content, faults and logged requests (the pytest fixture calls this per test)."""
        self.storage.clear()
        self.faults.clear()
        self.requests.clear()
        if self.proxy is not None:
            self.proxy.reset_routes()

    # -- seeding -------------------------------------------------------------------------------

    def push_blob(self, repository: str, data: bytes) -> str:
        """Store a blob in ``repository``; returns its digest."""
        return self.storage.put_blob(check_name(repository), data)

    def push_manifest(
        self, repository: str, body: bytes, media_type: str, tag: str | None = None, *, validate: bool = False
    ) -> str:
        """Store manifest bytes verbatim (any media type, even schema1); returns the digest.

        With ``validate=True`` it is checked like an HTTP push (referenced blobs must exist).
        """
        name = check_name(repository)
        digest = digest_of(body)
        parsed = parse_manifest(body, media_type, digest)
        if validate:
            missing = [d for d in parsed.blobs if not self.storage.has_blob(name, d)]
            missing += [d for d in parsed.children if not self.storage.has_manifest(name, d)]
            if missing:
                raise RegistryError("MANIFEST_BLOB_UNKNOWN", missing[0])
        self.storage.put_manifest(name, parsed.record, body, [check_tag(tag)] if tag else [])
        return digest

    def push(self, repository: str, item: Image | Index, *tags: str) -> str:
        """Store a built image or index (children, then blobs, then the manifest) and tag it."""
        if isinstance(item, Index):
            for child in item.children:
                self.push(repository, child)
        else:
            for data in item.blobs().values():
                self.push_blob(repository, data)
        digest = self.push_manifest(repository, item.manifest, item.media_type)
        for tag in tags:
            self.tag(repository, digest, tag)
        return digest

    def push_image(
        self,
        repository: str,
        tag: str | Sequence[str] | None = "latest",
        layers: Sequence[Files | Layer] = ({"hello.txt": b"hello\n"},),
        config: ImageConfig | None = None,
        *,
        platform: str | None = None,
        format: Format = "oci",
        compression: Compression = "gzip",
        annotations: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        created: str | None = None,
        subject: Image | Index | Mapping[str, Any] | None = None,
        artifact_type: str | None = None,
    ) -> Image:
        """Build an image (see :func:`build_image`) and store it under ``tag`` (or tags).

        ``platform="linux/arm64/v8"``, ``labels`` and ``created`` are shortcuts that adjust
        ``config``.
        """
        config = config or ImageConfig()
        if platform:
            p = parse_platform(platform)
            config = _replace(config, architecture=p.architecture, os=p.os, variant=p.variant)
        if labels is not None:
            config = _replace(config, labels=dict(labels))
        if created is not None:
            config = _replace(config, created=created)
        image = build_image(
            layers,
            config,
            format=format,
            compression=compression,
            annotations=annotations,
            subject=subject,
            artifact_type=artifact_type,
        )
        self.push(repository, image, *_tags(tag))
        return image

    def push_index(
        self,
        repository: str,
        tag: str | Sequence[str] | None = "latest",
        manifests: Sequence[Image | Index] | None = None,
        *,
        platforms: Sequence[str] = ("linux/amd64", "linux/arm64/v8"),
        layers: Sequence[Files | Layer] | None = None,
        format: Format = "oci",
        compression: Compression = "gzip",
        annotations: Mapping[str, str] | None = None,
    ) -> Index:
        """Store a multi-platform index. Without ``manifests``, one image per ``platforms``
        entry is built, each with a file ``platform.txt`` naming its platform (plus ``layers``)."""
        if manifests is None:
            built: list[Image | Index] = []
            for text in platforms:
                own: list[Files | Layer] = [{"platform.txt": text.encode() + b"\n"}]
                built.append(
                    build_image(
                        [*(layers or []), *own], parse_platform(text), format=format, compression=compression
                    )
                )
            manifests = built
        index = build_index(manifests, format=format, annotations=annotations)
        self.push(repository, index, *_tags(tag))
        return index

    def tag(self, repository: str, reference: str, tag: str) -> str:
        """Point ``tag`` at the manifest ``reference`` (a tag or digest) refers to."""
        record = self.storage.resolve(check_name(repository), reference)
        self.storage.put_manifest(repository, record, self.storage.manifest_body(record), [check_tag(tag)])
        return record.digest

    def delete_tag(self, repository: str, tag: str) -> None:
        self.storage.delete_manifest(check_name(repository), tag)

    def tags(self, repository: str) -> list[str]:
        """The repository's tags, sorted (empty if it does not exist)."""
        try:
            return self.storage.tags(check_name(repository))
        except RegistryError:
            return []

    def manifest(self, repository: str, reference: str) -> StoredManifest:
        """Read a manifest back by tag or digest (raises ``RegistryError`` if unknown)."""
        record = self.storage.resolve(check_name(repository), reference)
        return StoredManifest(self.storage.manifest_body(record), record.media_type, record.digest)

    def blob(self, repository: str, digest: str) -> bytes:
        """Read a blob back (whole, in memory: meant for small test blobs)."""
        return self.storage.get_blob(check_name(repository), digest).read()

    def has_blob(self, repository: str, digest: str) -> bool:
        return self.storage.has_blob(check_name(repository), digest)

    def repositories(self) -> list[str]:
        return self.storage.repositories()


def _tags(tag: str | Sequence[str] | None) -> list[str]:
    if tag is None:
        return []
    if isinstance(tag, str):
        return [tag]
    return list(tag)


def _replace(config: ImageConfig, **changes: Any) -> ImageConfig:
    import dataclasses

    return dataclasses.replace(config, **changes)
