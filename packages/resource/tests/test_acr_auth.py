"""ACR through a Managed Identity (SPEC B.6.5) against a fake IMDS and a fake exchange endpoint.

One stub server plays both, reached the way production reaches them: as the ``HTTP_PROXY`` for
``http://169.254.169.254`` (IMDS) and for the registry host (``insecure: true`` makes ACR calls
plain HTTP, as in Go), so the real IMDS address is asked for and nothing leaves loopback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest

from registry_image_resource import log
from registry_image_resource.errors import AuthError
from registry_image_resource.protocol.models import Source
from registry_image_resource.sources import acr
from registry_image_resource.sources.routing import resolve_source

HOST = "myreg.azurecr.io"
AAD = "aad-access-token-5b3f0e"
REFRESH = "acr-refresh-token-91c4d2"
CHALLENGE = f'Bearer realm="https://{HOST}/oauth2/token",service="{HOST}",tenant="tenant-123"'
IMDS_PATH = "/metadata/identity/oauth2/token"


@pytest.fixture
def azure(stub_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The stub as proxy for IMDS and the registry, answering a happy path by default."""
    Reply = type(stub_server).reply_class
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", stub_server.url)
    json_type = {"Content-Type": "application/json"}
    stub_server.route("GET", IMDS_PATH, Reply(200, json_type, json.dumps({"access_token": AAD}).encode()))
    stub_server.route("GET", "/v2/", Reply(401, {**json_type, "WWW-Authenticate": CHALLENGE}, b"{}"))
    stub_server.route(
        "POST", "/oauth2/exchange", Reply(200, json_type, json.dumps({"refresh_token": REFRESH}).encode())
    )
    return stub_server


def source(**fields: Any) -> Source:
    return Source(repository=f"{HOST}/team/app", azure_acr=True, insecure=True, **fields)


def form(request: Any) -> dict[str, str]:
    return dict(parse_qsl(request.body.decode()))


def test_system_assigned_identity_and_discovered_tenant(azure: Any) -> None:
    got = acr.authenticate(source())
    assert (got.username, got.password, got.repository) == (acr.ACR_USERNAME, REFRESH, f"{HOST}/team/app")
    (imds,) = azure.seen("GET", IMDS_PATH)
    assert (imds.headers["host"], imds.headers["metadata"]) == ("169.254.169.254", "true")
    assert dict(imds.query) == {"api-version": "2018-02-01", "resource": "https://management.azure.com"}
    (exchange,) = azure.seen("POST", "/oauth2/exchange")
    assert exchange.headers["host"] == HOST
    assert form(exchange) == {
        "grant_type": "access_token",
        "service": HOST,
        "tenant": "tenant-123",
        "access_token": AAD,
    }


def test_user_assigned_identity_and_given_tenant(azure: Any) -> None:
    acr.authenticate(source(azure_client_id="client-1", azure_tenant_id="tenant-9"))
    (imds,) = azure.seen("GET", IMDS_PATH)
    assert dict(imds.query)["client_id"] == "client-1"
    assert azure.seen("GET", "/v2/") == []
    assert form(azure.seen("POST", "/oauth2/exchange")[0])["tenant"] == "tenant-9"


def test_tenant_in_the_realm_query(azure: Any) -> None:
    Reply = type(azure).reply_class
    challenge = f'Bearer realm="https://{HOST}/oauth2/token?tenant=tenant-q&x=1",service="{HOST}"'
    azure.route("GET", "/v2/", Reply(401, {"WWW-Authenticate": challenge}, b"{}"))
    acr.authenticate(source())
    assert form(azure.seen("POST", "/oauth2/exchange")[0])["tenant"] == "tenant-q"


def test_tenant_falls_back_to_common(azure: Any) -> None:
    Reply = type(azure).reply_class
    azure.route("GET", "/v2/", Reply(200, {}, b"{}"))
    acr.authenticate(source())
    assert form(azure.seen("POST", "/oauth2/exchange")[0])["tenant"] == "common"


@pytest.mark.parametrize(
    ("environment", "host", "cloud"),
    [
        ("", "myreg.azurecr.io", "AzurePublic"),
        ("", "myreg.azurecr.us", "AzureGovernment"),
        ("", "MyReg.AzureCR.cn:443", "AzureChina"),
        ("AzureChina", "myreg.azurecr.io", "AzureChina"),
        ("AzureGovernment", "myreg.azurecr.io", "AzureGovernment"),
    ],
)
def test_cloud_selection(environment: str, host: str, cloud: str) -> None:
    assert acr.cloud_for(environment, host).name == cloud


def test_unknown_environment_warns_and_detects(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="registry_image_resource"):
        assert acr.cloud_for("Mars", "x.azurecr.us").name == "AzureGovernment"
    assert caplog.messages == ['unknown azure_environment "Mars", falling back to auto-detection']


def test_government_scope_is_asked_for(azure: Any) -> None:
    acr.authenticate(Source(repository="gov.azurecr.us/app", azure_acr=True, insecure=True))
    assert dict(azure.seen("GET", IMDS_PATH)[0].query)["resource"] == "https://management.usgovcloudapi.net"


def test_app_service_identity_endpoint(azure: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    Reply = type(azure).reply_class
    azure.route("GET", "/msi/token", Reply(200, {}, json.dumps({"access_token": AAD}).encode()))
    env = {"IDENTITY_ENDPOINT": f"{azure.url}/msi/token", "IDENTITY_HEADER": "identity-header-secret"}
    assert acr.authenticate(source(), env=env).password == REFRESH
    (msi,) = azure.seen("GET", "/msi/token")
    assert msi.headers["x-identity-header"] == "identity-header-secret"
    assert dict(msi.query) == {"api-version": "2019-08-01", "resource": "https://management.azure.com"}
    assert azure.seen("GET", IMDS_PATH) == []


def test_identity_endpoint_refusing(azure: Any) -> None:
    Reply = type(azure).reply_class
    azure.route(
        "GET",
        IMDS_PATH,
        Reply(400, {}, b'{"error":"invalid_request","error_description":"Identity not found"}'),
    )
    with pytest.raises(AuthError) as caught:
        acr.authenticate(source())
    assert str(caught.value) == (
        "cannot authenticate with ACR: failed to acquire Azure AD token: GET "
        f"{acr.IMDS_TOKEN_URL}: status 400: "
        '{"error":"invalid_request","error_description":"Identity not found"}'
    )


def test_exchange_refusing_names_status_body_and_tenant(azure: Any) -> None:
    Reply = type(azure).reply_class
    azure.route("POST", "/oauth2/exchange", Reply(401, {}, b'{"errors":[{"code":"UNAUTHORIZED"}]}'))
    with pytest.raises(AuthError) as caught:
        acr.authenticate(source(azure_tenant_id="tenant-9"))
    assert str(caught.value) == (
        "cannot authenticate with ACR: failed to exchange token for ACR refresh token: ACR token exchange "
        'returned status 401: {"errors":[{"code":"UNAUTHORIZED"}]} '
        "(azure_tenant_id 'tenant-9' was used: is it the registry's tenant?)"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{}", "received empty ACR refresh token"),
        (
            b"not json",
            "failed to exchange token for ACR refresh token: failed to decode ACR token exchange "
            "response: Expecting value: line 1 column 1 (char 0)",
        ),
    ],
)
def test_bad_exchange_answers(azure: Any, body: bytes, message: str) -> None:
    Reply = type(azure).reply_class
    azure.route("POST", "/oauth2/exchange", Reply(200, {}, body))
    with pytest.raises(AuthError) as caught:
        acr.authenticate(source())
    assert str(caught.value) == f"cannot authenticate with ACR: {message}"


def test_bad_repository() -> None:
    with pytest.raises(AuthError) as caught:
        acr.authenticate(Source(repository="A", azure_acr=True))
    assert str(caught.value) == (
        "cannot authenticate with ACR: failed to parse repository for ACR auth: repository must be "
        "between 2 and 255 characters in length: A"
    )


@pytest.fixture
def restore_logging() -> Iterator[None]:
    yield
    for name in (log.LOGGER_NAME, None):
        target = logging.getLogger(name)
        for handler in [h for h in target.handlers if type(h).__module__ == "registry_image_resource.log"]:
            target.removeHandler(handler)
    ours = logging.getLogger(log.LOGGER_NAME)
    ours.setLevel(logging.NOTSET)
    ours.propagate = True


def test_tokens_are_masked(azure: Any, restore_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    logger = log.configure(debug=True)
    got = resolve_source(source())
    logger.info("aad=%s refresh=%s", AAD, got.password)
    assert capsys.readouterr().err.splitlines()[-1] == "INFO aad=*** refresh=***"
