"""check, in and out against "ACR" with a Managed Identity, end to end and offline (SPEC B.6.5).

``demo.azurecr.io`` is a small ACR front (the AD-token exchange, ACR's Bearer token endpoint, and
everything else forwarded to a real ``registry:2``) behind the impersonation proxy, and IMDS at
``http://169.254.169.254`` is a fake answering through ``HTTP_PROXY``: the resource asks the real
addresses, exactly as on an Azure VM, and nothing leaves loopback.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from fake_registry import FakeRegistry, File, build_image, write_oci_layout
from integration.resource_cli import base_env, run_resource
from integration.routing_worlds import proxy_env
from integration.seed import push
from integration.servers import RegistryOptions, RegistryServer

ACR_HOST = "demo.azurecr.io"
ACR_USER = "00000000-0000-0000-0000-000000000000"
AAD_TOKEN = "aad-token-from-imds-61f0"
REFRESH_TOKEN = "acr-refresh-token-c81e"
ACCESS_TOKEN = "acr-access-token-2d7a"
TENANT = "tenant-7"
IMAGE = build_image([{"acr.txt": File("from ACR\n")}])


@dataclass
class Seen:
    """What the fakes were asked (for assertions)."""

    imds: list[dict[str, str]] = field(default_factory=list)
    exchanges: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def imds_handler(seen: Seen) -> type[BaseHTTPRequestHandler]:
    class Imds(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query))
            with seen.lock:
                seen.imds.append({**query, "metadata": self.headers.get("Metadata", "")})
            ok = (
                parts.path == "/metadata/identity/oauth2/token"
                and self.headers.get("Metadata") == "true"
                and query.get("client_id") != "unknown-client"
            )
            refusal = {"error": "invalid_request", "error_description": "Identity not found"}
            body = json.dumps({"access_token": AAD_TOKEN} if ok else refusal).encode()
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Imds


def forward(handler: BaseHTTPRequestHandler, upstream: str) -> None:
    """Send the request on to the registry (plain HTTP, no Authorization) and relay its answer."""
    target = urlsplit(upstream)
    conn = http.client.HTTPConnection(target.hostname or "", target.port, timeout=60)
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length) if length else None
    skip = {"authorization", "connection", "content-length", "transfer-encoding"}
    headers = {k: v for k, v in handler.headers.items() if k.lower() not in skip}
    headers["X-Forwarded-Proto"] = "https"  # registry:2 then writes Location for the ACR name
    try:
        conn.request(handler.command, handler.path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        handler.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("connection", "transfer-encoding", "content-length", "date", "server"):
                handler.send_header(key, value)
        length_header = response.getheader("Content-Length")
        head = handler.command == "HEAD"
        handler.send_header("Content-Length", (length_header or "0") if head else str(len(data)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(data)
    finally:
        conn.close()


def acr_handler(seen: Seen, upstream: str) -> type[BaseHTTPRequestHandler]:
    """ACR's auth in front of a registry: exchange, Bearer token endpoint, and a checked forward."""
    challenge = f'Bearer realm="https://{ACR_HOST}/oauth2/token",service="{ACR_HOST}",tenant="{TENANT}"'
    basic = "Basic " + base64.b64encode(f"{ACR_USER}:{REFRESH_TOKEN}".encode()).decode()

    class Acr(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def answer(self, status: int, document: Any, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def handle_any(self) -> None:
            path = urlsplit(self.path).path
            if self.command == "POST" and path == "/oauth2/exchange":
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                with seen.lock:
                    seen.exchanges.append(form)
                if form.get("access_token") != AAD_TOKEN:
                    self.answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad AAD token"}]})
                else:
                    self.answer(200, {"refresh_token": REFRESH_TOKEN})
                return
            if self.command == "GET" and path == "/oauth2/token":
                if self.headers.get("Authorization") != basic:
                    self.answer(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": challenge})
                else:
                    self.answer(200, {"access_token": ACCESS_TOKEN})
                return
            if self.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
                self.answer(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": challenge})
                return
            forward(self, upstream)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    return Acr


@dataclass(frozen=True)
class AcrWorld:
    front: FakeRegistry
    registry: RegistryServer
    seen: Seen

    def source(self, repo: str, **fields: Any) -> dict[str, Any]:
        assert self.front.ca_pem is not None
        return {
            "repository": f"{ACR_HOST}/{repo}",
            "azure_acr": True,
            "ca_certs": [self.front.ca_pem],
            **fields,
        }


@pytest.fixture
def world(registry_factory: Callable[[RegistryOptions], RegistryServer]) -> Iterator[AcrWorld]:
    registry = registry_factory(RegistryOptions())
    seen = Seen()
    imds_server = serve(imds_handler(seen))
    acr_server = serve(acr_handler(seen, registry.url))
    with FakeRegistry(proxy=True) as front:
        imds_url = next(imds_server)
        acr_url = next(acr_server)
        front.proxy.route("169.254.169.254", imds_url)
        front.proxy.route(ACR_HOST, acr_url)
        try:
            yield AcrWorld(front, registry, seen)
        finally:
            for server in (imds_server, acr_server):
                server.close()


def env_for(world: AcrWorld, tmp_path: Path) -> dict[str, str]:
    return base_env(tmp_path, proxy_env(world.front))


def test_check_discovers_the_tenant_and_exchanges_the_identity_token(
    world: AcrWorld, repo_name: str, tmp_path: Path
) -> None:
    digest = push(world.registry, repo_name, IMAGE, "v1")
    result = run_resource(
        "check", {"source": world.source(repo_name, tag="v1")}, env=env_for(world, tmp_path)
    )
    assert result.json == [{"tag": "v1", "digest": digest}]
    assert world.seen.imds == [
        {"api-version": "2018-02-01", "resource": "https://management.azure.com", "metadata": "true"}
    ]
    assert world.seen.exchanges == [
        {"grant_type": "access_token", "service": ACR_HOST, "tenant": TENANT, "access_token": AAD_TOKEN}
    ]


def test_in_with_a_user_assigned_identity_and_given_tenant(
    world: AcrWorld, repo_name: str, tmp_path: Path
) -> None:
    digest = push(world.registry, repo_name, IMAGE, "v1")
    dest = tmp_path / "dest"
    dest.mkdir()
    source = world.source(repo_name, azure_client_id="client-42", azure_tenant_id="tenant-given")
    request = {"source": source, "version": {"tag": "v1", "digest": digest}}
    run_resource("in", request, str(dest), env=env_for(world, tmp_path))
    assert (dest / "rootfs" / "acr.txt").read_text() == "from ACR\n"
    assert (dest / "repository").read_text() == f"{ACR_HOST}/{repo_name}"
    assert world.seen.imds[0]["client_id"] == "client-42"
    assert world.seen.exchanges[0]["tenant"] == "tenant-given"


def test_out(world: AcrWorld, repo_name: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_oci_layout(IMAGE, src / "image")
    request = {"source": world.source(repo_name, tag="pushed"), "params": {"image": "image"}}
    result = run_resource("out", request, str(src), env=env_for(world, tmp_path))
    assert result.json["metadata"] == [
        {"name": "repository", "value": f"{ACR_HOST}/{repo_name}"},
        {"name": "tags", "value": "pushed"},
    ]


def test_no_token_shown_with_debug(world: AcrWorld, repo_name: str, tmp_path: Path) -> None:
    push(world.registry, repo_name, IMAGE, "v1")
    source = world.source(repo_name, tag="v1", debug=True)
    result = run_resource("check", {"source": source}, env=env_for(world, tmp_path))
    assert f"DEBUG ACR tenant: {TENANT}" in result.stderr.splitlines()
    for token in (AAD_TOKEN, REFRESH_TOKEN, ACCESS_TOKEN):
        assert token not in result.stdout + result.stderr


def test_identity_refused_is_one_clear_line(world: AcrWorld, tmp_path: Path) -> None:
    source = world.source("team/app", tag="v1", azure_client_id="unknown-client")
    result = run_resource("check", {"source": source}, env=env_for(world, tmp_path), ok=False)
    assert result.last_line == (
        "ERROR cannot authenticate with ACR: failed to acquire Azure AD token: GET "
        "http://169.254.169.254/metadata/identity/oauth2/token: status 400: "
        '{"error": "invalid_request", "error_description": "Identity not found"}'
    )
    assert world.seen.exchanges == []
