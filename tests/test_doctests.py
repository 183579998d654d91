"""Run the docstring examples of every module of src/skdpa as tests."""

import doctest
import importlib
import pkgutil

import pytest

import skdpa


def _modules():
    names = ["skdpa"]
    for info in pkgutil.walk_packages(skdpa.__path__, prefix="skdpa."):
        names.append(info.name)
    return sorted(names)


MODULES = _modules()
# modules whose only examples write files or need data that may be absent
NO_EXAMPLES_REQUIRED = {"skdpa.cli"}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    if name.startswith("skdpa.torch"):
        pytest.importorskip("torch")
        pytest.importorskip("skorch")
    if name == "skdpa.plotting":
        pytest.importorskip("matplotlib")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_every_public_module_has_examples():
    """Public modules (no leading underscore) show how they are used."""
    for name in MODULES:
        if name.split(".")[-1].startswith("_") or name in NO_EXAMPLES_REQUIRED:
            continue
        if name.startswith("skdpa.torch"):
            continue  # checked where torch is installed, by the test above
        module = importlib.import_module(name)
        finder = doctest.DocTestFinder()
        examples = sum(len(t.examples) for t in finder.find(module))
        assert examples > 0, f"{name} has no docstring examples"
