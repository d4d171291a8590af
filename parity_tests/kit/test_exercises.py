"""The backprop track checks itself: the solutions pass, the blanks are not done, and
typical wrong answers are caught, each with one line that names the tensor and what is off;
an answer that ignores an argument is caught on the second configuration, and its line
names the argument."""

from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pytest

from exercises import TRACKS, backprop, backprop_checks, check, check_module, grading
from exercises import backprop_solutions as solutions
from numpy_impl.activations import sigmoid, tanh2deriv
from parity_tests.conftest import REPO, child_env
from parity_tests.kit.conftest import line_of, one_line, wrong_line

DTYPES = ["float64", "float32"]
NAMES = TRACKS["backprop"]
DERIVATIVES = [name for name in NAMES if backprop_checks.EXERCISE[name].final is not None]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_the_solutions_pass(name, dtype):
    result = check(getattr(solutions, name), dtype)
    assert result.status == "passed", str(result)
    assert "max abs diff" in one_line(result)
    assert ("finite differences agree" in str(result)) == (name in DERIVATIVES)


def test_the_blank_exercises_are_not_done():
    results = check_module(backprop)
    assert [r.name for r in results] == list(NAMES)
    assert {r.status for r in results} == {"not done"}
    assert all(one_line(r).endswith("not done yet") for r in results)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_one_percent_off_is_caught(name, dtype):
    """Every check holds the answer to a few ulps of its dtype: 1% off fails in both dtypes."""
    solution = getattr(solutions, name)
    if not name.endswith("_update"):
        def mutant(*args):
            return solution(*args) * 1.01
    else:  # a step 1% too long: what a wrong alpha or delta would do
        def mutant(weights, *args):
            return weights - 1.01 * (weights - solution(weights, *args))
    result = check(mutant, dtype, name=name)
    assert result.status == "wrong"
    assert "off by a factor of about 1.01" in one_line(result)


WRONG = [  # (exercise, a wrong answer, words its message must hold)
    ("relu2deriv", lambda output: output >= 0,
     ["relu2deriv(output)", "is not 0 at", "where relu's output is 0", "boundary is on the "
      "wrong side"]),
    ("relu2deriv", lambda output: (output > 0) * 2.0, ["relu2deriv(output)", "factor", "2"]),
    ("sigmoid2deriv", lambda output: sigmoid(output) * (1 - sigmoid(output)),
     ["sigmoid2deriv(output)", "sigmoid is applied again", "not its input"]),
    ("sigmoid2deriv", lambda output: 1 - output**2, ["sigmoid2deriv(output)", "tanh's slope"]),
    ("tanh2deriv", lambda output: 1 - np.tanh(output) ** 2, ["tanh2deriv(output)", "input"]),
    ("tanh2deriv", lambda output: 1 - output,
     ["tanh2deriv(output)", "differs at every one of 10000 entries, by a factor from 0.5 to",
      "linear in the output"]),
    ("tanh2deriv", lambda output: (1 - output**2)[:, :10],
     ["tanh2deriv(output)", "shape (100, 10), expected (100, 100)"]),
    ("softmax_cross_entropy_delta", lambda layer_2, labels, D: (labels - layer_2) / D,
     ["layer_2_delta", "wrong sign"]),
    ("softmax_cross_entropy_delta", lambda layer_2, labels, D: layer_2 - labels,
     ["layer_2_delta", "factor of about 1e+04", "the division by D is left out"]),
    ("softmax_cross_entropy_delta", lambda layer_2, labels, D: (layer_2 - labels) / 1000,
     ["layer_2_delta", "factor of about 10"]),
    ("dropout", lambda layer_1, dropout_mask: layer_1 * dropout_mask,
     ["layer_1 (after dropout)", "factor of about 0.5", "does not scale them up"]),
    ("dropout", lambda layer_1, dropout_mask: layer_1 * 2,
     ["layer_1 (after dropout)", "is not 0 at", "no unit is dropped"]),
    ("dropout", lambda layer_1, dropout_mask:
        layer_1 * np.random.default_rng(5).integers(2, size=layer_1.shape) * 2,
     ["layer_1 (after dropout)", "is not 0 at", "entries where dropout dropped a unit"]),
    ("dropout_backward", lambda grad_layer_1, dropout_mask: grad_layer_1 * dropout_mask,
     ["gradient before dropout", "factor of about 0.5", "scale of the kept units is left out"]),
    ("dropout_backward", lambda grad_layer_1, dropout_mask: grad_layer_1 * 2,
     ["gradient before dropout", "is not 0 at", "passes through the units dropout dropped"]),
    ("dropout_backward", lambda grad_layer_1, dropout_mask: -2 * grad_layer_1 * dropout_mask,
     ["gradient before dropout", "wrong sign"]),
    ("layer_1_delta", lambda layer_2_delta, weights_1_2, layer_1, dropout_mask:
        layer_2_delta @ weights_1_2.T * tanh2deriv(layer_1) * dropout_mask,
     ["layer_1_delta", "all where a unit is kept, by a factor from 0.407 to 0.5",
      "the book's line"]),
    ("layer_1_delta", lambda layer_2_delta, weights_1_2, layer_1, dropout_mask:
        layer_2_delta @ weights_1_2.T * tanh2deriv(layer_1 / 2) * dropout_mask,
     ["layer_1_delta", "factor of about 0.5", "mask's 2"]),
    ("layer_1_delta", lambda layer_2_delta, weights_1_2, layer_1, dropout_mask:
        layer_2_delta @ weights_1_2.T * tanh2deriv(layer_1 / 2) * dropout_mask * 4,
     ["layer_1_delta", "factor of about 2"]),
    ("weights_1_2_update", lambda weights_1_2, layer_1, layer_2_delta, alpha:
        weights_1_2 + alpha * layer_1.T @ layer_2_delta,
     ["new weights_1_2", "has the wrong sign", "move up the gradient"]),
    ("weights_1_2_update", lambda weights_1_2, layer_1, layer_2_delta, alpha:
        weights_1_2 - alpha * layer_1 @ layer_2_delta,
     ["new weights_1_2", "pairs the wrong axes of layer_1 and layer_2_delta"]),
    ("weights_1_2_update", lambda weights_1_2, layer_1, layer_2_delta, alpha:
        alpha * layer_1.T @ layer_2_delta, ["the new weights_1_2", "it is the step alone"]),
    ("weights_0_1_update", lambda weights_0_1, layer_0, layer_1_delta, alpha:
        alpha * layer_0.T @ layer_1_delta, ["the new weights_0_1", "it is the step alone"]),
    ("weights_0_1_update", lambda weights_0_1, layer_0, layer_1_delta, alpha:
        -alpha * layer_0.T @ layer_1_delta, ["the new weights_0_1", "it is the step alone"]),
    ("weights_1_2_update", lambda weights_1_2, layer_1, layer_2_delta, alpha:
        weights_1_2.T - alpha * layer_2_delta.T @ layer_1,
     ["new weights_1_2", "shape (10, 100), expected (100, 10): a transposed product?"]),
    ("weights_0_1_update", lambda weights_0_1, layer_0, layer_1_delta, alpha:
        weights_0_1 - layer_0.T @ layer_1_delta,
     ["new weights_0_1", "factor of about 0.5", "the learning rate is left out"]),
    ("weights_0_1_update", lambda weights_0_1, layer_0, layer_1_delta, alpha:
        weights_0_1 - alpha * (layer_0.T @ layer_1_delta) * 0.75,
     ["step (weights_0_1 - the new weights_0_1)", "factor of about 0.75"]),
]


@pytest.mark.parametrize("name, answer, words", WRONG,
                         ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(WRONG)])
def test_a_wrong_answer_says_what_is_off(name, answer, words):
    wrong_line(check(answer, name=name), *words)


def test_an_answer_that_raises_or_is_no_array_is_one_line():
    def layer_1_delta(layer_2_delta, weights_1_2, layer_1, dropout_mask):
        return layer_2_delta @ weights_1_2 * tanh2deriv(layer_1 / 2) * dropout_mask * 2
    result = check(layer_1_delta)
    assert result.status == "wrong"
    assert one_line(result) == (
        "layer_1_delta: wrong: it raised a shape error: a matrix product's shapes do not fit: "
        "the left matrix has 10 columns, the right one 100 rows (a .T missing, or one too "
        f"many?) ({__file__}, line {line_of(layer_1_delta)}: return layer_2_delta @ weights_1_2 "
        "* tanh2deriv(layer_1 / 2) * dropout_mask * 2)")

    def dropout(layer_1):
        return layer_1 * 2
    line = one_line(check(dropout))
    assert line.startswith("dropout: wrong: it raised TypeError: ")
    assert line.endswith("dropout() takes 1 positional argument but 2 were given")

    def tanh2deriv(output):
        return [[1.0], [1.0, 2.0]]
    assert str(check(tanh2deriv)) == (
        "tanh2deriv: wrong: it returned a list, not an array of numbers")
    assert str(check(np.ones(3), name="tanh2deriv")) == (
        "tanh2deriv: wrong: it is an ndarray, not a function")


def test_in_place_answers_in_the_books_style():
    """`weights -= ...` (the book's way) passes when it returns the weights, and is told to
    return them when it does not; the chapter's tensors are not touched either way."""
    def weights_0_1_update(weights_0_1, layer_0, layer_1_delta, alpha):
        weights_0_1 -= alpha * layer_0.T @ layer_1_delta
        return weights_0_1

    def dropout(layer_1, dropout_mask):
        layer_1 *= dropout_mask * 2
    before = grading.first_step().weights_0_1.copy()
    assert check(weights_0_1_update).passed
    assert np.array_equal(grading.first_step().weights_0_1, before)
    result = check(dropout)
    assert result.status == "wrong"
    assert "returned None after changing layer_1 in place: return layer_1" in one_line(result)


def test_not_done_and_missing():
    def tanh2deriv(output):
        pass
    assert str(check(tanh2deriv)) == "tanh2deriv: not done yet (it returns None)"

    class Answers:
        relu2deriv = staticmethod(solutions.relu2deriv)
    results = {r.name: r for r in check_module(Answers)}
    assert results["relu2deriv"].passed
    assert str(results["dropout"]) == "dropout: not done yet (dropout is not defined)"
    with pytest.raises(ValueError, match="no exercise is called 'relu'"):
        check(lambda x: x, name="relu")


def test_finite_differences_catch_a_reference_that_is_not_the_gradient(monkeypatch):
    """In book mode, numpy_impl's own hidden delta is the book's line: the book's answer
    matches it, and only the finite differences see that it is not the gradient."""
    monkeypatch.setattr(grading, "CONFIG", grading.CONFIG.replace(mode="book"))

    def layer_1_delta(layer_2_delta, weights_1_2, layer_1, dropout_mask):
        return layer_2_delta @ weights_1_2.T * tanh2deriv(layer_1) * dropout_mask
    for dtype in DTYPES:
        result = check(layer_1_delta, dtype)
        assert result.status == "wrong"
        assert "layer_1_delta matches numpy_impl's reference but not finite differences" in (
            one_line(result))
    assert check(solutions.weights_1_2_update).passed  # the output side is exact
    assert "not finite differences" in str(check(solutions.weights_0_1_update))


def test_a_notebook_cell_shows_the_one_line():
    pretty = pytest.importorskip("IPython.lib.pretty")
    result = check(solutions.tanh2deriv)
    assert pretty.pretty(result) == str(result)
    assert pretty.pretty([result]) == f"[{result}]"


def test_a_plain_python_prompt_shows_the_text():
    """check, hint and problem at `python -i`'s prompt: their text, not a dataclass or an
    escaped string (repr is what the prompt prints)."""
    from exercises import problem
    from exercises.hints import HINTS
    result = check(solutions.tanh2deriv)
    assert repr(result) == str(result)
    assert repr(problem("relu2deriv")) == str(problem("relu2deriv"))
    lines = ["from exercises import check, hint, problem",
             "from exercises.backprop_solutions import tanh2deriv",
             "check(tanh2deriv)", "hint('tanh2deriv', 1)", "problem('relu2deriv')"]
    ran = subprocess.run([sys.executable, "-i", "-q"], input="\n".join(lines) + "\n",
                         capture_output=True, encoding="utf-8", cwd=REPO, timeout=120,
                         env=child_env(PYTHONPATH=str(REPO)))
    assert ran.returncode == 0, ran.stderr
    out = ran.stdout.splitlines()
    assert out[0] == str(result) and out[1] == f"tanh2deriv, hint 1 of 3: {HINTS['tanh2deriv'][0]}"
    assert out[2].startswith("(your place is kept in ")  # hint prints, and returns None
    assert out[3].startswith("relu2deriv(output") and out[5] == (
        "relu's slope at each entry, computed from relu's output.")
    assert "Result(" not in ran.stdout and "\\n" not in ran.stdout and "None" not in ran.stdout


ARGUMENTS = [(name, argument) for name in NAMES
             for argument in inspect.signature(getattr(backprop, name)).parameters]


def test_every_argument_is_changed():
    """The grader changes every argument of every blank, and the second configuration
    differs from the first in every one."""
    first, second, third, *_ = grading.step_tensors()
    for name in NAMES:
        exercise = backprop_checks.EXERCISE[name]
        inputs, others = exercise.inputs(first), exercise.inputs(second)
        assert list(inputs) == list(inspect.signature(getattr(backprop, name)).parameters)
        for argument, value in inputs.items():
            assert np.shape(value) != np.shape(others[argument]) or not np.array_equal(
                value, others[argument]), (name, argument)
            same_shape = exercise.inputs(third)[argument]  # the third: other values alone
            assert np.shape(same_shape) == np.shape(value), (name, argument)
            assert not np.array_equal(same_shape, value), (name, argument)


def hard_coded(name: str, argument: str, dtype: str):
    """The solution, with the argument's value on the chapter's first step written in."""
    solution = getattr(solutions, name)
    index = list(inspect.signature(solution).parameters).index(argument)
    value = backprop_checks.EXERCISE[name].inputs(grading.first_step(dtype))[argument]

    def answer(*args):
        args = list(args)
        args[index] = np.array(value) if isinstance(value, np.ndarray) else value
        return solution(*args)
    return answer


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, argument", ARGUMENTS)
def test_an_answer_that_hard_codes_an_argument_is_caught(name, argument, dtype):
    """The first step's value of any one argument written in: right on the first step, it
    fails, and its line names that argument alone."""
    wrong_line(check(hard_coded(name, argument, dtype), dtype, name=name),
               f"not change with {argument}: ")


HARD_CODED = [  # answers as a learner writes them, the words of their line
    ("softmax_cross_entropy_delta", lambda layer_2, labels, D: (layer_2 - labels) / 10000,
     "layer_2_delta does not change with D: on a second step (seed 2, 20 images, 30 hidden "
     "units, alpha = 0.5, D = 200), layer_2_delta is off by a factor of about 0.02"),
    ("weights_1_2_update", lambda weights_1_2, layer_1, layer_2_delta, alpha:
        weights_1_2 - 2 * layer_1.T @ layer_2_delta,
     "the new weights_1_2 does not change with alpha: on a second step"),
    ("weights_0_1_update", lambda weights_0_1, layer_0, layer_1_delta, alpha:
        weights_0_1 - 2 * layer_0.T @ layer_1_delta,
     "the new weights_0_1 does not change with alpha: on a second step"),
    ("softmax_cross_entropy_delta", lambda layer_2, labels, D:
        (layer_2 - labels) / len(layer_2) ** 2, "layer_2_delta does not change with D: "),
    ("dropout", lambda layer_1, dropout_mask: layer_1 * grading.first_step().dropout_mask * 2,
     "it does not change with dropout_mask: on a second step"),
]


@pytest.mark.parametrize("dtype", DTYPES)
def test_an_answer_right_on_the_first_step_alone_is_caught_on_the_second(dtype):
    """Right where there are 100 images, and for no reason an argument explains: the second
    configuration's line, with the catalogue's words for what is off there."""
    def softmax_cross_entropy_delta(layer_2, labels, D):
        return (layer_2 - labels) / (D if len(layer_2) == 100 else 1)
    assert str(check(softmax_cross_entropy_delta, dtype)) == (
        "softmax_cross_entropy_delta: wrong: right on the chapter's first step, but on a "
        "second step (seed 2, 20 images, 30 hidden units, alpha = 0.5, D = 200), "
        "layer_2_delta is off by a factor of about 200: the division by D is left out")


@pytest.mark.parametrize("dtype", DTYPES)
def test_an_answer_that_reads_the_mask_from_layer_1_passes(dtype):
    """layer_1 is 0 exactly where the mask is: an answer may take the mask from it, and
    ignore dropout_mask, and still be right on every step (the changed mask alone, which
    no longer fits layer_1, does not fail it)."""
    def layer_1_delta(layer_2_delta, weights_1_2, layer_1, dropout_mask):
        return layer_2_delta @ weights_1_2.T * tanh2deriv(layer_1 / 2) * (layer_1 != 0) * 2
    assert check(layer_1_delta, dtype).passed


@pytest.mark.parametrize("name, answer, words", HARD_CODED,
                         ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(HARD_CODED)])
def test_the_hard_coded_answers_of_the_issue(name, answer, words):
    wrong_line(check(answer, name=name), words)


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_tolerance_is_the_exercises_dtype_not_the_answers(dtype):
    """A float16 answer is judged at the exercise's tolerance, and told what is off (it used
    to be compared at float16's, and the message blamed the reference)."""
    def tanh2deriv(output):
        return (1 - output**2).astype("float16")
    line = one_line(check(tanh2deriv, dtype))
    assert line == (f"tanh2deriv: wrong: tanh2deriv(output) is float16, less precise than the "
                    f"exercise's {dtype}: a float16 value enters somewhere (np.float16, "
                    ".astype(np.float16), torch's .half() or .to(torch.float16), a float16 "
                    "array, tensor or constant)")
    if dtype == "float64":  # float32 where float64 is asked: torch's casts among the suspects
        leak = str(check(lambda output: (1 - output**2).astype("float32"), name="tanh2deriv"))
        assert ("is float32, less precise than the exercise's float64: a float32 value enters "
                "somewhere (np.float32, .astype(np.float32), torch's .float() or "
                ".to(torch.float32)") in leak, leak
