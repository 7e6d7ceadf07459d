"""The registry client: the distribution API as the resource uses it, for one repository.

This module owns the requests the resource sends to a registry (SPEC B.3.2.1, B.3.6, B.6.1): tag
listing with ``Link`` pagination, manifest HEAD/GET with digest verification, blob existence,
cross-repository mount, upload and manifest push. The ping and the choice of scheme are
``ping.py``'s, reading a blob (verified, resumed with ``Range``) is ``blobs.py``'s, chunked uploads
are ``uploads.py``'s. Every request is retried per ``retry.py`` and re-authenticated per
``auth.py``. It must never log or raise a message containing a credential or token, and never
follow a pagination link to another host.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, BinaryIO
from urllib.parse import quote, urljoin, urlsplit

from registry_image_resource.errors import IntegrityError, RegistryError, ResourceError, TransportError
from registry_image_resource.log import get_logger
from registry_image_resource.registry import retry
from registry_image_resource.registry._http.connections import (
    HTTP,
    MAX_ERROR_BODY,
    is_retryable_exception,
    is_transport_failure,
    same_origin,
)
from registry_image_resource.registry._http.transport import ConnectOptions, deferred_tls_context, new_http
from registry_image_resource.registry.auth import Authenticator, parse_challenges, pick_challenge, scope_for
from registry_image_resource.registry.digests import is_digest, sha256_digest
from registry_image_resource.registry.errors import describe_exception, registry_error
from registry_image_resource.registry.mediatypes import ACCEPT, DOCKER_MANIFEST_V1_SIGNED, detect_media_type
from registry_image_resource.registry.ping import ping
from registry_image_resource.registry.reference import Repository
from registry_image_resource.registry.retry import RETRY_STATUSES, Retryable, RetryPolicy

if TYPE_CHECKING:
    from registry_image_resource.protocol.models import Source
    from registry_image_resource.registry._http.connections import Response as BaseHTTPResponse
    from registry_image_resource.registry.blobs import BlobReader

__all__ = ["ConnectOptions", "Manifest", "RegistryClient", "options_from_source"]

_log = get_logger()

TAGS_PAGE_SIZE = 1000
#: Bytes per PATCH of a chunked upload (S3-backed registries and ECR refuse parts under 5 MiB).
UPLOAD_PART = 5 << 20


@dataclass(frozen=True, slots=True)
class Manifest:
    """A manifest or index exactly as the registry sent it."""

    body: bytes
    media_type: str
    digest: str


def options_from_source(source: Source) -> ConnectOptions:
    """The connection options ``source`` asks for (its own registry; a mirror has its own)."""
    return ConnectOptions(
        username=source.username,
        password=source.password,
        insecure=source.insecure,
        ca_certs=tuple(source.ca_certs),
        client_cert=source.client_cert,
        client_key=source.client_key,
    )


def _quote_ref(ref: str) -> str:
    return quote(ref, safe=":@+")


def _next_link(header: str | None, request_url: str, base_url: str) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header, refused if it leaves the registry (B.3.2.1)."""
    if not header:
        return None
    for part in header.split(","):
        target, _, params = part.partition(";")
        target = target.strip()
        if not (target.startswith("<") and target.endswith(">")):
            continue
        rels = [p.strip() for p in params.split(";")]
        if not any(r.replace(" ", "") in ('rel="next"', "rel=next") for r in rels):
            continue
        url = urljoin(request_url, target[1:-1])
        got, want = urlsplit(url), urlsplit(base_url)
        if got.scheme != want.scheme:
            raise RegistryError(
                f'pagination URL scheme "{got.scheme}" does not match registry scheme "{want.scheme}"'
            )
        if got.netloc != want.netloc:
            raise RegistryError("pagination URL host does not match registry host: potential SSRF attack")
        return url
    return None


class RegistryClient:
    """One repository on one registry, over one pooled, authenticated connection set. Thread-safe."""

    def __init__(
        self,
        repo: Repository,
        http: HTTP,
        base_url: str,
        auth: Authenticator,
        policy: RetryPolicy,
    ) -> None:
        self.repo = repo
        self.base_url = base_url
        self._http = http
        self._auth = auth
        self._policy = policy

    @property
    def requests_sent(self) -> int:
        """HTTP exchanges so far, the ping and token requests included (for benchmarks and logs)."""
        return self._http.count

    # --- set-up -----------------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        repo: Repository,
        options: ConnectOptions,
        actions: str = "pull",
        *,
        env: Mapping[str, str] | None = None,
    ) -> RegistryClient:
        """Ping the registry, choose HTTPS or (where allowed) HTTP, and authenticate for ``actions``.

        Errors are prefixed ``initialize transport: `` as in the Go resource.
        """
        policy = RetryPolicy.from_env(os.environ if env is None else env)
        http = new_http(deferred_tls_context(options), registry=repo.registry, insecure=options.insecure)
        try:
            scheme, challenge_header = ping(http, repo.registry, options, policy)
            auth = Authenticator(http, registry=repo.registry, scheme=scheme, options=options, policy=policy)
            challenge = pick_challenge(parse_challenges(challenge_header)) if challenge_header else None
            auth.start(challenge, (scope_for(repo.path, actions),))
        except ResourceError as err:
            http.close()
            raise err.wrap("initialize transport") from None
        except BaseException:
            http.close()
            raise
        return cls(repo, http, f"{scheme}://{repo.registry}", auth, policy)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the core request -------------------------------------------------------------------

    def _url(self, suffix: str) -> str:
        return f"{self.base_url}/v2/{self.repo.path}/{suffix}"

    def _send(
        self,
        method: str,
        url: str,
        *,
        ok: Collection[int] = (200,),
        headers: Mapping[str, str] | None = None,
        body: Callable[[], bytes | IO[bytes]] | None = None,
        stream: bool = False,
    ) -> BaseHTTPResponse:
        """Send with retries and re-authentication; return a response whose status is in ``ok``.

        Unless ``stream``, the body has been read (so a truncated body is retried here).
        ``body`` is called once per attempt, so a file can be sent again from its start.
        """
        sent = headers or {}
        return retry.call(
            lambda: self._attempt(method, url, ok=ok, headers=sent, body=body, stream=stream), self._policy
        )

    def _attempt(
        self,
        method: str,
        url: str,
        *,
        ok: Collection[int],
        headers: Mapping[str, str],
        body: Callable[[], bytes | IO[bytes]] | None,
        stream: bool,
    ) -> BaseHTTPResponse:
        if not url.isprintable() or " " in url:  # other spaces are not printable
            raise RegistryError(
                f"{method} {url!r}: the registry gave a URL with spaces or control characters"
            )
        same_host = same_origin(url, self.base_url)  # credentials go to the registry only
        for _ in range(2):  # the second time with renewed credentials after a 401
            generation = self._auth.generation
            sent = dict(headers)
            if same_host:
                sent.update(self._auth.header())
            data = body() if body is not None else None
            try:
                response = self._http.request(method, url, headers=sent, body=data, stream=stream)
                if stream and response.status not in ok:
                    response.data = response.read_bounded(MAX_ERROR_BODY)  # for the error's message
            except Exception as err:
                if not is_retryable_exception(err) and not is_transport_failure(err):
                    raise
                failure = TransportError(f"{method} {url}: {describe_exception(err)}")
                if is_retryable_exception(err):
                    raise Retryable(failure) from None
                raise failure from None
            finally:
                if data is not None and not isinstance(data, bytes):
                    data.close()
            status = response.status
            _log.debug("%s %s: %d", method, url, status)
            if (
                status == 401
                and same_host
                and self._auth.on_unauthorized(response.headers.get("WWW-Authenticate", ""), generation)
            ):
                continue
            if status in ok:
                return response
            break
        error = registry_error(method, url, status, response.data)
        if status in RETRY_STATUSES:
            raise Retryable(error, retry.parse_retry_after(response.headers.get("Retry-After")))
        raise error

    # --- tags and manifests -----------------------------------------------------------------

    def list_tags(self) -> list[str]:
        """Every tag, following ``Link: <...>; rel="next"`` pages on the same registry only."""
        return [tag for page in self.tag_pages() for tag in page]

    def tag_pages(self) -> Iterator[list[str]]:
        """The tags page by page (``n=1000``, the most ECR accepts), each as soon as it arrives."""
        url: str | None = self._url(f"tags/list?n={TAGS_PAGE_SIZE}")
        while url is not None:
            response = self._send("GET", url)
            try:
                document = json.loads(response.data)
            except ValueError:
                status = response.status
                raise RegistryError(f"GET {url}: invalid JSON in tag list", status=status) from None
            page = document.get("tags") if isinstance(document, dict) else None
            if page is not None and not (isinstance(page, list) and all(isinstance(t, str) for t in page)):
                raise RegistryError(f"GET {url}: malformed tag list", status=response.status)
            url = _next_link(response.headers.get("Link"), _final_url(response, url), self.base_url)
            yield page or []

    def head_or_get_digest(self, ref: str) -> str | None:
        """The digest ``ref`` (tag or digest) resolves to, or None when the registry has no such manifest.

        SPEC B.3.6: HEAD first; its ``Docker-Content-Digest`` is trusted only when it is a valid
        digest, with ``Content-Type`` and ``Content-Length`` present (and equal to a requested
        digest); otherwise GET and hash.
        """
        url = self._url(f"manifests/{_quote_ref(ref)}")
        headers = {"Accept": ACCEPT}
        try:
            response = self._send("HEAD", url, headers=headers, ok=(200, 404))
        except RegistryError:
            response = None
        if response is not None:
            if response.status == 404:
                return None
            digest = response.headers.get("Docker-Content-Digest")
            if (
                digest
                and is_digest(digest)  # a header that is no digest is as good as none
                and response.headers.get("Content-Type")
                and response.headers.get("Content-Length")
                and (not _is_digest(ref) or digest == ref)
            ):
                return digest
        response = self._send("GET", url, headers=headers, ok=(200, 404))
        if response.status == 404:
            return None
        return self._manifest_digest(ref, response).digest

    def get_manifest(self, ref: str) -> Manifest:
        """The manifest or index for ``ref``; a digest ``ref`` is verified against the body."""
        url = self._url(f"manifests/{_quote_ref(ref)}")
        response = self._send("GET", url, headers={"Accept": ACCEPT})
        return self._manifest_digest(ref, response)

    def _manifest_digest(self, ref: str, response: BaseHTTPResponse) -> Manifest:
        body = response.data
        content_type = response.headers.get("Content-Type")
        media_type = detect_media_type(body, content_type)
        header = response.headers.get("Docker-Content-Digest", "")
        if media_type == DOCKER_MANIFEST_V1_SIGNED and is_digest(header):
            digest = header
        elif _is_digest(ref) and not ref.startswith("sha256:"):
            algorithm = ref.split(":", 1)[0]
            try:
                import hashlib

                digest = f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"
            except ValueError:
                raise IntegrityError(f"unsupported digest algorithm in {ref!r}") from None
        else:
            digest = sha256_digest(body)
        if _is_digest(ref) and digest != ref:
            raise IntegrityError(
                f'manifest digest: "{digest}" does not match requested digest: "{ref}" for '
                f'"{self.repo.name}@{ref}"'
            )
        return Manifest(body=body, media_type=media_type, digest=digest)

    def put_manifest(self, ref: str, body: bytes, media_type: str) -> str:
        """Push a manifest or index under ``ref`` (tag or digest); returns its digest."""
        url = self._url(f"manifests/{_quote_ref(ref)}")
        self._send("PUT", url, ok=(200, 201, 202), headers={"Content-Type": media_type}, body=lambda: body)
        return sha256_digest(body)

    # --- blobs ------------------------------------------------------------------------------

    def blob_exists(self, digest: str) -> bool:
        response = self._send("HEAD", self._url(f"blobs/{digest}"), ok=(200, 404))
        return response.status == 200

    def open_blob(self, digest: str, size: int | None = None, offset: int = 0) -> BlobReader:
        """A stream of the blob's bytes from ``offset``, verified at EOF (digest from 0 only, size always)."""
        from registry_image_resource.registry.blobs import BlobReader

        return BlobReader(self, digest, size, offset)

    def fetch_blob(self, digest: str, size: int | None = None) -> bytes:
        """A small blob (an image config) whole, verified."""
        with self.open_blob(digest, size) as reader:
            return reader.read()

    def mount_blob(self, digest: str, from_repo: Repository) -> bool:
        """Mount ``digest`` from another repository of the same registry; False if it was not mounted."""
        if from_repo.registry != self.repo.registry:
            return False
        self._auth.add_scope(scope_for(from_repo.path, "pull"))
        query = f"mount={quote(digest, safe=':')}&from={quote(from_repo.path, safe='/')}"
        url = self._url(f"blobs/uploads/?{query}")
        response = self._send("POST", url, ok=(201, 202))
        if response.status == 201:
            return True
        # The registry opened an ordinary upload instead: cancel it.
        location = response.headers.get("Location")
        if location:
            try:
                self._send("DELETE", urljoin(_final_url(response, url), location), ok=(200, 202, 204, 404))
            except ResourceError as err:
                _log.debug("cancelling upload after a refused mount: %s", err)
        return False

    def upload_blob(self, digest: str, size: int, opener: Callable[[], BinaryIO]) -> None:
        """Upload a blob: POST for a session, then one streamed PUT (the whole upload is retried)."""

        def attempt() -> None:
            start = self._attempt(
                "POST", self._url("blobs/uploads/"), ok=(202,), headers={}, body=None, stream=False
            )
            location = start.headers.get("Location")
            if not location:
                raise RegistryError(f"POST {self._url('blobs/uploads/')}: no Location in the answer")
            target = urljoin(_final_url(start, self.base_url), location)
            target += ("&" if "?" in target else "?") + f"digest={quote(digest, safe=':')}"
            self._attempt(
                "PUT",
                target,
                ok=(201, 204),
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                body=opener,
                stream=False,
            )

        retry.call(attempt, self._policy)

    def upload_chunks(
        self, chunks: Callable[[], Iterable[bytes]], part: int = UPLOAD_PART
    ) -> tuple[str, int]:
        """Upload a blob whose digest is known only at its end; returns ``(digest, size)``.

        POST for a session, a ``PATCH`` with ``Content-Range`` (in order, from 0) per ``part``
        bytes as ``chunks()`` produces them, then ``PUT ?digest=`` with no body. A failure starts
        over with a new session and a new ``chunks()`` (the whole upload is retried).
        """
        from registry_image_resource.registry.uploads import chunked_upload

        def attempt() -> tuple[str, int]:
            source = chunks()
            try:
                return chunked_upload(self, source, part)
            finally:
                close = getattr(source, "close", None)
                if close is not None:
                    close()  # a generator stops its work in flight

        return retry.call(attempt, self._policy)

    def _get_blob_response(self, digest: str, offset: int) -> BaseHTTPResponse:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        return self._send("GET", self._url(f"blobs/{digest}"), ok=(200, 206), headers=headers, stream=True)


def _final_url(response: BaseHTTPResponse, url: str) -> str:
    """The URL that answered (after redirects), to resolve relative ``Location``/``Link`` against."""
    final = response.url  # the last URL requested, after redirects
    return urljoin(url, final) if final else url


def _is_digest(ref: str) -> bool:
    algorithm, sep, encoded = ref.partition(":")
    return bool(sep and algorithm and encoded) and "/" not in ref
