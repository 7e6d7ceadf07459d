"""Issue 14, defects 4, 7 and 11, against a hostile server: values it supplies (descriptor digests,
``Docker-Content-Digest``, ``Location``, ``Link``, the token realm, ``Retry-After``) are checked
before they reach a request line, a file name or the output; each refusal is the exact one-line
error, and a failed ``in`` leaves DEST empty. With ``debug: true`` an internal error logs its
traceback, masked, before the final line, and no credential shows anywhere."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fake_registry import File, build_image, build_index, write_oci_layout
from packages.resource.tests.hostile import (
    REPO,
    HostileServer,
    Run,
    json_response,
    response,
    run_cli,
    serve_image,
)

IMAGE = build_image([{"a.txt": File(b"hello\n")}])
MANIFEST = json.loads(IMAGE.manifest)
SHA256_OF_EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def assert_failed(run: Run, line: str) -> None:
    assert (run.returncode, run.stdout) == (1, b""), run.stderr.decode()
    assert run.last_line == line


def serve_manifest(server: HostileServer, document: dict[str, Any], media_type: str) -> str:
    """Serve ``document`` as a manifest by its digest (besides IMAGE); returns that digest."""
    body = json.dumps(document).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    serve_image(server, REPO, "latest", IMAGE)
    server.on(
        "GET",
        re.escape(f"/v2/{REPO}/manifests/{digest}"),
        response(200, "OK", [("Content-Type", media_type)], body),
    )
    return digest


def get_into(server: HostileServer, dest: Path, digest: str, **source: Any) -> Run:
    dest.mkdir()
    request = {"source": {"repository": f"{server.host}/{REPO}", **source}, "version": {"digest": digest}}
    return run_cli("in", [str(dest)], request)


def check(server: HostileServer, **source: Any) -> Run:
    return run_cli("check", [], {"source": {"repository": f"{server.host}/{REPO}", **source}})


# --- descriptor digests ------------------------------------------------------------------------

BAD_DIGESTS = {
    "space": "sha256:aa bb",
    "nul": "sha256:" + "a" * 32 + "\0" + "a" * 31,
    "md5": "md5:" + "a" * 32,
    "sha1": "sha1:" + "a" * 40,
    "upper-case": "sha256:" + "A" * 64,
    "short": "sha256:" + "a" * 63,
    "traversal": "sha256:../../../etc/passwd",
    "query": "sha256:" + "a" * 64 + "?x=1",
}


def shown(digest: str) -> str:
    return repr(digest[:80])


@pytest.mark.parametrize("bad", BAD_DIGESTS.values(), ids=BAD_DIGESTS.keys())
def test_a_layer_digest_that_is_no_digest_is_refused_before_any_request(
    hostile: Callable[..., HostileServer], tmp_path: Path, bad: str
) -> None:
    server = hostile()
    layers = [{**MANIFEST["layers"][0], "digest": bad}]
    digest = serve_manifest(server, {**MANIFEST, "layers": layers}, IMAGE.media_type)
    run = get_into(server, tmp_path / "dest", digest)
    assert_failed(
        run,
        f"ERROR download failed: fetching image: manifest: layers[0]: descriptor digest {shown(bad)} "
        "is not sha256:<64 hex> or sha512:<128 hex>",
    )
    assert server.seen("GET", f"/v2/{REPO}/blobs/.*") == []
    assert list((tmp_path / "dest").iterdir()) == []


def test_a_config_digest_that_is_no_digest_is_refused(
    hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    server = hostile()
    bad = "md5:" + "b" * 32
    digest = serve_manifest(
        server, {**MANIFEST, "config": {**MANIFEST["config"], "digest": bad}}, IMAGE.media_type
    )
    run = get_into(server, tmp_path / "dest", digest)
    assert_failed(
        run,
        f"ERROR download failed: fetching image: manifest: config: descriptor digest {shown(bad)} "
        "is not sha256:<64 hex> or sha512:<128 hex>",
    )
    assert list((tmp_path / "dest").iterdir()) == []


def test_an_index_child_digest_that_is_no_digest_is_refused(
    hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    server = hostile()
    index = json.loads(build_index([IMAGE]).manifest)
    bad = "sha256:../x"
    index["manifests"][0]["digest"] = bad
    digest = serve_manifest(server, index, "application/vnd.oci.image.index.v1+json")
    run = get_into(server, tmp_path / "dest", digest)
    assert (run.returncode, run.stdout) == (1, b"")
    assert run.last_line.startswith("ERROR download failed: fetching image: ")
    assert run.last_line.endswith(
        f"manifests[0]: descriptor digest {shown(bad)} is not sha256:<64 hex> or sha512:<128 hex>"
    )
    assert server.seen("GET", f"/v2/{REPO}/manifests/sha256:\\.\\./x") == []
    assert list((tmp_path / "dest").iterdir()) == []


@pytest.mark.parametrize(
    "header",
    ["md5:" + "c" * 32, "sha256:" + "A" * 64, "sha256:../../x", "sha512:" + "d" * 64],
    ids=["md5", "upper-case", "traversal", "sha512-short"],
)
def test_a_docker_content_digest_that_is_no_digest_is_not_trusted(
    hostile: Callable[..., HostileServer], header: str
) -> None:
    """check GETs the manifest and hashes it instead, as when the header is missing."""
    server = hostile()
    serve_image(server, REPO, "latest", IMAGE)
    headers = [
        ("Content-Type", IMAGE.media_type),
        ("Docker-Content-Digest", header),
        ("Content-Length", "10"),
    ]
    server.on("HEAD", f"/v2/{REPO}/manifests/latest", response(200, "OK", headers))
    run = check(server, tag="latest")
    assert (run.returncode, run.stdout) == (0, f'[{{"tag":"latest","digest":"{IMAGE.digest}"}}]\n'.encode())
    assert len(server.seen("GET", f"/v2/{REPO}/manifests/latest")) == 1


# --- Location, Link, realm ---------------------------------------------------------------------


def test_an_upload_location_with_a_space_is_refused(
    hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    server = hostile()
    server.on("GET", "/v2/", json_response(200, {}))
    server.on("HEAD", f"/v2/{REPO}/blobs/.*", response(404, "Not Found"))
    server.on("POST", f"/v2/{REPO}/blobs/uploads/", response(202, "Accepted", [("Location", "/upload/a b")]))
    image = build_image([{"a.txt": File(b"pushed\n")}])
    write_oci_layout(image, tmp_path / "layout", tag="2.0.0")
    request = {
        "source": {"repository": f"{server.host}/{REPO}", "tag": "2.0.0"},
        "params": {"image": "layout"},
    }
    run = run_cli("out", [str(tmp_path)], request)
    assert (run.returncode, run.stdout) == (1, b"")
    assert re.fullmatch(
        rf"ERROR pushing image failed: PUT 'http://{server.host}/upload/a b\?digest=sha256:[0-9a-f]{{64}}': "
        "the registry gave a URL with spaces or control characters",
        run.last_line,
    )
    assert server.seen("PUT") == []


def test_a_link_with_a_control_character_is_refused(hostile: Callable[..., HostileServer]) -> None:
    server = hostile()
    server.on("GET", "/v2/", json_response(200, {}))
    link = f'</v2/{REPO}/tags/list?n=1&last=a\x01b>; rel="next"'
    server.on("GET", f"/v2/{REPO}/tags/list", json_response(200, {"tags": ["1.0.0"]}, [("Link", link)]))
    run = check(server)
    assert_failed(
        run,
        f"ERROR checking origin {server.host}/{REPO} failed: list repository tags: "
        f"GET 'http://{server.host}/v2/{REPO}/tags/list?n=1&last=a\\x01b': "
        "the registry gave a URL with spaces or control characters",
    )
    assert len(server.seen("GET", f"/v2/{REPO}/tags/list")) == 1


def test_a_link_to_another_host_is_refused(hostile: Callable[..., HostileServer]) -> None:
    server, elsewhere = hostile(), hostile()
    server.on("GET", "/v2/", json_response(200, {}))
    link = f'<http://127.0.0.1:{elsewhere.port}/v2/{REPO}/tags/list?n=1>; rel="next"'
    server.on("GET", f"/v2/{REPO}/tags/list", json_response(200, {"tags": ["1.0.0"]}, [("Link", link)]))
    run = check(server)
    assert_failed(
        run,
        f"ERROR checking origin {server.host}/{REPO} failed: list repository tags: "
        "pagination URL host does not match registry host: potential SSRF attack",
    )
    assert elsewhere.requests == []


@pytest.mark.parametrize(
    ("realm", "reason"),
    [
        ("http://{host}/to ken", "it contains spaces or control characters"),
        ("http://{host}/to\tken", "it contains spaces or control characters"),
        ("file:///etc/passwd", "'file:///etc/passwd'"),
        ("http://127.0.0.2:{port}/token", 'realm host "127.0.0.2" is a private or link-local address'),
        ("http://10.0.0.1/token", 'realm host "10.0.0.1" is a private or link-local address'),
    ],
    ids=["space", "tab", "file", "other-loopback", "private"],
)
def test_a_token_realm_that_could_leak_credentials_is_refused(
    hostile: Callable[..., HostileServer], realm: str, reason: str
) -> None:
    server = hostile()
    realm = realm.format(host=server.host, port=server.port)
    challenge = f'Bearer realm="{realm}",service="hostile"'
    server.on("GET", "/v2/", response(401, "Unauthorized", [("WWW-Authenticate", challenge)]))
    run = check(server, tag="latest", username="user", password="s3cret-pass")
    assert_failed(
        run,
        f"ERROR checking origin {server.host}/{REPO} failed: initialize transport: "
        f"invalid realm in www-authenticate: {reason}",
    )
    assert [request.path for request in server.requests] == ["/v2/"]


def test_a_plain_http_realm_for_an_https_registry_is_refused(
    hostile: Callable[..., HostileServer], test_ca: Any
) -> None:
    server, plain = hostile(tls=True), hostile()
    realm = f"http://127.0.0.1:{plain.port}/token"
    challenge = f'Bearer realm="{realm}",service="hostile"'
    server.on("GET", "/v2/", response(401, "Unauthorized", [("WWW-Authenticate", challenge)]))
    ca_pem = test_ca.cert_pem.bytes().decode()
    run = check(server, tag="latest", username="user", password="s3cret-pass", ca_certs=[ca_pem])
    assert_failed(
        run,
        f"ERROR checking origin {server.host}/{REPO} failed: initialize transport: "
        f"invalid realm in www-authenticate: realm {realm!r} is not HTTPS",
    )
    assert plain.requests == []


# --- Retry-After (defect 4) --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["\u00b2", "\u00b9\u00b3", "1_0", "+5"],  # sent as Latin-1 bytes: b"\xb2" is a digit to isdigit()
    ids=["superscript-two", "superscripts", "underscore", "plus"],
)
def test_a_retry_after_of_other_than_ascii_digits_is_ignored(
    hostile: Callable[..., HostileServer], value: str
) -> None:
    """Before, '²' passed ``isdigit()`` and ``float()`` raised in the ping's thread: check hung."""
    server = hostile()
    server.on("GET", "/v2/", response(429, "Too Many Requests", [("Retry-After", value)]))
    run = check(server, tag="latest")
    assert (run.returncode, run.stdout) == (1, b"")
    # The HTTPS probe's error comes first, in OpenSSL's words (which name a source line).
    assert run.last_line.startswith(
        f"ERROR checking origin {server.host}/{REPO} failed: initialize transport: "
    )
    assert run.last_line.endswith(
        f"; GET http://{server.host}/v2/: 429 Too Many Requests (gave up after 5 attempts)"
    )
    assert len(server.seen("GET", "/v2/")) == 5
    assert run.seconds < 10


# --- defect 11: debug ---------------------------------------------------------------------------

_BROKEN_ERROR_PARSER = """
import sys
from registry_image_resource import cli
from registry_image_resource.registry import errors

def broken(body):
    raise KeyError("parser bug near " + body.decode())

errors.parse_error_body = broken
sys.exit(cli.main())
"""


def test_with_debug_an_internal_error_logs_its_masked_traceback_and_dest_stays_empty(
    hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    """The registry echoes the password in an error body; the resource's own bug (an error
    parser that raises) turns it into an internal error."""
    server = hostile()
    image = build_image([{"a.txt": File(b"first\n")}, {"b.txt": File(b"second\n")}])
    serve_image(server, REPO, "latest", image)
    server.on("GET", "/v2/", response(401, "Unauthorized", [("WWW-Authenticate", 'Basic realm="r"')]))
    second = image.layers[1].digest
    server.on(
        "GET",
        re.escape(f"/v2/{REPO}/blobs/{second}"),
        response(403, "Forbidden", [], b"denied for s3cret-pass"),
    )
    dest = tmp_path / "dest"
    dest.mkdir()
    source = {
        "repository": f"{server.host}/{REPO}",
        "username": "user",
        "password": "s3cret-pass",
        "debug": True,
    }
    run = run_cli(
        "in", [str(dest)], {"source": source, "version": {"digest": image.digest}}, code=_BROKEN_ERROR_PARSER
    )
    assert (run.returncode, run.stdout) == (1, b"")
    start = run.lines.index("DEBUG internal error")
    assert run.lines[start + 1] == "Traceback (most recent call last):"
    assert run.lines[-2:] == [
        "KeyError: 'parser bug near denied for ***'",
        "ERROR internal error: KeyError: 'parser bug near denied for ***'",
    ]
    assert "s3cret-pass" not in run.stderr.decode()
    assert list(dest.iterdir()) == []


def test_with_debug_no_credential_or_token_shows(hostile: Callable[..., HostileServer]) -> None:
    server = hostile()
    challenge = f'Bearer realm="http://{server.host}/token",service="hostile"'
    server.on("GET", "/v2/", response(401, "Unauthorized", [("WWW-Authenticate", challenge)]))
    server.on("GET", "/token", json_response(200, {"token": "tok-SECRET-789"}))
    # The registry answers with the token and the credentials in its error.
    basic = base64.b64encode(b"user:s3cret-pass").decode()
    body = json.dumps(
        {"errors": [{"code": "DENIED", "message": f"tok-SECRET-789 s3cret-pass {basic}"}]}
    ).encode()
    server.on("HEAD", f"/v2/{REPO}/manifests/latest", response(403, "Forbidden"))
    server.on("GET", f"/v2/{REPO}/manifests/latest", response(403, "Forbidden", [], body))
    run = check(server, tag="latest", username="user", password="s3cret-pass", debug=True)
    assert (run.returncode, run.stdout) == (1, b"")
    assert any(line.startswith("DEBUG ") for line in run.lines)
    output = run.stderr.decode()
    assert "tok-SECRET-789" not in output
    assert "s3cret-pass" not in output
    assert basic not in output
    assert [r.header("Authorization") for r in server.seen("GET", f"/v2/{REPO}/manifests/latest")] == [
        "Bearer tok-SECRET-789"
    ]
