"""Azure Container Registry through a Managed Identity (SPEC B.6.5).

This module owns the ACR path: the cloud (explicit ``azure_environment`` or the registry host's
suffix), an Azure AD token for the cloud's management scope from the Managed Identity endpoint
(IMDS at ``169.254.169.254``, or App Service's ``IDENTITY_ENDPOINT``/``IDENTITY_HEADER`` when
set; user-assigned with ``azure_client_id``), the tenant (``azure_tenant_id``, else discovered from
the registry's ``/v2/`` challenge, else ``common``), and the exchange of the AD token for an ACR
refresh token at ``/oauth2/exchange``, which becomes the registry password for the user
``00000000-0000-0000-0000-000000000000``. Requests honour the proxy variables and ``ca_certs``.

It is imported only when ``source.azure_acr`` is set. It must never put a token into a log line or
an error message, and it hands every token it obtains to ``log.add_secrets`` at once.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from registry_image_resource.errors import AuthError, ResourceError
from registry_image_resource.log import add_secrets, get_logger
from registry_image_resource.protocol.models import Source
from registry_image_resource.registry.errors import body_snippet
from registry_image_resource.registry.reference import parse_repository

if TYPE_CHECKING:
    from registry_image_resource.registry._http.transport import HTTP

__all__ = ["ACR_USERNAME", "IMDS_TOKEN_URL", "Cloud", "authenticate", "cloud_for"]

_log = get_logger()

ACR_USERNAME = "00000000-0000-0000-0000-000000000000"
IMDS_TOKEN_URL = "http://169.254.169.254/metadata/identity/oauth2/token"  # noqa: S105 (a URL)
_PREFIX = "cannot authenticate with ACR"
# Go's ``tenant=([^"&]+)`` (a query parameter in the realm), also accepting a quoted parameter.
_TENANT = re.compile(r'tenant="?([^"&,]+)')


@dataclass(frozen=True, slots=True)
class Cloud:
    name: str
    scope: str
    authority: str


CLOUDS = {
    "AzurePublic": Cloud(
        "AzurePublic", "https://management.azure.com/.default", "https://login.microsoftonline.com/"
    ),
    "AzureGovernment": Cloud(
        "AzureGovernment",
        "https://management.usgovcloudapi.net/.default",
        "https://login.microsoftonline.us/",
    ),
    "AzureChina": Cloud(
        "AzureChina", "https://management.chinacloudapi.cn/.default", "https://login.chinacloudapi.cn/"
    ),
}


def cloud_for(environment: str, host: str) -> Cloud:
    """``azure_environment`` when known, else by the host's suffix (SPEC B.6.5 step 2)."""
    if environment in CLOUDS:
        return CLOUDS[environment]
    if environment:
        _log.warning('unknown azure_environment "%s", falling back to auto-detection', environment)
    name = host.lower().rsplit(":", 1)[0]
    if name.endswith(".azurecr.us"):
        return CLOUDS["AzureGovernment"]
    if name.endswith(".azurecr.cn"):
        return CLOUDS["AzureChina"]
    return CLOUDS["AzurePublic"]


def authenticate(source: Source, *, env: dict[str, str] | None = None) -> Source:
    """``source`` with the ACR user and refresh token as ``username``/``password``.

    Raises ``AuthError`` (``cannot authenticate with ACR: <step>: <reason>``).
    """
    environ = dict(os.environ) if env is None else env
    try:
        host = parse_repository(source.repository).registry
    except ResourceError as err:
        raise AuthError(f"{_PREFIX}: failed to parse repository for ACR auth: {err}") from None
    cloud = cloud_for(source.azure_environment, host)
    _log.debug("ACR cloud for %s: %s", host, cloud.name)
    session = _session(source, host)
    try:
        aad_token = _managed_identity_token(session, cloud, source.azure_client_id, environ)
        tenant = source.azure_tenant_id or _discover_tenant(session, host, source.insecure)
        _log.debug("ACR tenant: %s", tenant)
        refresh = _exchange(session, host, tenant, aad_token, source.insecure)
    except AuthError as err:
        if source.azure_tenant_id and "exchange" in str(err):
            hint = f" (azure_tenant_id {source.azure_tenant_id!r} was used: is it the registry's tenant?)"
            raise err.reworded(err.message + hint) from None
        raise
    finally:
        session.close()
    return replace(source, username=ACR_USERNAME, password=refresh)


def _session(source: Source, host: str) -> HTTP:
    from registry_image_resource.registry._http.transport import ConnectOptions, new_http, tls_context

    options = ConnectOptions(insecure=source.insecure, ca_certs=tuple(source.ca_certs))
    return new_http(tls_context(options), registry=host, insecure=source.insecure)


def _send(
    session: HTTP, method: str, url: str, *, headers: dict[str, str] | None = None, body: str | None = None
) -> tuple[int, Mapping[str, str], bytes]:
    """``(status, headers, body)``; a connection failure raises ``_Unreachable`` with its reason."""
    try:
        response = session.request(method, url, headers=headers, body=body)
    except Exception as err:  # transport failures of any kind; nothing here may escape as a traceback
        from registry_image_resource.registry.errors import describe_exception

        raise _Unreachable(describe_exception(err)) from None
    return response.status, response.headers, response.data


class _Unreachable(Exception):
    pass


def _managed_identity_token(session: HTTP, cloud: Cloud, client_id: str, env: dict[str, str]) -> str:
    """An AD access token for ``cloud.scope`` (IMDS, or App Service when its variables are set)."""

    resource = cloud.scope.removesuffix("/.default")
    endpoint, header = env.get("IDENTITY_ENDPOINT", ""), env.get("IDENTITY_HEADER", "")
    if endpoint and header:
        url, version, headers = endpoint, "2019-08-01", {"X-IDENTITY-HEADER": header}
        add_secrets([header])
    else:
        url, version, headers = IMDS_TOKEN_URL, "2018-02-01", {"Metadata": "true"}
    params = {"api-version": version, "resource": resource}
    if client_id:
        params["client_id"] = client_id
    step = "failed to acquire Azure AD token"
    try:
        status, _, body = _send(session, "GET", f"{url}?{urlencode(params)}", headers=headers)
    except _Unreachable as err:
        raise AuthError(f"{_PREFIX}: {step}: GET {url}: {err}") from None
    if status != 200:
        raise AuthError(f"{_PREFIX}: {step}: GET {url}: status {status}: {body_snippet(body)}")
    token = _json_field(body, "access_token")
    if not token:
        raise AuthError(f"{_PREFIX}: {step}: GET {url}: no access_token in the answer")
    add_secrets([token])
    return token


def _discover_tenant(session: HTTP, host: str, insecure: bool) -> str:
    """The tenant named in the registry's ``Bearer`` challenge, else ``common`` (never an error)."""
    url = f"{'http' if insecure else 'https'}://{host}/v2/"
    try:
        status, headers, _ = _send(session, "GET", url)
    except _Unreachable as err:
        _log.debug("ACR tenant discovery failed, using common: %s", err)
        return "common"
    challenge = headers.get("WWW-Authenticate", "")
    if status != 401 or not challenge.startswith("Bearer "):
        return "common"
    match = _TENANT.search(challenge)
    return match.group(1) if match else "common"


def _exchange(session: HTTP, host: str, tenant: str, aad_token: str, insecure: bool) -> str:
    """The ACR refresh token for the AD token (``POST /oauth2/exchange``)."""
    url = f"{'http' if insecure else 'https'}://{host}/oauth2/exchange"
    form = {"grant_type": "access_token", "service": host, "tenant": tenant, "access_token": aad_token}
    step = "failed to exchange token for ACR refresh token"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    try:
        status, _, body = _send(session, "POST", url, headers=headers, body=urlencode(form))
    except _Unreachable as err:
        raise AuthError(f"{_PREFIX}: {step}: POST {url}: {err}") from None
    if status != 200:
        raise AuthError(
            f"{_PREFIX}: {step}: ACR token exchange returned status {status}: {body_snippet(body)}"
        )
    try:
        document: Any = json.loads(body)
    except ValueError as err:
        raise AuthError(f"{_PREFIX}: {step}: failed to decode ACR token exchange response: {err}") from None
    refresh = document.get("refresh_token") if isinstance(document, dict) else None
    if not isinstance(refresh, str) or not refresh:
        raise AuthError(f"{_PREFIX}: received empty ACR refresh token")
    add_secrets([refresh])
    return refresh


def _json_field(body: bytes, name: str) -> str:
    try:
        document: Any = json.loads(body)
    except ValueError:
        return ""
    value = document.get(name) if isinstance(document, dict) else None
    return value if isinstance(value, str) else ""
