"""The resource's registry client against the real registry:2 (plain, htpasswd, TLS with ca_certs)."""

from __future__ import annotations

import io

import pytest

from fake_registry import Image, ImageConfig, Index, build_image, build_index, write_oci_layout
from integration.servers import RegistryServer, skopeo_copy
from registry_image_resource.errors import AuthError, IntegrityError, RegistryError, TransportError
from registry_image_resource.registry.client import ConnectOptions, RegistryClient
from registry_image_resource.registry.manifests import OCI_INDEX, OCI_MANIFEST
from registry_image_resource.registry.reference import Repository

ENV = {"TEST": "true"}
VARIANTS = ["registry", "auth_registry", "tls_registry"]


def options_for(server: RegistryServer, **overrides) -> ConnectOptions:
    values = {
        "username": server.username or "",
        "password": server.password or "",
        "ca_certs": (server.ca_pem,) if server.ca_pem else (),
    }
    values.update(overrides)
    return ConnectOptions(**values)


def connect(server: RegistryServer, repo: str, actions: str = "pull", **overrides) -> RegistryClient:
    return RegistryClient.connect(
        Repository(server.host, repo), options_for(server, **overrides), actions, env=ENV
    )


def push(server: RegistryServer, repo: str, item: Image | Index, *tags: str) -> str:
    """Push an image or index with the resource's own client; returns its digest."""
    images = item.children if isinstance(item, Index) else (item,)
    with connect(server, repo, "push,pull") as client:
        for image in images:
            assert isinstance(image, Image)
            for digest, data in image.blobs().items():
                if not client.blob_exists(digest):
                    client.upload_blob(digest, len(data), lambda data=data: io.BytesIO(data))
            client.put_manifest(image.digest, image.manifest, image.media_type)
        if isinstance(item, Index):
            client.put_manifest(item.digest, item.manifest, item.media_type)
        for tag in tags:
            client.put_manifest(tag, item.manifest, item.media_type)
    return item.digest


def image(content: str, *, docker: bool = False, **config) -> Image:
    return build_image(
        [{"content.txt": content.encode()}], ImageConfig(**config), format="docker" if docker else "oci"
    )


@pytest.fixture(params=VARIANTS)
def server(request: pytest.FixtureRequest) -> RegistryServer:
    return request.getfixturevalue(request.param)


def test_head_manifest_pushed_by_skopeo(server: RegistryServer, repo_name: str, tmp_path) -> None:
    built = image("skopeo")
    layout = write_oci_layout(built, tmp_path / "layout", "v1")
    skopeo_copy(
        f"oci:{layout}:v1", f"docker://{server.repository(repo_name)}:v1", *server.skopeo_args("dest")
    )
    with connect(server, repo_name) as client:
        assert client.head_or_get_digest("v1") == built.digest
        assert client.head_or_get_digest("missing") is None
        assert client.base_url == server.url


def test_push_and_read_back(server: RegistryServer, repo_name: str) -> None:
    built = image("round trip")
    push(server, repo_name, built, "1.0")
    with connect(server, repo_name) as client:
        manifest = client.get_manifest("1.0")
        assert (manifest.digest, manifest.media_type, manifest.body) == (
            built.digest,
            OCI_MANIFEST,
            built.manifest,
        )
        layer = built.layers[0]
        with client.open_blob(layer.digest, len(layer.data)) as reader:
            assert reader.read() == layer.data
        assert client.fetch_blob(built.config_digest) == built.config
        assert client.list_tags() == ["1.0"]


def test_index_digest_is_the_index(registry: RegistryServer, repo_name: str) -> None:
    index = build_index(
        [image("amd", architecture="amd64"), image("arm", architecture="arm64", variant="v8")]
    )
    push(registry, repo_name, index, "multi")
    with connect(registry, repo_name) as client:
        assert client.head_or_get_digest("multi") == index.digest
        manifest = client.get_manifest(index.digest)
        assert (manifest.media_type, manifest.digest) == (OCI_INDEX, index.digest)


def test_tag_list(registry: RegistryServer, repo_name: str) -> None:
    # registry:2 (2.8) answers the whole list whatever ``n`` says, so pagination itself is
    # covered by the unit tests against a scripted server.
    built = image("listed")
    push(registry, repo_name, built, "b", "a", "c")
    with connect(registry, repo_name) as client:
        assert client.list_tags() == ["a", "b", "c"]
        assert client.requests_sent == 3  # ping tried over HTTPS first, then HTTP; one page


def test_mount_blob_from_another_repository(server: RegistryServer, repo_name: str) -> None:
    built = image("mount me")
    push(server, repo_name, built, "x")
    target = repo_name + "-copy"
    with connect(server, target, "push,pull") as client:
        assert client.mount_blob(built.config_digest, Repository(server.host, repo_name)) is True
        assert client.blob_exists(built.config_digest) is True


def test_put_manifest_with_missing_blob_names_the_code(registry: RegistryServer, repo_name: str) -> None:
    built = image("no blobs")
    with connect(registry, repo_name, "push,pull") as client, pytest.raises(RegistryError) as caught:
        client.put_manifest("x", built.manifest, built.media_type)
    assert caught.value.status == 400
    assert caught.value.code == "MANIFEST_BLOB_UNKNOWN"
    assert str(caught.value).startswith(
        f"PUT {registry.url}/v2/{repo_name}/manifests/x: 400 Bad Request: MANIFEST_BLOB_UNKNOWN: "
    )


def test_upload_with_wrong_digest_is_refused(registry: RegistryServer, repo_name: str) -> None:
    wrong = "sha256:" + "0" * 64
    with connect(registry, repo_name, "push,pull") as client, pytest.raises(RegistryError) as caught:
        client.upload_blob(wrong, 5, lambda: io.BytesIO(b"hello"))
    assert (caught.value.status, caught.value.code) == (400, "DIGEST_INVALID")


def test_blob_digest_is_verified(registry: RegistryServer, repo_name: str) -> None:
    built = image("verify")
    push(registry, repo_name, built, "x")
    layer = built.layers[0]
    with connect(registry, repo_name) as client:
        reader = client.open_blob(layer.digest, len(layer.data) + 1)
        with pytest.raises(IntegrityError) as caught:
            reader.read()
    assert str(caught.value) == (
        f"blob {layer.digest}: size {len(layer.data)} does not match the expected size {len(layer.data) + 1}"
    )


def test_wrong_password(auth_registry: RegistryServer, repo_name: str) -> None:
    client = connect(auth_registry, repo_name, password="wrong")
    with client, pytest.raises(RegistryError) as caught:
        client.list_tags()
    assert caught.value.status == 401
    assert caught.value.code == "UNAUTHORIZED"


def test_anonymous_against_htpasswd_registry(auth_registry: RegistryServer, repo_name: str) -> None:
    client = connect(auth_registry, repo_name, username="", password="")
    with client, pytest.raises(RegistryError) as caught:
        client.list_tags()
    assert (caught.value.status, caught.value.code) == (401, "UNAUTHORIZED")
    assert not isinstance(caught.value, AuthError)


def test_tls_without_ca_certs_fails(tls_registry: RegistryServer, repo_name: str) -> None:
    with pytest.raises(TransportError) as caught:
        connect(tls_registry, repo_name, ca_certs=())
    assert "certificate verify failed" in str(caught.value)
    assert str(caught.value).startswith(f"initialize transport: GET https://{tls_registry.host}/v2/: ")


def test_tls_insecure_skips_verification(tls_registry: RegistryServer, repo_name: str) -> None:
    with connect(tls_registry, repo_name, ca_certs=(), insecure=True) as client:
        assert client.base_url == tls_registry.url
