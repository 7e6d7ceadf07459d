"""Public registries made local: "ECR" and "Docker Hub" answered by loopback servers, offline.

Owns the wiring the ECR, mirror, TLS and secrets tests share. The resource process gets
``HTTPS_PROXY``/``HTTP_PROXY`` pointing at the fake registry's impersonation proxy, which answers
for any host name with certificates from its CA (given to the resource as ``ca_certs``) and routes
``<account>.dkr.ecr.us-east-1.amazonaws.com`` to a real ``registry:2`` per account (TLS, bcrypt
htpasswd user ``AWS`` with moto's deterministic token password ``<account>-auth-token``) and the
AWS endpoint name ``moto.test`` to moto's server (``AWS_ENDPOINT_URL=http://moto.test:PORT``:
boto3 can only reach it through the proxy). The resource runs exactly as in production.

It must never let a request leave loopback: every name used here is answered by the proxy.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fake_registry import FakeRegistry
from integration.availability import unavailable
from integration.servers import RegistryOptions, RegistryServer, ServerUnavailable, start_registry

REGION = "us-east-1"
STATIC_ACCOUNT = "123456789012"  # moto's account for any plain access key
ROLE_ACCOUNT = "111111111111"
CHAIN_ACCOUNT = "222222222222"
NAMED_ACCOUNT = "999999999999"  # only ever named by aws_account_id
ROLE_A = f"arn:aws:iam::{ROLE_ACCOUNT}:role/ci-reader"
ROLE_B = f"arn:aws:iam::{CHAIN_ACCOUNT}:role/ecr-pusher"
ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_NAME = "moto.test"


def ecr_host(account: str, region: str = REGION) -> str:
    return f"{account}.dkr.ecr.{region}.amazonaws.com"


def ecr_password(account: str) -> str:
    """What moto's GetAuthorizationToken hands out for ``account`` (``AWS:<account>-auth-token``)."""
    return f"{account}-auth-token"


@contextlib.contextmanager
def servers_or_skip(what: str) -> Iterator[None]:
    """Skip when a server cannot start here; fail instead with REQUIRE_REAL_SERVERS=1."""
    try:
        yield
    except ServerUnavailable as exc:
        unavailable(f"{what}: {exc}")


def proxy_env(front: FakeRegistry, no_proxy: str = "") -> dict[str, str]:
    """Proxy variables (both spellings) for the resource process; nothing else of the front's."""
    url = front.proxy.url
    values = {"HTTPS_PROXY": url, "HTTP_PROXY": url, "NO_PROXY": no_proxy}
    return {**values, **{k.lower(): v for k, v in values.items()}}


def aws_env(moto_url: str) -> dict[str, str]:
    """boto3 settings: moto under the name ``moto.test`` (reachable only through the proxy)."""
    port = urlsplit(moto_url).port
    return {
        "AWS_ENDPOINT_URL": f"http://{AWS_NAME}:{port}",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


@dataclass(frozen=True, slots=True)
class EcrWorld:
    """The proxy front, one registry:2 per AWS account, and the resource's environment."""

    front: FakeRegistry
    registries: Mapping[str, RegistryServer]
    env: Mapping[str, str]

    @property
    def ca_pem(self) -> str:
        pem = self.front.ca_pem
        assert pem is not None
        return pem

    def source(self, repository: str, **fields: Any) -> dict[str, Any]:
        """An ECR source with static keys and the proxy CA; ``fields`` add or override."""
        return {
            "repository": repository,
            "aws_region": REGION,
            "aws_access_key_id": ACCESS_KEY_ID,
            "aws_secret_access_key": SECRET_ACCESS_KEY,
            "ca_certs": [self.ca_pem],
            **fields,
        }


@contextlib.contextmanager
def ecr_world(workdir: Path, moto_url: str) -> Iterator[EcrWorld]:
    """Start the registries and the proxy front; route every ECR host name and moto's name."""
    with contextlib.ExitStack() as stack:
        registries: dict[str, RegistryServer] = {}
        for account in (STATIC_ACCOUNT, ROLE_ACCOUNT, CHAIN_ACCOUNT):
            options = RegistryOptions(
                users={"AWS": ecr_password(account)},
                tls_hosts=("127.0.0.1", ecr_host(account)),
                realm="ecr",
            )
            registries[account] = stack.enter_context(start_registry(workdir / account, options))
        front = stack.enter_context(FakeRegistry(proxy=True))
        for account, server in registries.items():
            front.proxy.route(ecr_host(account), server.url, ca_file=server.ca_file)
        # aws_account_id names a registry the static keys' token also opens (cross-account pull).
        static = registries[STATIC_ACCOUNT]
        front.proxy.route(ecr_host(NAMED_ACCOUNT), static.url, ca_file=static.ca_file)
        front.proxy.route(AWS_NAME, moto_url)
        env = {**proxy_env(front), **aws_env(moto_url)}
        yield EcrWorld(front=front, registries=registries, env=env)
