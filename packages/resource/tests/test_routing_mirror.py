"""Which registries check and in try, in order (SPEC B.3.5, B.4.8): the mirror only for Docker Hub."""

from __future__ import annotations

import pytest

from registry_image_resource.errors import RegistryError, RequestError, ResourceError
from registry_image_resource.protocol.models import Source
from registry_image_resource.protocol.optional_models import RegistryMirror
from registry_image_resource.registry._http.transport import ConnectOptions
from registry_image_resource.registry.reference import Repository, parse_repository
from registry_image_resource.sources.routing import (
    Attempt,
    mirror_attempt,
    mirror_then_origin,
    origin_attempt,
)

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


def _trying(answers: dict[str, object]) -> tuple[list[str], list[tuple[str, str | None]], object]:
    """Run ``mirror_then_origin`` for alpine with a mirror; ``answers`` by registry host (an
    exception is raised). Returns the hosts tried, the mirror failures reported, and the result."""
    src = source("alpine", host="mirror.local")
    tried: list[str] = []
    failures: list[tuple[str, str | None]] = []

    def fetch(attempt: Attempt) -> object:
        tried.append(f"{attempt.repository.name} {attempt.options.username or 'anonymous'}")
        answer = answers[attempt.repository.registry]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def failed(attempt: Attempt, err: ResourceError | None) -> None:
        failures.append((attempt.repository.name, None if err is None else str(err)))

    origin = parse_repository("alpine")
    result = mirror_then_origin(
        mirror_attempt(src, origin), lambda: origin_attempt(src, origin), fetch, failed, answered=bool
    )
    return tried, failures, result


def test_the_mirror_answers_first_and_the_origin_is_not_tried() -> None:
    assert _trying({"mirror.local": ["v1"]}) == (["mirror.local/library/alpine anonymous"], [], ["v1"])


def test_a_failing_mirror_is_reported_then_the_origin_answers_with_its_credentials() -> None:
    answers: dict[str, object] = {"mirror.local": RegistryError("down"), "index.docker.io": ["v2"]}
    assert _trying(answers) == (
        ["mirror.local/library/alpine anonymous", "index.docker.io/library/alpine origin-user"],
        [("mirror.local/library/alpine", "down")],
        ["v2"],
    )


def test_an_empty_mirror_answer_is_reported_as_none_then_the_origin_answers() -> None:
    answers: dict[str, object] = {"mirror.local": [], "index.docker.io": ["v3"]}
    assert _trying(answers)[1:] == ([("mirror.local/library/alpine", None)], ["v3"])


def test_the_origins_error_propagates() -> None:
    answers: dict[str, object] = {"mirror.local": [], "index.docker.io": RegistryError("origin down")}
    with pytest.raises(RegistryError, match=r"^origin down$"):
        _trying(answers)


def test_without_a_mirror_only_the_origin_is_tried() -> None:
    src = source("alpine")
    origin = parse_repository("alpine")
    tried: list[str] = []

    def fetch(attempt: Attempt) -> str:
        tried.append(attempt.repository.name)
        return "answer"

    def failed(attempt: Attempt, err: ResourceError | None) -> None:
        raise AssertionError("no mirror to fail")

    result = mirror_then_origin(
        mirror_attempt(src, origin), lambda: origin_attempt(src, origin), fetch, failed
    )
    assert (tried, result) == (["index.docker.io/library/alpine"], "answer")


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

    from registry_image_resource.sources import acr, ecr
    from registry_image_resource.sources.routing import resolve_source

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
