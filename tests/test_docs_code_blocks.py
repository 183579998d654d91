"""Every Python code block of the README and the documentation pages runs as
written, in the environment the README's first command builds.

``pip install -e ".[plot]"`` installs scikit-dpa, NumPy, scikit-learn and
matplotlib, and nothing else: each page's blocks run in one fresh interpreter,
in order, with every other optional package (pandas, torch, dask, skops, ...)
made unimportable. A block that needs one says so on the line before it,
and runs where that package is installed (it is skipped, with the reason,
where not):

- reStructuredText: ``.. docs-test: needs torch skorch``
- Markdown: ``<!-- docs-test: needs torch skorch -->``

A block that cannot run in a test (it needs a data set that is not bundled
and minutes of CPU) says so, with the reason:
``.. docs-test: skip -- needs the Fashion-MNIST files; fits 250 CNNs``.

Blocks written as ``>>>`` doctests are run by ``test_docs_pages.py``.
A Python-looking ``::`` literal block would escape this test, so that is
refused too: code goes into ``.. code-block:: python``.
"""

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# Optional packages: not installed by `pip install -e ".[plot]"`.
OPTIONAL = (
    "pandas",
    "pyarrow",
    "torch",
    "skorch",
    "dask",
    "distributed",
    "skops",
    "tqdm",
    "hypothesis",
    "mlxtend",
)
# what an optional package installs along with it
DEPENDS = {"skorch": ("tqdm",), "distributed": ("dask",), "skops": ()}
MARKER = re.compile(r"docs-test:\s*needs\s+([\w\s-]+?)\s*(?:-->)?$")
SKIP = re.compile(r"docs-test:\s*skip\b\s*(?:--\s*(.*?))?\s*(?:-->)?$")
SKIPPED = []  # (page, reason) of every skipped block

BLOCKER = """
import importlib.abc, sys
_BLOCKED = set({blocked!r})
class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in _BLOCKED:
            raise ModuleNotFoundError(
                f"No module named {{name!r}} (not installed by the README's "
                "first command)", name=name)
        return None
sys.meta_path.insert(0, _NotInstalled())
import importlib.util
_find_spec = importlib.util.find_spec
def _find_spec_unless_blocked(name, package=None):
    # "is it installed?" probes (find_spec) answer no, as without the package
    if name.partition(".")[0] in _BLOCKED:
        return None
    return _find_spec(name, package)
importlib.util.find_spec = _find_spec_unless_blocked
"""


def _rst_blocks(text):
    """(needs, code) of every non-doctest ``.. code-block:: python``."""
    lines = text.splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line.strip() != ".. code-block:: python":
            continue
        indent = len(line) - len(line.lstrip())
        body = []
        for following in lines[i + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        code = textwrap.dedent("\n".join(body)).strip("\n")
        if code.lstrip().startswith(">>>"):
            continue
        needs = ()
        for previous in reversed(lines[:i]):
            if previous.strip():
                skip = SKIP.search(previous.strip())
                if skip:
                    needs = None
                    SKIPPED.append((skip.group(1) or "").strip())
                    break
                match = MARKER.search(previous.strip())
                needs = tuple(match.group(1).split()) if match else ()
                break
        if needs is not None:
            blocks.append((needs, code))
    return blocks


def _markdown_blocks(text):
    blocks = []
    pattern = re.compile(r"((?:<!--[^\n]*-->\n)?)```python\n(.*?)```", re.S)
    for marker, code in pattern.findall(text):
        match = MARKER.search(marker.strip())
        blocks.append((tuple(match.group(1).split()) if match else (), code))
    return blocks


def _python_literal_blocks(text):
    """``::`` literal blocks that start like Python code (imports)."""
    found = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.rstrip().endswith("::") or line.strip().startswith(".."):
            continue
        for following in lines[i + 1 :]:
            if following.strip():
                first = following.strip()
                if first.startswith(("import ", "from ")):
                    found.append(i + 1)
                break
    return found


def _pages():
    pages = {"README.md": _markdown_blocks((ROOT / "README.md").read_text())}
    for path in sorted(DOCS.glob("*.rst")):
        blocks = _rst_blocks(path.read_text(encoding="utf-8"))
        if blocks:
            pages[f"docs/{path.name}"] = blocks
    return pages


PAGES = _pages()


def test_pages_with_code_are_found():
    assert {"README.md", "docs/quickstart.rst", "docs/index.rst"} <= set(PAGES)
    assert "docs/user_guide.rst" in PAGES


def test_skipped_blocks_state_why():
    assert all(len(reason) > 10 for reason in SKIPPED), SKIPPED


@pytest.mark.parametrize(
    "page", sorted(["README.md", *(f"docs/{p.name}" for p in DOCS.glob("*.rst"))])
)
def test_no_python_hides_in_literal_blocks(page):
    text = (ROOT / page).read_text(encoding="utf-8")
    assert _python_literal_blocks(text) == [], (
        f"{page}: Python code in a '::' literal block (lines listed); use "
        ".. code-block:: python so that it is run"
    )


@pytest.mark.parametrize("page", sorted(PAGES))
def test_code_blocks_run_as_written(page, tmp_path):
    blocks = PAGES[page]
    needs = sorted({p for block_needs, _ in blocks for p in block_needs})
    missing = [p for p in needs if importlib.util.find_spec(p) is None]
    if missing:
        pytest.skip(f"{page} has blocks that need {', '.join(missing)}")
    allowed = set(needs).union(*(DEPENDS.get(p, ()) for p in needs))
    blocked = sorted(set(OPTIONAL) - allowed)
    script = [BLOCKER.format(blocked=blocked)]
    for n, (_, code) in enumerate(blocks, start=1):
        script.append(f"# --- block {n}\n{code}\n")
    path = tmp_path / "page.py"
    path.write_text("\n".join(script))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])]
    )
    env["MPLBACKEND"] = "Agg"
    result = subprocess.run(
        [sys.executable, str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"{page}: a code block failed\n{result.stderr[-3000:]}"
    )
