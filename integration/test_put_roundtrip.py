"""``in`` with ``format: oci-layout`` then ``out`` of the result keeps the digest; re-pushes upload
nothing; blobs ``in`` fetched from a repository of the same registry are mounted, not uploaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from fake_registry import FakeRegistry, Image, ImageConfig, Index, build_image, build_index, write_oci_layout
from integration.servers import RegistryServer, run_tool, skopeo_copy


def run_resource(command: str, directory: Path, request: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "registry_image_resource", command, str(directory)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env={**os.environ, "TEST": "true"},
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def image(name: str, architecture: str = "amd64") -> Image:
    return build_image(
        [{"etc/name": name.encode()}, {"usr/share/" + name: b"x" * 5000}],
        ImageConfig(architecture=architecture),
    )


def seed(server: RegistryServer, repo: str, tag: str, item: Image | Index, workdir: Path) -> None:
    layout = write_oci_layout(item, workdir / "seed", tag)
    skopeo_copy(
        f"oci:{layout}:{tag}",
        f"docker://{server.repository(repo)}:{tag}",
        "--all",
        *server.skopeo_args("dest"),
    )


def raw_manifest(server: RegistryServer, reference: str) -> bytes:
    return run_tool(
        "skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{reference}"
    ).stdout.encode()


def get_then_put(
    server: RegistryServer, source_repo: str, target_repo: str, tag: str, digest: str, workdir: Path
) -> tuple[dict[str, Any], str]:
    dest = workdir / "get"
    dest.mkdir()
    run_resource(
        "in",
        dest,
        {
            "source": {"repository": server.repository(source_repo)},
            "version": {"tag": tag, "digest": digest},
            "params": {"format": "oci-layout"},
        },
    )
    result = run_resource(
        "out",
        workdir,
        {
            "source": {"repository": server.repository(target_repo), "tag": tag, "debug": True},
            "params": {"image": "get/oci"},
        },
    )
    return json.loads(result.stdout), result.stderr


def test_get_oci_layout_then_put_keeps_the_index_digest(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    index = build_index([image("amd", "amd64"), image("arm", "arm64")])
    seed(registry, repo_name, "multi", index, tmp_path)

    answer, stderr = get_then_put(registry, repo_name, repo_name + "-copy", "multi", index.digest, tmp_path)

    assert answer["version"] == {"tag": "multi", "digest": index.digest}
    assert raw_manifest(registry, registry.repository(repo_name + "-copy") + ":multi") == index.manifest
    # Every blob came from the repository `in` read (its `repository` file): mounted, none uploaded.
    assert "pushed blob:" not in stderr
    assert stderr.count("mounted blob:") == 6


def test_get_oci_layout_then_put_keeps_the_image_digest(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    single = image("single")
    seed(registry, repo_name, "one", single, tmp_path)

    answer, _ = get_then_put(registry, repo_name, repo_name + "-copy", "one", single.digest, tmp_path)

    assert answer["version"] == {"tag": "one", "digest": single.digest}
    assert raw_manifest(registry, registry.repository(repo_name + "-copy") + ":one") == single.manifest


def test_repush_uploads_no_blob(fake_registry: FakeRegistry, tmp_path: Path) -> None:
    write_oci_layout(
        build_index([image("amd", "amd64"), image("arm", "arm64")]), tmp_path / "layout", "latest"
    )
    source = {"repository": f"{fake_registry.host}/team/app"}
    run_resource("out", tmp_path, {"source": {**source, "tag": "first"}, "params": {"image": "layout"}})
    assert len(fake_registry.requests.find("POST", "/v2/team/app/blobs/uploads/")) == 6
    fake_registry.requests.clear()

    run_resource("out", tmp_path, {"source": {**source, "tag": "second"}, "params": {"image": "layout"}})

    methods = sorted(
        {(r.method, r.path.split("/")[4]) for r in fake_registry.requests if r.path.startswith("/v2/team/")}
    )
    assert methods == [("HEAD", "blobs"), ("PUT", "manifests")]
    assert len(fake_registry.requests.find("HEAD", "/v2/team/app/blobs/")) == 6
    assert sorted(fake_registry.tags("team/app")) == ["first", "second"]


def test_get_oci_tarball_then_put_mounts_every_blob(
    registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    single = image("tarball")
    seed(registry, repo_name, "one", single, tmp_path)
    dest = tmp_path / "get"
    dest.mkdir()
    run_resource(
        "in",
        dest,
        {
            "source": {"repository": registry.repository(repo_name)},
            "version": {"tag": "one", "digest": single.digest},
            "params": {"format": "oci"},
        },
    )
    result = run_resource(
        "out",
        tmp_path,
        {
            "source": {"repository": registry.repository(repo_name + "-copy"), "tag": "one", "debug": True},
            "params": {"image": "get/image.tar"},
        },
    )
    manifest = json.loads(raw_manifest(registry, registry.repository(repo_name + "-copy") + ":one"))
    assert manifest["config"]["digest"] == single.config_digest
    assert [layer["digest"] for layer in manifest["layers"]] == [layer.digest for layer in single.layers]
    assert "pushed blob:" not in result.stderr
    assert result.stderr.count("mounted blob:") == 3
