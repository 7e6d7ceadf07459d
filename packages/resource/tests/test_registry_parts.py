"""Pure parts of the registry client: challenges, retry policy, manifests and platform choice."""

from __future__ import annotations

import json

import pytest

from registry_image_resource.errors import RegistryError, TransportError
from registry_image_resource.protocol.models import Platform
from registry_image_resource.registry import retry
from registry_image_resource.registry.auth import Challenge, _merge_scopes, parse_challenges, pick_challenge
from registry_image_resource.registry.errors import parse_error_body
from registry_image_resource.registry.manifests import (
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    detect_media_type,
    parse_config,
    parse_index,
    parse_manifest,
    select_platform,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('Basic realm="registry"', [Challenge("basic", (("realm", "registry"),))]),
        (
            'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
            [
                Challenge(
                    "bearer",
                    (
                        ("realm", "https://auth.example/token"),
                        ("service", "registry.example"),
                        ("scope", "repository:a/b:pull,push"),
                    ),
                )
            ],
        ),
        (
            "bearer realm=https://x/t, service=s",
            [Challenge("bearer", (("realm", "https://x/t"), ("service", "s")))],
        ),
        (
            'Basic realm="a", Bearer realm="b"',
            [Challenge("basic", (("realm", "a"),)), Challenge("bearer", (("realm", "b"),))],
        ),
        ('Bearer realm="with \\"quote\\""', [Challenge("bearer", (("realm", 'with "quote"'),))]),
        ("", []),
    ],
)
def test_parse_challenges(header, expected):
    assert parse_challenges(header) == expected


def test_bearer_is_preferred_over_basic():
    assert pick_challenge(parse_challenges('Basic realm="a", Bearer realm="b"')) == Challenge(
        "bearer", (("realm", "b"),)
    )
    assert pick_challenge(parse_challenges('Negotiate x="y"')) is None


@pytest.mark.parametrize(
    ("scopes", "extra", "expected"),
    [
        (("repository:a:pull",), "repository:a:push", ("repository:a:pull,push",)),
        (("repository:a:pull",), "repository:b:pull", ("repository:a:pull", "repository:b:pull")),
        (("repository:a:pull",), "", ("repository:a:pull",)),
        ((), "repository:a:pull repository:c:push", ("repository:a:pull", "repository:c:push")),
    ],
)
def test_scope_union(scopes, extra, expected):
    assert _merge_scopes(scopes, extra) == expected


def test_backoff_grows_and_is_capped():
    policy = retry.RetryPolicy(initial=1.0, multiplier=2.0, max_interval=5.0, jitter=0.5)
    assert [policy.backoff(n, rand=lambda: 0.5) for n in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.backoff(0, rand=lambda: 0.0) == 0.5
    assert policy.backoff(0, rand=lambda: 1.0) == 1.5


def test_test_env_scales_delays_to_milliseconds():
    assert retry.RetryPolicy.from_env({"TEST": "true"}).backoff(0, rand=lambda: 0.5) == pytest.approx(0.001)
    assert retry.RetryPolicy.from_env({}).scale == 1.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3.0), (" 0 ", 0.0), ("Thu, 01 Jan 1970 00:01:40 GMT", 60.0), ("soon", None), (None, None)],
)
def test_parse_retry_after(value, expected):
    assert retry.parse_retry_after(value, now=40.0) == expected


def test_retry_call_waits_retry_after_and_gives_up():
    sleeps: list[float] = []
    calls = []

    def operation():
        calls.append(1)
        raise retry.Retryable(TransportError("boom"), retry_after=7)

    policy = retry.RetryPolicy(attempts=3, initial=1, jitter=0, max_elapsed=100)
    with pytest.raises(TransportError) as caught:
        retry.call(operation, policy, sleep=sleeps.append, clock=lambda: 0.0)
    assert str(caught.value) == "boom (gave up after 3 attempts)"
    assert sleeps == [7, 7]
    assert len(calls) == 3


def test_retry_call_stops_when_total_time_would_be_exceeded():
    sleeps: list[float] = []

    def operation():
        raise retry.Retryable(TransportError("slow"), retry_after=50)

    policy = retry.RetryPolicy(attempts=10, initial=1, jitter=0, max_elapsed=60)
    with pytest.raises(TransportError):
        retry.call(operation, policy, sleep=sleeps.append, clock=iter([0.0, 20.0]).__next__)
    assert sleeps == []


def test_error_body_parsing():
    body = b'{"errors":[{"code":"DENIED","message":"no"},{"code":"X","message":"also"}]}'
    assert parse_error_body(body) == ("DENIED", "no; also", None)
    assert parse_error_body(b"garbage") == (None, None, None)
    assert parse_error_body(b'{"errors":[]}') == (None, None, None)


def test_detect_media_type():
    index = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
    assert detect_media_type(index, "application/octet-stream") == OCI_INDEX
    assert detect_media_type(index, DOCKER_MANIFEST_LIST + "; charset=utf-8") == DOCKER_MANIFEST_LIST
    assert detect_media_type(b'{"mediaType":"x/y"}', None) == "x/y"
    assert detect_media_type(b'{"config":{}}', "") == OCI_MANIFEST


def _index(*platforms):
    return parse_index(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {
                        "mediaType": OCI_MANIFEST,
                        "digest": f"sha256:{i:064x}",
                        "size": 1,
                        **({"platform": p} if p else {}),
                    }
                    for i, p in enumerate(platforms)
                ],
            }
        ).encode()
    )


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        (Platform("amd64", "linux"), 0),
        (Platform("arm", "linux"), 1),
        (Platform("arm", "linux", "v7"), 2),
        (Platform("arm64", "linux", "v8"), 3),
        (Platform("arm64", "linux"), 3),
    ],
)
def test_select_platform(wanted, expected):
    index = _index(
        None,
        {"architecture": "arm", "os": "linux", "variant": "v6"},
        {"architecture": "arm", "os": "linux", "variant": "v7"},
        {"architecture": "arm64", "os": "linux"},
    )
    assert select_platform(index, wanted, "r:t").digest == f"sha256:{expected:064x}"


def test_select_platform_lists_what_the_index_has():
    index = _index(None, {"architecture": "arm", "os": "linux", "variant": "v7"})
    with pytest.raises(RegistryError) as caught:
        select_platform(index, Platform("s390x", "linux"), "reg/app:1")
    assert (
        str(caught.value)
        == "no child with platform linux/s390x in index reg/app:1; it has: linux/amd64, linux/arm/v7"
    )


def test_parse_manifest_and_config():
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + "1" * 64,
                "size": 10,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:" + "2" * 64,
                    "size": 20,
                }
            ],
            "annotations": {"a": "b"},
        }
    ).encode()
    manifest = parse_manifest(body)
    assert (
        manifest.config.digest,
        [layer.size for layer in manifest.layers],
        dict(manifest.annotations),
    ) == (
        "sha256:" + "1" * 64,
        [20],
        {"a": "b"},
    )
    config = parse_config(
        b'{"created":"2024-01-02T03:04:05Z","architecture":"amd64","os":"linux","config":{"Labels":{"x":"y"}}}'
    )
    assert (config.created, config.architecture, dict(config.labels)) == (
        "2024-01-02T03:04:05Z",
        "amd64",
        {"x": "y"},
    )


def test_schema1_is_refused():
    with pytest.raises(RegistryError) as caught:
        parse_manifest(b'{"schemaVersion":1,"fsLayers":[]}')
    assert str(caught.value) == (
        "manifest: unsupported Docker image manifest schema 1 (application/vnd.oci.image.manifest.v1+json)"
    )
