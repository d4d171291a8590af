"""The learner's notebooks: stored without outputs, each opening with the same setup cell,
and showing the project's own code (CI runs them end to end: scripts/run_notebooks.py)."""

from __future__ import annotations

import json
import re

import pytest

from parity_tests.conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def cells(path):
    return json.loads(path.read_text())["cells"]


def test_the_learners_path_is_four_notebooks_in_order():
    assert [p.name for p in NOTEBOOKS] == ["1_the_listing.ipynb", "2_backprop_by_hand.ipynb",
                                           "3_autograd.ipynb", "4_idiomatic_pytorch.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_stored_without_outputs(path):
    for cell in cells(path):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def test_each_opens_with_the_same_setup_cell_that_installs_from_the_checkout():
    setups = ["".join(cells(path)[1]["source"]) for path in NOTEBOOKS]
    assert len(set(setups)) == 1
    assert "import numpy_impl" in setups[0] and "pip\", \"install\"" in setups[0]
    assert all(cells(path)[0]["cell_type"] == "markdown" for path in NOTEBOOKS)


def test_no_notebook_invents_an_address():
    """The project has no public address yet: no Colab badge, no GitHub URL."""
    for path in NOTEBOOKS:
        text = path.read_text()
        assert "colab.research.google.com" not in text and "github.com" not in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_what_they_show_comes_from_the_project(path):
    """Code is shown with inspect.getsource of the project's modules, not copied in: no
    code cell defines a function of the project's, except the exercises' blanks."""
    blanks = set()
    for cell in cells(path):
        source = "".join(cell["source"])
        if cell["cell_type"] == "code":
            for name in re.findall(r"^def (\w+)", source, re.M):
                assert "raise NotImplementedError" in source, f"{name} is copied in"
                blanks.add(name)
    if path.name.startswith("2_"):
        from numpy_impl.grading import EXERCISES
        assert blanks == set(EXERCISES)
    else:
        assert blanks == set()
