"""TLS through the CLI against real registries (SPEC B.6.2, A.2.5): ca_certs, insecure, mTLS.

``tls_registry`` is a real ``registry:2`` with a certificate from a test CA on loopback (where
plain HTTP is also tried, A.2.5, so its errors show both attempts). ``registry.example.test`` is the
same registry behind the impersonation proxy: a name that is HTTPS only, like any public registry.
The mTLS registry is ``registry:2`` with ``http.tls.clientcas``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme

from fake_registry import FakeRegistry, File, build_image
from integration.resource_cli import Result, base_env, run_resource
from integration.routing_worlds import proxy_env
from integration.seed import push, push_blob, push_manifest
from integration.servers import DEFAULT_TLS_HOSTS, RegistryOptions, RegistryServer

IMAGE = build_image([{"tls.txt": File("over TLS\n")}])
VERSION = [{"tag": "v1", "digest": IMAGE.digest}]
PUBLIC_NAME = "registry.example.test"
NOT_TRUSTED = (
    "TLS certificate verify failed: unable to get local issuer certificate (the registry's "
    "certificate is not trusted: add its CA to source.ca_certs)"
)
HTTP_TO_HTTPS = "400 Bad Request: Client sent an HTTP request to an HTTPS server."


def other_ca_pem() -> str:
    return trustme.CA().cert_pem.bytes().decode()


@pytest.fixture
def seeded(tls_registry: RegistryServer, repo_name: str) -> str:
    push(tls_registry, repo_name, IMAGE, "v1")
    return f"{tls_registry.host}/{repo_name}"


@pytest.fixture
def front(tls_registry: RegistryServer) -> Iterator[FakeRegistry]:
    """``registry.example.test`` routed to ``tls_registry`` (TLS terminated by the proxy's CA)."""
    with FakeRegistry(proxy=True) as registry:
        registry.proxy.route(PUBLIC_NAME, tls_registry.url, ca_file=tls_registry.ca_file)
        yield registry


def check(
    tmp_path: Path, source: dict[str, Any], *, env: dict[str, str] | None = None, ok: bool = True
) -> Result:
    return run_resource("check", {"source": {"tag": "v1", **source}}, env=env or base_env(tmp_path), ok=ok)


def test_ca_certs_trusts_the_registry(tls_registry: RegistryServer, seeded: str, tmp_path: Path) -> None:
    result = check(tmp_path, {"repository": seeded, "ca_certs": [tls_registry.ca_pem]})
    assert result.json == VERSION
    assert result.stderr == ""


def test_wrong_ca_certs_fail_on_both_schemes(
    tls_registry: RegistryServer, seeded: str, tmp_path: Path
) -> None:
    result = check(tmp_path, {"repository": seeded, "ca_certs": [other_ca_pem()]}, ok=False)
    host = tls_registry.host
    assert result.last_line == (
        f"ERROR checking origin {seeded} failed: initialize transport: GET https://{host}/v2/: {NOT_TRUSTED}; "
        f"GET http://{host}/v2/: {HTTP_TO_HTTPS}"
    )


def test_untrusted_certificate_without_ca_certs_fails_clearly(
    front: FakeRegistry, seeded: str, repo_name: str, tmp_path: Path
) -> None:
    env = base_env(tmp_path, proxy_env(front))
    result = check(tmp_path, {"repository": f"{PUBLIC_NAME}/{repo_name}"}, env=env, ok=False)
    assert result.last_line == (
        f"ERROR checking origin {PUBLIC_NAME}/{repo_name} failed: initialize transport: "
        f"GET https://{PUBLIC_NAME}/v2/: {NOT_TRUSTED}"
    )


def test_the_proxy_ca_in_ca_certs(front: FakeRegistry, seeded: str, repo_name: str, tmp_path: Path) -> None:
    env = base_env(tmp_path, proxy_env(front))
    source = {"repository": f"{PUBLIC_NAME}/{repo_name}", "ca_certs": [front.ca_pem]}
    assert check(tmp_path, source, env=env).json == VERSION
    assert f"{PUBLIC_NAME}:443" in front.proxy.connects


def test_insecure_skips_verification_with_a_warning(
    front: FakeRegistry, seeded: str, repo_name: str, tmp_path: Path
) -> None:
    env = base_env(tmp_path, proxy_env(front))
    result = check(tmp_path, {"repository": f"{PUBLIC_NAME}/{repo_name}", "insecure": True}, env=env)
    assert result.json == VERSION
    assert result.stderr.splitlines() == [
        f"WARNING insecure: TLS certificates of {PUBLIC_NAME} are not verified and plain HTTP is allowed"
    ]


def test_loopback_plain_http_needs_no_insecure(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    push(registry, repo_name, IMAGE, "v1")
    assert check(tmp_path, {"repository": registry.repository(repo_name)}).json == VERSION


def test_invalid_pem_names_the_entry(tls_registry: RegistryServer, seeded: str, tmp_path: Path) -> None:
    garbage = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
    result = check(tmp_path, {"repository": seeded, "ca_certs": [tls_registry.ca_pem, garbage]}, ok=False)
    assert result.last_line == (
        f"ERROR checking origin {seeded} failed: source.ca_certs[1]: failed to append registry "
        "certificate: no start line: cadata does not contain a certificate (_ssl.c:4020)"
    )


def test_ca_certs_without_a_certificate_is_a_request_error(tmp_path: Path) -> None:
    result = check(tmp_path, {"repository": "127.0.0.1:1/x/y", "ca_certs": ["not a PEM"]}, ok=False)
    assert result.last_line == (
        "ERROR source.ca_certs[0]: failed to append registry certificate: no PEM certificate found"
    )


# --- mTLS --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def mtls_registry(
    registry_factory: Callable[[RegistryOptions], RegistryServer], client_ca: trustme.CA
) -> RegistryServer:
    return registry_factory(RegistryOptions(tls_hosts=DEFAULT_TLS_HOSTS, client_ca=client_ca))


def client_pair(ca: trustme.CA) -> tuple[str, str]:
    issued = ca.issue_cert("registry-image-resource")
    return issued.cert_chain_pems[0].bytes().decode(), issued.private_key_pem.bytes().decode()


def seed_mtls(server: RegistryServer, repo: str, ca: trustme.CA, workdir: Path) -> None:
    """Push IMAGE with a client certificate of our own (the seed helper has none)."""
    pem = workdir / "seed-client.pem"
    ca.issue_cert("seeder").private_key_and_cert_chain_pem.write_to_path(str(pem))
    with requests.Session() as session:
        session.trust_env = False
        session.verify = server.verify
        session.cert = str(pem)
        for digest, data in IMAGE.blobs().items():
            push_blob(session, server, repo, digest, data)
        push_manifest(session, server, repo, "v1", IMAGE.manifest, IMAGE.media_type)


def test_mtls_check_and_in_with_a_client_certificate(
    mtls_registry: RegistryServer, client_ca: trustme.CA, repo_name: str, tmp_path: Path
) -> None:
    seed_mtls(mtls_registry, repo_name, client_ca, tmp_path)
    cert, key = client_pair(client_ca)
    source = {
        "repository": mtls_registry.repository(repo_name),
        "ca_certs": [mtls_registry.ca_pem],
        "client_cert": cert,
        "client_key": key,
    }
    assert check(tmp_path, source).json == VERSION
    dest = tmp_path / "dest"
    dest.mkdir()
    run_resource("in", {"source": source, "version": VERSION[0]}, str(dest), env=base_env(tmp_path))
    assert (dest / "rootfs" / "tls.txt").read_text() == "over TLS\n"


@pytest.mark.parametrize("who", ["no client certificate", "a certificate from another CA"])
def test_mtls_refused(mtls_registry: RegistryServer, repo_name: str, tmp_path: Path, who: str) -> None:
    source: dict[str, Any] = {
        "repository": mtls_registry.repository(repo_name),
        "ca_certs": [mtls_registry.ca_pem],
    }
    if who != "no client certificate":
        source["client_cert"], source["client_key"] = client_pair(trustme.CA())
    result = check(tmp_path, source, ok=False)
    host = mtls_registry.host
    assert result.last_line == (
        f"ERROR checking origin {host}/{repo_name} failed: initialize transport: GET https://{host}/v2/: "
        "TLS handshake refused by the registry: sslv3 alert bad certificate (it wants a client "
        "certificate it trusts: set source.client_cert and source.client_key); "
        f"GET http://{host}/v2/: {HTTP_TO_HTTPS}"
    )


def test_mismatched_client_key(mtls_registry: RegistryServer, client_ca: trustme.CA, tmp_path: Path) -> None:
    cert, _ = client_pair(client_ca)
    _, other_key = client_pair(client_ca)
    source = {
        "repository": mtls_registry.repository("x/y"),
        "ca_certs": [mtls_registry.ca_pem],
        "client_cert": cert,
        "client_key": other_key,
    }
    result = check(tmp_path, source, ok=False)
    assert result.last_line == (
        f"ERROR checking origin {mtls_registry.host}/x/y failed: source.client_cert/source.client_key: "
        "cannot use the client certificate: key values mismatch"
    )
    assert other_key.splitlines()[1] not in result.stderr
