"""Run the docstring examples of the evaluation modules as tests."""

import doctest
import importlib

import pytest

MODULES = [
    "skdpa.certify",
    "skdpa.metrics",
    "skdpa.plotting",
    "skdpa.datasets",
    "skdpa.cli",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    if name == "skdpa.plotting":
        pytest.importorskip("matplotlib")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    if name != "skdpa.cli":  # the command's example is skipped (it writes files)
        assert result.attempted > 0
