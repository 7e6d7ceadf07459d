"""ECR authentication (SPEC B.6.4) against moto's in-process AWS: keys, role chains, token, errors.

The end-to-end path (moto's server, a real registry behind the ECR host name) is in
``integration/test_ecr.py``; these tests pin each step and its error text.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from registry_image_resource import log
from registry_image_resource.errors import AuthError
from registry_image_resource.protocol.models import Source
from registry_image_resource.sources import ecr
from registry_image_resource.sources.routing import resolve_source

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
ROLE_A = "arn:aws:iam::111111111111:role/ci-reader"
ROLE_B = "arn:aws:iam::222222222222:role/ecr-puller"
UNREACHABLE = "http://127.0.0.1:9"  # discard port: nothing listens on loopback


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AWS settings at all: no keys, no endpoint, no config files, no IMDS, no proxy."""
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_PROFILE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_SESSION_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def aws(no_aws: None) -> Iterator[None]:
    """boto3 in this process answered by moto (which sets fake keys in the environment)."""
    from moto import mock_aws

    with mock_aws():
        yield


def static(**changes: Any) -> Source:
    base = Source(
        repository="app",
        aws_region=REGION,
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    )
    return replace(base, **changes)


def test_static_keys_rewrite_to_the_proxy_endpoint(aws: None) -> None:
    got = ecr.authenticate(static())
    assert (got.repository, got.username, got.password) == (
        f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/app",
        "AWS",
        f"{ACCOUNT}-auth-token",
    )


def test_static_keys_with_session_token(aws: None) -> None:
    got = ecr.authenticate(static(aws_session_token="FwoGZXIvYXdzEXAMPLETOKEN"))
    assert got.password == f"{ACCOUNT}-auth-token"


def test_account_id_names_the_registry(aws: None) -> None:
    got = ecr.authenticate(
        static(aws_account_id="999999999999", aws_region="eu-west-1", repository="team/app")
    )
    assert got.repository == "999999999999.dkr.ecr.eu-west-1.amazonaws.com/team/app"


def test_default_credential_chain(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENTKEY01")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "environment-secret")
    got = ecr.authenticate(Source(repository="app", aws_region=REGION))
    assert (got.repository, got.password) == (
        f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/app",
        f"{ACCOUNT}-auth-token",
    )


def test_one_role(aws: None) -> None:
    got = ecr.authenticate(static(aws_role_arn=ROLE_A))
    assert (got.repository, got.password) == (
        f"111111111111.dkr.ecr.{REGION}.amazonaws.com/app",
        "111111111111-auth-token",
    )


class _ClientSpy:
    """Records which credentials sign each boto3 client and what each AssumeRole returned."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import boto3

        self.clients: list[tuple[str, str]] = []
        self.assumed: list[tuple[str, str, str]] = []
        original = boto3.session.Session.client
        spy = self

        def client(session: Any, service: str, *args: Any, **kwargs: Any) -> Any:
            made = original(session, service, *args, **kwargs)
            spy.clients.append((service, session.get_credentials().access_key))
            if service == "sts":
                assume = made.assume_role

                def assume_role(**params: Any) -> Any:
                    answer = assume(**params)
                    spy.assumed.append(
                        (params["RoleArn"], params["RoleSessionName"], answer["Credentials"]["AccessKeyId"])
                    )
                    return answer

                made.assume_role = assume_role
            return made

        monkeypatch.setattr(boto3.session.Session, "client", client)


def test_role_chain_each_hop_uses_the_previous_credentials(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = _ClientSpy(monkeypatch)
    got = ecr.authenticate(static(aws_role_arns=(ROLE_A, ROLE_B)))
    assert (got.repository, got.password) == (
        f"222222222222.dkr.ecr.{REGION}.amazonaws.com/app",
        "222222222222-auth-token",
    )
    (arn_a, name_a, key_a), (arn_b, name_b, key_b) = spy.assumed
    assert (arn_a, arn_b, name_a, name_b) == (ROLE_A, ROLE_B, ecr.SESSION_NAME, ecr.SESSION_NAME)
    assert spy.clients == [("sts", "AKIAIOSFODNN7EXAMPLE"), ("sts", key_a), ("ecr", key_b)]


def test_conflicting_role_fields() -> None:
    with pytest.raises(AuthError) as caught:
        ecr.authenticate(static(aws_role_arn=ROLE_A, aws_role_arns=(ROLE_B,)))
    assert str(caught.value) == (
        "cannot authenticate with ECR: `aws_role_arn` cannot be set at the same time as `aws_role_arns`"
    )


def test_no_credentials_anywhere(no_aws: None) -> None:
    with pytest.raises(AuthError) as caught:
        ecr.authenticate(Source(repository="app", aws_region=REGION))
    assert str(caught.value) == (
        "cannot authenticate with ECR: error creating aws config: no AWS credentials found (set "
        "aws_access_key_id and aws_secret_access_key, or provide credentials through the "
        "environment, shared config or instance metadata)"
    )


def test_role_failure_names_the_role(aws: None) -> None:
    with pytest.raises(AuthError) as caught:
        ecr.authenticate(static(aws_role_arns=(ROLE_A, "not-an-arn")))
    assert str(caught.value) == (
        "cannot authenticate with ECR: error assuming role 'not-an-arn': Parameter validation "
        "failed: Invalid length for parameter RoleArn, value: 10, valid min length: 20"
    )


def test_unreachable_sts(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", UNREACHABLE)
    with pytest.raises(AuthError) as caught:
        ecr.authenticate(static(aws_role_arn=ROLE_A))
    assert str(caught.value) == (
        f"cannot authenticate with ECR: error assuming role '{ROLE_A}': "
        f'Could not connect to the endpoint URL: "{UNREACHABLE}/"'
    )


def test_unreachable_ecr(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", UNREACHABLE)
    with pytest.raises(AuthError) as caught:
        ecr.authenticate(static())
    assert str(caught.value) == (
        f'cannot authenticate with ECR: failed to authenticate to ECR: Could not connect to the endpoint URL: "{UNREACHABLE}/"'
    )


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("not base64!", "failed to decode credential (Only base64 data is allowed)"),
        ("QVdTcGFzc3dvcmQ=", "failed to parse password: the token is not of the form AWS:<password>"),
        ("QVdTOmE6Yg==", "failed to parse password: the token is not of the form AWS:<password>"),
    ],
)
def test_token_decoding_errors(token: str, message: str) -> None:
    with pytest.raises(AuthError) as caught:
        ecr._decode_token(token)
    assert str(caught.value) == f"cannot authenticate with ECR: {message}"


def test_token_password_is_trimmed() -> None:
    assert ecr._decode_token("QVdTOiBzM2NyM3QgCg==") == "s3cr3t"


def test_registry_id_is_deprecated(aws: None, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="registry_image_resource"):
        ecr.authenticate(static(aws_ecr_registry_id=ACCOUNT))
    assert [r.getMessage() for r in caplog.records] == [
        "aws_ecr_registry_id is no longer required. This param may be removed in a future version "
        "of this resource-type"
    ]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Remove the handlers ``log.configure`` installs (they hold the test's captured stderr)."""
    yield
    for name in (log.LOGGER_NAME, None):
        target = logging.getLogger(name)
        for handler in [h for h in target.handlers if type(h).__module__ == "registry_image_resource.log"]:
            target.removeHandler(handler)
    ours = logging.getLogger(log.LOGGER_NAME)
    ours.setLevel(logging.NOTSET)
    ours.propagate = True


def test_obtained_secrets_are_masked(
    aws: None, restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logger = log.configure(debug=True)
    got = ecr.authenticate(static(aws_role_arn=ROLE_A))
    logger.info("password=%s basic=%s", got.password, "QVdTOjExMTExMTExMTExMS1hdXRoLXRva2Vu")
    assert capsys.readouterr().err.splitlines() == [
        f"DEBUG assuming role: {ROLE_A}",
        f"DEBUG ECR proxy endpoint: https://111111111111.dkr.ecr.{REGION}.amazonaws.com",
        "INFO password=*** basic=***",
    ]


def test_resolve_source_leaves_other_sources_alone() -> None:
    source = Source(repository="app", username="u", password="p")
    assert resolve_source(source) is source


def test_resolve_source_applies_ecr(aws: None) -> None:
    assert resolve_source(static()).repository == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/app"


def test_check_does_not_import_boto3() -> None:
    code = (
        "import sys, registry_image_resource.commands.check, registry_image_resource.sources.routing;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout == "[]\n"
