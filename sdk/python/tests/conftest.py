"""Shared fixtures: the package from this checkout, and a real hub per test module."""

import os
import sys

import pytest

# The package from this checkout (src layout), installed or not.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    from hub import Hub
    h = Hub(str(tmp_path_factory.mktemp("hub")))
    yield h
    h.stop()
