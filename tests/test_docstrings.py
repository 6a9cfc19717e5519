"""Public docstrings follow numpydoc and document every parameter."""

import inspect

import pytest
from numpydoc.validate import validate

import sklearn_ddchm
from sklearn_ddchm import baselines, datasets, metrics, models

PUBLIC = [
    (mod, name)
    for mod in (sklearn_ddchm, models, datasets, metrics, baselines)
    for name in mod.__all__
    if not name.startswith("__")
    and (inspect.isclass(getattr(mod, name)) or inspect.isfunction(getattr(mod, name)))
]

# numpydoc checks we hold every public object to: parameters documented and
# matching the signature, a summary line, a Returns section where one is due.
CHECKS = {"PR01", "PR02", "GL08", "SS01"}


@pytest.mark.parametrize("mod, name", PUBLIC, ids=[n for _, n in PUBLIC])
def test_public_docstring(mod, name):
    obj = getattr(mod, name)
    qualname = f"{obj.__module__}.{obj.__qualname__}"
    errors = [
        (code, msg) for code, msg in validate(qualname)["errors"] if code in CHECKS
    ]
    assert not errors, errors


# Sphinx's roles and directives, unknown to plain docutils: parsed as inert
# nodes so that only genuine reStructuredText errors remain.
_SPHINX_ROLES = ("meth", "func", "class", "attr", "mod", "ref", "data", "obj", "exc")
_SPHINX_DIRECTIVES = ("versionadded", "versionchanged", "deprecated", "seealso")
_SPHINX_DIRECTIVES += ("only", "rubric", "autosummary", "currentmodule")


def _register_sphinx_markup():
    from docutils import nodes
    from docutils.parsers.rst import Directive, directives, roles

    class _Inert(Directive):
        has_content = True
        optional_arguments = 10
        final_argument_whitespace = True

        def run(self):
            return []

    for role in _SPHINX_ROLES:
        roles.register_generic_role(role, nodes.literal)
    for directive in _SPHINX_DIRECTIVES:
        directives.register_directive(directive, _Inert)


@pytest.mark.parametrize("mod, name", PUBLIC, ids=[n for _, n in PUBLIC])
def test_public_docstring_is_valid_rst(mod, name):
    """The docstring as numpydoc hands it to Sphinx parses without a
    reStructuredText error: e.g. ``(n_hidden_, n_features)`` in a type is a
    reference to an undefined target and failed the documentation build."""
    import io

    import docutils.core
    from numpydoc.docscrape_sphinx import get_doc_object

    _register_sphinx_markup()
    text = str(get_doc_object(getattr(mod, name), config={"show_class_members": False}))
    errors = io.StringIO()
    docutils.core.publish_doctree(
        text,
        settings_overrides={
            "report_level": 3,  # errors and worse
            "halt_level": 5,
            "warning_stream": errors,
        },
    )
    assert not errors.getvalue(), errors.getvalue()


def test_package_is_ruff_clean():
    """The house style is checked like any behaviour (ruff is in the test extra)."""
    import shutil
    import subprocess
    from pathlib import Path

    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [ruff, "check", "sklearn_ddchm", "tests", "benchmarks", "examples"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:]
