"""``make demo``: the resource's three steps, end to end, against an embedded fake registry.

1. Packs ``demo/rootfs/`` into a ``docker save`` tarball (one plain layer, a config, and
   ``manifest.json``), the way an image-building task hands one to ``out``.
2. Starts ``fake_registry.FakeRegistry`` on a free loopback port (in a thread of this process).
3. Runs the real CLI, ``registry-image-resource out SRC``, ``check`` and ``in DEST``, each as a
   subprocess with its JSON request on stdin exactly as Concourse does, printing each request,
   the response and the resource's log, and finally the tree ``in`` unpacked.

This script owns the demo only: it never touches anything outside its own temporary directory,
and it stops what it started (the registry and the temporary directory) on success and on error.
Exit 0 when all three steps succeed; 1 with the failing step's error otherwise.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from fake_registry import FakeRegistry

ROOTFS = Path(__file__).resolve().parent / "rootfs"
REPOSITORY = "demo/hello"
MTIME = 1_700_000_000  # fixed, so the image (and its digest) is the same on every machine


class DemoError(Exception):
    """A step failed; the message says which and why."""


def _normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Owner root, fixed time, and modes that do not depend on the checkout's umask."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = MTIME
    if info.isdir() or (info.isfile() and info.mode & stat.S_IXUSR):
        info.mode = 0o755
    elif info.isfile():
        info.mode = 0o644
    return info


def layer_tar(rootfs: Path) -> bytes:
    """The directory as an uncompressed layer, entries sorted, without the root itself."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in sorted(rootfs.rglob("*")):
            archive.add(
                path, arcname=path.relative_to(rootfs).as_posix(), recursive=False, filter=_normalised
            )
    return buffer.getvalue()


def docker_save(rootfs: Path, tarball: Path, repo_tag: str) -> None:
    """Write ``tarball`` in ``docker save`` layout: ``<sha>.json`` config, ``<sha>/layer.tar``,
    ``manifest.json``. Plain layers like this one are gzip-compressed by ``out`` as it pushes."""
    layer = layer_tar(rootfs)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2023-11-14T22:13:20Z",
            "config": {
                "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
                "Cmd": ["/usr/local/bin/hello"],
                "Labels": {"org.opencontainers.image.title": "registry-image-resource demo"},
            },
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        },
        sort_keys=True,
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_name = diff_id.removeprefix("sha256:") + "/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [repo_tag], "Layers": [layer_name]}]).encode()
    with tarfile.open(tarball, "w") as archive:
        for name, data in ((config_name, config), (layer_name, layer), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = MTIME
            archive.addfile(info, io.BytesIO(data))


def resource_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m``."""
    script = Path(sys.executable).with_name("registry-image-resource")
    return [str(script)] if script.exists() else [sys.executable, "-m", "registry_image_resource"]


def child_env() -> dict[str, str]:
    """This environment, with the loopback registry kept away from any configured proxy."""
    env = dict(os.environ)
    no_proxy = [p for p in env.get("NO_PROXY", env.get("no_proxy", "")).split(",") if p]
    env["NO_PROXY"] = env["no_proxy"] = ",".join([*no_proxy, "127.0.0.1", "localhost"])
    return env


def run_step(number: int, title: str, args: list[str], request: dict[str, Any]) -> Any:
    """Run one resource command as Concourse does and print the exchange; the parsed response."""
    argv = [*resource_command(), *args]
    print(f"\n== {number}. {title}", flush=True)
    print(f"$ {' '.join(['registry-image-resource', *args])} < request.json")
    print("request:")
    print(_indent(json.dumps(request, indent=2)))
    result = subprocess.run(
        argv,
        input=json.dumps(request).encode(),
        capture_output=True,
        env=child_env(),
        timeout=120,
        check=False,
    )
    log = result.stderr.decode(errors="replace").rstrip()
    if log:
        print("log (stderr):")
        print(_indent(log))
    if result.returncode != 0:
        last = log.splitlines()[-1] if log else "no output"
        raise DemoError(f"step {number} ({args[0]}) exited {result.returncode}: {last}")
    response = json.loads(result.stdout)
    print("response (stdout):")
    print(_indent(json.dumps(response, indent=2)))
    return response


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def tree(root: Path) -> list[str]:
    """One line per entry under ``root``: mode, size (files), path, and link target (symlinks)."""
    lines = []
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        name = path.relative_to(root).as_posix()
        if stat.S_ISLNK(info.st_mode):
            name += " -> " + os.readlink(path)
        size = str(info.st_size) if stat.S_ISREG(info.st_mode) else ""
        lines.append(f"{stat.filemode(info.st_mode)} {size:>5} {name}")
    return lines


def demo(workdir: Path) -> None:
    src = workdir / "src"
    (src / "image").mkdir(parents=True)
    dest = workdir / "dest"
    dest.mkdir()
    with FakeRegistry() as registry:
        repository = f"{registry.host}/{REPOSITORY}"
        tarball = src / "image" / "image.tar"
        docker_save(ROOTFS, tarball, f"{repository}:latest")
        print(f"fake registry listening on {registry.url} (embedded, in-memory storage)")
        print(f"packed {ROOTFS.relative_to(ROOTFS.parent.parent)}/ as a docker-save tarball: {tarball.name}")
        source = {"repository": repository, "tag": "latest"}

        put = run_step(
            1,
            "out: push the tarball as :latest and :1.0.0",
            ["out", str(src)],
            {"source": source, "params": {"image": "image/image.tar", "version": "1.0.0"}},
        )
        versions = run_step(2, "check: the current version of :latest", ["check"], {"source": source})
        if versions != [put["version"]]:
            raise DemoError(f"check returned {versions}, expected [{put['version']}] (what out pushed)")
        run_step(
            3,
            "in: fetch that version and unpack its rootfs",
            ["in", str(dest)],
            {"source": source, "version": versions[-1], "params": {"format": "rootfs"}},
        )
        print("\nregistry requests:", len(registry.requests.summary()))
    print(f"\n== result: {dest.name}/")
    for name in sorted(p.name for p in dest.iterdir()):
        print(f"    {name}")
    for name in ("metadata.json", "labels.json"):
        print(f"{name}:")
        print(_indent((dest / name).read_text()))
    print("rootfs/:")
    print(_indent("\n".join(tree(dest / "rootfs"))))


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="registry-image-demo-") as workdir:
        try:
            demo(Path(workdir))
        except (DemoError, OSError, subprocess.SubprocessError) as err:
            print(f"\ndemo failed: {err}", file=sys.stderr)
            return 1
    print("\ndemo finished: out, check and in all succeeded.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
