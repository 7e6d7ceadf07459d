"""Fixtures for the integration tests: real registries, moto, unique repository names.

Owns the pytest side of ``integration.servers``: session-scoped servers (started once, shared by
every test, each test using its own repository via ``repo_name``), and the skip-or-fail rule:
with ``REQUIRE_REAL_SERVERS=1`` a server or tool that cannot start fails the test; otherwise the
test is skipped with the reason. It must never leave a server running after the session.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from integration import servers
from integration.availability import unavailable
from integration.servers import (
    DEFAULT_TLS_HOSTS,
    RegistryOptions,
    RegistryServer,
    ServerUnavailable,
    aws_env,
    random_password,
    start_registry,
)


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    """A tool helper (run_tool, skopeo_copy) that finds no binary skips or fails the test."""
    try:
        return (yield)
    except ServerUnavailable as exc:
        unavailable(str(exc))


@contextlib.contextmanager
def available(what: str) -> Iterator[None]:
    try:
        yield
    except ServerUnavailable as exc:
        unavailable(f"{what}: {exc}")


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A plain-HTTP registry on loopback, no auth."""
    with available("registry"), start_registry(tmp_path_factory.mktemp("registry")) as server:
        yield server


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A plain-HTTP registry with bcrypt htpasswd Basic auth for one generated user."""
    options = RegistryOptions(users={f"user-{secrets.token_hex(3)}": random_password()})
    with (
        available("auth registry"),
        start_registry(tmp_path_factory.mktemp("auth-registry"), options) as server,
    ):
        yield server


@pytest.fixture(scope="session")
def bearer_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A plain-HTTP registry with token auth for one generated user, its token server on loopback
    (``integration.token_server``: the user gets what they ask for, anonymous requests nothing)."""
    options = RegistryOptions(users={f"user-{secrets.token_hex(3)}": random_password()}, auth="bearer")
    with (
        available("bearer registry"),
        start_registry(tmp_path_factory.mktemp("bearer-registry"), options) as server,
    ):
        yield server


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """An HTTPS registry, certificate for 127.0.0.1, ::1 and localhost from a generated CA."""
    options = RegistryOptions(tls_hosts=DEFAULT_TLS_HOSTS)
    with (
        available("TLS registry"),
        start_registry(tmp_path_factory.mktemp("tls-registry"), options) as server,
    ):
        yield server


@pytest.fixture
def registry_factory(tmp_path: Path) -> Iterator[Callable[[RegistryOptions], RegistryServer]]:
    """Start extra registry variants (other users, host names, mTLS, disk storage) for one test.

    ``registry_factory(RegistryOptions(...))`` returns a running server; all of them stop when the
    test ends.
    """
    with contextlib.ExitStack() as stack:
        count = 0

        def start(options: RegistryOptions) -> RegistryServer:
            nonlocal count
            count += 1
            with available("registry variant"):
                return stack.enter_context(start_registry(tmp_path / f"registry-{count}", options))

        yield start


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server (ECR, STS, ...) on loopback; the fixture value is its URL."""
    with available("moto server"), servers.moto_server(tmp_path_factory.mktemp("moto")) as url:
        yield url


@pytest.fixture
def aws_environment(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point boto3 in this process at moto (fake keys, AWS_ENDPOINT_URL); returns the variables
    so a subprocess can get the same environment."""
    variables = aws_env(moto_server)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    return variables


@pytest.fixture
def repo_name(request: pytest.FixtureRequest) -> str:
    """A repository path unique to this test, e.g. ``test/ping-tls-3f9a1c2b``."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    slug = slug.removeprefix("test-")[:40].strip("-") or "repo"
    return f"test/{slug}-{secrets.token_hex(4)}"
