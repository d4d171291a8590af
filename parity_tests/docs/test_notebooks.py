"""The learner's notebooks: stored without outputs, each opening with the same setup cell,
and showing the project's own code (CI runs them end to end: tools/run_notebooks.py)."""

from __future__ import annotations

import json
import re

import pytest

from exercises import TRACKS
from exercises.hints import HINTS
from parity_tests.repository import repository_files

NOTEBOOKS = repository_files("notebooks/*.ipynb")  # a learner's copy of one is none of them


def cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


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
        text = path.read_text(encoding="utf-8")
        assert "colab.research.google.com" not in text and "github.com" not in text


TRACK_OF = {"1_the_listing.ipynb": None, "2_backprop_by_hand.ipynb": "backprop",
            "3_autograd.ipynb": "autograd", "4_idiomatic_pytorch.ipynb": "autograd"}
"""The track whose exercises each notebook holds (the listing: none)."""

DEFINED = re.compile(r"^(?:def|class) (\w+)", re.M)  # top level: a class's methods are not


def blanks(path):
    """(index, name, source) of each code cell that defines a function or a class."""
    for i, cell in enumerate(cells(path)):
        source = "".join(cell["source"])
        if cell["cell_type"] == "code":
            for name in DEFINED.findall(source):
                yield i, name, source


BLANKS = {path.name: {name for _, name, _ in blanks(path)} for path in NOTEBOOKS}
"""Each notebook's exercises: their blanks are the only functions and classes it defines."""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_what_they_show_comes_from_the_project(path):
    """Code is shown with inspect.getsource of the project's modules, not copied in: no
    code cell defines a function or a class of the project's, except the blanks of its
    track's exercises."""
    for _, name, source in blanks(path):
        assert "raise NotImplementedError" in source, f"{name} is copied in"
    track = TRACK_OF[path.name]
    assert BLANKS[path.name] <= set(TRACKS[track] if track else ())


def test_the_notebooks_hold_both_tracks():
    """Every exercise of each track is in one of its notebooks (the registry's tracks)."""
    for track, names in TRACKS.items():
        held = [name for notebook, of in TRACK_OF.items() if of == track
                for name in BLANKS[notebook]]
        assert sorted(held) == sorted(names), track


EXERCISING = [path for path in NOTEBOOKS if BLANKS[path.name]]


@pytest.mark.parametrize("path", EXERCISING, ids=[p.name for p in EXERCISING])
def test_each_blank_is_checked_after_its_problem(path):
    """A blank's cell checks it and says where a hint is; an earlier cell shows its
    docstring, the problem posed."""
    sources = ["".join(cell["source"]) for cell in cells(path)]
    for i, name, source in blanks(path):
        assert f"\ncheck({name})" in source, f"the cell of {name} does not check it"
        assert f'hint("{name}")' in source, f"the cell of {name} names no hint"
        assert any(f'problem("{name}")' in s for s in sources[:i]), f"no problem({name})"


@pytest.mark.parametrize("path", EXERCISING, ids=[p.name for p in EXERCISING])
def test_no_notebook_gives_an_answer_away(path):
    """The formulas are the last hints' (hint(name), at the learner's call): no notebook
    spells out the last hint of one of its own exercises."""
    text = "\n".join("".join(cell["source"]) for cell in cells(path))
    for name in BLANKS[path.name]:
        answer = HINTS[name][-1].rstrip(".")
        assert answer not in text, f"{path.name} gives away {name}: {answer}"
