"""Sphinx configuration of the sklearn-ddchm documentation.

Build with ``python -m pip install ".[doc]"`` and, from the repository root::

    SCIPY_ARRAY_API=1 sphinx-build -b html -n -W --keep-going doc doc/_build/html

``-D plot_gallery=0`` skips running the examples (CI does; the gallery pages
are then built without their figures and output). ``doc/generated/`` (the
API stubs) and ``doc/sg_execution_times.rst`` are written by the build and
not tracked.
"""

import os
import sys

sys.path.insert(0, os.path.abspath("_ext"))

project = "sklearn-ddchm"
author = "sklearn-ddchm developers"
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "intersphinx_offline",
]
templates_path = ["_templates"]
autosummary_generate = True
# The class template (``_templates/autosummary/class.rst``) lists and documents
# every public method itself; numpydoc's own member tables would repeat them.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "scipy": ("https://docs.scipy.org/doc/scipy", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
}
# Offline (no inventories) a build should not wait long for them.
intersphinx_timeout = 10
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    # The examples print the figures they measure; keep each example's own
    # order (the paper's figures first).
    "within_subsection_order": "FileNameSortKey",
}
# Private names that public docstrings cite and that have no page. Remove an
# entry when its docstring stops citing it (a stale entry is harmless).
nitpick_ignore = [
    # BaseDeepGenerativeEstimator.partial_fit (sklearn_ddchm/_base.py)
    ("py:meth", "_step_size"),
]
html_theme = "pydata_sphinx_theme"
exclude_patterns = ["_build"]


def _drop_stale_timings(app, config):
    """Remove a timing page left by an earlier build when nothing will run.

    sphinx-gallery keeps ``sg_execution_times.rst`` when no example runs, so a
    build with ``-D plot_gallery=0`` after a renamed or deleted example would
    fail ``-n`` on the page's stale references.
    """
    if str(config.plot_gallery).lower() in ("0", "false"):
        stale = os.path.join(app.srcdir, "sg_execution_times.rst")
        if os.path.exists(stale):
            os.remove(stale)


def setup(app):
    app.connect("config-inited", _drop_stale_timings)
