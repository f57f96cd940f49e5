"""The cross-SDK test runs from sdk/cross with the Python SDK and its test helpers on the path."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "python", "src"),
                os.path.join(HERE, "..", "python", "tests")]

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    from hub import Hub
    h = Hub(str(tmp_path_factory.mktemp("hub")))
    yield h
    h.stop()
