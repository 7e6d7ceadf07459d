"""The resource image: built from the Dockerfile and run the way Concourse runs it.

Owns building the Dockerfile's ``resource`` and ``tests`` targets and running ``/opt/resource/out``,
``check`` and ``in`` in containers (``docker run --network host``, request JSON on stdin) against
the loopback ``registry`` fixture. The build never touches the network: it runs with
``--network none`` and ``PIP_NO_INDEX=1`` in a temporary build context whose
``container/wheelhouse/`` holds wheels built here on the host (the host's Python minor version must
match the base image's). ``RESOURCE_BASE_IMAGE`` names a local base image (CI imports a Debian
rootfs as ``local/debian-python:bookworm``); without it the Dockerfile's default is used, which
Docker pulls if it can.

It must never leave a container (``docker run --rm``) or the images it tagged behind, and never
reach anything but loopback. Without a Docker engine it skips, except in CI
(``CI=true`` and ``REQUIRE_REAL_SERVERS=1``), where it fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fake_registry import Dir, File, Image, ImageConfig, Symlink, build_image, write_oci_layout
from integration import servers
from integration.servers import RegistryServer

REPO_ROOT = Path(__file__).resolve().parent.parent
# what the Dockerfile copies (see .dockerignore), relative to the repository root
CONTEXT_FILES = ("Dockerfile", ".dockerignore", "pytest.ini")
CONTEXT_DIRS = ("container", "packages")
CONTEXT_IGNORE = shutil.ignore_patterns(
    "__pycache__", "*.pyc", "*.egg-info", ".pytest_cache", ".mypy_cache", ".ruff_cache", "*.whl"
)
OUR_PACKAGES = ("packages/resource", "packages/fake-registry", "packages/notary-stub")
BUILD_TIMEOUT = 900
RUN_TIMEOUT = 120
NOBODY = "65534:65534"

pytestmark = [pytest.mark.docker, pytest.mark.timeout(BUILD_TIMEOUT * 2)]


def engine_required() -> bool:
    """CI must run these; a developer without Docker skips them."""
    required = os.environ.get("REQUIRE_REAL_SERVERS", "").strip().lower() in ("1", "true", "yes")
    in_ci = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
    return required and in_ci


@pytest.fixture(scope="module")
def docker() -> str:
    """The docker CLI, once an engine answers (``DOCKER_HOST`` or the default socket)."""
    cli = shutil.which("docker")
    reason = None
    if cli is None:
        reason = "no docker CLI on PATH (apt-get install docker.io)"
    elif not servers.docker_reachable():
        reason = f"no Docker engine answers at {os.environ.get('DOCKER_HOST', 'the default socket')}"
    if reason is not None or cli is None:
        if engine_required():
            pytest.fail(f"CI=true and REQUIRE_REAL_SERVERS=1 but {reason}", pytrace=False)
        pytest.skip(str(reason))
    return cli


def run_logged(argv: list[str], log: Path, *, timeout: float) -> None:
    """Run a build step with its output in ``log``; fail the test with the log's tail."""
    with log.open("wb") as out:
        result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False)
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        pytest.fail(f"{' '.join(argv)} exited {result.returncode}:\n{tail}", pytrace=False)


def pip_command(scratch: Path) -> list[str]:
    """pip for this interpreter: its own, or (tox-uv envs have none) a throwaway venv's."""
    pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, check=False)
    if pip.returncode == 0:
        return [sys.executable, "-m", "pip"]
    venv = scratch / "venv"
    run_logged([sys.executable, "-m", "venv", str(venv)], scratch / "venv.log", timeout=RUN_TIMEOUT)
    return [str(venv / "bin" / "python"), "-m", "pip"]


@pytest.fixture(scope="module")
def build_context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of what the Dockerfile needs, with the wheels for an offline build."""
    context = tmp_path_factory.mktemp("docker-context")
    for name in CONTEXT_FILES:
        shutil.copy2(REPO_ROOT / name, context / name)
    for name in CONTEXT_DIRS:
        shutil.copytree(REPO_ROOT / name, context / name, ignore=CONTEXT_IGNORE)
    wheelhouse = context / "container" / "wheelhouse"
    run_logged(
        [
            *pip_command(tmp_path_factory.mktemp("pip")),
            "wheel",
            "--quiet",
            "--wheel-dir",
            str(wheelhouse),
            "hatchling",  # the build backend, for the wheels the image builds itself
            *(str(context / package) for package in OUR_PACKAGES),
            "--requirement",
            str(context / "container" / "requirements-tests.txt"),
        ],
        context / "wheelhouse.log",
        timeout=BUILD_TIMEOUT,
    )
    for ours in ("registry_image_resource-", "fake_registry-", "notary_stub-"):
        for wheel in wheelhouse.glob(f"{ours}*.whl"):
            wheel.unlink()  # the image builds its own from the sources
    return context


def builder_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="module")
def base_image(docker: str) -> str | None:
    """``RESOURCE_BASE_IMAGE`` (None: the Dockerfile's default), once it exists.

    CI builds it in the background while the other tests run (``.ci/run``) and names the
    builder's PID in ``RESOURCE_BASE_IMAGE_BUILDER_PID``: this waits while that process runs.
    """
    name = os.environ.get("RESOURCE_BASE_IMAGE", "").strip() or None
    if name is None:
        return None
    builder = os.environ.get("RESOURCE_BASE_IMAGE_BUILDER_PID", "").strip()
    deadline = time.monotonic() + BUILD_TIMEOUT
    while True:
        found = subprocess.run([docker, "image", "inspect", name], capture_output=True, check=False)
        if found.returncode == 0:
            return name
        if not builder or not builder_running(int(builder)) or time.monotonic() > deadline:
            pytest.fail(f"base image {name} not found (RESOURCE_BASE_IMAGE); see .ci/build-images")
        time.sleep(1)


def build_image_target(docker: str, context: Path, base: str | None, target: str, tag: str) -> None:
    argv = [docker, "build", "--network", "none", "--build-arg", "PIP_NO_INDEX=1"]
    if base is not None:
        argv += ["--build-arg", f"base_image={base}"]
    argv += ["--target", target, "--tag", tag, str(context)]
    run_logged(argv, context.parent / f"build-{target}-{tag.rsplit(':', 1)[-1]}.log", timeout=BUILD_TIMEOUT)


@pytest.fixture(scope="module")
def resource_image(docker: str, build_context: Path, base_image: str | None) -> Iterator[str]:
    """The ``resource`` target, tagged uniquely for this session and removed afterwards."""
    tag = f"local/registry-image-resource:test-{secrets.token_hex(4)}"
    build_image_target(docker, build_context, base_image, "resource", tag)
    try:
        yield tag
    finally:
        subprocess.run([docker, "image", "rm", "--force", tag], capture_output=True, check=False)


@dataclass(frozen=True, slots=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.returncode == 0, f"exit {self.returncode}, stderr:\n{self.stderr}"
        return json.loads(self.stdout)


def run_resource(
    docker: str,
    image: str,
    command: str,
    request: dict[str, Any],
    directory: Path | None = None,
    *,
    user: str | None = None,
) -> Run:
    """``/opt/resource/<command> [DIR]`` as Concourse runs it: request on stdin, DIR mounted."""
    argv = [docker, "run", "--rm", "--interactive", "--network", "host"]
    if user is not None:
        argv += ["--user", user]
    args: list[str] = []
    if directory is not None:
        inside = f"/tmp/build/{command}"
        argv += ["--volume", f"{directory}:{inside}"]
        args = [inside]
    argv += [image, f"/opt/resource/{command}", *args]
    result = subprocess.run(
        argv, input=json.dumps(request), capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
    )
    return Run(result.returncode, result.stdout, result.stderr)


def tiny_image() -> Image:
    return build_image(
        [
            {
                "etc": Dir(),
                "etc/hello": File(b"hello from a container\n", mode=0o640, uid=1000, gid=1000),
                "bin": Dir(),
                "bin/sh": Symlink("busybox"),
            },
            {"etc/motd": b"layer two\n"},
        ],
        ImageConfig(cmd=["/bin/sh"], labels={"org.example.test": "container"}),
    )


@dataclass(frozen=True, slots=True)
class Pushed:
    repository: str
    digest: str
    out: Run


@pytest.fixture(scope="module")
def pushed(
    docker: str, resource_image: str, registry: RegistryServer, tmp_path_factory: pytest.TempPathFactory
) -> Pushed:
    """``out`` of an OCI layout (one image, so its index is what gets pushed) as tag ``v1``."""
    src = tmp_path_factory.mktemp("put")
    layout = write_oci_layout(tiny_image(), src / "image", "v1")
    repository = registry.repository(f"test/container-{secrets.token_hex(4)}")
    request = {"source": {"repository": repository, "tag": "v1"}, "params": {"image": "image"}}
    out = run_resource(docker, resource_image, "out", request, src)
    digest = "sha256:" + hashlib.sha256((layout / "index.json").read_bytes()).hexdigest()
    return Pushed(repository=repository, digest=digest, out=out)


def tree(root: Path) -> dict[str, tuple[str, int, int, int, str]]:
    """path -> (type, mode, uid, gid, content or link target) for everything under ``root``."""
    entries = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            entry = ("symlink", 0, info.st_uid, info.st_gid, os.readlink(path))
        elif path.is_dir():
            entry = ("dir", info.st_mode & 0o7777, info.st_uid, info.st_gid, "")
        else:
            entry = ("file", info.st_mode & 0o7777, info.st_uid, info.st_gid, path.read_text())
        entries[path.relative_to(root).as_posix()] = entry
    return entries


def test_out_pushes_an_oci_layout(pushed: Pushed) -> None:
    assert pushed.out.json() == {
        "version": {"tag": "v1", "digest": pushed.digest},
        "metadata": [
            {"name": "repository", "value": pushed.repository},
            {"name": "tags", "value": "v1"},
        ],
    }


def test_check_with_tag_finds_the_pushed_digest(docker: str, resource_image: str, pushed: Pushed) -> None:
    request = {"source": {"repository": pushed.repository, "tag": "v1"}}

    result = run_resource(docker, resource_image, "check", request)

    assert result.json() == [{"tag": "v1", "digest": pushed.digest}]


def test_in_writes_the_rootfs_and_version_files(
    docker: str, resource_image: str, pushed: Pushed, tmp_path: Path
) -> None:
    request = {
        "source": {"repository": pushed.repository},
        "version": {"tag": "v1", "digest": pushed.digest},
    }

    result = run_resource(docker, resource_image, "in", request, tmp_path)

    assert (result.json(), tree(tmp_path)) == (
        {
            "version": {"tag": "v1", "digest": pushed.digest},
            "metadata": [
                {"name": "repository", "value": pushed.repository},
                {"name": "tag", "value": "v1"},
            ],
        },
        {
            "digest": ("file", 0o644, 0, 0, pushed.digest),
            "labels.json": ("file", 0o644, 0, 0, '{"org.example.test":"container"}\n'),
            "metadata.json": (
                "file",
                0o644,
                0,
                0,
                '{"cmd":["/bin/sh"],"entrypoint":null,"env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"user":""}\n',
            ),
            "repository": ("file", 0o644, 0, 0, pushed.repository),
            "rootfs": ("dir", 0o755, 0, 0, ""),
            "rootfs/bin": ("dir", 0o755, 0, 0, ""),
            "rootfs/bin/sh": ("symlink", 0, 0, 0, "busybox"),
            "rootfs/etc": ("dir", 0o755, 0, 0, ""),
            "rootfs/etc/hello": ("file", 0o640, 1000, 1000, "hello from a container\n"),
            "rootfs/etc/motd": ("file", 0o644, 0, 0, "layer two\n"),
            "tag": ("file", 0o644, 0, 0, "v1"),
        },
    )


def test_in_runs_as_a_non_root_user(docker: str, resource_image: str, pushed: Pushed, tmp_path: Path) -> None:
    """Without root, ownership is not restored: everything belongs to the user running it."""
    dest = tmp_path / "get"
    dest.mkdir(mode=0o777)
    dest.chmod(0o777)
    request = {
        "source": {"repository": pushed.repository},
        "version": {"tag": "v1", "digest": pushed.digest},
    }

    result = run_resource(docker, resource_image, "in", request, dest, user=NOBODY)

    owners = {(entry[2], entry[3]) for entry in tree(dest).values()}
    assert (result.json()["version"], (dest / "rootfs/etc/hello").read_text(), owners) == (
        {"tag": "v1", "digest": pushed.digest},
        "hello from a container\n",
        {(65534, 65534)},
    )


def test_tests_target_runs_the_unit_tests(docker: str, build_context: Path, base_image: str | None) -> None:
    """The ``tests`` target builds only when the resource's unit tests pass inside the image."""
    tag = f"local/registry-image-resource-tests:test-{secrets.token_hex(4)}"
    try:
        build_image_target(docker, build_context, base_image, "tests", tag)
    finally:
        subprocess.run([docker, "image", "rm", "--force", tag], capture_output=True, check=False)
