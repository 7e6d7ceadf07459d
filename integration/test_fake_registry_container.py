"""The fake registry's container image (the Dockerfile's ``fake-registry`` target), driven from outside.

Owns building that target offline (as ``test_container.py`` builds the resource: ``--network
none``, ``PIP_NO_INDEX=1``, a wheelhouse built here with only the fake registry's dependencies)
and running it as another project would: ``docker run``, then everything through the control API
and a real client (skopeo) from the host. It must never leave a container or the image behind,
and never reach anything but loopback. Without a Docker engine it skips, except in CI, where it
fails (``test_container.docker``).
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from integration.test_container import (
    BUILD_TIMEOUT,
    CONTEXT_IGNORE,
    REPO_ROOT,
    RUN_TIMEOUT,
    base_image,  # noqa: F401 (a fixture)
    build_image_target,
    docker,  # noqa: F401 (a fixture)
    pip_command,
    run_logged,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(BUILD_TIMEOUT * 2)]


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the ``fake-registry`` target copies, with the wheels it installs from."""
    root = tmp_path_factory.mktemp("fake-registry-context")
    for name in ("Dockerfile", ".dockerignore", "pytest.ini"):
        shutil.copy2(REPO_ROOT / name, root / name)
    shutil.copytree(REPO_ROOT / "container", root / "container", ignore=CONTEXT_IGNORE)
    shutil.copytree(
        REPO_ROOT / "packages" / "fake-registry", root / "packages" / "fake-registry", ignore=CONTEXT_IGNORE
    )
    wheelhouse = root / "container" / "wheelhouse"
    run_logged(
        [
            *pip_command(tmp_path_factory.mktemp("pip")),
            "wheel",
            "--quiet",
            "--wheel-dir",
            str(wheelhouse),
            "hatchling",
            str(root / "packages" / "fake-registry"),
        ],
        root / "wheelhouse.log",
        timeout=BUILD_TIMEOUT,
    )
    for wheel in wheelhouse.glob("fake_registry-*.whl"):
        wheel.unlink()  # the image builds its own from the sources
    return root


@pytest.fixture(scope="module")
def image(docker: str, context: Path, base_image: str | None) -> Iterator[str]:  # noqa: F811
    tag = f"local/fake-registry:test-{secrets.token_hex(4)}"
    build_image_target(docker, context, base_image, "fake-registry", tag)
    try:
        yield tag
    finally:
        subprocess.run([docker, "image", "rm", "--force", tag], capture_output=True, check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def running(docker: str, image: str) -> Iterator[str]:  # noqa: F811
    """The image run with ``--network host`` (CI's engine has no bridge) on a free loopback port;
    its URL once the control API answers."""
    port = free_port()
    name = f"fake-registry-{secrets.token_hex(4)}"
    subprocess.run(
        [
            *(docker, "run", "--detach", "--rm", "--name", name, "--network", "host", image),
            *("serve", "--listen", f"127.0.0.1:{port}", "--control"),
        ],
        check=True,
        capture_output=True,
        timeout=RUN_TIMEOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/_fake/requests", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                logs = subprocess.run([docker, "logs", name], capture_output=True, text=True, check=False)
                pytest.fail(f"the container never answered:\n{logs.stdout}{logs.stderr}", pytrace=False)
            time.sleep(0.1)
        yield url
    finally:
        subprocess.run([docker, "stop", "--time", "10", name], capture_output=True, check=False, timeout=60)


def test_the_image_runs_without_root_on_port_5000_with_the_control_api(docker: str, image: str) -> None:  # noqa: F811
    inspect = subprocess.run(
        [docker, "image", "inspect", "--format", "{{json .Config}}", image],
        capture_output=True,
        text=True,
        check=True,
    )
    config = json.loads(inspect.stdout)
    assert (config["User"], config["ExposedPorts"]) == ("65534:65534", {"5000/tcp": {}})
    assert config["Entrypoint"] + config["Cmd"] == [
        "/opt/fake-registry/bin/python3",
        "-m",
        "fake_registry",
        "serve",
        "--listen",
        "0.0.0.0:5000",
        "--control",
    ]


def test_seed_inject_a_503_pull_with_skopeo_and_read_the_log(running: str, tmp_path: Path) -> None:
    if shutil.which("skopeo") is None:
        pytest.fail("skopeo is not installed (apt-get install skopeo)", pytrace=False)
    seeded = requests.post(
        f"{running}/_fake/images",
        json={"repository": "team/app", "tag": "1.0", "layers": [{"hello.txt": "hi from the container\n"}]},
        timeout=10,
    )
    assert seeded.status_code == 201
    fault = requests.post(
        f"{running}/_fake/faults",
        json={"status": 503, "path": "/manifests/1.0$", "method": "GET", "retry_after": 0},
        timeout=10,
    )
    assert fault.json()["remaining"] == 1
    host = running.removeprefix("http://")

    def pull() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                *("skopeo", "--insecure-policy", "copy", "--src-tls-verify=false"),
                *(f"docker://{host}/team/app:1.0", f"oci:{tmp_path / 'layout'}:1.0"),
            ],
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )

    failed = pull()  # skopeo does not retry a 503: the first pull fails, as a CI job would
    assert failed.returncode == 1
    assert (
        "reading manifest 1.0 in " + host + "/team/app: received unexpected HTTP status: 503" in failed.stderr
    )
    done = pull()
    assert done.returncode == 0, done.stderr
    index = json.loads((tmp_path / "layout" / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [seeded.json()["digest"]]
    summary = requests.get(f"{running}/_fake/requests", params={"path": "/manifests/"}, timeout=10).json()[
        "summary"
    ]
    assert summary[:2] == ["GET /v2/team/app/manifests/1.0 503", "GET /v2/team/app/manifests/1.0 200"]
    [rule] = requests.get(f"{running}/_fake/faults", timeout=10).json()["faults"]
    assert (rule["hits"], rule["remaining"]) == (1, 0)
