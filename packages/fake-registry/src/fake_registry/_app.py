"""The registry as an application: a request in, a response out (the distribution API's routes).

Owns routing, the spec's status codes and headers for every endpoint, auth decisions per route,
and the token endpoint. Works on :class:`Request`/:class:`Response` values so it can be tested
without sockets; the body is a stream, read by the route that needs it.

Must never write to a socket, sleep, or apply faults (``_server`` does), and never reads an
unbounded body into memory: manifests are capped at 4 MiB, blobs are streamed into storage.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO
from urllib.parse import parse_qs, quote, urlencode

from fake_registry._auth import Authenticator, Scope
from fake_registry._errors import RegistryError, error_body
from fake_registry._manifests import MAX_MANIFEST_SIZE, OCI_INDEX, OCI_MANIFEST, parse_manifest
from fake_registry._names import TAG_RE, check_digest, check_name, check_tag, digest_of
from fake_registry._storage import Storage

API_VERSION = "registry/2.0"


@dataclass(slots=True)
class Request:
    """What a route sees. ``headers`` keys are lower case; ``body`` streams the request body."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: BinaryIO
    base_url: str
    content_length: int | None = None

    def param(self, name: str) -> str | None:
        values = parse_qs(self.query, keep_blank_values=True).get(name)
        return values[0] if values else None

    def params(self, name: str) -> list[str]:
        return parse_qs(self.query, keep_blank_values=True).get(name, [])


@dataclass(slots=True)
class Response:
    """What a route answers. ``body`` is bytes or a lazily read iterable of ``length`` bytes."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | Iterable[bytes] = b""
    length: int | None = None

    def __post_init__(self) -> None:
        if self.length is None and isinstance(self.body, bytes):
            self.length = len(self.body)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def chunks(self) -> Iterator[bytes]:
        if isinstance(self.body, bytes):
            if self.body:
                yield self.body
        else:
            yield from self.body


def json_response(status: int, doc: object, headers: list[tuple[str, str]] | None = None) -> Response:
    body = json.dumps(doc, separators=(",", ":")).encode() + b"\n"
    return Response(status, [("Content-Type", "application/json; charset=utf-8"), *(headers or [])], body)


def error_response(err: RegistryError) -> Response:
    headers = [("Content-Type", "application/json; charset=utf-8"), *err.headers.items()]
    return Response(err.status, headers, err.body())


Route = Callable[["Registry", Request, dict[str, str]], Response]
_NAME = r"(?P<name>.+?)"
_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^/v2/?$"), "ping"),
    (re.compile(r"^/v2/_catalog$"), "catalog"),
    (re.compile(rf"^/v2/{_NAME}/tags/list$"), "tags"),
    (re.compile(rf"^/v2/{_NAME}/manifests/(?P<ref>[^/]+)$"), "manifest"),
    (re.compile(rf"^/v2/{_NAME}/blobs/uploads/?$"), "upload_start"),
    (re.compile(rf"^/v2/{_NAME}/blobs/uploads/(?P<uuid>[^/]+)$"), "upload"),
    (re.compile(rf"^/v2/{_NAME}/blobs/(?P<digest>[^/]+)$"), "blob"),
    (re.compile(rf"^/v2/{_NAME}/referrers/(?P<digest>[^/]+)$"), "referrers"),
    (re.compile(r"^/token/?$"), "token"),
]
_METHODS = {
    "ping": {"GET", "HEAD"},
    "catalog": {"GET"},
    "tags": {"GET"},
    "manifest": {"GET", "HEAD", "PUT", "DELETE"},
    "upload_start": {"POST"},
    "upload": {"GET", "PATCH", "PUT", "DELETE"},
    "blob": {"GET", "HEAD", "DELETE"},
    "referrers": {"GET"},
    "token": {"GET", "POST"},
}


def _actions(method: str) -> tuple[str, ...]:
    """What a method needs, as registry:2 asks for it: a write needs ``pull,push`` (clients cache
    tokens per scope string, so asking for the same string as registry:2 and Docker Hub matters)."""
    return {"GET": ("pull",), "HEAD": ("pull",), "DELETE": ("delete",)}.get(method, ("pull", "push"))


class Registry:
    """The distribution API over a :class:`Storage` and an :class:`Authenticator`."""

    def __init__(
        self,
        storage: Storage,
        auth: Authenticator,
        *,
        delete_enabled: bool = True,
        strict_accept: bool = False,
    ) -> None:
        self.storage = storage
        self.auth = auth
        self.delete_enabled = delete_enabled
        self.strict_accept = strict_accept

    def handle(self, req: Request) -> Response:
        try:
            response = self._dispatch(req)
        except RegistryError as err:
            response = error_response(err)
        response.headers.append(("Docker-Distribution-Api-Version", API_VERSION))
        return response

    def _dispatch(self, req: Request) -> Response:
        if req.method == "OPTIONS":  # registry:2 answers CORS pre-flights on every path
            return self._ping(req, {})
        for pattern, route in _ROUTES:
            match = pattern.match(req.path)
            if match is None:
                continue
            if req.method not in _METHODS[route]:
                raise RegistryError("UNSUPPORTED", has_detail=False)
            args = match.groupdict()
            if route == "token":
                return self._token(req)
            if "name" in args:
                check_name(args["name"])
            self._authorize(req, route, args)
            handler: Route = getattr(Registry, "_" + route)
            return handler(self, req, args)
        return Response(404, [("Content-Type", "text/plain; charset=utf-8")], b"404 page not found\n")

    def _authorize(self, req: Request, route: str, args: dict[str, str]) -> None:
        if not self.auth.enabled:
            return
        scopes: list[Scope] = []
        if route == "catalog":
            scopes.append(Scope("registry", "catalog", "*"))
        elif "name" in args:
            scopes.extend(Scope("repository", args["name"], action) for action in _actions(req.method))
            if route == "upload_start" and req.param("mount") and req.param("from"):
                source = req.param("from") or ""
                if source != args["name"]:
                    scopes.append(Scope("repository", source, "pull"))
        self.auth.check(req.headers.get("authorization"), scopes, req.base_url)

    # -- routes --------------------------------------------------------------------------------

    def _token(self, req: Request) -> Response:
        if self.auth.config.mode != "bearer":
            return Response(404, [("Content-Type", "text/plain; charset=utf-8")], b"404 page not found\n")
        form = read_bounded(req, 64 << 10) if req.method == "POST" else b""
        body = self.auth.issue_token(req.method, req.headers.get("authorization"), req.query, form)
        return Response(200, [("Content-Type", "application/json")], body)

    def _ping(self, req: Request, args: dict[str, str]) -> Response:
        return Response(200, [("Content-Type", "application/json; charset=utf-8")], b"{}")

    def _catalog(self, req: Request, args: dict[str, str]) -> Response:
        names = self.storage.repositories()
        page, link = _paginate(names, req, "/v2/_catalog")
        return json_response(200, {"repositories": page}, link)

    def _tags(self, req: Request, args: dict[str, str]) -> Response:
        name = args["name"]
        tags = self.storage.tags(name)
        page, link = _paginate(tags, req, f"/v2/{name}/tags/list")
        # registry:2 answers null, not [], for a repository whose tags were all deleted.
        return json_response(200, {"name": name, "tags": page or None}, link)

    def _manifest(self, req: Request, args: dict[str, str]) -> Response:
        name, ref = args["name"], args["ref"]
        if ":" in ref:
            check_digest(ref)
        elif req.method in ("GET", "HEAD") and TAG_RE.fullmatch(ref) is None:
            # A name that cannot be a tag names no manifest: 404, as registry:2 (whose route does
            # not match it) and the conformance suite's ``.INVALID_MANIFEST_NAME`` expect.
            raise RegistryError("MANIFEST_UNKNOWN", {"Tag": ref})
        else:
            check_tag(ref)
        if req.method == "PUT":
            return self._put_manifest(req, name, ref)
        if req.method == "DELETE":
            if not self.delete_enabled:
                raise RegistryError("UNSUPPORTED", has_detail=False)
            self.storage.delete_manifest(name, ref)
            return Response(202, [("Content-Length", "0")])
        record = self.storage.resolve(name, ref)
        if self.strict_accept:
            _check_accept(record.media_type, req.headers.get("accept", ""))
        headers = [
            ("Content-Type", record.media_type),
            ("Docker-Content-Digest", record.digest),
            ("Etag", f'"{record.digest}"'),
        ]
        if req.method == "HEAD":
            return Response(200, headers, b"", record.size)
        return Response(200, headers, self.storage.manifest_body(record))

    def _put_manifest(self, req: Request, name: str, ref: str) -> Response:
        if req.content_length is not None and req.content_length > MAX_MANIFEST_SIZE:
            raise RegistryError("MANIFEST_INVALID", "manifest too large")
        body = read_bounded(req, MAX_MANIFEST_SIZE, "MANIFEST_INVALID")
        algorithm = ref.split(":", 1)[0] if ":" in ref else "sha256"
        digest = digest_of(body, algorithm)
        if ":" in ref and ref != digest:
            raise RegistryError("DIGEST_INVALID", {"Digest": ref})
        parsed = parse_manifest(body, req.headers.get("content-type"), digest)
        unknown = [d for d in parsed.blobs if not self.storage.has_blob(name, d)]
        unknown += [d for d in parsed.children if not self.storage.has_manifest(name, d)]
        if unknown:
            errors = [RegistryError("MANIFEST_BLOB_UNKNOWN", d) for d in unknown]
            raise _MultiError(errors)
        # A push by digest may name its tags as ``?tag=`` parameters (the spec's MAY, the only way to
        # tag a manifest addressed by a digest other than sha256): each one is echoed in ``OCI-Tag``.
        tags = list(dict.fromkeys(map(check_tag, req.params("tag")))) if ":" in ref else [ref]
        self.storage.put_manifest(name, parsed.record, body, tags)
        headers = [
            ("Content-Length", "0"),
            ("Docker-Content-Digest", digest),
            ("Location", f"{req.base_url}/v2/{name}/manifests/{digest}"),
        ]
        if ":" in ref:
            headers.extend(("OCI-Tag", tag) for tag in tags)
        if parsed.record.subject:
            headers.append(("OCI-Subject", parsed.record.subject))
        return Response(201, headers)

    def _blob(self, req: Request, args: dict[str, str]) -> Response:
        name, digest = args["name"], check_digest(args["digest"])
        if req.method == "DELETE":
            if not self.delete_enabled:
                raise RegistryError("UNSUPPORTED", has_detail=False)
            self.storage.delete_blob(name, digest)
            return Response(202, [("Content-Length", "0")])
        blob = self.storage.get_blob(name, digest)
        headers = [
            ("Accept-Ranges", "bytes"),
            ("Cache-Control", "max-age=31536000"),
            ("Content-Type", "application/octet-stream"),
            ("Docker-Content-Digest", digest),
            ("Etag", f'"{digest}"'),
        ]
        if req.method == "HEAD":
            return Response(200, headers, b"", blob.size)
        wanted = req.headers.get("range")
        if wanted:
            span = _parse_range(wanted, blob.size)
            if span is None:
                return Response(
                    416,
                    [
                        ("Content-Range", f"bytes */{blob.size}"),
                        ("Content-Type", "text/plain; charset=utf-8"),
                        ("Docker-Content-Digest", digest),
                        ("Etag", f'"{digest}"'),
                    ],
                    b"requested range not satisfiable\n",
                )
            start, end = span
            headers.append(("Content-Range", f"bytes {start}-{end - 1}/{blob.size}"))
            return Response(206, headers, blob.iter_range(start, end), end - start)
        return Response(200, headers, blob.iter_range(), blob.size)

    def _upload_location(self, req: Request, name: str, upload_id: str) -> str:
        return f"{req.base_url}/v2/{name}/blobs/uploads/{upload_id}"

    def _upload_headers(self, req: Request, name: str, upload_id: str, size: int) -> list[tuple[str, str]]:
        return [
            ("Content-Length", "0"),
            ("Docker-Upload-Uuid", upload_id),
            ("Location", self._upload_location(req, name, upload_id)),
            ("Range", f"0-{max(size - 1, 0)}"),
        ]

    def _blob_created(self, req: Request, name: str, digest: str) -> Response:
        return Response(
            201,
            [
                ("Content-Length", "0"),
                ("Docker-Content-Digest", digest),
                ("Location", f"{req.base_url}/v2/{name}/blobs/{digest}"),
            ],
        )

    def _upload_start(self, req: Request, args: dict[str, str]) -> Response:
        name = args["name"]
        mount, source = req.param("mount"), req.param("from")
        if mount and source:
            check_digest(mount)
            if valid_source(source) and self.storage.mount_blob(name, mount, source):
                return self._blob_created(req, name, mount)
        digest = req.param("digest")
        upload = self.storage.start_upload(name)
        # A single-request upload needs a body; ``?digest=`` on an empty POST starts a session,
        # as registry:2 does for every POST.
        if digest and req.content_length != 0:
            with upload.lock:
                try:
                    upload.append(req.body)
                    self.storage.commit_upload(upload, digest)
                except BaseException:
                    self.storage.drop_upload(upload)
                    raise
            return self._blob_created(req, name, digest)
        return Response(202, self._upload_headers(req, name, upload.id, 0))

    def _upload(self, req: Request, args: dict[str, str]) -> Response:
        name, upload_id = args["name"], args["uuid"]
        if req.method == "DELETE":
            self.storage.cancel_upload(name, upload_id)
            return Response(204, [("Docker-Upload-Uuid", upload_id)])
        upload = self.storage.get_upload(name, upload_id)
        if req.method == "GET":
            return Response(204, self._upload_headers(req, name, upload_id, upload.size)[1:])
        if not upload.lock.acquire(blocking=False):
            raise RegistryError("BLOB_UPLOAD_INVALID", "upload busy with another request")
        try:
            if not _continues(req.headers.get("content-range"), upload.size):
                # A chunk that does not start where the session ends, be it a PATCH or the final
                # PUT, is refused and the session kept as it was (the spec's 416).
                return Response(
                    416,
                    [
                        ("Content-Type", "application/json; charset=utf-8"),
                        *self._upload_headers(req, name, upload_id, upload.size)[1:],
                    ],
                    RegistryError("RANGE_INVALID", has_detail=False).body(),
                )
            if req.method == "PATCH":
                upload.append(req.body)
                return Response(202, self._upload_headers(req, name, upload_id, upload.size))
            digest = req.param("digest")
            if not digest:
                raise RegistryError("DIGEST_INVALID", {}, has_detail=True)
            check_digest(digest)
            before = upload.size
            try:
                upload.append(req.body)
                self.storage.commit_upload(upload, digest)
            except BaseException:
                # a failed final PUT (bad digest, client gone mid-body) leaves the session as it was
                upload.truncate(before)
                raise
            return self._blob_created(req, name, digest)
        finally:
            upload.lock.release()

    def _referrers(self, req: Request, args: dict[str, str]) -> Response:
        name, digest = args["name"], check_digest(args["digest"])
        wanted = req.param("artifactType")
        items = []
        for record in self.storage.referrers(name, digest):
            if wanted and record.artifact_type != wanted:
                continue
            desc: dict[str, object] = {
                "mediaType": record.media_type,
                "digest": record.digest,
                "size": record.size,
            }
            if record.artifact_type:
                desc["artifactType"] = record.artifact_type
            if record.annotations:
                desc["annotations"] = record.annotations
            items.append(desc)
        # Sorted by digest, paged with n/last and Link as tag lists are.
        by_digest = {str(d["digest"]): d for d in items}
        extra = {"artifactType": wanted} if wanted else {}
        page, link = _paginate(list(by_digest), req, f"/v2/{name}/referrers/{digest}", extra)
        body = json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [by_digest[d] for d in page]}
        ).encode()
        headers = [("Content-Type", OCI_INDEX), *link]
        if wanted:
            headers.append(("OCI-Filters-Applied", "artifactType"))
        return Response(200, headers, body)


class _MultiError(RegistryError):
    """Several errors in one answer (registry:2 lists every unknown blob of a manifest)."""

    def __init__(self, errors: list[RegistryError]) -> None:
        super().__init__(errors[0].code, errors[0].detail)
        self.errors = errors

    def body(self) -> bytes:
        return error_body(self.errors)


def _check_accept(media_type: str, accept: str) -> None:
    """registry:2's refusal to serve OCI content to clients that did not ask for it."""
    accepted = {part.split(";")[0].strip() for part in accept.split(",")}
    if media_type == OCI_MANIFEST and OCI_MANIFEST not in accepted:
        raise RegistryError(
            "MANIFEST_UNKNOWN",
            has_detail=False,
            message="OCI manifest found, but accept header does not support OCI manifests",
        )
    if media_type == OCI_INDEX and OCI_INDEX not in accepted:
        raise RegistryError(
            "MANIFEST_UNKNOWN",
            has_detail=False,
            message="OCI index found, but accept header does not support OCI indexes",
        )


def _continues(content_range: str | None, size: int) -> bool:
    """Whether a chunk's ``Content-Range`` (if any) starts at the session's current size."""
    if not content_range:
        return True
    match = re.fullmatch(r"(?:bytes[ =])?(\d+)-(\d+)(?:/\d+|/\*)?", content_range.strip())
    return match is not None and int(match.group(1)) == size


def valid_source(name: str) -> bool:
    try:
        check_name(name)
    except RegistryError:
        return False
    return True


def read_bounded(req: Request, limit: int, code: str = "SIZE_INVALID") -> bytes:
    data = req.body.read(limit + 1)
    if len(data) > limit:
        raise RegistryError(code, "request body too large")
    return data


def _paginate(
    items: list[str], req: Request, path: str, extra: dict[str, str] | None = None
) -> tuple[list[str], list[tuple[str, str]]]:
    """A page of sorted ``items`` after ``last``; ``extra`` query parameters go into ``Link``."""
    last = req.param("last")
    raw_n = req.param("n")
    if last:
        items = [i for i in items if i > last]
    if raw_n is None or raw_n == "":
        return items, []
    try:
        n = int(raw_n)
    except ValueError:
        raise RegistryError("PAGINATION_NUMBER_INVALID", {"n": raw_n}) from None
    if n < 0:
        raise RegistryError("PAGINATION_NUMBER_INVALID", {"n": raw_n})
    page = items[:n]
    if n and len(items) > n:
        query = urlencode({**(extra or {}), "last": page[-1], "n": str(n)}, safe=":", quote_via=quote)
        return page, [("Link", f'<{path}?{query}>; rel="next"')]
    return page, []


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` (inclusive) -> ``(start, end)`` (exclusive end); ``None`` if unsatisfiable."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", value)
    if match is None or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:
        length = int(last)
        if length == 0:
            return None
        return max(size - length, 0), size
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or end <= start:
        return None
    return start, end
