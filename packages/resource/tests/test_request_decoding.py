"""Request decoding and validation (SPEC B.1.2, B.1.3, B.2, B.2.2, B.2.3, A.2.6): exact results and texts."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from registry_image_resource.commands.check.request import CheckRequest, decode_check
from registry_image_resource.commands.get.request import GetParams, InRequest, decode_in, effective_platform
from registry_image_resource.commands.put.request import OutRequest, PutParams, decode_out
from registry_image_resource.errors import RequestError
from registry_image_resource.protocol.decoding import read_request
from registry_image_resource.protocol.models import Platform, Source, Version
from registry_image_resource.protocol.optional_models import ContentTrust, RegistryMirror
from registry_image_resource.protocol.platform import resolved, runtime_platform
from registry_image_resource.protocol.source import secrets_of

DIGEST = "sha256:" + "a" * 64
CERT = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUY29uY291cnNlLXRlc3QtY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIGNvbmNvdXJzZS10ZXN0LWtleS1ub3QtYS1yZWFsLWtleQ==\n-----END EC PRIVATE KEY-----\n"
TRUST = {"repository_key_id": "abc123", "repository_key": "k3y-material"}


def check(document: Any) -> CheckRequest:
    return decode_check(json.dumps(document).encode())


def source(fields: dict[str, Any]) -> Source:
    return check({"source": fields}).source


def error_of(decode: Callable[[bytes], object], raw: bytes | str) -> str:
    with pytest.raises(RequestError) as caught:
        decode(raw.encode() if isinstance(raw, str) else raw)
    return str(caught.value)


# --- one JSON value on stdin ---------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b" \n\t\r "])
def test_empty_stdin_is_a_clear_error(raw: bytes) -> None:
    assert error_of(decode_check, raw) == "invalid payload: empty request on stdin"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            "{",
            "invalid payload: malformed JSON at line 1 column 2: expecting property name enclosed in double quotes",
        ),
        ('{"source": }', "invalid payload: malformed JSON at line 1 column 12: expecting value"),
        (
            '{"source": {}\n "version": null}',
            "invalid payload: malformed JSON at line 2 column 2: expecting ',' delimiter",
        ),
        ('{"source": {"tag": NaN}}', "invalid payload: malformed JSON: NaN is not a JSON value"),
        ('{"source": {"tag": Infinity}}', "invalid payload: malformed JSON: Infinity is not a JSON value"),
        ("x", "invalid payload: malformed JSON at line 1 column 1: expecting value"),
    ],
)
def test_malformed_json_says_what_and_where(raw: str, message: str) -> None:
    assert error_of(decode_check, raw) == message


def test_trailing_bytes_after_the_first_value_are_ignored() -> None:
    assert decode_check(b'{"source": {"repository": "foo"}} {"garbage') == CheckRequest(
        Source(repository="foo")
    )


def test_leading_whitespace_is_allowed() -> None:
    assert decode_check(b'\n  {"source": {"repository": "foo"}}') == CheckRequest(Source(repository="foo"))


def test_invalid_utf8_becomes_the_replacement_character() -> None:
    assert decode_check(b'{"source": {"repository": "a\xffb"}}').source.repository == "a\ufffdb"


@pytest.mark.parametrize(
    ("raw", "kind"), [("[]", "array"), ('"x"', "string"), ("1", "number"), ("true", "boolean")]
)
def test_request_must_be_an_object(raw: str, kind: str) -> None:
    assert error_of(decode_check, raw) == f"invalid payload: request must be an object, got {kind}"


def test_null_request_is_the_zero_request() -> None:
    assert decode_check(b"null") == CheckRequest(Source(), None)


def test_duplicate_keys_last_one_wins() -> None:
    raw = b'{"source": {"repository": "first", "repository": "second", "insecure": true, "INSECURE": false}}'
    assert decode_check(raw).source == Source(repository="second", insecure=False)


# --- case-insensitive keys -----------------------------------------------------------------------


def test_top_level_keys_match_case_insensitively() -> None:
    # upstream check_test.go / out_test.go marshal untagged structs: "Source", "Version", "Params"
    request = check({"Source": {"repository": "foo"}, "Version": {"Tag": "1", "DIGEST": DIGEST}})
    assert request == CheckRequest(Source(repository="foo"), Version(tag="1", digest=DIGEST))


def test_nested_keys_match_case_insensitively() -> None:
    got = source(
        {
            "Repository": "foo",
            "PLATFORM": {"Architecture": "arm64", "OS": "linux"},
            "Registry_Mirror": {"HOST": "mirror:5000"},
        }
    )
    assert got == Source(
        repository="foo",
        platform=Platform(architecture="arm64", os="linux"),
        registry_mirror=RegistryMirror(host="mirror:5000"),
    )


def test_unicode_case_folding_of_keys_follows_go() -> None:
    # Go folds U+017F LONG S onto "s" and U+212A KELVIN SIGN onto "k"
    raw = json.dumps(
        {"params": {"\u017f\u212aip_download": True}, "version": {"digest": DIGEST}}, ensure_ascii=False
    )
    assert decode_in(raw.encode()).params == GetParams(skip_download=True)


def test_in_params_keys_match_case_insensitively() -> None:
    raw = json.dumps({"Source": {}, "Params": {"Skip_Download": True}, "Version": {"digest": DIGEST}})
    assert decode_in(raw.encode()).params == GetParams(skip_download=True)


# --- unknown keys, at every level ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("decode", "document", "field"),
    [
        (decode_check, {"bogus": 1}, "bogus"),
        (decode_check, {"source": {"repository": "a", "bogus": 1}}, "source.bogus"),
        (decode_check, {"source": {"Bogus": 1}}, "source.Bogus"),
        (decode_check, {"version": {"tag": "x", "bogus": 1}}, "version.bogus"),
        (decode_check, {"params": {}}, "params"),
        (decode_check, {"source": {"platform": {"bogus": "x"}}}, "source.platform.bogus"),
        (
            decode_check,
            {"source": {"registry_mirror": {"host": "m:5000", "bogus": "x"}}},
            "source.registry_mirror.bogus",
        ),
        (decode_check, {"source": {"content_trust": {"bogus": "x"}}}, "source.content_trust.bogus"),
        (decode_in, {"params": {"bogus": 1}}, "params.bogus"),
        (decode_in, {"params": {"platform": {"bogus": "x"}}}, "params.platform.bogus"),
        (decode_in, {"params": {"tag_prefix": "x"}}, "params.tag_prefix"),
        (decode_out, {"version": {"tag": "x"}}, "version"),
        (decode_out, {"params": {"bogus": 1}}, "params.bogus"),
        (decode_out, {"params": {"format": "oci"}}, "params.format"),
    ],
)
def test_unknown_keys_are_rejected_with_their_full_path(
    decode: Callable[[bytes], object], document: dict[str, Any], field: str
) -> None:
    assert error_of(decode, json.dumps(document)) == f'invalid payload: unknown field "{field}"'


def test_the_first_problem_in_document_order_is_reported() -> None:
    raw = '{"source": {"first": 1, "insecure": "x"}}'
    assert error_of(decode_check, raw) == 'invalid payload: unknown field "source.first"'


# --- strict types --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"insecure": "true"}, "source.insecure must be a boolean, got string"),
        ({"insecure": 1}, "source.insecure must be a boolean, got number"),
        ({"debug": "yes"}, "source.debug must be a boolean, got string"),
        ({"created_at_sort": []}, "source.created_at_sort must be a boolean, got array"),
        ({"pre_releases": {}}, "source.pre_releases must be a boolean, got object"),
        ({"azure_acr": "true"}, "source.azure_acr must be a boolean, got string"),
        ({"repository": 5}, "source.repository must be a string, got number"),
        ({"repository": True}, "source.repository must be a string, got boolean"),
        ({"username": ["a"]}, "source.username must be a string, got array"),
        ({"password": 1234}, "source.password must be a string, got number"),
        ({"tag_regex": 1}, "source.tag_regex must be a string, got number"),
        ({"variant": False}, "source.variant must be a string, got boolean"),
        ({"aws_region": {}}, "source.aws_region must be a string, got object"),
        ({"ca_certs": CERT}, "source.ca_certs must be an array of strings, got string"),
        ({"ca_certs": [CERT, 3]}, "source.ca_certs[1] must be a string, got number"),
        (
            {"pre_release_prefixes": "rc"},
            "source.pre_release_prefixes must be an array of strings, got string",
        ),
        ({"aws_role_arns": [["x"]]}, "source.aws_role_arns[0] must be a string, got array"),
        ({"platform": "linux/amd64"}, "source.platform must be an object, got string"),
        ({"platform": {"os": 1}}, "source.platform.os must be a string, got number"),
        ({"registry_mirror": "mirror:5000"}, "source.registry_mirror must be an object, got string"),
        ({"registry_mirror": {"host": 5000}}, "source.registry_mirror.host must be a string, got number"),
        ({"content_trust": []}, "source.content_trust must be an object, got array"),
        ({"content_trust": {"scopes": ["push"]}}, "source.content_trust.scopes must be a string, got array"),
    ],
)
def test_source_field_types_are_strict(fields: dict[str, Any], message: str) -> None:
    assert error_of(decode_check, json.dumps({"source": fields})) == f"invalid payload: {message}"


@pytest.mark.parametrize(
    ("decode", "document", "message"),
    [
        (decode_check, {"source": "foo"}, "source must be an object, got string"),
        (decode_check, {"version": "1.0"}, "version must be an object, got string"),
        (decode_check, {"version": {"tag": 1}}, "version.tag must be a string, got number"),
        (decode_check, {"version": {"digest": True}}, "version.digest must be a string, got boolean"),
        (decode_in, {"params": []}, "params must be an object, got array"),
        (decode_in, {"params": {"format": 1}}, "params.format must be a string, got number"),
        (
            decode_in,
            {"params": {"skip_download": "true"}},
            "params.skip_download must be a boolean, got string",
        ),
        (
            decode_in,
            {"params": {"platform": {"architecture": 64}}},
            "params.platform.architecture must be a string, got number",
        ),
        (decode_out, {"params": {"image": 1}}, "params.image must be a string, got number"),
        (decode_out, {"params": {"version": 1.2}}, "params.version must be a string, got number"),
        (
            decode_out,
            {"params": {"bump_aliases": "true"}},
            "params.bump_aliases must be a boolean, got string",
        ),
        (
            decode_out,
            {"params": {"additional_tags": []}},
            "params.additional_tags must be a string, got array",
        ),
        (decode_out, {"params": {"tag_prefix": 1}}, "params.tag_prefix must be a string, got number"),
    ],
)
def test_request_and_param_types_are_strict(
    decode: Callable[[bytes], object], document: dict[str, Any], message: str
) -> None:
    assert error_of(decode, json.dumps(document)) == f"invalid payload: {message}"


# --- null is the zero value ----------------------------------------------------------------------


def test_null_fields_are_zero_values() -> None:
    fields = {name: None for name in Source.__dataclass_fields__}
    assert source(fields) == Source()


def test_null_version_in_check_means_no_cursor() -> None:
    assert check({"source": {"repository": "foo"}, "version": None}).version is None


def test_null_source_and_params_are_defaults() -> None:
    assert decode_out(b'{"source": null, "params": null}') == OutRequest(Source(), PutParams())


def test_null_array_items_are_empty_strings() -> None:
    assert source({"pre_release_prefixes": ["rc", None]}).pre_release_prefixes == ("rc", "")


# --- every field decodes -------------------------------------------------------------------------


def test_every_source_field_decodes() -> None:
    document = {
        "repository": "example.com/foo",
        "insecure": True,
        "tag": "latest",
        "tag_regex": "^v",
        "created_at_sort": True,
        "variant": "alpine",
        "semver_constraint": ">= 1.0",
        "pre_releases": True,
        "pre_release_prefixes": ["dev"],
        "label_regex": "^org",
        "annotation_regex": "^com",
        "username": "user",
        "password": "pass",
        "aws_access_key_id": "AKID",
        "aws_secret_access_key": "SECRET",
        "aws_session_token": "TOKEN",
        "aws_region": "us-east-1",
        "aws_role_arns": ["arn:aws:iam::1:role/a"],
        "aws_account_id": "123456789012",
        "aws_ecr_registry_id": "123456789012",
        "azure_acr": True,
        "azure_client_id": "client",
        "azure_tenant_id": "tenant",
        "azure_environment": "AzurePublicCloud",
        "registry_mirror": {"host": "mirror:5000", "username": "mu", "password": "mp"},
        "content_trust": {
            "server": "https://notary.example.com:4443",
            "repository_key_id": "abc123",
            "repository_key": "rk",
            "repository_passphrase": "rp",
            "tls_key": "tk",
            "tls_cert": "tc",
            "scopes": "push,pull",
            "username": "nu",
            "password": "np",
        },
        "ca_certs": [CERT],
        "client_cert": CERT,
        "client_key": KEY,
        "platform": {"architecture": "arm", "os": "linux", "variant": "v7"},
        "debug": True,
    }
    assert source(document) == Source(
        repository="example.com/foo",
        insecure=True,
        tag="latest",
        tag_regex="^v",
        created_at_sort=True,
        variant="alpine",
        semver_constraint=">= 1.0",
        pre_releases=True,
        pre_release_prefixes=("dev",),
        label_regex="^org",
        annotation_regex="^com",
        username="user",
        password="pass",
        aws_access_key_id="AKID",
        aws_secret_access_key="SECRET",
        aws_session_token="TOKEN",
        aws_region="us-east-1",
        aws_role_arns=("arn:aws:iam::1:role/a",),
        aws_account_id="123456789012",
        aws_ecr_registry_id="123456789012",
        azure_acr=True,
        azure_client_id="client",
        azure_tenant_id="tenant",
        azure_environment="AzurePublicCloud",
        registry_mirror=RegistryMirror(host="mirror:5000", username="mu", password="mp"),
        content_trust=ContentTrust(
            server="https://notary.example.com:4443",
            repository_key_id="abc123",
            repository_key="rk",
            repository_passphrase="rp",
            tls_key="tk",
            tls_cert="tc",
            scopes="push,pull",
            username="nu",
            password="np",
        ),
        ca_certs=(CERT,),
        client_cert=CERT,
        client_key=KEY,
        platform=Platform(architecture="arm", os="linux", variant="v7"),
        debug=True,
    )


def test_in_request_decodes() -> None:
    raw = json.dumps(
        {
            "source": {"repository": "foo"},
            "params": {
                "format": "oci",
                "skip_download": True,
                "platform": {"architecture": "arm64", "os": "linux"},
            },
            "version": {"tag": "1.0", "digest": DIGEST},
        }
    )
    assert decode_in(raw.encode()) == InRequest(
        Source(repository="foo"),
        Version(tag="1.0", digest=DIGEST),
        GetParams(format="oci", platform=Platform(architecture="arm64", os="linux"), skip_download=True),
    )


def test_out_request_decodes() -> None:
    raw = json.dumps(
        {
            "source": {"repository": "foo"},
            "params": {
                "image": "image/image.tar",
                "version": "1.2.3",
                "bump_aliases": True,
                "additional_tags": "tags/list",
                "tag_prefix": "v",
            },
        }
    )
    assert decode_out(raw.encode()) == OutRequest(
        Source(repository="foo"),
        PutParams(
            image="image/image.tar",
            version="1.2.3",
            bump_aliases=True,
            additional_tags="tags/list",
            tag_prefix="v",
        ),
    )


def test_in_version_is_echoed_even_with_an_empty_tag() -> None:
    raw = json.dumps({"source": {}, "version": {"digest": DIGEST}})
    assert decode_in(raw.encode()).version == Version(tag="", digest=DIGEST)


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (None, "version.digest must be specified"),
        ({"tag": "latest"}, "version.digest must be specified"),
        ({"digest": "sha256:abc"}, 'version.digest is not a valid digest: "sha256:abc"'),
        ({"digest": "sha256:" + "A" * 64}, f'version.digest is not a valid digest: "sha256:{"A" * 64}"'),
        ({"digest": "latest"}, 'version.digest is not a valid digest: "latest"'),
        ({"digest": "sha256:../../x"}, 'version.digest is not a valid digest: "sha256:../../x"'),
    ],
)
def test_in_needs_a_valid_version_digest(version: Any, message: str) -> None:
    assert error_of(decode_in, json.dumps({"source": {}, "version": version})) == message


def test_in_accepts_other_digest_algorithms() -> None:
    digest = "sha512:" + "0" * 128
    assert decode_in(json.dumps({"version": {"digest": digest}}).encode()).version.digest == digest


# --- source.tag is any JSON value, as its raw text (B.2.2) ---------------------------------------


@pytest.mark.parametrize(
    ("raw_tag", "tag"),
    [
        ('"1.10"', "1.10"),
        ("42", "42"),
        ("42.1", "42.1"),
        ("1.10", "1.10"),
        ("-0", "-0"),
        ("1e3", "1e3"),
        ("12345678901234567890123", "12345678901234567890123"),
        ("true", "true"),
        ("false", "false"),
        ("null", ""),
        ('""', ""),
        ('[1, "a"]', '[1,"a"]'),
        ('{"a": 1.50}', '{"a":1.50}'),
    ],
)
def test_tag_is_the_raw_json_text(raw_tag: str, tag: str) -> None:
    raw = '{"source": {"repository": "foo", "tag": ' + raw_tag + "}}"
    assert decode_check(raw.encode()).source.tag == tag


# --- platform (B.2.3, A.2.6) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "platform"),
    [
        ({}, Platform()),
        ({"architecture": "arm64"}, Platform(architecture="arm64")),
        ({"architecture": "arm64/v8"}, Platform(architecture="arm64", variant="v8")),
        ({"architecture": "arm/v7", "os": "linux"}, Platform(architecture="arm", os="linux", variant="v7")),
        ({"architecture": "arm", "variant": "v6"}, Platform(architecture="arm", variant="v6")),
        ({"architecture": "arm/v6", "variant": "v6"}, Platform(architecture="arm", variant="v6")),
    ],
)
def test_platform_decodes(fields: dict[str, str], platform: Platform) -> None:
    assert source({"platform": fields}).platform == platform


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"architecture": "arm/v7", "variant": "v6"},
            'source.platform.variant "v6" conflicts with the variant in source.platform.architecture "arm/v7"',
        ),
        ({"architecture": "arm/"}, 'source.platform.architecture must be ARCH or ARCH/VARIANT, got "arm/"'),
        ({"architecture": "/v7"}, 'source.platform.architecture must be ARCH or ARCH/VARIANT, got "/v7"'),
        (
            {"architecture": "linux/arm/v7"},
            'source.platform.architecture must be ARCH or ARCH/VARIANT, got "linux/arm/v7"',
        ),
    ],
)
def test_platform_errors(fields: dict[str, str], message: str) -> None:
    assert error_of(decode_check, json.dumps({"source": {"platform": fields}})) == message


def test_params_platform_errors_name_params() -> None:
    raw = json.dumps({"params": {"platform": {"architecture": "a/b/c"}}, "version": {"digest": DIGEST}})
    assert (
        error_of(decode_in, raw) == 'params.platform.architecture must be ARCH or ARCH/VARIANT, got "a/b/c"'
    )


@pytest.mark.parametrize(
    ("machine", "platform"),
    [
        ("x86_64", Platform("amd64", "linux", "")),
        ("AMD64", Platform("amd64", "linux", "")),
        ("aarch64", Platform("arm64", "linux", "")),
        ("arm64", Platform("arm64", "linux", "")),
        ("armv7l", Platform("arm", "linux", "v7")),
        ("armv6l", Platform("arm", "linux", "v6")),
        ("i686", Platform("386", "linux", "")),
        ("ppc64le", Platform("ppc64le", "linux", "")),
        ("s390x", Platform("s390x", "linux", "")),
        ("riscv64", Platform("riscv64", "linux", "")),
        ("sparc64", Platform("sparc64", "linux", "")),
    ],
)
def test_runtime_platform_uses_go_names(machine: str, platform: Platform) -> None:
    assert runtime_platform(machine) == platform


ARMV7 = Platform("arm", "linux", "v7")


@pytest.mark.parametrize(
    ("wanted", "platform"),
    [
        (None, ARMV7),
        (Platform(), ARMV7),
        (Platform(os="linux"), ARMV7),
        (Platform(os="windows"), Platform("arm", "windows", "v7")),
        (Platform(architecture="arm"), Platform("arm", "linux", "")),
        (Platform(architecture="amd64"), Platform("amd64", "linux", "")),
        (Platform(architecture="arm64", variant="v8"), Platform("arm64", "linux", "v8")),
        (Platform(variant="v6"), Platform("arm", "linux", "v6")),
    ],
)
def test_resolved_fills_runtime_defaults(wanted: Platform | None, platform: Platform) -> None:
    assert resolved(wanted, ARMV7) == platform


def test_resolved_defaults_to_this_machine() -> None:
    assert resolved(None) == runtime_platform()


AMD64 = Platform("amd64", "linux", "")


@pytest.mark.parametrize(
    ("source_platform", "params", "platform"),
    [
        (None, None, AMD64),
        (None, GetParams(), AMD64),
        (Platform("arm64", "", "v8"), None, Platform("arm64", "linux", "v8")),
        (Platform("arm64", "", "v8"), GetParams(), Platform("arm64", "linux", "v8")),
        # params.platform replaces source.platform whole: no per-field merge
        (Platform("arm64", "windows", "v8"), GetParams(platform=Platform(os="linux")), AMD64),
        (Platform("arm64", "windows"), GetParams(platform=Platform()), AMD64),
        (None, GetParams(platform=Platform("s390x")), Platform("s390x", "linux", "")),
    ],
)
def test_effective_platform(
    source_platform: Platform | None, params: GetParams | None, platform: Platform
) -> None:
    assert effective_platform(Source(platform=source_platform), params, AMD64) == platform


# --- get params ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [(None, "rootfs"), ("", "rootfs"), ("rootfs", "rootfs"), ("oci", "oci"), ("oci-layout", "oci-layout")],
)
def test_format_values(fmt: str | None, expected: str) -> None:
    raw = json.dumps({"params": {"format": fmt}, "version": {"digest": DIGEST}})
    assert decode_in(raw.encode()).params.format == expected


def test_format_defaults_to_rootfs_without_params() -> None:
    assert decode_in(json.dumps({"version": {"digest": DIGEST}}).encode()).params == GetParams(
        format="rootfs"
    )


@pytest.mark.parametrize("fmt", ["tar", "OCI", "Rootfs", " oci"])
def test_unknown_format_is_rejected(fmt: str) -> None:
    raw = json.dumps({"params": {"format": fmt}, "version": {"digest": DIGEST}})
    assert error_of(decode_in, raw) == (
        f"params.format: unknown format provided, must be one of 'rootfs', 'oci', 'oci-layout': {fmt}"
    )


# --- conflicts and contents ----------------------------------------------------------------------


def test_aws_role_arn_conflicts_with_aws_role_arns() -> None:
    raw = json.dumps({"source": {"aws_role_arn": "arn:a", "aws_role_arns": ["arn:b"]}})
    assert (
        error_of(decode_check, raw)
        == "source.aws_role_arn cannot be set at the same time as source.aws_role_arns"
    )


@pytest.mark.parametrize(("arn", "arns"), [("arn:a", []), ("", ["arn:b"]), ("arn:a", None)])
def test_aws_role_arn_or_arns_alone_is_fine(arn: str, arns: list[str] | None) -> None:
    assert source({"aws_role_arn": arn, "aws_role_arns": arns}).aws_role_arn == arn


@pytest.mark.parametrize(
    "params",
    [
        {"tag_prefix": "v"},
        {"tag_prefix": "v", "additional_tags": ""},
        {"tag_prefix": "v", "additional_tags": None},
    ],
)
def test_tag_prefix_needs_additional_tags(params: dict[str, Any]) -> None:
    assert (
        error_of(decode_out, json.dumps({"params": params}))
        == "tag_prefix can only be used when additional_tags are specified"
    )


def test_tag_prefix_with_additional_tags_is_fine() -> None:
    raw = json.dumps({"params": {"tag_prefix": "v", "additional_tags": "tags"}})
    assert decode_out(raw.encode()).params == PutParams(additional_tags="tags", tag_prefix="v")


@pytest.mark.parametrize(
    ("mirror", "message"),
    [
        ({}, "source.registry_mirror.host must be specified"),
        ({"host": ""}, "source.registry_mirror.host must be specified"),
        (
            {"host": "https://mirror.example.com"},
            "source.registry_mirror.host: registries must be valid RFC 3986 URI authorities: https://mirror.example.com",
        ),
        (
            {"host": "mirror.example.com/path"},
            "source.registry_mirror.host: registries must be valid RFC 3986 URI authorities: mirror.example.com/path",
        ),
        (
            {"host": "mirror:port"},
            "source.registry_mirror.host: registries must be valid RFC 3986 URI authorities: mirror:port",
        ),
    ],
)
def test_registry_mirror_host_is_validated(mirror: dict[str, str], message: str) -> None:
    assert error_of(decode_check, json.dumps({"source": {"registry_mirror": mirror}})) == message


@pytest.mark.parametrize("host", ["mirror.example.com", "mirror:5000", "[::1]:5000", "docker.io"])
def test_registry_mirror_host_is_kept_as_given(host: str) -> None:
    assert source({"registry_mirror": {"host": host}}).registry_mirror == RegistryMirror(host=host)


@pytest.mark.parametrize(
    "pem",
    [
        "",
        "not a pem",
        KEY,
        "-----BEGIN CERTIFICATE-----\nMIIB\n",
    ],
)
def test_ca_certs_entries_must_hold_a_certificate(pem: str) -> None:
    raw = json.dumps({"source": {"ca_certs": [CERT, pem]}})
    assert error_of(decode_check, raw) == (
        "source.ca_certs[1]: failed to append registry certificate: no PEM certificate found"
    )


def test_ca_certs_may_bundle_several_certificates() -> None:
    assert source({"ca_certs": [CERT + CERT]}).ca_certs == (CERT + CERT,)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"client_cert": CERT}, "source.client_cert and source.client_key must be set together"),
        ({"client_key": KEY}, "source.client_cert and source.client_key must be set together"),
        ({"client_cert": KEY, "client_key": KEY}, "source.client_cert: no PEM certificate found"),
        ({"client_cert": CERT, "client_key": CERT}, "source.client_key: no PEM private key found"),
    ],
)
def test_client_certificate_pair(fields: dict[str, str], message: str) -> None:
    assert error_of(decode_check, json.dumps({"source": fields})) == message


@pytest.mark.parametrize(
    ("trust", "message"),
    [
        ({"repository_key": "k"}, "source.content_trust.repository_key_id must be specified to sign images"),
        ({"repository_key_id": "id"}, "source.content_trust.repository_key must be specified to sign images"),
        (
            {**TRUST, "server": "http://notary:4443"},
            "source.content_trust.server: valid https URL required for trust server, got http://notary:4443",
        ),
        (
            {**TRUST, "server": "notary:4443"},
            "source.content_trust.server: valid https URL required for trust server, got notary:4443",
        ),
        (
            {**TRUST, "tls_cert": "c"},
            "source.content_trust.tls_cert and source.content_trust.tls_key must be set together",
        ),
        (
            {**TRUST, "tls_key": "k"},
            "source.content_trust.tls_cert and source.content_trust.tls_key must be set together",
        ),
    ],
)
def test_content_trust_is_validated(trust: dict[str, str], message: str) -> None:
    assert error_of(decode_out, json.dumps({"source": {"content_trust": trust}})) == message


def test_content_trust_with_server_url() -> None:
    got = source({"content_trust": {**TRUST, "server": "https://notary.example.com:4443/"}}).content_trust
    assert got == ContentTrust(server="https://notary.example.com:4443/", **TRUST)


# --- secrets -------------------------------------------------------------------------------------


def test_secrets_of_lists_every_secret() -> None:
    got = source(
        {
            "password": "p-source",
            "aws_secret_access_key": "p-aws-secret",
            "aws_session_token": "p-aws-token",
            "client_cert": CERT,
            "client_key": KEY,
            "registry_mirror": {"host": "m:5000", "password": "p-mirror"},
            "content_trust": {
                "repository_key_id": "abc",
                "repository_key": "p-repo-key",
                "repository_passphrase": "p-passphrase",
                "tls_cert": "c",
                "tls_key": "p-tls-key",
                "password": "p-notary",
            },
        }
    )
    secrets = secrets_of(got)
    for secret in [
        "p-source",
        "p-aws-secret",
        "p-aws-token",
        KEY,
        "p-mirror",
        "p-repo-key",
        "p-passphrase",
        "p-tls-key",
        "p-notary",
    ]:
        assert secret in secrets


def test_secrets_of_includes_basic_auth_tokens() -> None:
    # base64("user:pass") as an Authorization header would show it
    assert "dXNlcjpwYXNz" in secrets_of(Source(username="user", password="pass"))


def test_secrets_of_includes_each_line_of_a_pem_key_and_its_json_form() -> None:
    secrets = secrets_of(Source(client_cert=CERT, client_key=KEY))
    assert "MHcCAQEEIGNvbmNvdXJzZS10ZXN0LWtleS1ub3QtYS1yZWFsLWtleQ==" in secrets
    assert json.dumps(KEY)[1:-1] in secrets


def test_secrets_of_is_longest_first_and_without_empty_strings() -> None:
    secrets = secrets_of(Source(password="ab", aws_secret_access_key="abcdef"))
    assert "" not in secrets
    assert secrets == sorted(secrets, key=len, reverse=True)


def test_secrets_of_an_anonymous_source_is_empty() -> None:
    assert secrets_of(Source(repository="foo", username="user")) == []


# --- repr never shows a secret -------------------------------------------------------------------


def test_repr_of_models_never_shows_a_secret() -> None:
    trust = ContentTrust(
        repository_key_id="id",
        repository_key="SECRET-1",
        repository_passphrase="SECRET-2",
        tls_key="SECRET-3",
        tls_cert="cert",
        password="SECRET-4",
    )
    mirror = RegistryMirror(host="m", username="u", password="SECRET-5")
    src = Source(
        password="SECRET-6",
        aws_secret_access_key="SECRET-7",
        aws_session_token="SECRET-8",
        client_key="SECRET-9",
        registry_mirror=mirror,
        content_trust=trust,
    )
    text = (
        repr(CheckRequest(src))
        + repr(InRequest(src, Version("t", DIGEST)))
        + repr(OutRequest(src))
        + str(src)
    )
    assert "SECRET" not in text
    assert "repository_key_id='id'" in text


# --- reading stdin -------------------------------------------------------------------------------


class Chunks:
    """A pipe that hands out the given chunks, then blocks (fails the test) if read again."""

    def __init__(self, *chunks: bytes, eof: bool = False) -> None:
        self.chunks = list(chunks)
        self.eof = eof

    def read1(self, size: int) -> bytes:
        if not self.chunks:
            if self.eof:
                return b""
            raise AssertionError("read past the first JSON value")
        return self.chunks.pop(0)


def test_read_request_stops_after_the_first_value() -> None:
    stream = Chunks(b'{"source": {"repo', b'sitory": "foo"}}', b"never read")
    assert read_request(stream) == b'{"source": {"repository": "foo"}}'  # type: ignore[arg-type]
    assert stream.chunks == [b"never read"]


def test_read_request_reads_to_eof_when_the_value_never_completes() -> None:
    assert read_request(Chunks(b'{"source": ', b"{", eof=True)) == b'{"source": {'  # type: ignore[arg-type]


def test_read_request_of_empty_stdin() -> None:
    assert read_request(Chunks(b"  \n", eof=True)) == b"  \n"  # type: ignore[arg-type]


def test_read_request_with_a_multibyte_character_split_across_chunks() -> None:
    raw = '{"source": {"repository": "é"}}'.encode()
    split = raw.index(b"\xa9")
    assert read_request(Chunks(raw[:split], raw[split:])) == raw  # type: ignore[arg-type]
