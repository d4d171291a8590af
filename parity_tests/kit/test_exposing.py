"""Wrong answers of the NumPy track that no configuration exposed (issue 36, item 6): a
squeezed batch, integer division by D, an argument written into in place, a dropout on a
mask of its own. Each fails now, with its own line. The torch track's are in
test_exposing_torch.py."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

from exercises import backprop_solutions, check, grading
from parity_tests.kit.conftest import wrong_line

DTYPES = ["float64", "float32"]
KIT = Path(backprop_solutions.__file__).parent


def test_the_configurations_expose_squeezes_and_integer_division():
    """A batch of one image, and a D that is no multiple of the batch size."""
    steps = grading.step_tensors()
    assert any(step.config.batch_size == 1 for step in steps)
    assert any(step.config.D % step.config.batch_size for step in steps)
    for step in steps:  # the step's tensors are numpy_impl's, on that D
        assert np.allclose(step.layer_2_delta, (step.layer_2 - step.labels) / step.config.D)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_squeezed_batch_is_caught(dtype):
    def softmax_cross_entropy_delta(layer_2, labels, D):
        return np.squeeze(layer_2 - labels) / D

    wrong_line(check(softmax_cross_entropy_delta, dtype), "on a fourth step",
               "1 image,", "has shape (10,), expected (1, 10): a squeeze")


@pytest.mark.parametrize("dtype", DTYPES)
def test_integer_division_by_the_batch_size_is_caught(dtype):
    def softmax_cross_entropy_delta(layer_2, labels, D):
        return (layer_2 - labels) / len(layer_2) / (D // len(layer_2))

    wrong_line(check(softmax_cross_entropy_delta, dtype), "on a third step", "D = 999")


def in_place_slope(output):
    """tanh's slope, written into its argument."""
    output **= 2
    output *= -1
    output += 1
    return output


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_slope_that_writes_into_its_argument_is_caught(dtype):
    wrong_line(check(in_place_slope, dtype, name="tanh2deriv"),
               "it changes its argument output in place",
               "the chapter's loop uses layer_1 again after this call")


def test_any_argument_written_into_is_named():
    def layer_1_delta(layer_2_delta, weights_1_2, layer_1, dropout_mask):
        layer_1 /= 2
        return layer_2_delta @ weights_1_2.T * (1 - layer_1**2) * dropout_mask * 2

    def softmax_cross_entropy_delta(layer_2, labels, D):
        layer_2 -= labels
        layer_2 /= D
        return layer_2

    def weights_1_2_update(weights_1_2, layer_1, layer_2_delta, alpha):
        layer_2_delta *= alpha
        weights_1_2 -= layer_1.T @ layer_2_delta
        return weights_1_2

    wrong_line(check(layer_1_delta), "it changes its argument layer_1 in place",
               "weights_1_2's update reads it")
    wrong_line(check(softmax_cross_entropy_delta), "it changes its argument layer_2 in place",
               "counts the correct answers")
    wrong_line(check(weights_1_2_update), "it changes its argument layer_2_delta in place")


def test_the_books_in_place_updates_still_pass():
    """`weights -= ...` and `layer_1 *= ...` are the book's own lines."""
    def weights_0_1_update(weights_0_1, layer_0, layer_1_delta, alpha):
        weights_0_1 -= alpha * layer_0.T @ layer_1_delta
        return weights_0_1

    def dropout(layer_1, dropout_mask):
        layer_1 *= dropout_mask * 2
        return layer_1

    assert check(weights_0_1_update).passed
    assert check(dropout).passed


def test_a_dropout_on_a_mask_of_its_own_is_caught():
    """The backprop track's dropout is handed its mask: one drawn once, or at another
    share, is not the step's."""
    fixed = (np.random.RandomState(0).rand(100, 100) < 0.5)

    def dropout(layer_1, dropout_mask):
        return layer_1 * fixed[:len(layer_1), :layer_1.shape[1]] * 2

    def fewer(layer_1, dropout_mask):
        return layer_1 * dropout_mask * (np.random.RandomState(0).rand(*layer_1.shape) < 0.8) * 2

    assert check(dropout).status == "wrong"
    assert check(fewer, name="dropout").status == "wrong"


def writes_into_an_argument(function: ast.FunctionDef) -> list[str]:
    """The arguments a function's body assigns into: `x += ...`, `x[...] = ...`, `x.add_`
    (but self's and ctx's attributes: a module's layers, what a Function saves)."""
    names = {argument.arg for argument in function.args.args} - {"self", "ctx"}
    found = []
    for node in ast.walk(function):
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AugAssign) else [])
        for target in targets:
            while isinstance(target, (ast.Subscript, ast.Attribute)):
                target = target.value
            if isinstance(target, ast.Name) and target.id in names and (
                    isinstance(node, ast.AugAssign) or target is not targets[0]):
                found.append(target.id)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr.endswith("_") and not node.func.attr.startswith("_")
                and isinstance(node.func.value, ast.Name) and node.func.value.id in names):
            found.append(node.func.value.id)
    return found


@pytest.mark.parametrize("track", ["backprop", "autograd"])
def test_no_solution_writes_into_its_arguments(track):
    source = (KIT / f"{track}_solutions.py").read_text(encoding="utf-8")
    functions = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef)]
    assert functions
    assert {function.name: writes_into_an_argument(function) for function in functions
            if writes_into_an_argument(function)} == {}


def test_the_in_place_check_sees_a_write():
    assert writes_into_an_argument(ast.parse(inspect.getsource(in_place_slope)).body[0]) == [
        "output", "output", "output"]
