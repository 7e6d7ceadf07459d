"""The registry client against a scripted HTTP server: ping, auth, tags, manifests, blobs, uploads."""

from __future__ import annotations

import base64
import hashlib
import io
import json

import pytest

from registry_image_resource.errors import (
    AuthError,
    IntegrityError,
    NotFoundError,
    RegistryError,
    TransportError,
)
from registry_image_resource.registry.client import ConnectOptions, RegistryClient
from registry_image_resource.registry.manifests import ACCEPT, OCI_INDEX, OCI_MANIFEST
from registry_image_resource.registry.reference import Repository

TEST_ENV = {"TEST": "true"}
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {}, "layers": []}).encode()
MANIFEST_DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


NO_OPTIONS = ConnectOptions()


def _connect(server, options=NO_OPTIONS, actions="pull", path="test/app") -> RegistryClient:
    return RegistryClient.connect(Repository(server.host, path), options, actions, env=TEST_ENV)


def test_ping_falls_back_to_plain_http_on_loopback(stub_server):
    with _connect(stub_server) as client:
        assert client.base_url == f"http://{stub_server.host}"


def test_list_tags_follows_link_pagination(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route(
        "GET",
        "/v2/test/app/tags/list",
        lambda r: (
            Reply(
                200,
                {"Link": '</v2/test/app/tags/list?last=b&n=2>; rel="next"'},
                json.dumps({"name": "test/app", "tags": ["a", "b"]}).encode(),
            )
            if r.param("last") is None
            else Reply(200, {}, json.dumps({"name": "test/app", "tags": ["c"]}).encode())
        ),
    )
    with _connect(stub_server) as client:
        assert client.list_tags() == ["a", "b", "c"]
    assert [r.param("n") for r in stub_server.seen("GET", "/v2/test/app/tags/list")] == ["1000", "2"]


def test_list_tags_refuses_pagination_to_another_host(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route(
        "GET",
        "/v2/test/app/tags/list",
        Reply(200, {"Link": '<http://127.0.0.2:1/v2/x/tags/list?last=b>; rel="next"'}, b'{"tags":["a"]}'),
    )
    with _connect(stub_server) as client, pytest.raises(RegistryError) as caught:
        client.list_tags()
    assert str(caught.value) == "pagination URL host does not match registry host: potential SSRF attack"


def test_list_tags_refuses_pagination_to_another_scheme(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route(
        "GET",
        "/v2/test/app/tags/list",
        Reply(
            200,
            {"Link": f'<https://{stub_server.host}/v2/x/tags/list?last=b>; rel="next"'},
            b'{"tags":["a"]}',
        ),
    )
    with _connect(stub_server) as client, pytest.raises(RegistryError) as caught:
        client.list_tags()
    assert str(caught.value) == 'pagination URL scheme "https" does not match registry scheme "http"'


def test_list_tags_null_is_empty(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route("GET", "/v2/test/app/tags/list", Reply(200, {}, b'{"name":"test/app","tags":null}'))
    with _connect(stub_server) as client:
        assert client.list_tags() == []


def test_registry_error_names_registry_status_and_code(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route(
        "GET",
        "/v2/test/app/tags/list",
        Reply(
            404,
            {"Content-Type": "application/json"},
            b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"test/app"}}]}',
        ),
    )
    with _connect(stub_server) as client, pytest.raises(NotFoundError) as caught:
        client.list_tags()
    assert str(caught.value) == (
        f"GET http://{stub_server.host}/v2/test/app/tags/list?n=1000: 404 Not Found: "
        "NAME_UNKNOWN: repository name not known to registry"
    )
    assert (caught.value.status, caught.value.code) == (404, "NAME_UNKNOWN")


def test_registry_error_without_json_shows_the_body(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route("GET", "/v2/test/app/tags/list", Reply(403, {}, b"<html>\n  forbidden  </html>"))
    with _connect(stub_server) as client, pytest.raises(RegistryError) as caught:
        client.list_tags()
    assert str(caught.value) == (
        f"GET http://{stub_server.host}/v2/test/app/tags/list?n=1000: 403 Forbidden: <html> forbidden </html>"
    )


def _manifest_headers(digest=MANIFEST_DIGEST, body=MANIFEST):
    return {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest, "Content-Length": str(len(body))}


def test_head_or_get_uses_head_digest(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route(
        "HEAD", "/v2/test/app/manifests/1.0", Reply(200, _manifest_headers("sha256:" + "a" * 64))
    )
    with _connect(stub_server) as client:
        assert client.head_or_get_digest("1.0") == "sha256:" + "a" * 64
    assert stub_server.seen("GET", "/v2/test/app/manifests/1.0") == []
    assert stub_server.seen("HEAD")[0].headers["accept"] == ACCEPT


def test_head_or_get_falls_back_to_get_without_digest_header(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route("HEAD", "/v2/test/app/manifests/1.0", Reply(200, {"Content-Type": OCI_MANIFEST}))
    stub_server.route("GET", "/v2/test/app/manifests/1.0", Reply(200, {}, MANIFEST))
    with _connect(stub_server) as client:
        assert client.head_or_get_digest("1.0") == MANIFEST_DIGEST


def test_head_or_get_falls_back_to_get_on_head_error(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route("HEAD", "/v2/test/app/manifests/1.0", Reply(400))
    stub_server.route(
        "GET", "/v2/test/app/manifests/1.0", Reply(200, {"Content-Type": OCI_MANIFEST}, MANIFEST)
    )
    with _connect(stub_server) as client:
        assert client.head_or_get_digest("1.0") == MANIFEST_DIGEST


def test_head_or_get_not_found_is_none_without_get(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route("HEAD", "/v2/test/app/manifests/1.0", Reply(404))
    with _connect(stub_server) as client:
        assert client.head_or_get_digest("1.0") is None
    assert stub_server.seen("GET", "/v2/test/app/manifests/1.0") == []


def test_head_or_get_digest_ref_with_wrong_header_verifies_by_get(stub_server):
    Reply = type(stub_server).reply_class
    wanted = "sha256:" + "b" * 64
    stub_server.route("HEAD", f"/v2/test/app/manifests/{wanted}", Reply(200, _manifest_headers()))
    stub_server.route(
        "GET", f"/v2/test/app/manifests/{wanted}", Reply(200, {"Content-Type": OCI_MANIFEST}, MANIFEST)
    )
    with _connect(stub_server) as client, pytest.raises(IntegrityError) as caught:
        client.head_or_get_digest(wanted)
    assert str(caught.value) == (
        f'manifest digest: "{MANIFEST_DIGEST}" does not match requested digest: "{wanted}" '
        f'for "{stub_server.host}/test/app@{wanted}"'
    )


def test_get_manifest_detects_media_type_without_content_type(stub_server):
    Reply = type(stub_server).reply_class
    index = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
    stub_server.route(
        "GET", "/v2/test/app/manifests/multi", Reply(200, {"Content-Type": "text/plain"}, index)
    )
    with _connect(stub_server) as client:
        manifest = client.get_manifest("multi")
    assert (manifest.media_type, manifest.digest, manifest.body) == (
        OCI_INDEX,
        "sha256:" + hashlib.sha256(index).hexdigest(),
        index,
    )


def test_basic_auth_after_basic_challenge(stub_server):
    Reply = type(stub_server).reply_class
    expected = "Basic " + base64.b64encode(b"user:secret").decode()

    def ping(request):
        if request.headers.get("authorization") == expected:
            return Reply(200, {}, b"{}")
        return Reply(401, {"WWW-Authenticate": 'Basic realm="registry"'}, b"")

    stub_server.route("GET", "/v2/", ping)
    stub_server.route(
        "GET",
        "/v2/test/app/tags/list",
        lambda r: (
            Reply(200, {}, b'{"tags":["x"]}') if r.headers.get("authorization") == expected else Reply(401)
        ),
    )
    with _connect(stub_server, ConnectOptions(username="user", password="secret")) as client:
        assert client.list_tags() == ["x"]


def _bearer_server(stub_server, tokens):
    """A registry that wants a bearer token; ``tokens`` maps a joined scope list to a token."""
    Reply = type(stub_server).reply_class
    challenge = f'Bearer realm="http://{stub_server.host}/token",service="stub"'

    def needs(scope_token):
        def handler(request):
            if request.headers.get("authorization") == f"Bearer {scope_token}":
                return Reply(200, {}, b'{"tags":["t"]}')
            return Reply(401, {"WWW-Authenticate": challenge + ',scope="repository:test/app:pull"'})

        return handler

    def token(request):
        scopes = " ".join(v for k, v in request.query if k == "scope")
        if request.param("service") != "stub" or scopes not in tokens:
            return Reply(401, {}, b'{"errors":[{"code":"DENIED","message":"no"}]}')
        key = "access_token" if scopes.endswith("push") else "token"
        return Reply(200, {}, json.dumps({key: tokens[scopes]}).encode())

    stub_server.route("GET", "/v2/", Reply(401, {"WWW-Authenticate": challenge}))
    stub_server.route("GET", "/token", token)
    return needs


def test_bearer_token_for_the_repository_scope(stub_server):
    needs = _bearer_server(stub_server, {"repository:test/app:pull": "tok-1"})
    stub_server.route("GET", "/v2/test/app/tags/list", needs("tok-1"))
    with _connect(stub_server) as client:
        assert client.list_tags() == ["t"]
    assert len(stub_server.seen("GET", "/token")) == 1


def test_bearer_token_access_token_field(stub_server):
    needs = _bearer_server(stub_server, {"repository:test/app:pull,push": "tok-2"})
    stub_server.route("GET", "/v2/test/app/tags/list", needs("tok-2"))
    with _connect(stub_server, actions="pull,push") as client:
        assert client.list_tags() == ["t"]


def test_bearer_token_sends_basic_credentials_to_the_realm(stub_server):
    _bearer_server(stub_server, {"repository:test/app:pull": "tok"})
    with _connect(stub_server, ConnectOptions(username="u", password="p")):
        pass
    assert (
        stub_server.seen("GET", "/token")[0].headers["authorization"]
        == "Basic " + base64.b64encode(b"u:p").decode()
    )


def test_bearer_token_refetched_with_union_of_scopes_on_401(stub_server):
    Reply = type(stub_server).reply_class
    _bearer_server(
        stub_server,
        {"repository:test/app:pull": "tok-1", "repository:test/app:pull repository:other/lib:pull": "tok-2"},
    )
    challenge = (
        f'Bearer realm="http://{stub_server.host}/token",service="stub",scope="repository:other/lib:pull"'
    )
    stub_server.route(
        "GET",
        "/v2/test/app/tags/list",
        lambda r: (
            Reply(200, {}, b'{"tags":["u"]}')
            if r.headers.get("authorization") == "Bearer tok-2"
            else Reply(401, {"WWW-Authenticate": challenge})
        ),
    )
    with _connect(stub_server) as client:
        assert client.list_tags() == ["u"]
    assert [[v for k, v in r.query if k == "scope"] for r in stub_server.seen("GET", "/token")] == [
        ["repository:test/app:pull"],
        ["repository:test/app:pull", "repository:other/lib:pull"],
    ]


def test_bearer_token_refused_is_an_initialize_transport_error(stub_server):
    _bearer_server(stub_server, {})
    with pytest.raises(AuthError) as caught:
        _connect(stub_server)
    assert str(caught.value).startswith("initialize transport: fetching a token for ")
    assert "401 Unauthorized: DENIED: no" in str(caught.value)


def test_retry_429_honours_retry_after(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route("GET", "/v2/test/app/tags/list", Reply(200, {}, b'{"tags":["ok"]}'))
    stub_server.route("GET", "/v2/test/app/tags/list", Reply(429, {"Retry-After": "2"}), times=1)
    with _connect(stub_server) as client:
        assert client.list_tags() == ["ok"]
    assert len(stub_server.seen("GET", "/v2/test/app/tags/list")) == 2


def test_retry_503_twice(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route("GET", "/v2/test/app/tags/list", Reply(200, {}, b'{"tags":["ok"]}'))
    stub_server.route("GET", "/v2/test/app/tags/list", Reply(503), times=2)
    with _connect(stub_server) as client:
        assert client.list_tags() == ["ok"]
    assert len(stub_server.seen("GET", "/v2/test/app/tags/list")) == 3


def test_retry_reset_connection(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route("GET", "/v2/test/app/tags/list", Reply(200, {}, b'{"tags":["ok"]}'))
    stub_server.route("GET", "/v2/test/app/tags/list", Reply(reset=True), times=1)
    with _connect(stub_server) as client:
        assert client.list_tags() == ["ok"]


def test_retry_truncated_body(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route("GET", "/v2/test/app/manifests/t", Reply(200, {}, MANIFEST))
    stub_server.route("GET", "/v2/test/app/manifests/t", Reply(200, {}, MANIFEST, cut_after=10), times=1)
    with _connect(stub_server) as client:
        assert client.get_manifest("t").digest == MANIFEST_DIGEST


def test_retries_are_bounded(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route("GET", "/v2/test/app/tags/list", Reply(503))
    with _connect(stub_server) as client, pytest.raises(RegistryError) as caught:
        client.list_tags()
    assert str(caught.value) == (
        f"GET http://{stub_server.host}/v2/test/app/tags/list?n=1000: 503 Service Unavailable (gave up after 5 attempts)"
    )
    assert len(stub_server.seen("GET", "/v2/test/app/tags/list")) == 5


def test_permanent_errors_are_not_retried(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route("GET", "/v2/test/app/tags/list", Reply(400))
    with _connect(stub_server) as client, pytest.raises(RegistryError):
        client.list_tags()
    assert len(stub_server.seen("GET", "/v2/test/app/tags/list")) == 1


BLOB = bytes(range(256)) * 1000
BLOB_DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


def _blob_route(stub_server, cut_first_at=None):
    Reply = type(stub_server).reply_class
    state = {"cut": cut_first_at}

    def handler(request):
        start = 0
        if "range" in request.headers:
            start = int(request.headers["range"].removeprefix("bytes=").removesuffix("-"))
        body = BLOB[start:]
        status = 206 if start else 200
        cut, state["cut"] = state["cut"], None
        return Reply(status, {"Content-Type": "application/octet-stream"}, body, cut_after=cut)

    stub_server.route("GET", f"/v2/test/app/blobs/{BLOB_DIGEST}", handler)


def test_open_blob_reads_and_verifies(stub_server):
    _blob_route(stub_server)
    with _connect(stub_server) as client, client.open_blob(BLOB_DIGEST, len(BLOB)) as reader:
        assert reader.read() == BLOB


def test_open_blob_resumes_with_range_after_a_break(stub_server):
    _blob_route(stub_server, cut_first_at=100_000)
    with _connect(stub_server) as client, client.open_blob(BLOB_DIGEST, len(BLOB)) as reader:
        assert io.BufferedReader(reader, 65536).read() == BLOB
    ranges = [r.headers.get("range") for r in stub_server.seen("GET", f"/v2/test/app/blobs/{BLOB_DIGEST}")]
    assert ranges[0] is None
    assert ranges[1].startswith("bytes=")
    assert int(ranges[1][6:-1]) > 0


def test_open_blob_digest_mismatch(stub_server):
    Reply = type(stub_server).reply_class
    wrong = "sha256:" + "c" * 64
    stub_server.route("GET", f"/v2/test/app/blobs/{wrong}", Reply(200, {}, b"hello"))
    with (
        _connect(stub_server) as client,
        client.open_blob(wrong, 5) as reader,
        pytest.raises(IntegrityError) as caught,
    ):
        reader.read()
    assert (
        str(caught.value) == f"blob {wrong}: content has digest sha256:{hashlib.sha256(b'hello').hexdigest()}"
    )


def test_open_blob_size_mismatch(stub_server):
    Reply = type(stub_server).reply_class
    digest = "sha256:" + hashlib.sha256(b"hello").hexdigest()
    stub_server.route("GET", f"/v2/test/app/blobs/{digest}", Reply(200, {}, b"hello"))
    # The answer's Content-Length already says too much: refused before a byte is read.
    with _connect(stub_server) as client, pytest.raises(IntegrityError) as caught:
        client.open_blob(digest, 4)
    assert str(caught.value) == f"blob {digest}: more bytes than the expected size 4"


def test_blob_exists(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route("HEAD", f"/v2/test/app/blobs/{BLOB_DIGEST}", Reply(200, {"Content-Length": "5"}))
    with _connect(stub_server) as client:
        assert client.blob_exists(BLOB_DIGEST) is True
        assert client.blob_exists("sha256:" + "0" * 64) is False


def test_upload_blob_post_then_streamed_put(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route(
        "POST",
        "/v2/test/app/blobs/uploads/",
        Reply(202, {"Location": "/v2/test/app/blobs/uploads/u1?state=x"}),
    )
    stub_server.route(
        "PUT", "/v2/test/app/blobs/uploads/u1", Reply(201, {"Docker-Content-Digest": BLOB_DIGEST})
    )
    with _connect(stub_server, actions="push,pull") as client:
        client.upload_blob(BLOB_DIGEST, len(BLOB), lambda: io.BytesIO(BLOB))
    put = stub_server.seen("PUT")[0]
    assert (put.query, put.body, put.headers["content-type"]) == (
        [("state", "x"), ("digest", BLOB_DIGEST)],
        BLOB,
        "application/octet-stream",
    )


def test_upload_blob_retries_from_the_start(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route(
        "POST", "/v2/test/app/blobs/uploads/", Reply(202, {"Location": "/v2/test/app/blobs/uploads/u1"})
    )
    stub_server.route("PUT", "/v2/test/app/blobs/uploads/u1", Reply(201))
    stub_server.route("PUT", "/v2/test/app/blobs/uploads/u1", Reply(503), times=1)
    opened = []

    def opener():
        opened.append(1)
        return io.BytesIO(BLOB)

    with _connect(stub_server) as client:
        client.upload_blob(BLOB_DIGEST, len(BLOB), opener)
    assert [r.body == BLOB for r in stub_server.seen("PUT")] == [True, True]
    assert len(opened) == 2


def test_mount_blob(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route("POST", "/v2/test/app/blobs/uploads/", Reply(201))
    with _connect(stub_server) as client:
        assert client.mount_blob(BLOB_DIGEST, Repository(stub_server.host, "other/lib")) is True
    assert stub_server.seen("POST")[0].query == [("mount", BLOB_DIGEST), ("from", "other/lib")]


def test_mount_refused_cancels_the_upload(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route(
        "POST", "/v2/test/app/blobs/uploads/", Reply(202, {"Location": "/v2/test/app/blobs/uploads/u9"})
    )
    stub_server.route("DELETE", "/v2/test/app/blobs/uploads/u9", Reply(204))
    with _connect(stub_server) as client:
        assert client.mount_blob(BLOB_DIGEST, Repository(stub_server.host, "other/lib")) is False
    assert len(stub_server.seen("DELETE")) == 1


def test_put_manifest(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route(
        "PUT", "/v2/test/app/manifests/1.0", Reply(201, {"Docker-Content-Digest": MANIFEST_DIGEST})
    )
    with _connect(stub_server) as client:
        assert client.put_manifest("1.0", MANIFEST, OCI_MANIFEST) == MANIFEST_DIGEST
    put = stub_server.seen("PUT")[0]
    assert (put.body, put.headers["content-type"]) == (MANIFEST, OCI_MANIFEST)


def test_ping_refused_is_a_transport_error():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransportError) as caught:
        RegistryClient.connect(Repository(f"127.0.0.1:{port}", "x/y"), ConnectOptions(), env=TEST_ENV)
    text = str(caught.value)
    assert text.startswith(f"initialize transport: GET https://127.0.0.1:{port}/v2/: ")
    assert f"; GET http://127.0.0.1:{port}/v2/: " in text
    assert text.endswith("(gave up after 5 attempts)")


def _ca_pem(test_ca):
    return test_ca.cert_pem.bytes().decode()


def test_tls_with_ca_certs(tls_stub_server, test_ca):
    with _connect(tls_stub_server, ConnectOptions(ca_certs=(_ca_pem(test_ca),))) as client:
        assert client.base_url == f"https://{tls_stub_server.host}"


def test_tls_without_ca_certs_fails_verification(tls_stub_server):
    with pytest.raises(TransportError) as caught:
        _connect(tls_stub_server)
    assert "certificate verify failed" in str(caught.value)


def test_untrusted_tls_on_loopback_fails_at_once_without_retries(tls_stub_server, caplog):
    # The plain-HTTP probe is reset by the TLS server; that must not make the certificate error transient.
    with pytest.raises(TransportError) as caught:
        _connect(tls_stub_server)
    assert "gave up after" not in str(caught.value)
    assert [r.getMessage() for r in caplog.records if "transient error" in r.getMessage()] == []


def test_tls_insecure_skips_verification_with_a_warning(tls_stub_server, caplog):
    with _connect(tls_stub_server, ConnectOptions(insecure=True)) as client:
        assert client.base_url == f"https://{tls_stub_server.host}"
    assert [r.getMessage() for r in caplog.records] == [
        f"insecure: TLS certificates of {tls_stub_server.host} are not verified and plain HTTP is allowed"
    ]


def test_invalid_ca_certs_entry_is_named():
    from registry_image_resource.errors import RequestError

    bad = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
    with pytest.raises(RequestError) as caught:
        RegistryClient.connect(
            Repository("127.0.0.1:1", "x/y"), ConnectOptions(ca_certs=("", bad)), env=TEST_ENV
        )
    assert str(caught.value).startswith("source.ca_certs[0]: failed to append registry certificate: ")


def test_mtls_client_certificate(test_ca, make_stub_server):
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    test_ca.issue_cert("127.0.0.1").configure_cert(context)
    context.verify_mode = ssl.CERT_REQUIRED
    test_ca.configure_trust(context)
    server = make_stub_server(context)
    client_pair = test_ca.issue_cert("client@example.com")
    options = ConnectOptions(
        ca_certs=(_ca_pem(test_ca),),
        client_cert=client_pair.cert_chain_pems[0].bytes().decode(),
        client_key=client_pair.private_key_pem.bytes().decode(),
    )
    with _connect(server, options) as client:
        assert client.base_url == f"https://{server.host}"


def test_mtls_without_client_certificate_is_refused(test_ca, make_stub_server):
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    test_ca.issue_cert("127.0.0.1").configure_cert(context)
    context.verify_mode = ssl.CERT_REQUIRED
    test_ca.configure_trust(context)
    server = make_stub_server(context)
    with pytest.raises(TransportError):
        _connect(server, ConnectOptions(ca_certs=(_ca_pem(test_ca),)))


def test_proxy_from_the_environment(stub_server, monkeypatch):
    Reply = type(stub_server).reply_class
    stub_server.route("GET", "/v2/test/app/tags/list", Reply(200, {}, b'{"tags":["via-proxy"]}'))
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", stub_server.url)
    monkeypatch.setenv("HTTPS_PROXY", stub_server.url)
    repo = Repository("registry.invalid:5000", "test/app")
    with RegistryClient.connect(repo, ConnectOptions(insecure=True), env=TEST_ENV) as client:
        assert client.list_tags() == ["via-proxy"]
    assert stub_server.seen("GET", "/v2/test/app/tags/list")[0].headers["host"] == "registry.invalid:5000"


@pytest.mark.parametrize(
    ("no_proxy", "url", "bypass"),
    [
        ("", "https://reg.example.com/v2/", False),
        ("*", "https://reg.example.com/v2/", True),
        ("example.com", "https://reg.example.com/v2/", True),
        (".example.com", "https://reg.example.com/v2/", True),
        ("example.com", "https://notexample.com/v2/", False),
        ("reg.example.com:5000", "https://reg.example.com:5000/v2/", True),
        ("reg.example.com:5000", "https://reg.example.com/v2/", False),
        ("a.org, 127.0.0.1", "http://127.0.0.1:8080/v2/", True),
        ("::1", "http://[::1]:8080/v2/", True),
        # Go's httpproxy rules: CIDR ranges, leading-dot and "*." domains, explicit ports, "*"
        ("10.0.0.0/8", "https://10.1.2.3/v2/", True),
        ("10.0.0.0/8", "https://11.1.2.3/v2/", False),
        ("10.0.0.0/8", "https://reg.corp/v2/", False),
        ("fd00::/8", "https://[fd12::1]:5000/v2/", True),
        ("*.corp", "https://reg.corp/v2/", True),
        ("*.corp", "https://corp/v2/", False),
        (".corp", "https://corp/v2/", False),
        ("corp", "https://corp/v2/", True),
        ("reg.corp:443", "https://reg.corp/v2/", True),
        ("reg.corp:443", "http://reg.corp/v2/", False),
        ("reg.corp:443", "https://reg.corp:5000/v2/", False),
        ("127.0.0.1:8080", "http://127.0.0.1:8080/v2/", True),
        ("127.0.0.1:9090", "http://127.0.0.1:8080/v2/", False),
        ("[::1]:8080", "http://[::1]:8080/v2/", True),
        ("a.org, *", "https://reg.example.com/v2/", True),
        (" REG.Example.COM ", "https://reg.example.com/v2/", True),
    ],
)
def test_no_proxy_rules(no_proxy, url, bypass):
    from registry_image_resource.registry._http.proxies import bypass as no_proxy_bypass

    assert no_proxy_bypass(url, {"https": "http://proxy:3128", "no": no_proxy}) is bypass


@pytest.fixture
def tls_silent_http_server():
    """A loopback port that never answers a TLS handshake but serves ``GET /v2/`` over plain HTTP."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held = []
    stop = threading.Event()

    listener.settimeout(0.05)  # accept wakes up to see ``stop``

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)  # before answering: teardown must find every connection to close
            first = conn.recv(1, socket.MSG_PEEK)
            if first == b"\x16":  # a TLS ClientHello: keep the connection open, say nothing
                continue
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=10)
    listener.close()
    for conn in held:
        conn.close()


@pytest.mark.timeout(60)
def test_plain_http_starts_while_https_hangs(tls_silent_http_server):
    repo = Repository(tls_silent_http_server, "test/app")
    with RegistryClient.connect(repo, ConnectOptions(), env=TEST_ENV) as client:
        assert client.base_url == f"http://{tls_silent_http_server}"


def test_open_blob_verifies_when_the_size_is_reached(stub_server):
    Reply = type(stub_server).reply_class
    wrong = "sha256:" + "d" * 64
    stub_server.route("GET", f"/v2/test/app/blobs/{wrong}", Reply(200, {}, b"hello"))
    with _connect(stub_server) as client, client.open_blob(wrong, 5) as reader, pytest.raises(IntegrityError):
        reader.readinto(bytearray(5))


def test_connections_are_kept_alive(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route("HEAD", "/v2/test/app/manifests/.*", Reply(200, _manifest_headers()))
    with _connect(stub_server) as client:
        for tag in ("a", "b", "c"):
            assert client.head_or_get_digest(tag) == MANIFEST_DIGEST
    assert len({r.client_port for r in stub_server.seen("HEAD")}) == 1


def test_a_connection_the_server_closed_is_replaced_silently(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route(
        "HEAD", "/v2/test/app/manifests/.*", Reply(200, _manifest_headers(), close_quietly=True)
    )
    with _connect(stub_server) as client:
        for tag in ("a", "b"):
            assert client.head_or_get_digest(tag) == MANIFEST_DIGEST
    assert len(stub_server.seen("HEAD")) == 2


def test_blob_redirect_to_another_host_drops_authorization(stub_server, make_stub_server):
    Reply = type(stub_server).reply_class
    storage = make_stub_server(None)
    storage.route("GET", "/bucket/blob", Reply(200, {}, BLOB))
    expected = "Basic " + base64.b64encode(b"user:secret").decode()
    stub_server.route("GET", "/v2/", Reply(401, {"WWW-Authenticate": 'Basic realm="r"'}))
    stub_server.route(
        "GET",
        f"/v2/test/app/blobs/{BLOB_DIGEST}",
        lambda r: (
            Reply(307, {"Location": f"{storage.url}/bucket/blob"})
            if r.headers.get("authorization") == expected
            else Reply(401)
        ),
    )
    with _connect(stub_server, ConnectOptions(username="user", password="secret")) as client:
        assert client.fetch_blob(BLOB_DIGEST, len(BLOB)) == BLOB
    assert "authorization" not in storage.seen("GET", "/bucket/blob")[0].headers


def test_proxy_credentials_are_sent_to_the_proxy(stub_server, monkeypatch):
    Reply = type(stub_server).reply_class
    stub_server.route("GET", "/v2/test/app/tags/list", Reply(200, {}, b'{"tags":["x"]}'))
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", f"http://pu:pp@{stub_server.host}")
    monkeypatch.setenv("https_proxy", f"http://pu:pp@{stub_server.host}")  # no DNS for the HTTPS probe
    repo = Repository("registry.invalid:5000", "test/app")
    with RegistryClient.connect(repo, ConnectOptions(insecure=True), env=TEST_ENV) as client:
        assert client.list_tags() == ["x"]
    seen = stub_server.seen("GET", "/v2/test/app/tags/list")[0]
    assert seen.headers["proxy-authorization"] == "Basic " + base64.b64encode(b"pu:pp").decode()


def test_environment_proxies_lower_case_wins(monkeypatch):
    from registry_image_resource.registry._http.proxies import environment_proxies

    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://upper:1")
    monkeypatch.setenv("https_proxy", "http://lower:2")
    monkeypatch.setenv("NO_PROXY", "a.example")
    monkeypatch.setenv("HTTP_PROXY", "")
    assert {k: v for k, v in environment_proxies().items() if k in ("https", "http", "no")} == {
        "https": "http://lower:2",
        "no": "a.example",
    }
