"""``put.run`` before any request: the Go resource's error order (SPEC B.5.1), nothing sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_image_resource.commands import put
from registry_image_resource.commands.put.request import OutRequest, PutParams
from registry_image_resource.errors import ResourceError
from registry_image_resource.protocol.models import Source

# Port 9 (discard) on loopback: any request that did go out would fail with another message.
REPO = "127.0.0.1:9/test/app"


@pytest.mark.parametrize(
    ("source", "params", "message"),
    [
        (
            Source(repository="a"),
            PutParams(version="x"),
            "could not resolve repository: repository must be between 2 and 255 characters in length: a",
        ),
        (Source(repository=REPO), PutParams(version="x", image="nothing"), 'invalid semantic version: "x"'),
        (
            Source(repository=REPO),
            PutParams(version="1.0.0", additional_tags="tags", image="x"),
            'could not parse additional tags: failed to read file at "{src}/tags": '
            "open {src}/tags: no such file or directory",
        ),
        (
            Source(repository=REPO),
            PutParams(image="nothing"),
            "no tag specified - need either 'version:' in params or 'tag:' in source",
        ),
        (Source(repository=REPO, tag="t"), PutParams(image="nothing"), "no files match glob 'nothing'"),
        (
            Source(repository=REPO, tag="t"),
            PutParams(image="empty.tar"),
            "could not load image from path 'empty.tar': loading {src}/empty.tar as tarball: "
            "empty file, not a tarball",
        ),
        # ECR would be the first request; a bad input fails before it.
        (
            Source(repository="app", tag="t", aws_region="eu-west-1"),
            PutParams(image="empty.tar"),
            "could not load image from path 'empty.tar': loading {src}/empty.tar as tarball: "
            "empty file, not a tarball",
        ),
    ],
)
def test_errors_before_any_request(tmp_path: Path, source: Source, params: PutParams, message: str) -> None:
    (tmp_path / "empty.tar").write_bytes(b"")
    with pytest.raises(ResourceError) as err:
        put.run(OutRequest(source=source, params=params), tmp_path)
    assert str(err.value) == message.format(src=tmp_path)


def test_unreachable_registry_after_valid_input(tmp_path: Path) -> None:
    (tmp_path / "layout").mkdir()
    (tmp_path / "layout" / "index.json").write_text('{"schemaVersion":2,"manifests":[]}')
    with pytest.raises(ResourceError) as err:
        put.run(
            OutRequest(source=Source(repository=REPO, tag="t"), params=PutParams(image="layout")), tmp_path
        )
    assert str(err.value).startswith("failed to set repo/auth options: initialize transport: ")
