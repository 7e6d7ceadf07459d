"""Issue 14, defect 8, against hostile servers as registry and proxy: ``NO_PROXY`` with Go's
``httpproxy`` rules (CIDR ranges, ``*.`` and leading-dot domains, ports, ``*``), ``https://`` proxies
spoken to over TLS, a clear error for proxy schemes the resource does not speak, any 2xx opening a
``CONNECT`` tunnel, the proxy's credentials never shown, and a request with a body never sent again
silently after the server dropped its kept-alive connection."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fake_registry import File, build_image, write_oci_layout
from packages.resource.tests.hostile import (
    REPO,
    Close,
    HostileServer,
    Run,
    Tunnel,
    json_response,
    response,
    run_cli,
)

DIGEST = "sha256:" + "a" * 64
EXPECTED = f'[{{"tag":"latest","digest":"{DIGEST}"}}]\n'.encode()
HEAD_ANSWER = response(
    200,
    "OK",
    [
        ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
        ("Docker-Content-Digest", DIGEST),
        ("Content-Length", "100"),
    ],
)


def registry(server: HostileServer, prefix: str = "") -> None:
    """A registry answering check in tag mode; ``prefix`` is the absolute form a proxy receives."""
    server.on("GET", re.escape(f"{prefix}/v2/"), json_response(200, {}))
    server.on("HEAD", re.escape(f"{prefix}/v2/{REPO}/manifests/latest"), HEAD_ANSWER)


def check(host: str, env: dict[str, str], **source: Any) -> Run:
    return run_cli(
        "check", [], {"source": {"repository": f"{host}/{REPO}", "tag": "latest", **source}}, env=env
    )


@pytest.fixture
def ca_pem(test_ca: Any) -> str:
    return str(test_ca.cert_pem.bytes().decode())


@pytest.mark.parametrize(
    ("no_proxy", "proxied"),
    [
        ("localhost", False),
        ("*", False),
        ("localhost:{port}", False),
        ("example.com, localhost", False),
        ("*.localhost", True),
        (".localhost", True),
        ("localhost:1", True),
        ("127.0.0.0/8", True),  # a range matches IP addresses, not the name localhost
        ("", True),
    ],
)
def test_no_proxy_for_a_named_registry(
    hostile: Callable[..., HostileServer], no_proxy: str, proxied: bool
) -> None:
    server, proxy = hostile(), hostile()
    registry(server)
    registry(proxy, prefix=f"http://localhost:{server.port}")
    proxy.on("CONNECT", ".*", response(403, "Forbidden"))
    proxy_url = f"http://127.0.0.1:{proxy.port}"
    env = {"HTTP_PROXY": proxy_url, "HTTPS_PROXY": proxy_url, "NO_PROXY": no_proxy.format(port=server.port)}
    run = check(f"localhost:{server.port}", env)
    assert (run.returncode, run.stdout) == (0, EXPECTED), run.stderr.decode()
    assert (proxy.seen("GET") != [], server.seen("GET") != []) == (proxied, not proxied)


@pytest.mark.parametrize(
    ("no_proxy", "proxied"),
    [
        ("127.0.0.0/8", False),
        ("127.0.0.1/32", False),
        ("10.0.0.0/8", True),
        ("::1/128", True),
        ("127.0.0.1", False),
        ("127.0.0.1:{port}", False),
        ("127.0.0.1:{other}", True),
    ],
)
def test_no_proxy_for_a_registry_by_address(
    hostile: Callable[..., HostileServer], no_proxy: str, proxied: bool
) -> None:
    server, proxy = hostile(), hostile()
    registry(server)
    registry(proxy, prefix=f"http://127.0.0.1:{server.port}")
    proxy.on("CONNECT", ".*", response(403, "Forbidden"))
    proxy_url = f"http://127.0.0.1:{proxy.port}"
    no_proxy = no_proxy.format(port=server.port, other=proxy.port)
    run = check(server.host, {"HTTP_PROXY": proxy_url, "HTTPS_PROXY": proxy_url, "NO_PROXY": no_proxy})
    assert (run.returncode, run.stdout) == (0, EXPECTED), run.stderr.decode()
    assert (proxy.seen("GET") != [], server.seen("GET") != []) == (proxied, not proxied)


def test_an_https_proxy_is_spoken_to_over_tls(hostile: Callable[..., HostileServer], ca_pem: str) -> None:
    server, proxy = hostile(tls=True), hostile(tls=True)
    registry(server)
    proxy.on("CONNECT", ".*", Tunnel(server.port))
    env = {"HTTPS_PROXY": f"https://proxy-user:proxy-pass@127.0.0.1:{proxy.port}"}
    run = check(server.host, env, ca_certs=[ca_pem])
    assert (run.returncode, run.stdout) == (0, EXPECTED), run.stderr.decode()
    [connect] = proxy.seen("CONNECT")
    assert connect.target == server.host
    assert (
        connect.header("Proxy-Authorization")
        == "Basic " + base64.b64encode(b"proxy-user:proxy-pass").decode()
    )
    assert server.seen("HEAD") != []


@pytest.mark.parametrize("status", [b"200 Connection established", b"204 No Content", b"299 Odd"])
def test_any_2xx_to_connect_opens_the_tunnel(
    hostile: Callable[..., HostileServer], ca_pem: str, status: bytes
) -> None:
    server, proxy = hostile(tls=True), hostile()
    registry(server)
    proxy.on("CONNECT", ".*", Tunnel(server.port, b"HTTP/1.1 " + status + b"\r\n\r\n"))
    run = check(server.host, {"HTTPS_PROXY": f"http://127.0.0.1:{proxy.port}"}, ca_certs=[ca_pem])
    assert (run.returncode, run.stdout) == (0, EXPECTED), run.stderr.decode()
    assert [request.target for request in proxy.seen("CONNECT")] == [server.host]


def test_a_refused_tunnel_names_the_status_and_never_the_proxy_credentials(
    hostile: Callable[..., HostileServer], ca_pem: str
) -> None:
    server, proxy = hostile(tls=True), hostile()
    proxy.on("CONNECT", ".*", response(407, "Proxy Authentication Required"))
    env = {"HTTPS_PROXY": f"http://proxy-user:proxy-pass@127.0.0.1:{proxy.port}"}
    run = check(server.host, env, ca_certs=[ca_pem])
    assert (run.returncode, run.stdout) == (1, b"")
    assert run.last_line == (
        f"ERROR checking origin {server.host}/{REPO} failed: initialize transport: "
        f"GET https://{server.host}/v2/: unable to connect to the proxy (HTTPS_PROXY/HTTP_PROXY): "
        "Tunnel connection failed: 407 Proxy Authentication Required; "
        f"GET http://{server.host}/v2/: 400 Bad Request: Client sent an HTTP request to an HTTPS server."
    )
    assert b"proxy-pass" not in run.stderr
    assert str(proxy.port).encode() not in run.stderr


@pytest.mark.parametrize("scheme", ["socks5", "socks5h", "ftp"])
def test_a_proxy_scheme_not_spoken_is_a_clear_error(
    hostile: Callable[..., HostileServer], scheme: str
) -> None:
    server, proxy = hostile(), hostile()
    proxy_url = f"{scheme}://user:pw-secret@127.0.0.1:{proxy.port}"
    run = check(server.host, {"HTTP_PROXY": proxy_url, "HTTPS_PROXY": proxy_url})
    assert (run.returncode, run.stdout) == (1, b"")
    reason = f"proxy scheme {scheme!r} is not supported (HTTPS_PROXY/HTTP_PROXY: use http:// or https://)"
    assert run.last_line == (
        f"ERROR checking origin {server.host}/{REPO} failed: initialize transport: "
        f"GET https://{server.host}/v2/: {reason}; GET http://{server.host}/v2/: {reason}"
    )
    assert (proxy.connections, server.connections) == (0, 0)
    assert b"pw-secret" not in run.stderr


def test_a_post_is_not_sent_again_silently_after_the_connection_dropped(
    hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    """The server reads the POST of an upload on a kept-alive connection and closes without an
    answer: the POST is not replayed by the connection pool; the retry policy sends it again,
    saying so."""
    server = hostile()
    server.on("GET", "/v2/", json_response(200, {}))
    server.on("HEAD", f"/v2/{REPO}/blobs/.*", response(404, "Not Found"))
    server.on("POST", f"/v2/{REPO}/blobs/uploads/", response(202, "Accepted", [("Location", "/upload/1")]))
    server.on("POST", f"/v2/{REPO}/blobs/uploads/", Close(), times=1)
    server.on("PUT", "/upload/1", response(201, "Created"))
    server.on("HEAD", f"/v2/{REPO}/manifests/.*", response(404, "Not Found"))
    server.on("PUT", f"/v2/{REPO}/manifests/.*", response(201, "Created"))
    write_oci_layout(build_image([{"a.txt": File(b"pushed\n")}]), tmp_path / "layout", tag="2.0.0")
    request = {
        "source": {"repository": f"{server.host}/{REPO}", "tag": "2.0.0"},
        "params": {"image": "layout"},
    }
    run = run_cli("out", [str(tmp_path)], request)
    assert run.returncode == 0, run.stderr.decode()
    warnings = [line for line in run.lines if line.startswith("WARNING transient error: POST ")]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        f"WARNING transient error: POST http://{server.host}/v2/{REPO}/blobs/uploads/: "
        "the server closed the connection without an answer; retrying in "
    )
    posts = server.seen("POST")
    puts = server.seen("PUT", "/upload/1")
    assert len(posts) == len(puts) + 1
    dropped = posts[0]
    earlier = server.requests[: server.requests.index(dropped)]
    assert dropped.connection in {request.connection for request in earlier}  # a kept-alive one
