"""Amazon ECR: registry credentials from AWS credentials, and the repository rewritten (SPEC B.6.4).

This module owns the ECR path: AWS credentials (static keys with an optional session token, or
boto3's default chain), the STS role chain (``aws_role_arn`` or ``aws_role_arns``, each hop signed
with the previous hop's credentials), ``ecr:GetAuthorizationToken``, decoding its token into the
user ``AWS`` and a password, and the repository rewritten to the ECR host. Endpoints come from
boto3's normal resolution (``AWS_ENDPOINT_URL`` and friends) and proxies from the environment, as
boto3 does them; nothing here is special-cased for tests.

It is imported only when ``source.aws_region`` is set, and imports boto3 only inside
``authenticate`` (``check`` must stay lean). It must never put a secret (keys, session tokens, the
ECR token or password) into a log line or an error message, and it hands every credential it
obtains to ``log.add_secrets`` before anything could log it.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from registry_image_resource.errors import AuthError
from registry_image_resource.log import add_secrets, capture_library_logs, get_logger
from registry_image_resource.protocol.models import Source

if TYPE_CHECKING:
    import boto3

__all__ = ["ECR_USERNAME", "SESSION_NAME", "EcrLogin", "authenticate", "login"]

_log = get_logger()

ECR_USERNAME = "AWS"
# STS needs a session name per AssumeRole; it shows in CloudTrail and in the assumed-role ARN.
SESSION_NAME = "concourse-registry-image"
DEPRECATED_REGISTRY_ID = (
    "aws_ecr_registry_id is no longer required. This param may be removed in a future version of "
    "this resource-type"
)
_PREFIX = "cannot authenticate with ECR"


@dataclass(frozen=True, slots=True)
class EcrLogin:
    """What ECR handed out: the registry host (from the token's proxy endpoint) and the password."""

    proxy_host: str
    password: str = field(repr=False)
    username: str = ECR_USERNAME


def authenticate(source: Source) -> Source:
    """``source`` with ``repository`` rewritten to the ECR host and ``username``/``password`` set.

    The rewritten repository is ``<aws_account_id>.dkr.ecr.<aws_region>.amazonaws.com/<repository>``
    when ``aws_account_id`` is set, else ``<proxy endpoint host>/<repository>``; it is what
    ``dest/repository`` and the metadata show. Raises ``AuthError`` (``cannot authenticate with
    ECR: <step>: <reason>``) naming the step that failed.
    """
    if source.aws_role_arn and source.aws_role_arns:
        raise AuthError(f"{_PREFIX}: `aws_role_arn` cannot be set at the same time as `aws_role_arns`")
    if source.aws_ecr_registry_id:
        _log.warning(DEPRECATED_REGISTRY_ID)
    ecr_login = login(source)
    if source.aws_account_id:
        host = f"{source.aws_account_id}.dkr.ecr.{source.aws_region}.amazonaws.com"
    else:
        host = ecr_login.proxy_host
    return replace(
        source,
        repository=f"{host}/{source.repository}",
        username=ecr_login.username,
        password=ecr_login.password,
    )


def login(source: Source) -> EcrLogin:
    """Credentials, the role chain, then ``GetAuthorizationToken``; the first datum's login."""
    capture_library_logs()  # botocore logs by itself: through the masking handler only
    import botocore.exceptions

    aws_errors = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
    session = _base_session(source)
    roles = [source.aws_role_arn] if source.aws_role_arn else list(source.aws_role_arns)
    for arn in roles:
        _log.debug("assuming role: %s", arn)
        try:
            session = _assume_role(session, arn, source.aws_region)
        except aws_errors as err:
            raise AuthError(f"{_PREFIX}: error assuming role '{arn}': {_reason(err)}") from None
    try:
        answer = session.client("ecr", config=_client_config()).get_authorization_token()
    except aws_errors as err:
        raise AuthError(f"{_PREFIX}: failed to authenticate to ECR: {_reason(err)}") from None
    data: list[dict[str, Any]] = list(answer.get("authorizationData") or [])
    if not data:
        raise AuthError(f"{_PREFIX}: failed to authenticate to ECR: the answer holds no authorization data")
    tokens = [str(d.get("authorizationToken") or "") for d in data]
    add_secrets(tokens)
    password = ""
    for token in tokens:
        password = _decode_token(token)
    proxy_endpoint = str(data[0].get("proxyEndpoint") or "")
    _log.debug("ECR proxy endpoint: %s", proxy_endpoint)
    return EcrLogin(proxy_host=proxy_endpoint.removeprefix("https://"), password=password)


def _base_session(source: Source) -> boto3.session.Session:
    """Static keys when both are set, else boto3's default chain (env, shared config, IMDS, ...)."""
    import boto3
    import botocore.exceptions

    static = bool(source.aws_access_key_id and source.aws_secret_access_key)
    if not static and (source.aws_access_key_id or source.aws_secret_access_key):
        _log.warning(
            "aws_access_key_id and aws_secret_access_key are used only together; "
            "using the default AWS credential chain instead"
        )
    try:
        if static:
            session = boto3.session.Session(
                aws_access_key_id=source.aws_access_key_id,
                aws_secret_access_key=source.aws_secret_access_key,
                aws_session_token=source.aws_session_token or None,
                region_name=source.aws_region,
            )
        else:
            session = boto3.session.Session(region_name=source.aws_region)
        credentials = session.get_credentials()
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
        step = "error using static credentials" if static else "error creating aws config"
        raise AuthError(f"{_PREFIX}: {step}: {_reason(err)}") from None
    if credentials is None:
        raise AuthError(
            f"{_PREFIX}: error creating aws config: no AWS credentials found (set aws_access_key_id and "
            "aws_secret_access_key, or provide credentials through the environment, shared config "
            "or instance metadata)"
        )
    if not static:
        frozen = credentials.get_frozen_credentials()
        add_secrets([frozen.secret_key, frozen.token or ""])
    return session


def _assume_role(session: boto3.session.Session, arn: str, region: str) -> boto3.session.Session:
    """One hop of the chain: ``AssumeRole`` signed with ``session``'s credentials."""
    import boto3

    sts = session.client("sts", config=_client_config())
    answer = sts.assume_role(RoleArn=arn, RoleSessionName=SESSION_NAME)
    credentials = answer["Credentials"]
    add_secrets([credentials["SecretAccessKey"], credentials["SessionToken"]])
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


def _decode_token(token: str) -> str:
    """``base64("AWS:<password>")`` -> the password, trimmed (SPEC B.6.4 step 6)."""
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as err:
        raise AuthError(f"{_PREFIX}: failed to decode credential ({err})") from None
    add_secrets([decoded])
    parts = decoded.split(":")
    if len(parts) != 2:
        raise AuthError(f"{_PREFIX}: failed to parse password: the token is not of the form AWS:<password>")
    password = parts[1].strip()
    add_secrets([password])
    return password


def _client_config() -> Any:
    """Bounded timeouts and retries for STS and ECR calls (ECR auth itself is not retried as a whole)."""
    from botocore.config import Config

    return Config(connect_timeout=15, read_timeout=60, retries={"mode": "standard", "max_attempts": 3})


def _reason(err: Exception) -> str:
    """botocore's own one-line text; it never holds a credential."""
    return " ".join(str(err).split()) or type(err).__name__
