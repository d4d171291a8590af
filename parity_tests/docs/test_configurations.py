"""The configurations every answer runs on, said one way everywhere a learner reads about
them (the README, each blank file, `help(check)`, docs/exercises.md), and that way is
exercises/grading.py's: the count, the names and the shapes follow its configurations."""

from __future__ import annotations

import ast
import inspect
import re

import pytest

from ch9_shared.config import PRESETS, Config
from exercises import check
from exercises.grading import step_tensors
from parity_tests.conftest import REPO

NAMES = ("the chapter's first step", "a smaller one", "the first's shapes with other values",
         "a batch of one")
"""The configurations' names, in grading's order: a configuration added or taken away there
makes the docs and this list wrong together."""
COUNTS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
PLACES = ("README.md", "exercises/backprop.py", "exercises/autograd.py", "help(check)",
          "docs/exercises.md")


def configs() -> list[Config]:
    """Those an answer runs on, in grading's order."""
    return [step.config for step in step_tensors()]


def wording() -> str:
    """The one sentence, from grading's configurations: images, hidden units, D of each."""
    found = configs()
    assert len(found) == len(NAMES), "name each of grading.py's configurations in NAMES"
    each = [f"{name} ({config.batch_size}, {config.hidden_size}, {config.D})"
            for name, config in zip(NAMES, found, strict=True)]
    return (f"Each answer runs on {COUNTS[len(found)]} configurations (images, hidden units, "
            f"D): {', '.join(each[:-1])} and {each[-1]}.")


def text_of(place: str) -> str:
    """What a learner reads there, its lines joined by single spaces: a blank's module
    docstring (read, not imported: the autograd track's imports torch), check's docstring."""
    if place == "help(check)":
        text = inspect.getdoc(check)
    elif place.endswith(".py"):
        text = ast.get_docstring(ast.parse((REPO / place).read_text(encoding="utf-8")))
    else:
        text = (REPO / place).read_text(encoding="utf-8")
    return " ".join((text or "").split())


@pytest.mark.parametrize("place", PLACES)
def test_each_place_says_the_configurations_in_the_one_wording(place):
    assert wording() in text_of(place)


def test_the_names_say_what_each_configuration_is():
    first, smaller, same_shapes, one = configs()
    chapter = PRESETS["tanh"]
    assert (first.seed, first.batch_size, first.hidden_size, first.alpha) == (
        chapter.seed, chapter.batch_size, chapter.hidden_size, chapter.alpha)
    assert smaller.batch_size * smaller.hidden_size < first.batch_size * first.hidden_size
    assert (same_shapes.batch_size, same_shapes.hidden_size) == (first.batch_size,
                                                                 first.hidden_size)
    assert same_shapes.seed != first.seed and same_shapes.alpha != first.alpha
    assert same_shapes.D != first.D and one.batch_size == 1


def test_the_exercises_page_tabulates_each_configuration_by_its_name():
    """docs/exercises.md's table: one row a configuration, in order, by the sentence's name,
    with its hidden units, alpha, D and seed."""
    text = (REPO / "docs" / "exercises.md").read_text(encoding="utf-8")
    table = text.split("| configuration |", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    rows = [[cell.strip() for cell in row.strip("|").split("|")] for row in table]
    assert [row[0] for row in rows] == list(NAMES)
    for row, config in zip(rows, configs(), strict=True):
        assert re.match(rf"{config.batch_size}\b", row[1]), row
        assert row[2:6] == [str(config.hidden_size), f"{config.alpha:g}", str(config.D),
                            str(config.seed)]
