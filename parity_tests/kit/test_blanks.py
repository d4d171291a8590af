"""No blank gives its answer away: every expression written in a blank's docstring, or in
the notebook cell above the blank, is run through the checker as the answer, and none
passes. (The hints may give the formula at their last level; a blank may not.)"""

from __future__ import annotations

import ast
import inspect
import itertools
import json
import math
import re

import numpy as np
import pytest

from parity_tests.conftest import NEEDS_TORCH

torch = pytest.importorskip("torch", reason=NEEDS_TORCH)

import torch.nn.functional as F
from torch import nn

from exercises import TRACKS, autograd, autograd_solutions, backprop, check, hints
from numpy_impl import activations
from parity_tests.repository import repository_files

BLANKS = {name: getattr(backprop if track == "backprop" else autograd, name)
          for track, names in TRACKS.items() for name in names}
NAMESPACE = {"np": np, "torch": torch, "F": F, "nn": nn, "math": math,
             **{name: getattr(activations, name) for name in (
                 "relu", "relu2deriv", "sigmoid", "sigmoid2deriv", "tanh", "tanh2deriv",
                 "softmax", "identity")}}
"""What an expression may use besides the answer's own variables."""

LOCALS = {  # the variables an expression may use, for the exercises that are not functions
    "ChapterNetwork": ("self", "layer_0", "dropout_mask", "pixels", "hidden_size", "classes"),
    "TrueHidden": ("grad_layer_1", "hidden_input", "hidden_output", "layer_1", "dropout_mask"),
    "BookHidden": ("grad_layer_1", "hidden_input", "hidden_output", "layer_1", "dropout_mask"),
    "train_step": ("network", "optimizer", "layer_0", "labels", "dropout_mask", "D", "logits"),
    "idiomatic_model": ("hidden_size", "alpha", "batch_size", "D"),
}


def variables(name: str) -> tuple[str, ...]:
    return LOCALS.get(name) or tuple(inspect.signature(BLANKS[name]).parameters)


def notebook_cells_above(name: str) -> list[str]:
    """The source of the cell above each notebook cell that defines the blank."""
    above = []
    for path in repository_files("notebooks/*.ipynb"):
        sources = ["".join(cell["source"])
                   for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]]
        for previous, source in itertools.pairwise(sources):
            if re.search(rf"^(def|class) {name}\b", source, re.M):
                above.append(previous)
    return above


def texts(name: str) -> list[str]:
    blank = BLANKS[name]
    docs = [inspect.getdoc(blank) or ""]
    if inspect.isclass(blank):
        docs += [inspect.getdoc(member) or "" for member in vars(blank).values()
                 if inspect.isfunction(member) or isinstance(member, staticmethod)]
    return docs + notebook_cells_above(name)


def expressions(text: str, allowed: set[str], own: set[str]) -> set[str]:
    """Every piece of the text that parses as an expression on the allowed names and uses at
    least one of the answer's own variables."""
    flat = " ".join(text.split())
    starts = [i for i in range(len(flat))
              if flat[i] != " " and (i == 0 or flat[i - 1] in " `(\"'[")]
    ends = [j for j in range(1, len(flat) + 1)
            if flat[j - 1] != " " and (j == len(flat) or flat[j] in " `),.;:\"']")]
    found = set()
    for i in starts:
        for j in ends:
            if j <= i or j - i > 160:
                continue
            piece = flat[i:j].strip("`")
            try:
                tree = ast.parse(piece, mode="eval")
            except SyntaxError:
                continue
            names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
            if names and names <= allowed and names & own:
                found.add(piece)
    return found


def answer_from(name: str, expression: str) -> object:
    """The blank with `expression` written in: as the function's result, or in the one
    place of a class or step where a formula goes."""
    own = variables(name)
    if name == "ChapterNetwork":
        source = (f"class ChapterNetwork(Base):\n    def forward(self, layer_0, dropout_mask):\n"
                  f"        layer_1 = ({expression})\n"
                  f"        return layer_1, self.weights_1_2(layer_1)\n")
    elif name in ("TrueHidden", "BookHidden"):
        source = (f"class {name}(torch.autograd.Function):\n    @staticmethod\n"
                  f"    def forward(ctx, hidden_input, dropout_mask):\n"
                  f"        hidden_output = torch.tanh(hidden_input)\n"
                  f"        layer_1 = hidden_output * dropout_mask * 2\n"
                  f"        ctx.save_for_backward(hidden_input, hidden_output, layer_1, "
                  f"dropout_mask)\n        return layer_1\n    @staticmethod\n"
                  f"    def backward(ctx, grad_layer_1):\n"
                  f"        hidden_input, hidden_output, layer_1, dropout_mask = "
                  f"ctx.saved_tensors\n"
                  f"        return ({expression}), None\n")
    elif name == "train_step":
        source = (f"def train_step({', '.join(own[:-1])}):\n    optimizer.zero_grad()\n"
                  f"    _, _, logits = network(layer_0, dropout_mask)\n"
                  f"    loss = ({expression})\n    loss.backward()\n    optimizer.step()\n")
    elif name == "idiomatic_model":
        source = (f"def idiomatic_model({', '.join(own)}):\n"
                  f"    return model(hidden_size, alpha, batch_size, D)[0], ({expression})\n")
    else:
        source = f"def {name}({', '.join(own)}):\n    return ({expression})\n"
    namespace = dict(NAMESPACE, Base=autograd_solutions.ChapterNetwork,
                     model=autograd_solutions.idiomatic_model)
    exec(source, namespace)
    return namespace[name]


def written(name: str) -> set[str]:
    own = set(variables(name))
    return set().union(*(expressions(text, own | set(NAMESPACE), own) for text in texts(name)))


@pytest.mark.parametrize("name", list(BLANKS))
def test_no_expression_above_a_blank_is_its_answer(name):
    for expression in sorted(written(name)):
        result = check(answer_from(name, expression), name=name)
        assert not result.passed, f"{name}: the blank's text gives its answer: {expression}"


def test_the_extraction_finds_an_answer_where_there_is_one():
    """The same machinery on the last hints, which do give the formula: it finds them, and
    they pass. So a blank that quoted its answer would fail the test above."""
    for name in ("tanh2deriv", "softmax_cross_entropy_delta", "layer_1_delta", "softmax_loss",
                 "identity_loss", "manual_layer_1_delta", "BookHidden"):
        own = set(variables(name))
        found = expressions(hints.HINTS[name][-1], own | set(NAMESPACE), own)
        assert any(check(answer_from(name, e), name=name).passed for e in found), (name, found)


def test_each_track_is_what_its_blank_file_defines_and_each_blank_is_registered_once():
    """TRACKS reads the blank files without importing them: it finds what importing them
    defines, in order, and each track's checks register each of those blanks once (in any
    order: the blank file's is the track's)."""
    from exercises import autograd_checks, backprop_checks
    for track, module, checks in (("backprop", backprop, backprop_checks),
                                  ("autograd", autograd, autograd_checks)):
        defined = [name for name, value in vars(module).items()
                   if getattr(value, "__module__", None) == module.__name__]
        assert defined == list(TRACKS[track])
        assert sorted(one.name for one in checks.EXERCISES) == sorted(defined)
        assert all(checks.EXERCISE[name].blank is getattr(module, name) for name in defined)


def test_a_hint_reveals_one_more_level_a_call():
    assert all(len(levels) >= 2 for levels in hints.HINTS.values())
    levels = hints.HINTS["tanh2deriv"]
    shown = [hints.next_hint("tanh2deriv").splitlines()[0] for _ in range(len(levels) + 1)]
    assert shown[0] == f"tanh2deriv, hint 1 of {len(levels)}: {levels[0]}"
    assert shown[1].startswith(f"tanh2deriv, hint 2 of {len(levels)}: ")
    assert shown[-1] == shown[-2] and "(the last)" in shown[-1]
    assert hints.next_hint("relu2deriv").startswith("relu2deriv, hint 1 of")  # its own count
    assert hints.next_hint("relu2deriv", 3).splitlines()[0].endswith(hints.HINTS["relu2deriv"][2])
    with pytest.raises(ValueError, match="no exercise is called 'tanh'"):
        hints.next_hint("tanh")
    with pytest.raises(ValueError, match="tanh2deriv has hints 1 to 3, not 4"):
        hints.next_hint("tanh2deriv", 4)


def test_only_the_last_hint_may_give_the_answer():
    """The earlier levels teach; run through the checker like the blanks' text, none passes."""
    for name, levels in hints.HINTS.items():
        own = set(variables(name))
        for level in levels[:-1]:
            for expression in expressions(level, own | set(NAMESPACE), own):
                assert not check(answer_from(name, expression), name=name).passed, (name, level)
