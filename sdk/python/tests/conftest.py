"""Shared fixtures: the repository's known-answer vectors (testdata/)."""

import json
import os

import pytest

TESTDATA = os.path.join(os.path.dirname(__file__), "..", "..", "..", "testdata")


def load(name):
    with open(os.path.join(TESTDATA, name), encoding="utf-8") as f:
        return json.load(f)


def big_contents():
    return "".join(chr(ord("a") + i % 26) for i in range(16384))


def contents_of(case):
    return big_contents() if case["contents"] == "BIG" else case["contents"]


@pytest.fixture(scope="session")
def vectors():
    return load


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    from hub import Hub
    h = Hub(str(tmp_path_factory.mktemp("hub")))
    yield h
    h.stop()
