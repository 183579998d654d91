"""Sphinx configuration of the scikit-dpa documentation.

Build (warnings are errors, the examples gallery is executed)::

    bash docs/build.sh

Set ``SKDPA_DOCS_INTERSPHINX=1`` to link to the scikit-learn, NumPy, joblib and
matplotlib documentation; it fetches their inventories, so it is off by default
(the build must pass without network access).
"""

import os
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))  # build from a checkout, too

import skdpa

project = "scikit-dpa"
author = "scikit-dpa developers"
copyright = "scikit-dpa developers, BSD-3-Clause"
release = skdpa.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
root_doc = "index"
html_static_path = ["_static"]
default_role = "literal"

# -- autodoc / autosummary / numpydoc ------------------------------------
autosummary_generate = True
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- intersphinx: opt-in, it needs the network ------------------------------
if os.environ.get("SKDPA_DOCS_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "joblib": ("https://joblib.readthedocs.io/en/stable", None),
        "matplotlib": ("https://matplotlib.org/stable", None),
    }

# -- sphinx-gallery ------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("skdpa",),
    "backreferences_dir": "gen_modules/backreferences",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "capture_repr": ("_repr_html_", "__repr__"),
}

# -- HTML ------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"scikit-dpa {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {"quickstart": [], "theory": [], "benchmarks": []}
html_show_sourcelink = False


# -- docstring hooks ---------------------------------------------------------
_SHAPE = re.compile(r"of shape \(([^()]*)\)")


def _escape_shape_underscores(app, what, name, obj, options, lines):
    """Escape fitted-attribute names in shapes: ``(n_classes_,)`` would otherwise
    be read by docutils as a hyperlink reference ``n_classes_``."""

    def escape(match):
        inner = re.sub(r"(?<=\w)_(?=[,)\s]|$)", r"\\_", match.group(1))
        return f"of shape ({inner})"

    lines[:] = [_SHAPE.sub(escape, line) for line in lines]


def _skip_metadata_requests(app, what, name, obj, skip, options):
    """scikit-learn's generated ``set_*_request`` methods point into its own
    glossary; they are documented there, not here."""
    if re.fullmatch(r"set_\w+_request", name):
        return True
    return None


def setup(app):
    app.connect("autodoc-process-docstring", _escape_shape_underscores)
    app.connect("autodoc-skip-member", _skip_metadata_requests)
