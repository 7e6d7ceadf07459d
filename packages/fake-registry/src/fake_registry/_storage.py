"""Where blobs, manifests, tags and upload sessions live: in memory or in a directory.

Owns the data model (content-addressed blobs, per-repository links, manifests, tags, uploads) and
its consistency under concurrent requests. Blobs are streamed: an upload is appended to a file on
disk while its digest is computed, and is visible only once committed under its verified digest,
so a failed or cancelled upload never leaves a partial blob behind. Memory storage keeps small
blobs (up to ``spill_threshold``) in memory and larger ones in a private temporary directory, so
a multi-GB blob never sits in memory either way. Directory storage writes each repository's state
as JSON next to the blobs and reloads it on start.

Must never parse HTTP or decide status codes (it raises :class:`RegistryError` for the spec errors
the data model decides: unknown blob, unknown upload, digest mismatch), and never builds a file
path from anything but a validated repository name or a validated digest.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from fake_registry._errors import RegistryError
from fake_registry._names import DIGEST_RE, HASHES, check_digest, check_name

CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    """A stored manifest: its bytes live in the blob store under ``digest``."""

    digest: str
    media_type: str
    size: int
    subject: str | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None
    children: tuple[str, ...] = ()


@dataclass(slots=True)
class _Repo:
    layers: set[str] = field(default_factory=set)
    manifests: dict[str, ManifestRecord] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "layers": sorted(self.layers),
            "tags": self.tags,
            "manifests": [
                {
                    "digest": m.digest,
                    "media_type": m.media_type,
                    "size": m.size,
                    "subject": m.subject,
                    "artifact_type": m.artifact_type,
                    "annotations": m.annotations,
                    "children": list(m.children),
                }
                for m in self.manifests.values()
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Repo:
        repo = cls(layers=set(data["layers"]), tags=dict(data["tags"]))
        for m in data["manifests"]:
            repo.manifests[m["digest"]] = ManifestRecord(
                digest=m["digest"],
                media_type=m["media_type"],
                size=m["size"],
                subject=m["subject"],
                artifact_type=m["artifact_type"],
                annotations=m["annotations"],
                children=tuple(m["children"]),
            )
        return repo


class Blob:
    """A committed blob: in memory (``data``) or in a file (``path``). Immutable once made."""

    __slots__ = ("data", "digest", "path", "size")

    def __init__(self, digest: str, size: int, data: bytes | None = None, path: Path | None = None) -> None:
        self.digest = digest
        self.size = size
        self.data = data
        self.path = path

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()

    def iter_range(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield the bytes ``start`` to ``end`` (exclusive) in chunks, reading the file lazily."""
        stop = self.size if end is None else min(end, self.size)
        if self.data is not None:
            view = memoryview(self.data)
            for offset in range(start, stop, CHUNK):
                yield bytes(view[offset : min(offset + CHUNK, stop)])
            return
        assert self.path is not None
        with self.path.open("rb") as f:
            f.seek(start)
            remaining = stop - start
            while remaining > 0:
                chunk = f.read(min(CHUNK, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk


# registry:2's default: abandoned uploads purged once they are a week old (uploadpurging.age 168h)
UPLOAD_TIMEOUT = 7 * 24 * 3600.0


class Upload:
    """An upload session: bytes appended to a file while sha256 is computed on the way."""

    def __init__(self, upload_id: str, repo: str, path: Path) -> None:
        self.id = upload_id
        self.repo = repo
        self.path = path
        self.size = 0
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self._hash = hashlib.sha256()
        self._file: BinaryIO | None = path.open("wb")

    def append(self, stream: BinaryIO | None, data: bytes = b"") -> int:
        """Append ``data`` and then everything ``stream`` yields; return the bytes added."""
        assert self._file is not None
        added = 0
        if data:
            self._write(data)
            added += len(data)
        if stream is not None:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                self._write(chunk)
                added += len(chunk)
        return added

    def _write(self, chunk: bytes) -> None:
        assert self._file is not None
        self._file.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    def truncate(self, size: int) -> None:
        """Roll back to ``size`` bytes (a failed final PUT must not leave its body behind)."""
        if self._file is None or size == self.size:
            return
        self._file.flush()
        self._file.truncate(size)
        self._file.seek(size)
        self.size = size
        self._hash = hashlib.sha256()
        with self.path.open("rb") as f:
            while chunk := f.read(CHUNK):
                self._hash.update(chunk)

    def digest(self, algorithm: str) -> str:
        if algorithm == "sha256":
            return "sha256:" + self._hash.hexdigest()
        assert self._file is not None
        self._file.flush()
        h = HASHES[algorithm]()
        with self.path.open("rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        return f"{algorithm}:{h.hexdigest()}"

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class Storage:
    """Registry state. ``root=None`` keeps it in memory (large blobs spill to a private temp dir)."""

    def __init__(
        self,
        root: Path | str | None = None,
        *,
        spill_threshold: int = 4 << 20,
        upload_timeout: float = UPLOAD_TIMEOUT,
    ) -> None:
        self._lock = threading.RLock()
        self.upload_timeout = upload_timeout
        self._repos: dict[str, _Repo] = {}
        self._blobs: dict[str, Blob] = {}
        self._uploads: dict[str, Upload] = {}
        self._spill_threshold = spill_threshold
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="fake-registry-")
            self.root: Path | None = None
            base = Path(self._tmp.name)
            self._upload_dir = base / "uploads"
            self._blob_dir = base / "blobs"
        else:
            self.root = Path(root).resolve()
            self._upload_dir = self.root / "_uploads"
            self._blob_dir = self.root / "blobs"
        self._upload_dir.mkdir(parents=True, exist_ok=True)
        self._blob_dir.mkdir(parents=True, exist_ok=True)
        if self.root is not None:
            self._load()

    # -- persistence ---------------------------------------------------------------------------

    def _load(self) -> None:
        assert self.root is not None
        for leftover in self._upload_dir.iterdir():
            leftover.unlink()
        for alg_dir in self._blob_dir.iterdir():
            for path in alg_dir.glob("*/*"):
                digest = f"{alg_dir.name}:{path.name}"
                if DIGEST_RE.fullmatch(digest) is None:  # a write cut short by a crash
                    path.unlink()
                    continue
                self._blobs[digest] = Blob(digest, path.stat().st_size, path=path)
        repos = self.root / "repositories"
        if repos.is_dir():
            for state in repos.rglob("_state.json"):
                name = state.parent.relative_to(repos).as_posix()
                self._repos[check_name(name)] = _Repo.from_json(json.loads(state.read_text()))

    def _save(self, name: str) -> None:
        if self.root is None:
            return
        repo = self._repos.get(name)
        directory = self.root / "repositories" / check_name(name)
        state = directory / "_state.json"
        if repo is None:
            with contextlib.suppress(FileNotFoundError):
                state.unlink()
            return
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f"_state.{uuid.uuid4().hex}.tmp"
        tmp.write_text(json.dumps(repo.to_json()))
        os.replace(tmp, state)

    def close(self) -> None:
        with self._lock:
            for upload in self._uploads.values():
                upload.discard()
            self._uploads.clear()
        if self._tmp is not None:
            self._tmp.cleanup()

    def clear(self) -> None:
        """Forget every repository, blob and upload (the pytest fixture does this per test)."""
        with self._lock:
            for upload in self._uploads.values():
                upload.discard()
            self._uploads.clear()
            self._repos.clear()
            self._blobs.clear()
            if self.root is not None:
                shutil.rmtree(self.root / "repositories", ignore_errors=True)
            shutil.rmtree(self._blob_dir, ignore_errors=True)
            self._blob_dir.mkdir(parents=True, exist_ok=True)

    # -- blobs ---------------------------------------------------------------------------------

    def _repo(self, name: str) -> _Repo:
        repo = self._repos.get(name)
        if repo is None:
            repo = self._repos[name] = _Repo()
        return repo

    def get_blob(self, name: str, digest: str) -> Blob:
        """The blob if ``name`` links it (registry:2 scopes blob access per repository)."""
        with self._lock:
            repo = self._repos.get(name)
            blob = self._blobs.get(digest)
            if repo is None or blob is None or digest not in repo.layers:
                raise RegistryError("BLOB_UNKNOWN", digest)
            return blob

    def has_blob(self, name: str, digest: str) -> bool:
        try:
            self.get_blob(name, digest)
        except RegistryError:
            return False
        return True

    def delete_blob(self, name: str, digest: str) -> None:
        with self._lock:
            repo = self._repos.get(name)
            if repo is None or digest not in repo.layers:
                raise RegistryError("BLOB_UNKNOWN", digest)
            repo.layers.discard(digest)
            self._save(name)

    def mount_blob(self, name: str, digest: str, source: str) -> bool:
        with self._lock:
            if not self.has_blob(source, digest):
                return False
            self._repo(name).layers.add(digest)
            self._save(name)
            return True

    def put_blob(self, name: str, data: bytes, digest: str | None = None) -> str:
        """Store ``data`` (seeding helpers and manifests use this; HTTP uploads go via uploads)."""
        algorithm = digest.split(":", 1)[0] if digest else "sha256"
        actual = f"{algorithm}:{HASHES[algorithm](data).hexdigest()}"
        if digest is not None and digest != actual:
            raise RegistryError("DIGEST_INVALID", {"Digest": digest})
        with self._lock:
            if actual not in self._blobs:
                self._blobs[actual] = self._store_bytes(actual, data)
            self._repo(name).layers.add(actual)
            self._save(name)
        return actual

    def _store_bytes(self, digest: str, data: bytes) -> Blob:
        if self.root is None and len(data) <= self._spill_threshold:
            return Blob(digest, len(data), data=data)
        path = self._blob_path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return Blob(digest, len(data), path=path)

    def _blob_path(self, digest: str) -> Path:
        algorithm, hexdigest = check_digest(digest).split(":", 1)
        return self._blob_dir / algorithm / hexdigest[:2] / hexdigest

    # -- uploads -------------------------------------------------------------------------------

    def start_upload(self, name: str) -> Upload:
        self._purge_uploads()
        upload_id = str(uuid.uuid4())
        upload = Upload(upload_id, name, self._upload_dir / upload_id)
        with self._lock:
            self._uploads[upload_id] = upload
        return upload

    def _purge_uploads(self) -> None:
        """Forget sessions older than ``upload_timeout`` (registry:2 purges abandoned uploads by
        age too), except one a request is writing to right now."""
        deadline = time.monotonic() - self.upload_timeout
        with self._lock:
            old = [u for u in self._uploads.values() if u.started < deadline]
            expired = [u for u in old if u.lock.acquire(blocking=False)]
            for upload in expired:
                del self._uploads[upload.id]
        for upload in expired:
            upload.discard()
            upload.lock.release()

    def get_upload(self, name: str, upload_id: str) -> Upload:
        self._purge_uploads()
        with self._lock:
            upload = self._uploads.get(upload_id)
        if upload is None or upload.repo != name:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", has_detail=False)
        return upload

    def cancel_upload(self, name: str, upload_id: str) -> None:
        upload = self.get_upload(name, upload_id)
        with self._lock:
            self._uploads.pop(upload_id, None)
        with upload.lock:
            upload.discard()

    def drop_upload(self, upload: Upload) -> None:
        """Forget ``upload`` and delete its file (a failed request leaves nothing behind)."""
        with self._lock:
            self._uploads.pop(upload.id, None)
        upload.discard()

    def commit_upload(self, upload: Upload, digest: str) -> Blob:
        """Verify ``digest`` and make the upload a blob of its repository (caller holds upload.lock)."""
        check_digest(digest)
        actual = upload.digest(digest.split(":", 1)[0])
        if actual != digest:
            raise RegistryError("DIGEST_INVALID", {"Digest": digest, "Reason": {}})
        upload.close()
        with self._lock:
            self._uploads.pop(upload.id, None)
            blob = self._blobs.get(digest)
            if blob is None:
                if self.root is None and upload.size <= self._spill_threshold:
                    blob = Blob(digest, upload.size, data=upload.path.read_bytes())
                    upload.path.unlink()
                else:
                    path = self._blob_path(digest)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(upload.path, path)
                    blob = Blob(digest, upload.size, path=path)
                self._blobs[digest] = blob
            else:
                upload.discard()
            self._repo(upload.repo).layers.add(digest)
            self._save(upload.repo)
        return blob

    # -- manifests and tags --------------------------------------------------------------------

    def put_manifest(self, name: str, record: ManifestRecord, body: bytes, tags: Iterable[str] = ()) -> None:
        with self._lock:
            if record.digest not in self._blobs:
                self._blobs[record.digest] = self._store_bytes(record.digest, body)
            repo = self._repo(name)
            repo.manifests[record.digest] = record
            for tag in tags:
                repo.tags[tag] = record.digest
            self._save(name)

    def resolve(self, name: str, reference: str) -> ManifestRecord:
        with self._lock:
            repo = self._repos.get(name) or _Repo()
            if ":" in reference:
                record = repo.manifests.get(reference)
                if record is None:
                    raise RegistryError("MANIFEST_UNKNOWN", has_detail=False)
                return record
            digest = repo.tags.get(reference)
            if digest is None or digest not in repo.manifests:
                raise RegistryError("MANIFEST_UNKNOWN", {"Tag": reference})
            return repo.manifests[digest]

    def manifest_body(self, record: ManifestRecord) -> bytes:
        with self._lock:
            blob = self._blobs[record.digest]
        return blob.read()

    def delete_manifest(self, name: str, reference: str) -> None:
        with self._lock:
            repo = self._repos.get(name) or _Repo()
            if ":" not in reference:
                if reference not in repo.tags:
                    raise RegistryError("MANIFEST_UNKNOWN", {"Tag": reference})
                del repo.tags[reference]
            else:
                if reference not in repo.manifests:
                    raise RegistryError("MANIFEST_UNKNOWN", has_detail=False)
                del repo.manifests[reference]
                for tag in [t for t, d in repo.tags.items() if d == reference]:
                    del repo.tags[tag]
            self._save(name)

    def tags(self, name: str) -> list[str]:
        with self._lock:
            repo = self._repos.get(name)
            if repo is None:
                raise RegistryError("NAME_UNKNOWN", {"name": name})
            return sorted(repo.tags)

    def repositories(self) -> list[str]:
        with self._lock:
            return sorted(n for n, r in self._repos.items() if r.manifests or r.layers)

    def referrers(self, name: str, digest: str) -> list[ManifestRecord]:
        with self._lock:
            repo = self._repos.get(name)
            if repo is None:
                return []
            return sorted((m for m in repo.manifests.values() if m.subject == digest), key=lambda m: m.digest)

    def has_manifest(self, name: str, digest: str) -> bool:
        with self._lock:
            repo = self._repos.get(name)
            return repo is not None and digest in repo.manifests
