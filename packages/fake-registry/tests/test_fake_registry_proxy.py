"""The impersonation proxy: HTTPS CONNECT to any host name, answered by the fake registry."""

import socket

import pytest
import requests

from fake_registry import FakeRegistry


def proxied(reg: FakeRegistry) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.proxies = {"https": reg.proxy.url, "http": reg.proxy.url}
    s.verify = str(reg.ca_file)
    return s


def test_index_docker_io_served_by_the_fake(fake_registry_factory):
    reg = fake_registry_factory(proxy=True)
    image = reg.push_image("library/alpine", "3.19")
    s = proxied(reg)
    r = s.get("https://index.docker.io/v2/library/alpine/manifests/3.19")
    assert r.status_code == 200
    assert r.headers["Docker-Content-Digest"] == image.digest
    assert reg.proxy.connects == ["index.docker.io:443"]
    [logged] = reg.requests.all()
    assert (logged.host, logged.path) == ("index.docker.io", "/v2/library/alpine/manifests/3.19")


def test_locations_name_the_impersonated_host(fake_registry_factory):
    reg = fake_registry_factory(proxy=True)
    r = proxied(reg).post("https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/app/blobs/uploads/")
    assert r.headers["Location"].startswith(
        "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/app/blobs/uploads/"
    )


def test_bearer_realm_through_the_proxy(fake_registry_factory):
    reg = fake_registry_factory(proxy=True, users=["u:p"], auth="bearer")
    reg.push_image("library/busybox", "latest")
    s = proxied(reg)
    challenge = s.get("https://index.docker.io/v2/library/busybox/tags/list").headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="https://index.docker.io/token"')
    tok = s.get(
        "https://index.docker.io/token", params={"scope": "repository:library/busybox:pull"}, auth=("u", "p")
    ).json()
    r = s.get(
        "https://index.docker.io/v2/library/busybox/tags/list",
        headers={"Authorization": f"Bearer {tok['token']}"},
    )
    assert r.json()["tags"] == ["latest"]


def test_route_host_to_another_upstream(fake_registry_factory):
    front = fake_registry_factory(proxy=True)
    other = fake_registry_factory()
    image = other.push_image("team/app", "v1")
    front.proxy.route("ghcr.io", other.url)
    s = proxied(front)
    r = s.get("https://ghcr.io/v2/team/app/manifests/v1")
    assert (r.status_code, r.headers["Docker-Content-Digest"]) == (200, image.digest)
    assert [x.host for x in other.requests.all()] == ["ghcr.io"]
    assert front.requests.all() == []
    assert front.proxy.requests.summary() == ["GET /v2/team/app/manifests/v1 200"]
    assert front.proxy.requests[0].host == "ghcr.io"
    upload = s.post("https://ghcr.io/v2/team/app/blobs/uploads/")
    assert upload.headers["Location"].startswith("https://ghcr.io/v2/team/app/blobs/uploads/")
    data = b"through the proxy"
    import hashlib

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    done = s.put(upload.headers["Location"], params={"digest": digest}, data=iter([data]))
    assert done.status_code == 201
    assert other.blob("team/app", digest) == data


def test_route_pattern(fake_registry_factory):
    front = fake_registry_factory(proxy=True)
    other = fake_registry_factory()
    other.push_image("app", "v1")
    front.proxy.route("*.dkr.ecr.*.amazonaws.com", other.url)
    r = proxied(front).get("https://1234.dkr.ecr.eu-west-1.amazonaws.com/v2/app/tags/list")
    assert r.json()["tags"] == ["v1"]


def test_plain_http_proxy_requests(fake_registry_factory):
    reg = fake_registry_factory(proxy=True)
    reg.push_image("x/app", "v1")
    r = proxied(reg).get("http://registry.internal/v2/x/app/tags/list")
    assert r.json()["tags"] == ["v1"]


def test_proxy_env_for_subprocesses(fake_registry_factory):
    reg = fake_registry_factory(proxy=True)
    env = reg.proxy.env()
    assert env["HTTPS_PROXY"] == env["https_proxy"] == reg.proxy.url
    assert env["SSL_CERT_FILE"] == str(reg.ca_file)


def test_unreachable_upstream_is_502(fake_registry_factory):
    front = fake_registry_factory(proxy=True)
    dead = fake_registry_factory()
    url = dead.url
    dead.stop()
    front.proxy.route("gone.example", url)
    r = proxied(front).get("https://gone.example/v2/")
    assert r.status_code == 502
    assert front.proxy.requests.summary() == ["GET /v2/ 502"]


def test_forward_request_in_a_handler_of_your_own(fake_registry):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from fake_registry.proxy import forward_request

    fake_registry.push_image("own/app", "v1")

    class Front(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            forward_request(self, fake_registry.url, scheme="http")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Front)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        r = requests.get(f"http://127.0.0.1:{server.server_port}/v2/own/app/tags/list")
        assert r.json()["tags"] == ["v1"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize(
    "payload", [b"GARBAGE\r\n\r\n", b"\x16\x03\x01\x00\x05hello"], ids=["garbage", "tls-hello"]
)
def test_the_proxy_port_answers_unparseable_bytes_with_an_http_400(fake_registry_factory, payload):
    reg = fake_registry_factory(proxy=True)
    answer = b""
    with socket.create_connection(("127.0.0.1", reg.proxy._server.server_address[1]), timeout=5) as s:
        s.sendall(payload)
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert (head.split(b"\r\n", 1)[0], body) == (b"HTTP/1.1 400 Bad Request", b"400 Bad Request\n")
