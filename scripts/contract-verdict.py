"""Reads schemathesis's JUnit report: prints the operations that only hit tool
errors (one per line) and exits 0 when there are no check failures, 1 otherwise.

A check failure (a 5xx, a response that breaks the schema) always fails the run.
An error is schemathesis or hypothesis failing inside itself; those operations
are run once more, and fail the run if they error again.
"""

import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
failed, errored = [], []
for case in root.iter("testcase"):
    name = case.get("name", "")
    if case.find("failure") is not None:
        failed.append(name)
    elif case.find("error") is not None:
        errored.append(name)
for name in failed:
    print(f"check failure: {name}", file=sys.stderr)
for name in errored:
    print(name)
sys.exit(1 if failed else 0)
