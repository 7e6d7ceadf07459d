"""The README's examples run as written: ```python blocks as code, the pytest block as a test file."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)
LIBRARY = [b for b in BLOCKS if "def test_" not in b]


def test_readme_has_a_library_and_a_pytest_block():
    assert (len(LIBRARY), len(BLOCKS)) == (1, 2)


@pytest.mark.parametrize("block", LIBRARY, ids=[f"block{i}" for i in range(len(LIBRARY))])
def test_readme_library_block_runs(block):
    exec(compile(block, str(README), "exec"), {"__name__": "readme"})


def test_readme_pytest_block_passes(tmp_path):
    [block] = [b for b in BLOCKS if "def test_" in b]
    (tmp_path / "test_readme_example.py").write_text(block)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("2 passed")
