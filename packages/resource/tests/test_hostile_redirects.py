"""Issue 14, defect 1, against hostile servers: credentials (Basic, a bearer token) go only to the
scheme, host and port they were given for. A redirect that changes any of them drops them, so the
plain-HTTP side receives no ``Authorization``; a redirect to another scheme than HTTP(S) is an
error, and a redirect loop ends."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fake_registry import File, build_image
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
MANIFEST = f"/v2/{REPO}/manifests/latest"
PASSWORD = "s3cret-pass"
BASIC = "Basic " + base64.b64encode(f"user:{PASSWORD}".encode()).decode()
EXPECTED = f'[{{"tag":"latest","digest":"{IMAGE.digest}"}}]\n'.encode()


@pytest.fixture
def ca_pem(test_ca: Any) -> str:
    return str(test_ca.cert_pem.bytes().decode())


def registry(server: HostileServer, challenge: str = 'Basic realm="hostile"') -> None:
    """Ping asks for ``challenge``; HEAD gives no digest, so check GETs the manifest."""
    server.on("GET", "/v2/", response(401, "Unauthorized", [("WWW-Authenticate", challenge)]))
    server.on("HEAD", MANIFEST, response(200, "OK", [("Content-Type", IMAGE.media_type)]))


def redirect(location: str, status: int = 307) -> bytes:
    return response(status, "Redirect", [("Location", location)])


def manifest() -> bytes:
    return response(200, "OK", [("Content-Type", IMAGE.media_type)], IMAGE.manifest)


def check(server: HostileServer, **source: Any) -> Run:
    request = {"source": {"repository": f"{server.host}/{REPO}", "tag": "latest", **source}}
    return run_cli("check", [], request)


def test_https_to_http_redirect_drops_basic_credentials(
    hostile: Callable[..., HostileServer], ca_pem: str
) -> None:
    tls, plain = hostile(tls=True), hostile()
    registry(tls)
    tls.on("GET", MANIFEST, redirect(f"http://127.0.0.1:{plain.port}/manifest"))
    plain.on("GET", "/manifest", manifest())
    run = check(tls, username="user", password=PASSWORD, ca_certs=[ca_pem])
    assert (run.returncode, run.stdout) == (0, EXPECTED), run.stderr.decode()
    [sent] = tls.seen("GET", MANIFEST)
    [moved] = plain.seen("GET", "/manifest")
    assert (sent.header("Authorization"), moved.header("Authorization")) == (BASIC, None)


def test_https_to_http_redirect_drops_the_bearer_token(
    hostile: Callable[..., HostileServer], ca_pem: str
) -> None:
    tls, plain = hostile(tls=True), hostile()
    registry(tls, f'Bearer realm="https://{tls.host}/token",service="hostile"')
    tls.on("GET", "/token", json_response(200, {"token": "tok-123"}))
    tls.on("GET", MANIFEST, redirect(f"http://127.0.0.1:{plain.port}/manifest"))
    plain.on("GET", "/manifest", manifest())
    run = check(tls, username="user", password=PASSWORD, ca_certs=[ca_pem])
    assert (run.returncode, run.stdout) == (0, EXPECTED), run.stderr.decode()
    [sent] = tls.seen("GET", MANIFEST)
    [moved] = plain.seen("GET", "/manifest")
    assert (sent.header("Authorization"), moved.header("Authorization")) == ("Bearer tok-123", None)


def test_redirect_to_another_port_drops_credentials(hostile: Callable[..., HostileServer]) -> None:
    origin, other = hostile(), hostile()
    registry(origin)
    origin.on("GET", MANIFEST, redirect(f"http://127.0.0.1:{other.port}/manifest", 302))
    other.on("GET", "/manifest", manifest())
    run = check(origin, username="user", password=PASSWORD)
    assert (run.returncode, run.stdout) == (0, EXPECTED), run.stderr.decode()
    [moved] = other.seen("GET", "/manifest")
    assert moved.header("Authorization") is None


def test_redirect_to_another_host_name_drops_credentials(hostile: Callable[..., HostileServer]) -> None:
    server = hostile()
    registry(server)
    server.on("GET", MANIFEST, redirect(f"http://localhost:{server.port}/manifest", 301))
    server.on("GET", "/manifest", manifest())
    run = check(server, username="user", password=PASSWORD)
    assert (run.returncode, run.stdout) == (0, EXPECTED), run.stderr.decode()
    [moved] = server.seen("GET", "/manifest")
    assert moved.header("Authorization") is None


def test_redirect_within_the_registry_keeps_credentials(hostile: Callable[..., HostileServer]) -> None:
    server = hostile()
    registry(server)
    server.on("GET", MANIFEST, redirect("/elsewhere/manifest", 308))
    server.on("GET", "/elsewhere/manifest", manifest())
    run = check(server, username="user", password=PASSWORD)
    assert (run.returncode, run.stdout) == (0, EXPECTED), run.stderr.decode()
    [moved] = server.seen("GET", "/elsewhere/manifest")
    assert moved.header("Authorization") == BASIC


def test_a_blob_redirected_to_storage_elsewhere_gets_no_credentials(
    hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    server, storage = hostile(), hostile()
    serve_image(server, REPO, "latest", IMAGE)
    server.on("GET", "/v2/", response(401, "Unauthorized", [("WWW-Authenticate", 'Basic realm="r"')]))
    layer = IMAGE.layers[0]
    server.on(
        "GET",
        re.escape(f"/v2/{REPO}/blobs/{layer.digest}"),
        redirect(f"http://127.0.0.1:{storage.port}/storage/layer?signature=abc"),
    )
    storage.on("GET", "/storage/layer", response(200, "OK", [], layer.data))
    dest = tmp_path / "dest"
    dest.mkdir()
    run = run_cli(
        "in",
        [str(dest)],
        {
            "source": {"repository": f"{server.host}/{REPO}", "username": "user", "password": PASSWORD},
            "version": {"digest": IMAGE.digest},
        },
    )
    assert run.returncode == 0, run.stderr.decode()
    assert (dest / "rootfs/a.txt").read_bytes() == b"hello\n"
    [fetched] = storage.seen("GET", "/storage/layer")
    assert fetched.header("Authorization") is None


def test_a_token_endpoint_redirected_to_plain_http_gets_no_credentials(
    hostile: Callable[..., HostileServer], ca_pem: str
) -> None:
    tls, plain = hostile(tls=True), hostile()
    registry(tls, f'Bearer realm="https://{tls.host}/token",service="hostile"')
    tls.on("GET", "/token", redirect(f"http://127.0.0.1:{plain.port}/token"))
    plain.on("GET", "/token", json_response(200, {"token": "tok-456"}))
    tls.on("GET", MANIFEST, manifest())
    run = check(tls, username="user", password=PASSWORD, ca_certs=[ca_pem])
    assert (run.returncode, run.stdout) == (0, EXPECTED), run.stderr.decode()
    [asked] = tls.seen("GET", "/token")
    [moved] = plain.seen("GET", "/token")
    assert (asked.header("Authorization"), moved.header("Authorization")) == (BASIC, None)


@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "ftp://127.0.0.1/manifest", "gopher://127.0.0.1:70/x"]
)
def test_a_redirect_to_another_scheme_is_refused(
    hostile: Callable[..., HostileServer], location: str
) -> None:
    server = hostile()
    registry(server)
    server.on("GET", MANIFEST, redirect(location))
    run = check(server, username="user", password=PASSWORD)
    assert (run.returncode, run.stdout) == (1, b"")
    assert run.last_line == (
        f"ERROR checking origin {server.host}/{REPO} failed: get remote image: "
        f"GET http://{server.host}{MANIFEST}: redirected to a URL that is not HTTP(S)"
    )


def test_a_redirect_loop_ends_after_10_redirects(hostile: Callable[..., HostileServer]) -> None:
    server = hostile()
    registry(server)
    server.on("GET", MANIFEST, redirect(MANIFEST, 302))
    run = check(server, username="user", password=PASSWORD)
    assert (run.returncode, run.stdout) == (1, b"")
    assert run.last_line == (
        f"ERROR checking origin {server.host}/{REPO} failed: get remote image: "
        f"GET http://{server.host}{MANIFEST}: 302 Found"
    )
    assert len(server.seen("GET", MANIFEST)) == 11
    assert PASSWORD not in run.stderr.decode()
