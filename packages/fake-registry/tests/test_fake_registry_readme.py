"""The README's how-to blocks run as written (```python blocks; ```py ones are illustrations)."""

import re
from pathlib import Path

import pytest

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
