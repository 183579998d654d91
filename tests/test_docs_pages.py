"""Run the ``>>>`` examples of the documentation pages as doctests."""

import doctest
import importlib.util
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
# page -> optional packages its examples import
PAGES = {
    "user_guide.rst": ("pandas",),
    "persistence.rst": ("skops", "skorch"),
    "distributed.rst": ("distributed",),
    "beyond_one_machine.rst": ("distributed", "pandas", "pyarrow"),
    "unlearning.rst": (),
    "performance.rst": (),
}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_examples(page):
    for package in PAGES[page]:
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{page} needs {package}")
    result = doctest.testfile(
        str(DOCS / page),
        module_relative=False,
        optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
        encoding="utf-8",
    )
    assert result.attempted > 0, f"{page} has no examples"
    assert result.failed == 0
