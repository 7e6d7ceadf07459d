"""Which registries check and in try, in order (SPEC B.3.5, B.4.8): the mirror only for Docker Hub."""

from __future__ import annotations

import pytest

from registry_image_resource.errors import RequestError
from registry_image_resource.models import RegistryMirror, Source
from registry_image_resource.reference import Repository, parse_repository
from registry_image_resource.registry.transport import ConnectOptions
from registry_image_resource.routing import attempts, mirror_attempt

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def source(repository: str, **mirror: str) -> Source:
    return Source(
        repository=repository,
        username="origin-user",
        password="origin-secret",
        insecure=True,
        ca_certs=(CA,),
        registry_mirror=RegistryMirror(**mirror) if mirror else None,
    )


@pytest.mark.parametrize(
    ("repository", "expected"),
    [
        ("alpine", Repository("mirror.local:5000", "library/alpine")),
        ("docker.io/alpine", Repository("mirror.local:5000", "library/alpine")),
        ("index.docker.io/concourse/x", Repository("mirror.local:5000", "concourse/x")),
        ("ghcr.io/concourse/x", None),
        ("127.0.0.1:5000/x/y", None),
    ],
)
def test_mirror_only_for_docker_hub(repository: str, expected: Repository | None) -> None:
    attempt = mirror_attempt(source(repository, host="mirror.local:5000"))
    assert (attempt.repository if attempt else None) == expected


def test_mirror_has_its_own_credentials_and_the_source_tls_settings() -> None:
    attempt = mirror_attempt(source("alpine", host="mirror.local", username="m", password="m-secret"))
    assert attempt is not None
    assert attempt.is_mirror
    assert attempt.options == ConnectOptions(username="m", password="m-secret", insecure=True, ca_certs=(CA,))


def test_mirror_without_credentials_is_anonymous() -> None:
    attempt = mirror_attempt(source("alpine", host="mirror.local"))
    assert attempt is not None
    assert not attempt.options.has_credentials


def test_attempts_mirror_then_origin() -> None:
    src = source("alpine", host="mirror.local")
    origin = parse_repository("alpine")
    got = [(a.repository.name, a.is_mirror, a.options.username) for a in attempts(src, origin)]
    assert got == [
        ("mirror.local/library/alpine", True, ""),
        ("index.docker.io/library/alpine", False, "origin-user"),
    ]


def test_no_mirror_configured() -> None:
    src = source("alpine")
    assert [a.repository.name for a in attempts(src, parse_repository("alpine"))] == [
        "index.docker.io/library/alpine"
    ]


@pytest.mark.parametrize(
    ("repository", "host", "message"),
    [
        (
            "alpine",
            "https://mirror.local",
            "failed to resolve mirror: parse mirror registry: registries must be valid RFC 3986 URI "
            "authorities: https://mirror.local",
        ),
        (
            "A",
            "mirror.local",
            "failed to resolve mirror: parse repository: repository must be between 2 and 255 "
            "characters in length: A",
        ),
    ],
)
def test_mirror_errors(repository: str, host: str, message: str) -> None:
    with pytest.raises(RequestError) as caught:
        mirror_attempt(source(repository, host=host))
    assert str(caught.value) == message


def test_resolve_source_runs_ecr_then_acr(monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from registry_image_resource import acr, ecr
    from registry_image_resource.routing import resolve_source

    calls: list[str] = []

    def fake_ecr(src: Source) -> Source:
        calls.append(f"ecr:{src.repository}")
        return replace(src, repository=f"1.dkr.ecr.r.amazonaws.com/{src.repository}", password="ecr")

    def fake_acr(src: Source) -> Source:
        calls.append(f"acr:{src.repository}")
        return replace(src, username=acr.ACR_USERNAME, password="acr")

    monkeypatch.setattr(ecr, "authenticate", fake_ecr)
    monkeypatch.setattr(acr, "authenticate", fake_acr)
    got = resolve_source(Source(repository="app", aws_region="r", azure_acr=True))
    assert calls == ["ecr:app", "acr:1.dkr.ecr.r.amazonaws.com/app"]
    assert (got.username, got.password) == (acr.ACR_USERNAME, "acr")
