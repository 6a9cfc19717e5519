"""Every gallery example runs at its quick size.

An example reads ``SKLEARN_DDCHM_EXAMPLE_QUICK=1`` and shrinks its data, epochs
and samples so that it runs in seconds; the gallery build runs it at full
size. Figures are drawn with matplotlib's non-interactive Agg backend.
"""

import runpy
from pathlib import Path

import pytest

matplotlib = pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))


def test_every_example_is_collected():
    assert len(EXAMPLES) >= 2
    for path in EXAMPLES:
        assert "SKLEARN_DDCHM_EXAMPLE_QUICK" in path.read_text(), path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_at_quick_size(path, monkeypatch, capsys):
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setenv("SKLEARN_DDCHM_EXAMPLE_QUICK", "1")
    monkeypatch.chdir(path.parent)
    try:
        runpy.run_path(str(path), run_name="__main__")
        assert plt.get_fignums(), "the example drew no figure"
    finally:
        plt.close("all")
    # every example prints the figures it measured
    assert capsys.readouterr().out.strip()
