"""Conformance: the same distribution-API scenarios against the fake registry and a real registry:2.

Each scenario drives one target through plain HTTP and returns what a client observes (status,
key headers normalised for host and upload ids, error codes and messages). The test runs it on
both and requires identical observations. Where registry:2 (CNCF distribution 2.8) does not
implement something the OCI distribution spec v1.1 has, or answers differently, the scenario is in
``DIFFERENCES`` instead: the test asserts both answers exactly, so the list below is verified, not
just written down.

Where registry:2 lacks or differs (checked by ``test_known_difference``):

- referrers API (``GET /v2/<name>/referrers/<digest>``): registry:2 has no such route (404 text).
- ``OCI-Subject`` header on a manifest PUT with a ``subject``: registry:2 does not send it.
- tag list pagination (``n``, ``last``, ``Link``): registry:2 2.8 ignores them for tags (it
  paginates ``_catalog`` only).
- single-request ``POST ...?digest=`` uploads: registry:2 answers 202 and starts a session.
- ``DELETE /v2/<name>/manifests/<tag>``: registry:2 refuses with 400 ``DIGEST_INVALID``.
- manifests of unknown media types: registry:2 refuses (400 ``MANIFEST_INVALID``); the fake
  stores them verbatim as the spec allows.
- out-of-order ``PATCH`` (``Content-Range`` not at the current offset): registry:2 2.8 appends
  anyway; the fake answers 416 as the spec requires.
- unknown upload id: both 404, registry:2 with ``BLOB_UPLOAD_INVALID``, the fake with the spec's
  ``BLOB_UPLOAD_UNKNOWN``.
- tags as ``?tag=`` parameters on a manifest push by digest: registry:2 ignores them (no
  ``OCI-Tag``, no tag); the fake creates each tag and echoes it in ``OCI-Tag``.
- repository names: an upper-case name never reaches registry:2's handlers (plain-text 404 from
  its router) and a 256-character name is a 500 ``UNKNOWN``; the fake answers ``NAME_INVALID``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from fake_registry import FakeRegistry, ImageConfig, build_image, build_index
from integration.servers import RegistryServer

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ACCEPT_ALL = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])
KEY_HEADERS = (
    "Content-Type",
    "Content-Length",
    "Content-Range",
    "Range",
    "Location",
    "Docker-Content-Digest",
    "Docker-Distribution-Api-Version",
    "Accept-Ranges",
    "Etag",
    "Link",
    "WWW-Authenticate",
)


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    url: str
    session: requests.Session


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def observe(t: Target, label: str, r: requests.Response, *, body: bool | None = False) -> dict[str, Any]:
    """What a client sees, with this target's URL and upload ids replaced by placeholders."""
    headers: dict[str, Any] = {}
    for name in KEY_HEADERS:
        value = r.headers.get(name)
        if value is None:
            continue
        if name == "Location":
            value = value.split("?", 1)[0].replace(t.url, "<url>")
            value = re.sub(r"/uploads/[0-9a-f-]{36}$", "/uploads/<uuid>", value)
        if name == "Content-Length" and (r.status_code >= 400 or body is None):
            continue  # error details differ in wording, not in meaning
        headers[name] = value
    if "Docker-Upload-Uuid" in r.headers:
        headers["Docker-Upload-Uuid"] = "<uuid>"
    seen: dict[str, Any] = {"step": label, "status": r.status_code, "headers": headers}
    if body is None:
        r.close()
        return {"step": label, "status": r.status_code, "headers": headers}
    if (
        r.content
        and r.status_code >= 400
        and r.headers.get("Content-Type", "").startswith("application/json")
    ):
        seen["errors"] = [(e["code"], e["message"]) for e in r.json()["errors"]]
    elif body:
        seen["body"] = r.content
    return seen


def upload(t: Target, repo: str, data: bytes) -> str:
    s = t.session
    location = s.post(f"{t.url}/v2/{repo}/blobs/uploads/").headers["Location"]
    r = s.put(location, params={"digest": sha(data)}, data=data)
    assert r.status_code == 201, r.text
    return sha(data)


def push_image(t: Target, repo: str, image: Any, ref: str) -> requests.Response:
    for data in image.blobs().values() if hasattr(image, "blobs") else ():
        upload(t, repo, data)
    return t.session.put(
        f"{t.url}/v2/{repo}/manifests/{ref}", data=image.manifest, headers={"Content-Type": image.media_type}
    )


IMAGE = build_image([{"hello.txt": b"hello\n"}], ImageConfig(labels={"a": "b"}))
DOCKER_IMAGE = build_image([{"hello.txt": b"docker\n"}], format="docker")
BLOB = b"conformance blob " * 100

# -- scenarios: same observations expected from both registries --------------------------------------


def s_ping(t: Target, repo: str) -> list[dict[str, Any]]:
    return [observe(t, "ping", t.session.get(f"{t.url}/v2/"), body=True)]


def s_monolithic_upload(t: Target, repo: str) -> list[dict[str, Any]]:
    s, out = t.session, []
    r = s.post(f"{t.url}/v2/{repo}/blobs/uploads/")
    out.append(observe(t, "post", r))
    r = s.put(r.headers["Location"], params={"digest": sha(BLOB)}, data=BLOB)
    out.append(observe(t, "put", r))
    out.append(observe(t, "head", s.head(f"{t.url}/v2/{repo}/blobs/{sha(BLOB)}")))
    out.append(observe(t, "get", s.get(f"{t.url}/v2/{repo}/blobs/{sha(BLOB)}"), body=True))
    return out


def s_patch_upload(t: Target, repo: str) -> list[dict[str, Any]]:
    s, out = t.session, []
    r = s.post(f"{t.url}/v2/{repo}/blobs/uploads/")
    r = s.patch(r.headers["Location"], data=BLOB, headers={"Content-Type": "application/octet-stream"})
    out.append(observe(t, "patch", r))
    r = s.put(r.headers["Location"], params={"digest": sha(BLOB)})
    out.append(observe(t, "put", r))
    return out


def s_chunked_upload(t: Target, repo: str) -> list[dict[str, Any]]:
    s, out = t.session, []
    location = s.post(f"{t.url}/v2/{repo}/blobs/uploads/").headers["Location"]
    for start in range(0, len(BLOB), 500):
        chunk = BLOB[start : start + 500]
        r = s.patch(
            location,
            data=chunk,
            headers={
                "Content-Range": f"{start}-{start + len(chunk) - 1}",
                "Content-Type": "application/octet-stream",
            },
        )
        out.append(observe(t, f"patch {start}", r))
        location = r.headers["Location"]
    out.append(observe(t, "status", s.get(location)))
    out.append(observe(t, "put", s.put(location, params={"digest": sha(BLOB)})))
    out.append(observe(t, "get", s.get(f"{t.url}/v2/{repo}/blobs/{sha(BLOB)}"), body=True))
    return out


def s_streamed_upload(t: Target, repo: str) -> list[dict[str, Any]]:
    s = t.session
    location = s.post(f"{t.url}/v2/{repo}/blobs/uploads/").headers["Location"]
    r = s.patch(location, data=iter([BLOB[:700], BLOB[700:]]))  # Transfer-Encoding: chunked
    out = [observe(t, "patch", r)]
    out.append(observe(t, "put", s.put(r.headers["Location"], params={"digest": sha(BLOB)})))
    return out


def s_upload_status_and_cancel(t: Target, repo: str) -> list[dict[str, Any]]:
    s, out = t.session, []
    location = s.post(f"{t.url}/v2/{repo}/blobs/uploads/").headers["Location"]
    r = s.patch(location, data=BLOB[:10])
    location = r.headers["Location"]
    out.append(observe(t, "status", s.get(location)))
    out.append(observe(t, "cancel", s.delete(location)))
    out.append(observe(t, "status after cancel", s.get(location)))
    return out


def s_digest_mismatch(t: Target, repo: str) -> list[dict[str, Any]]:
    s = t.session
    location = s.post(f"{t.url}/v2/{repo}/blobs/uploads/").headers["Location"]
    r = s.put(location, params={"digest": "sha256:" + "1" * 64}, data=BLOB)
    out = [observe(t, "put wrong digest", r)]
    out.append(observe(t, "head", s.head(f"{t.url}/v2/{repo}/blobs/{sha(BLOB)}")))
    return out


def s_blob_ranges(t: Target, repo: str) -> list[dict[str, Any]]:
    s = t.session
    digest = upload(t, repo, BLOB)
    url = f"{t.url}/v2/{repo}/blobs/{digest}"
    return [
        observe(t, "range 1-3", s.get(url, headers={"Range": "bytes=1-3"}), body=True),
        observe(t, "range 1000-", s.get(url, headers={"Range": "bytes=1000-"}), body=True),
        # registry:2 sends a 416 with the blob's size as Content-Length and a shorter body.
        observe(
            t, "range past end", s.get(url, headers={"Range": f"bytes={len(BLOB)}-"}, stream=True), body=None
        ),
    ]


def s_blob_errors(t: Target, repo: str) -> list[dict[str, Any]]:
    s = t.session
    upload(t, repo, b"something")
    missing = "sha256:" + "0" * 64
    return [
        observe(t, "get unknown", s.get(f"{t.url}/v2/{repo}/blobs/{missing}")),
        observe(t, "head unknown", s.head(f"{t.url}/v2/{repo}/blobs/{missing}")),
        observe(t, "invalid digest", s.get(f"{t.url}/v2/{repo}/blobs/sha256:zz")),
    ]


def s_blob_delete(t: Target, repo: str) -> list[dict[str, Any]]:
    s = t.session
    digest = upload(t, repo, BLOB)
    return [
        observe(t, "delete", s.delete(f"{t.url}/v2/{repo}/blobs/{digest}")),
        observe(t, "head after", s.head(f"{t.url}/v2/{repo}/blobs/{digest}")),
    ]


def s_mount(t: Target, repo: str) -> list[dict[str, Any]]:
    s = t.session
    digest = upload(t, repo + "/source", BLOB)
    r = s.post(f"{t.url}/v2/{repo}/blobs/uploads/", params={"mount": digest, "from": repo + "/source"})
    out = [observe(t, "mount", r)]
    out.append(observe(t, "head mounted", s.head(f"{t.url}/v2/{repo}/blobs/{digest}")))
    r = s.post(f"{t.url}/v2/{repo}/blobs/uploads/", params={"mount": sha(b"nope"), "from": repo + "/source"})
    out.append(observe(t, "mount missing", r))
    return out


def s_manifest_push_pull(t: Target, repo: str) -> list[dict[str, Any]]:
    s, out = t.session, []
    for image, tag in ((IMAGE, "oci"), (DOCKER_IMAGE, "docker")):
        out.append(observe(t, f"put {tag}", push_image(t, repo, image, tag)))
        for ref in (tag, image.digest):
            url = f"{t.url}/v2/{repo}/manifests/{ref}"
            out.append(observe(t, f"get {ref}", s.get(url, headers={"Accept": ACCEPT_ALL}), body=True))
            out.append(observe(t, f"head {ref}", s.head(url, headers={"Accept": ACCEPT_ALL})))
    return out


def s_manifest_by_digest(t: Target, repo: str) -> list[dict[str, Any]]:
    return [observe(t, "put by digest", push_image(t, repo, IMAGE, IMAGE.digest))]


def s_index(t: Target, repo: str) -> list[dict[str, Any]]:
    amd = build_image([{"p": b"amd64"}])
    arm = build_image([{"p": b"arm64"}], ImageConfig(architecture="arm64", variant="v8"))
    index = build_index([amd, arm])
    s = t.session
    out = [observe(t, "index before children", push_image(t, repo, index, "multi"))]
    for child in (amd, arm):
        out.append(observe(t, "child", push_image(t, repo, child, child.digest)))
    out.append(observe(t, "index", push_image(t, repo, index, "multi")))
    r = s.get(f"{t.url}/v2/{repo}/manifests/multi", headers={"Accept": ACCEPT_ALL})
    out.append(observe(t, "get index", r, body=True))
    return out


def s_manifest_errors(t: Target, repo: str) -> list[dict[str, Any]]:
    s = t.session
    out = [
        observe(t, "unknown repo", s.get(f"{t.url}/v2/{repo}/manifests/v1", headers={"Accept": ACCEPT_ALL}))
    ]
    out.append(observe(t, "missing blobs", _put_bare(t, repo)))
    push_image(t, repo, IMAGE, "v1")
    out.append(
        observe(t, "unknown tag", s.get(f"{t.url}/v2/{repo}/manifests/v2", headers={"Accept": ACCEPT_ALL}))
    )
    missing = "sha256:" + "3" * 64
    out.append(
        observe(
            t,
            "unknown digest",
            s.get(f"{t.url}/v2/{repo}/manifests/{missing}", headers={"Accept": ACCEPT_ALL}),
        )
    )
    r = s.put(f"{t.url}/v2/{repo}/manifests/v3", data=b"not json", headers={"Content-Type": OCI_MANIFEST})
    out.append(observe(t, "not json", r))
    r = s.put(
        f"{t.url}/v2/{repo}/manifests/v3", data=IMAGE.manifest, headers={"Content-Type": DOCKER_MANIFEST}
    )
    out.append(observe(t, "media type mismatch", r))
    r = s.put(
        f"{t.url}/v2/{repo}/manifests/{missing}", data=IMAGE.manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    out.append(observe(t, "wrong digest", r))
    r = s.get(f"{t.url}/v2/{repo}/manifests/v1", headers={"Accept": DOCKER_MANIFEST})
    out.append(observe(t, "oci without accept", r))
    return out


def _put_bare(t: Target, repo: str) -> requests.Response:
    image = build_image([{"never-uploaded": b"x"}])
    return t.session.put(
        f"{t.url}/v2/{repo}/manifests/v1", data=image.manifest, headers={"Content-Type": image.media_type}
    )


def s_manifest_delete(t: Target, repo: str) -> list[dict[str, Any]]:
    s = t.session
    push_image(t, repo, IMAGE, "v1")
    url = f"{t.url}/v2/{repo}/manifests/{IMAGE.digest}"
    return [
        observe(t, "delete", s.delete(url)),
        observe(t, "get deleted", s.get(url, headers={"Accept": ACCEPT_ALL})),
        observe(t, "tag gone", s.get(f"{t.url}/v2/{repo}/manifests/v1", headers={"Accept": ACCEPT_ALL})),
        observe(t, "tags", s.get(f"{t.url}/v2/{repo}/tags/list"), body=True),
        observe(t, "delete again", s.delete(url)),
    ]


def s_tags_list(t: Target, repo: str) -> list[dict[str, Any]]:
    s = t.session
    for tag in ("b", "a", "latest", "1.0"):
        push_image(t, repo, IMAGE, tag)
    return [
        observe(t, "tags", s.get(f"{t.url}/v2/{repo}/tags/list"), body=True),
        observe(t, "unknown repo", s.get(f"{t.url}/v2/{repo}/none/tags/list")),
    ]


def s_catalog(t: Target, repo: str) -> list[dict[str, Any]]:
    s = t.session
    push_image(t, repo, IMAGE, "v1")
    # A second repository, so that "one per page" has a next page whatever else the shared
    # registry:2 holds (other test modules push into it too).
    push_image(t, f"{repo}-second", IMAGE, "v1")
    names: list[str] = []
    url = f"{t.url}/v2/_catalog?n=1000"
    while url:
        r = s.get(url)
        assert r.status_code == 200
        names += r.json()["repositories"]
        url = f"{t.url}{r.links['next']['url']}" if "next" in r.links else ""
    r = s.get(f"{t.url}/v2/_catalog?n=1")
    return [
        {"step": "listed", "value": repo in names},
        {"step": "one per page", "count": len(r.json()["repositories"]), "link": "next" in r.links},
    ]


def s_unsupported_method(t: Target, repo: str) -> list[dict[str, Any]]:
    return [observe(t, "options", t.session.options(f"{t.url}/v2/"))]


SCENARIOS: dict[str, Callable[[Target, str], list[dict[str, Any]]]] = {
    name.removeprefix("s_"): fn
    for name, fn in dict(globals()).items()
    if name.startswith("s_") and callable(fn)
}


# -- where registry:2 differs: both answers asserted ------------------------------------------------


def d_referrers(t: Target, repo: str) -> tuple[int, Any]:
    push_image(t, repo, IMAGE, "v1")
    r = t.session.get(f"{t.url}/v2/{repo}/referrers/{IMAGE.digest}")
    return r.status_code, r.json()["manifests"] if r.status_code == 200 else r.text


def d_oci_subject(t: Target, repo: str) -> tuple[int, Any]:
    push_image(t, repo, IMAGE, "v1")
    upload(t, repo, b"{}")
    sig = build_image(
        [],
        subject=IMAGE,
        artifact_type="application/vnd.example.sig",
        config_bytes=b"{}",
        config_media_type="application/vnd.oci.empty.v1+json",
    )
    r = push_image(t, repo, sig, sig.digest)
    return r.status_code, r.headers.get("OCI-Subject")


def d_tags_pagination(t: Target, repo: str) -> tuple[int, Any]:
    for tag in ("a", "b", "c"):
        push_image(t, repo, IMAGE, tag)
    r = t.session.get(f"{t.url}/v2/{repo}/tags/list", params={"n": "2"})
    return r.status_code, (r.json()["tags"], r.headers.get("Link"))


def d_single_post_upload(t: Target, repo: str) -> tuple[int, Any]:
    r = t.session.post(f"{t.url}/v2/{repo}/blobs/uploads/", params={"digest": sha(BLOB)}, data=BLOB)
    return r.status_code, r.headers.get("Docker-Content-Digest")


def d_delete_tag(t: Target, repo: str) -> tuple[int, Any]:
    push_image(t, repo, IMAGE, "v1")
    r = t.session.delete(f"{t.url}/v2/{repo}/manifests/v1")
    return r.status_code, [e["code"] for e in r.json()["errors"]] if r.status_code >= 400 else None


def d_unknown_media_type(t: Target, repo: str) -> tuple[int, Any]:
    r = t.session.put(
        f"{t.url}/v2/{repo}/manifests/v1",
        data=b'{"x": 1}',
        headers={"Content-Type": "application/vnd.example+json"},
    )
    return r.status_code, [e["code"] for e in r.json()["errors"]] if r.status_code >= 400 else None


def d_out_of_order_patch(t: Target, repo: str) -> tuple[int, Any]:
    location = t.session.post(f"{t.url}/v2/{repo}/blobs/uploads/").headers["Location"]
    r = t.session.patch(location, data=b"abc", headers={"Content-Range": "5-7"})
    return r.status_code, r.headers.get("Range")


def d_tag_parameters(t: Target, repo: str) -> tuple[int, Any]:
    for data in IMAGE.blobs().values():
        upload(t, repo, data)
    r = t.session.put(
        f"{t.url}/v2/{repo}/manifests/{IMAGE.digest}?tag=a&tag=b",
        data=IMAGE.manifest,
        headers={"Content-Type": IMAGE.media_type},
    )
    tagged = t.session.head(f"{t.url}/v2/{repo}/manifests/b", headers={"Accept": IMAGE.media_type})
    return r.status_code, (r.raw.headers.getlist("OCI-Tag"), tagged.status_code)


def d_unknown_upload(t: Target, repo: str) -> tuple[int, Any]:
    r = t.session.get(f"{t.url}/v2/{repo}/blobs/uploads/00000000-0000-0000-0000-000000000000")
    return r.status_code, [e["code"] for e in r.json()["errors"]]


def d_upper_case_name(t: Target, repo: str) -> tuple[int, Any]:
    r = t.session.get(f"{t.url}/v2/{repo}/Upper/tags/list")
    return r.status_code, r.json()["errors"][0]["code"] if r.status_code == 400 else r.text


def d_long_name(t: Target, repo: str) -> tuple[int, Any]:
    r = t.session.get(f"{t.url}/v2/{'a' * 256}/tags/list")
    return r.status_code, r.json()["errors"][0]["code"]


EMPTY = "application/vnd.oci.empty.v1+json"
DIFFERENCES: dict[str, tuple[Callable[[Target, str], tuple[int, Any]], tuple[int, Any], tuple[int, Any]]] = {
    # name: (scenario, fake answer, registry:2 answer)
    "referrers": (d_referrers, (200, []), (404, "404 page not found\n")),
    "oci_subject": (d_oci_subject, (201, IMAGE.digest), (201, None)),
    "tags_pagination": (
        d_tags_pagination,
        (200, (["a", "b"], '</v2/{repo}/tags/list?last=b&n=2>; rel="next"')),
        (200, (["a", "b", "c"], None)),
    ),
    "single_post_upload": (d_single_post_upload, (201, sha(BLOB)), (202, None)),
    "delete_tag": (d_delete_tag, (202, None), (400, ["DIGEST_INVALID"])),
    "unknown_media_type": (d_unknown_media_type, (201, None), (400, ["MANIFEST_INVALID"])),
    "out_of_order_patch": (d_out_of_order_patch, (416, "0-0"), (202, "0-2")),
    "tag_parameters": (d_tag_parameters, (201, (["a", "b"], 200)), (201, ([], 404))),
    "unknown_upload": (d_unknown_upload, (404, ["BLOB_UPLOAD_UNKNOWN"]), (404, ["BLOB_UPLOAD_INVALID"])),
    "upper_case_name": (d_upper_case_name, (400, "NAME_INVALID"), (404, "404 page not found\n")),
    "long_name": (d_long_name, (400, "NAME_INVALID"), (500, "UNKNOWN")),
}


# -- fixtures and tests ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeRegistry]:
    with FakeRegistry(strict_accept=True) as reg:
        yield reg


def target(name: str, url: str, auth: tuple[str, str] | None = None, verify: str | bool = True) -> Target:
    session = requests.Session()
    session.trust_env = False
    session.auth = auth
    session.verify = verify
    return Target(name, url, session)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_same_as_registry2(
    scenario: str, fake: FakeRegistry, registry: RegistryServer, repo_name: str
) -> None:
    run = SCENARIOS[scenario]
    ours = run(target("fake", fake.url), repo_name)
    theirs = run(target("registry:2", registry.url), repo_name)
    assert ours == theirs


@pytest.mark.parametrize("name", sorted(DIFFERENCES))
def test_known_difference(name: str, fake: FakeRegistry, registry: RegistryServer, repo_name: str) -> None:
    run, fake_answer, registry2_answer = DIFFERENCES[name]
    ours = run(target("fake", fake.url), repo_name)
    theirs = run(target("registry:2", registry.url), repo_name)
    expected = json.loads(json.dumps(fake_answer).replace("{repo}", repo_name))
    assert json.loads(json.dumps(ours)) == expected
    assert json.loads(json.dumps(theirs)) == json.loads(json.dumps(registry2_answer))


def test_basic_auth_same_as_registry2(auth_registry: RegistryServer, repo_name: str) -> None:
    assert auth_registry.username is not None
    assert auth_registry.password is not None
    user, password = auth_registry.username, auth_registry.password
    with FakeRegistry(users={user: password}, realm="test-registry") as fake:
        results = []
        for t in (target("fake", fake.url), target("registry:2", auth_registry.url)):
            s = t.session
            steps = [
                observe(t, "anonymous ping", s.get(f"{t.url}/v2/")),
                observe(t, "wrong password", s.get(f"{t.url}/v2/", auth=(user, "wrong"))),
                observe(t, "ping", s.get(f"{t.url}/v2/", auth=(user, password))),
                observe(t, "anonymous tags", s.get(f"{t.url}/v2/{repo_name}/tags/list")),
            ]
            results.append(steps)
        assert results[0] == results[1]


def test_tls_same_as_registry2(tls_registry: RegistryServer, repo_name: str) -> None:
    with FakeRegistry(tls=True) as fake:
        assert fake.ca_file is not None
        ours = s_monolithic_upload(target("fake", fake.url, verify=str(fake.ca_file)), repo_name)
        theirs = s_monolithic_upload(
            target("registry:2", tls_registry.url, verify=tls_registry.verify), repo_name
        )
        assert ours == theirs
