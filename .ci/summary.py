"""Print one closing line for a whole `make test`: the sum of every pytest run's JUnit report.

tox runs pytest once per environment (unit, integration); each prints its own summary, and tox's
own lines come after them. This adds the one line a reader (or CI) looks for at the very end:
``summary: N passed, N failed, N skipped``. It never decides the exit status: make does.
"""

import sys
import xml.etree.ElementTree as ET


def counts(path: str) -> tuple[int, int, int]:
    """(passed, failed, skipped) from one JUnit XML file; errors count as failures."""
    root = ET.parse(path).getroot()  # noqa: S314 - our own pytest's report
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = failed = skipped = 0
    for suite in suites:
        total += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return total - failed - skipped, failed, skipped


def main(paths: list[str]) -> int:
    passed = failed = skipped = 0
    for path in paths:
        try:
            p, f, s = counts(path)
        except (OSError, ET.ParseError):
            continue  # an environment that did not get to run its tests left no report
        passed, failed, skipped = passed + p, failed + f, skipped + s
    print(f"summary: {passed} passed, {failed} failed, {skipped} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
