"""The repository's known-answer vectors (testdata/), shared by every SDK's tests."""

import json
import os

TESTDATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "testdata")


def load(name):
    with open(os.path.join(TESTDATA, name), encoding="utf-8") as f:
        return json.load(f)


def big_contents():
    """The 16 KiB text the contents "BIG" stand for (big_contents_rule)."""
    return "".join(chr(ord("a") + i % 26) for i in range(16384))


def contents_of(case):
    return big_contents() if case["contents"] == "BIG" else case["contents"]
