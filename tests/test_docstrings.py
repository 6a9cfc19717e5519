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
