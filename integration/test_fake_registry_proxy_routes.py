"""The impersonation proxy routing a public host name to a real registry:2 (plain and TLS)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import requests

from fake_registry import FakeRegistry, build_image, write_oci_layout
from integration.servers import RegistryServer, run_tool, skopeo_copy

IMAGE = build_image([{"routed.txt": b"through the proxy\n"}])


def session(reg: FakeRegistry) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.proxies = {"https": reg.proxy.url}
    s.verify = str(reg.ca_file)
    return s


def test_ghcr_io_routed_to_registry2(registry: RegistryServer, repo_name: str) -> None:
    with FakeRegistry(proxy=True) as front:
        front.proxy.route("ghcr.io", registry.url)
        s = session(front)
        data = b"a blob pushed to ghcr.io"
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        started = s.post(f"https://ghcr.io/v2/{repo_name}/blobs/uploads/")
        assert started.status_code == 202
        # registry:2 builds Location from Host and X-Forwarded-Proto: the impersonated name
        assert started.headers["Location"].startswith(f"https://ghcr.io/v2/{repo_name}/blobs/uploads/")
        done = s.put(started.headers["Location"], params={"digest": digest}, data=data)
        assert done.status_code == 201
        direct = requests.get(f"{registry.url}/v2/{repo_name}/blobs/{digest}")
        assert direct.content == data
        assert front.requests.all() == []
        assert set(front.proxy.connects) == {"ghcr.io:443"}


def test_skopeo_pushes_to_an_ecr_name_landing_in_registry2(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    layout = write_oci_layout(IMAGE, tmp_path / "layout")
    ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    with FakeRegistry(proxy=True) as front:
        front.proxy.route("*.dkr.ecr.*.amazonaws.com", registry.url)
        env = {**os.environ, **front.proxy.env(), "HOME": str(tmp_path)}
        run_tool(
            "skopeo",
            "--insecure-policy",
            "copy",
            "--quiet",
            f"oci:{layout}",
            f"docker://{ecr}/{repo_name}:v1",
            env=env,
        )
        raw = run_tool(
            "skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/{repo_name}:v1"
        )
        assert raw.stdout.encode() == IMAGE.manifest
        assert set(front.proxy.connects) == {f"{ecr}:443"}


def test_route_to_a_tls_upstream_with_its_ca(
    tls_registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    layout = write_oci_layout(IMAGE, tmp_path / "layout")
    skopeo_copy(
        f"oci:{layout}", f"docker://{tls_registry.host}/{repo_name}:v1", *tls_registry.skopeo_args("dest")
    )
    with FakeRegistry(proxy=True) as front:
        front.proxy.route("quay.io", tls_registry.url, ca_file=tls_registry.ca_file)
        r = session(front).get(
            f"https://quay.io/v2/{repo_name}/manifests/v1", headers={"Accept": IMAGE.media_type}
        )
        assert (r.status_code, r.headers["Docker-Content-Digest"]) == (200, IMAGE.digest)
