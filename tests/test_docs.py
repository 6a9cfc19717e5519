"""The code of the narrative documentation runs as it stands."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "doc"

# A ``.. code-block:: python`` directive and its indented body.
_BLOCK = re.compile(
    r"^\.\. code-block:: python\n(?:[ \t]+:\w[^\n]*\n)*\n((?:[ \t]+[^\n]*\n|\n)+)",
    re.MULTILINE,
)


def python_blocks(text):
    """The bodies of the ``.. code-block:: python`` directives of an RST text."""
    blocks = []
    for match in _BLOCK.finditer(text):
        lines = match.group(1).rstrip("\n").split("\n")
        indent = min(len(ln) - len(ln.lstrip()) for ln in lines if ln.strip())
        blocks.append("\n".join(ln[indent:] for ln in lines) + "\n")
    return blocks


def test_python_blocks_extracts_bodies_in_order():
    text = (
        "Intro.\n\n.. code-block:: python\n\n   a = 1\n\n   b = a + 1\n\n"
        "Text.\n\n.. code-block:: bash\n\n   echo no\n\n"
        ".. code-block:: python\n   :caption: c\n\n   c = b\n"
    )
    assert python_blocks(text) == ["a = 1\n\nb = a + 1\n", "c = b\n"]


@pytest.mark.slow
def test_quickstart_runs(capsys):
    """Every Python block of doc/quickstart.rst, in order, in one namespace."""
    blocks = python_blocks((DOC / "quickstart.rst").read_text())
    code = "\n".join(blocks)
    # the page's steps: data, fit, MMD, score, features, pipeline search
    for call in (
        "make_sparse_hierarchical(",
        ".fit(",
        "mmd2(",
        ".score(",
        ".transform(",
        "posterior_expectation(",
        "GridSearchCV(",
    ):
        assert call in code, call
    namespace = {"__name__": "quickstart"}
    for block in blocks:
        exec(compile(block, str(DOC / "quickstart.rst"), "exec"), namespace)
    out = capsys.readouterr().out
    assert "best:" in out
    search = namespace["search"]
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 4
    assert all(score == score and abs(score) < float("inf") for score in scores)
    assert namespace["features"].shape == (1000, 200)


@pytest.mark.slow
def test_readme_python_blocks_run(capsys):
    """The README's Python blocks, in order, in one namespace: the quick
    start, the pipeline search and the log-likelihood, at a quarter of the
    quick start's data (the same calls, four times faster)."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert len(blocks) == 3
    assert "n_samples=4000" in blocks[0]
    blocks[0] = blocks[0].replace("n_samples=4000", "n_samples=1000")
    namespace = {"__name__": "readme"}
    for block in blocks:
        exec(compile(block, str(ROOT / "README.md"), "exec"), namespace)
    mmd, score = (float(v) for v in capsys.readouterr().out.split()[:2])
    assert abs(mmd) < 0.05 and -10 < score < 0
    assert namespace["search"].best_params_["ddc__n_hidden"] in (50, 200)
    result = namespace["result"]
    assert result.log_likelihood.shape == (200,)
    assert -10 < result.mean < 0 and result.mean_stderr < 0.5
