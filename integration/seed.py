"""Pushing images built with ``fake_registry``'s builders to a real registry over the API.

Owns the few requests a test needs to seed ``registry:2`` (monolithic blob upload, manifest PUT,
children before their index) without going through the resource under test or skopeo. It must
never be used against anything but a loopback test registry.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from fake_registry import Image, Index
from integration.servers import RegistryServer


def _session(registry: RegistryServer) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = registry.verify
    session.auth = registry.request_auth
    return session


def push_blob(
    session: requests.Session, registry: RegistryServer, repo: str, digest: str, data: bytes
) -> None:
    start = session.post(f"{registry.url}/v2/{repo}/blobs/uploads/", timeout=30)
    start.raise_for_status()
    location = start.headers["Location"]
    if location.startswith("/"):
        location = registry.url + location
    separator = "&" if "?" in location else "?"
    done = session.put(
        f"{location}{separator}digest={digest}",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
        timeout=60,
    )
    done.raise_for_status()


def push_manifest(
    session: requests.Session, registry: RegistryServer, repo: str, ref: str, body: bytes, media_type: str
) -> None:
    response = session.put(
        f"{registry.url}/v2/{repo}/manifests/{ref}",
        data=body,
        headers={"Content-Type": media_type},
        timeout=30,
    )
    response.raise_for_status()


def push(registry: RegistryServer, repo: str, item: Image | Index, tag: str | None = "latest") -> str:
    """Push ``item`` (blobs, children, then itself) as ``repo:tag``; returns its digest."""
    with _session(registry) as session:
        _push(session, registry, repo, item)
        if tag is not None:
            push_manifest(session, registry, repo, tag, item.manifest, item.media_type)
    return item.digest


def _push(session: requests.Session, registry: RegistryServer, repo: str, item: Image | Index) -> None:
    if isinstance(item, Index):
        for child in item.children:
            _push(session, registry, repo, child)
    else:
        for digest, data in item.blobs().items():
            push_blob(session, registry, repo, digest, data)
    push_manifest(session, registry, repo, item.digest, item.manifest, item.media_type)


def run_in(
    dest: Path,
    source: dict[str, Any],
    version: dict[str, str],
    params: dict[str, Any] | None = None,
    *,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """``python -m registry_image_resource in DEST`` exactly as Concourse runs it."""
    document = {"source": source, "version": version, "params": params or {}}
    result = subprocess.run(
        [sys.executable, "-m", "registry_image_resource", "in", str(dest)],
        input=json.dumps(document),
        capture_output=True,
        text=True,
        timeout=300,
        env={"TEST": "true", "PATH": "/usr/bin:/bin", "HOME": str(dest.parent)},
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"in exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result
