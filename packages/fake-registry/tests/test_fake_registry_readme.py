"""The README's how-to blocks run as written (```python blocks; ```py ones are illustrations)."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from fake_registry import File, ImageConfig, build_image

README = Path(__file__).parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)
RUNNABLE = [b for b in BLOCKS if "def test_" not in b]


def test_readme_has_blocks():
    assert len(RUNNABLE) >= 7


@pytest.mark.parametrize("block", RUNNABLE, ids=[f"block{i}" for i in range(len(RUNNABLE))])
def test_readme_block_runs(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(block, str(README), "exec"), {"__name__": "readme"})


def readme_pytest_block() -> str:
    [block] = [b for b in BLOCKS if "def test_" in b]
    return block


def test_readme_control_api_curl_block_runs(fake_registry_factory):
    [block] = re.findall(
        r"^```sh\n(# python -m fake_registry serve .*?--control.*?)^```", README.read_text(), re.S | re.M
    )
    reg = fake_registry_factory(control=True)
    done = subprocess.run(
        ["bash", "-e", "-c", block],
        check=False,
        env={**os.environ, "REG": reg.url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    image = build_image(
        [{"etc/motd": "hi\n", "bin/tool": File(b"\x7fELF", mode=0o755)}],
        ImageConfig(cmd=["/bin/tool"], labels={"org.opencontainers.image.version": "1.0"}),
    )
    assert json.loads(lines[0])["digest"] == image.digest
    assert lines[3:5] == ["503", "200"]
    assert json.loads(lines[5])["summary"] == [
        "GET /v2/team/app/manifests/1.0 503",
        "GET /v2/team/app/manifests/1.0 200",
    ]
    assert [r["id"] for r in json.loads(lines[7])["faults"]] == [1, 2, 3]
    assert lines[8:] == ['{"removed":2}', '{"faults":[]}', '{"requests":[],"summary":[]}', "{}"]
    assert (reg.repositories(), reg.faults.rules(), reg.requests.summary()) == ([], [], [])
