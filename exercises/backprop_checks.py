"""The checks of the backprop track (exercises/backprop.py): every hand-written derivative
of the chapter, in NumPy, judged by exercises/grading.py.

Each answer is one function of arrays, returning one array, compared with what numpy_impl
computes from the same inputs. Where the answer is a derivative, it is also checked
against central finite differences (float64) of the loss: a pass means the answer is the
true gradient, not merely the project's. Each exercise's catalogue of typical mistakes is
written out below as code, each with its kind in words, which follows the symptom in a
wrong answer's line (never the fix: that is the last hint's, exercises/hints.py).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import numpy as np

from exercises import backprop as blanks
from exercises.child import float64_run, function_run
from exercises.grading import (
    Arrays,
    Exercise,
    Expected,
    Extra,
    Final,
    Inputs,
    Mistake,
    StepTensors,
    first_step,
)
from numpy_impl import activations as act
from numpy_impl.network import Layers, backward

FD_STEP = 1e-5
"""How far finite differences move an input (central differences, float64)."""

FD_TOLERANCE = 1e-6
"""How far, in relative error (of the norms), an answer may be from finite differences.
The solutions are at most 2e-8 away (truncation, and the rounding of the loss); a
mistake of 0.1% is 1e-3 away."""


def loss_of_logits(step: StepTensors, logits: np.ndarray) -> float:
    return step.network.output.loss(step.network.activate(logits), step.labels, step.config.D)


def loss_of_hidden_output(step: StepTensors, hidden_output: np.ndarray) -> float:
    return loss_of_logits(step, hidden_output * step.dropout_mask * 2 @ step.weights_1_2)


def loss_of_hidden_input(step: StepTensors, hidden_input: np.ndarray) -> float:
    return loss_of_hidden_output(step, step.network.layers.hidden(hidden_input))


def derivative(f: Callable[[float], float]) -> float:
    """f'(0) by central differences: (f(h) - f(-h)) / 2h."""
    return (f(FD_STEP) - f(-FD_STEP)) / (2 * FD_STEP)


def central_differences(loss: Callable[[np.ndarray], float], x: np.ndarray,
                        entries: tuple[np.ndarray, ...]) -> np.ndarray:
    """d loss / d x at the given entries, one entry at a time."""
    def moved(index: tuple[int, ...], t: float) -> np.ndarray:
        y = x.copy()
        y[index] += t
        return y
    return np.array([derivative(lambda t: loss(moved(index, t)))  # noqa: B023
                     for index in zip(*entries, strict=True)])


def some_entries(shape: tuple[int, ...], count: int = 32,
                 rows: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """`count` entries of an array, the same every time (from `rows` only, if given)."""
    rng = np.random.RandomState(0)
    if rows is None:
        flat = rng.choice(int(np.prod(shape)), count, replace=False)
        return np.unravel_index(flat, shape)
    return rng.choice(rows, count), rng.randint(shape[1], size=count)


Numeric = Callable[[StepTensors, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""numeric(chapter, answer) -> (entries of the answer, the same entries by finite differences)."""


def slope_numeric(forward: Callable[[np.ndarray], np.ndarray]) -> Numeric:
    def numeric(step: StepTensors, slope: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        away = np.abs(step.stretched_input) > 10 * FD_STEP  # from relu's kink (no slope)
        x = step.stretched_input[away]
        return slope[away], (forward(x + FD_STEP) - forward(x - FD_STEP)) / (2 * FD_STEP)
    return numeric


def gradient_numeric(x: str, loss: Callable[[StepTensors, np.ndarray], float]) -> Numeric:
    """d loss / d x by finite differences on a few entries of the chapter's tensor `x`,
    beside the same entries of the answer (of an update: the gradient it followed,
    (weights - new) / alpha)."""
    def numeric(step: StepTensors, answer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        value = getattr(step, x)
        gradient = (value - answer) / step.config.alpha if x.startswith("weights") else answer
        entries = some_entries(value.shape)
        return gradient[entries], central_differences(functools.partial(loss, step), value, entries)
    return numeric


def weights_0_1_numeric(step: StepTensors, new: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """gradient_numeric's, on rows of pixels that are not 0 in every image (the rest get 0).
    Moving weights_0_1[i, j] by t moves the hidden input's column j by t * layer_0[:, i]:
    the same differences, without a 784-wide matmul for each."""
    rows, columns = some_entries(step.weights_0_1.shape,
                                 rows=np.flatnonzero(step.layer_0.any(axis=0)))
    gradient = (step.weights_0_1 - new) / step.config.alpha

    def loss(i: int, j: int, t: float) -> float:
        hidden_input = step.hidden_input.copy()
        hidden_input[:, j] += t * step.layer_0[:, i]
        return loss_of_hidden_input(step, hidden_input)
    numeric = [derivative(functools.partial(loss, i, j))
               for i, j in zip(rows, columns, strict=True)]
    return gradient[rows, columns], np.array(numeric)


def dropout_backward_reference(step: StepTensors) -> np.ndarray:
    """Dropout alone is a hidden layer whose activation is the identity: the chapter's
    backward, with identity's slope (1), leaves only dropout's part of layer_1_delta."""
    layers = dataclasses.replace(Layers.of(step.config), hidden2deriv=act.identity2deriv)
    return backward(layers, step.weights_1_2, step.layer_1, step.layer_2, step.labels,
                    step.dropout_mask)[1]


def float64_answer(inputs: Inputs) -> Extra:
    """A float32 exercise's derivative in float64 too, for the finite differences."""
    def extra(step: StepTensors) -> tuple[object, dict[str, object]] | None:
        if step.config.dtype == "float64":
            return None
        return float64_run, inputs(first_step("float64"))
    return extra


def finite_differences(numeric: Numeric, label: str) -> Final:
    def final(step: StepTensors, arrays: Arrays) -> tuple[str | None, str]:
        step64 = first_step("float64")
        answer64 = arrays.get("answer64", arrays["answer"])
        if answer64.dtype.kind not in "biuf" or answer64.shape != arrays["answer"].shape:
            return f"{label} in float64 has shape {answer64.shape}", ""
        error = relative_error(*numeric(step64, answer64.astype(np.float64)))
        if not error <= FD_TOLERANCE:
            return (f"{label} matches numpy_impl's reference but not finite differences "
                    f"(relative error {error:.1e}): the reference is not the gradient"), ""
        return None, f"finite differences agree to {error:.0e}"
    return final


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return float(np.linalg.norm(a - b) / scale) if scale > 0 else 0.0


def function_exercise(
    blank: Callable[..., object], label: str, inputs: Inputs,
    reference: Callable[[StepTensors], np.ndarray], mistakes: tuple[Mistake, ...] = (),
    numeric: Numeric | None = None, depth: float = 2, zero: str = "where it should be 0",
    masked: bool = False, weights: str | None = None, tied: tuple[str, ...] = (),
    may_change: tuple[str, ...] = (), hints: tuple[str, ...] = (),
) -> Exercise:
    """An exercise whose answer is one function of arrays, returning one array (changing
    no argument in place but those of `may_change`)."""
    return Exercise(
        blank, inputs, function_run,
        (Expected("answer", label, reference, depth, zero, masked, weights),), mistakes,
        None if numeric is None else finite_differences(numeric, label),
        None if numeric is None else float64_answer(inputs), tied=tied, may_change=may_change,
        hints=hints)


BOOK_LINE = ("this is the book's line, which takes tanh's slope after dropout doubled "
             "layer_1 and leaves out the mask's 2; see docs/walkthrough.md")
FROM_INPUT = ("{0} is applied again to what is already {0}'s output: {0}2deriv is given "
              "{0}'s output, not its input")
DROPPED = "where dropout dropped a unit (dropout_mask is 0)"
LEAKS = "the gradient passes through the units dropout dropped"
NO_SCALE_BACK = "dropout's scale of the kept units is left out of their gradient"
SLOPE_AFTER_DROPOUT = ("tanh's slope is taken at layer_1, after dropout doubled it, where the "
                       "chain rule takes it at tanh's own output")
"""The kinds of mistake, in words, that the catalogues below share (never the fix: that is
the last hint's)."""


def slope_exercise(blank: Callable[..., object], mistakes: tuple[Mistake, ...],
                   zero: str = "where it should be 0", hints: tuple[str, ...] = ()
                   ) -> Exercise:
    """An activation's slope from its output: `blank` is {activation}2deriv."""
    forward, slope = act.HIDDEN[blank.__name__.removesuffix("2deriv")]
    return function_exercise(
        blank, f"{blank.__name__}(output)",
        inputs=lambda step: {"output": forward(step.stretched_input)},
        reference=lambda step: slope(forward(step.stretched_input)),
        mistakes=mistakes, numeric=slope_numeric(forward), zero=zero, hints=hints)


def update_exercise(blank: Callable[..., object], layer: str, delta: str,
                    hints: tuple[str, ...] = ()) -> Exercise:
    """One step of gradient descent on weights: `blank` is {weights}_update."""
    weights = blank.__name__.removesuffix("_update")
    return function_exercise(
        blank, f"the new {weights}",
        inputs=lambda step: {weights: getattr(step, weights), layer: getattr(step, layer),
                          delta: getattr(step, delta), "alpha": step.config.alpha},
        reference=lambda step: getattr(step, f"new_{weights}"),
        mistakes=(
            (lambda w, x, d, alpha: w + alpha * x.T @ d,
             "the weights move up the gradient, where descent moves down it (the book adds, "
             "because its delta is the gradient's negative)"),
            (lambda w, x, d, alpha: w - x.T @ d, "the learning rate is left out"),
            (lambda w, x, d, alpha: -alpha * x.T @ d,
             f"it is the step alone, not {weights} after the step"),
            (lambda w, x, d, alpha: alpha * x.T @ d,
             f"it is the step alone, not {weights} after the step"),
            (lambda w, x, d, alpha: w - alpha * x @ d,
             f"the product pairs the wrong axes of {layer} and {delta}: the gradient of "
             f"{weights} has one row per row of {weights}, each a sum over the images"),
        ),
        numeric=weights_0_1_numeric if weights == "weights_0_1" else gradient_numeric(
            weights, lambda step, w: loss_of_logits(step, step.layer_1 @ w)),
        weights=weights, may_change=(weights,),  # the book's `weights -= ...` is fine
        hints=hints)


EXERCISES = (
    slope_exercise(blanks.relu2deriv, zero="where relu's output is 0 (a unit that is off)",
                   mistakes=(
        (lambda output: output >= 0,
         "an output of exactly 0, a unit that is off, counts as on: the comparison's boundary "
         "is on the wrong side"),
        (lambda output: output, "it is relu's output, not its slope, which takes two values "
                                "only"),
    ), hints=(
        "relu's output is either 0 (the input was not positive) or the input itself.",
        "Where the unit is on, relu is the identity: slope 1. Where it is off, relu is "
        "flat: slope 0. So the slope only asks whether the output is positive.",
        "The fix: the comparison output > 0, as numbers of output's dtype: "
        "(output > 0).astype(output.dtype). An output of exactly 0 is a unit that is off.",
    )),
    slope_exercise(blanks.sigmoid2deriv, mistakes=(
        (lambda output: act.sigmoid(output) * (1 - act.sigmoid(output)),
         FROM_INPUT.format("sigmoid")),
        (lambda output: 1 - output**2, "it is tanh's slope, not sigmoid's"),
        (lambda output: 1 - output, "one of the derivative's two factors is missing"),
    ), hints=(
        "Write s = 1 / (1 + e^-x) and differentiate with the chain rule; then look for s "
        "in what you get.",
        "The derivative is e^-x / (1 + e^-x)^2, which is s times (1 - s).",
        "The fix: output * (1 - output).",
    )),
    slope_exercise(blanks.tanh2deriv, mistakes=(
        (lambda output: 1 - np.tanh(output) ** 2, FROM_INPUT.format("tanh")),
        (lambda output: 1 - output, "it is linear in the output, and tanh's slope is not"),
        (lambda output: (1 - output) ** 2, "the square is taken of the wrong quantity"),
        (lambda output: output * (1 - output), "it is sigmoid's slope, not tanh's"),
    ), hints=(
        "d/dx tanh(x) is 1 / cosh(x)^2; the identity cosh^2 - sinh^2 = 1 turns it into "
        "something in tanh(x) alone.",
        "The slope is 1 minus the square of tanh's output.",
        "The fix: 1 - output**2.",
    )),
    function_exercise(
        blanks.softmax_cross_entropy_delta, "layer_2_delta",
        inputs=lambda step: {"layer_2": step.layer_2, "labels": step.labels, "D": step.config.D},
        reference=lambda step: step.layer_2_delta,
        mistakes=(
            (lambda layer_2, labels, D: (labels - layer_2) / D,
             "it is the book's delta, the gradient's negative, which goes with the book's += "
             "update"),
            (lambda layer_2, labels, D: layer_2 - labels, "the division by D is left out"),
            (lambda layer_2, labels, D: (layer_2 - labels) / len(layer_2),
             "it divides by the batch size, not by D"),
            (lambda layer_2, labels, D: (act.softmax(layer_2) - labels) / D,
             "softmax is applied again to layer_2, which is softmax's output already"),
            (lambda layer_2, labels, D: (layer_2 - labels) * layer_2 * (1 - layer_2) / D,
             "it multiplies by a slope of softmax, which cross-entropy's gradient cancels"),
        ),
        numeric=gradient_numeric("logits", loss_of_logits),
        hints=(
            "Differentiate -log(softmax(x)[true class]) with respect to each x_j: the true "
            "class's term and the normalizer's term both contribute.",
            "For one image the gradient is the prediction minus the one-hot truth; the loss is "
            "summed over the batch and divided by D, so the gradient is divided by D.",
            "The fix: (layer_2 - labels) / D (the book's labels - layer_2 is its negative, which "
            "goes with the book's += update).",
        )),
    function_exercise(
        blanks.dropout, "layer_1 (after dropout)",
        inputs=lambda step: {"layer_1": step.hidden_output, "dropout_mask": step.dropout_mask},
        reference=lambda step: step.layer_1,
        mistakes=(
            (lambda layer_1, mask: layer_1 * mask,
             "it keeps the right units but does not scale them up as inverted dropout does"),
            (lambda layer_1, mask: layer_1 * mask / 2,
             "the kept units are scaled down, where inverted dropout scales them up"),
            (lambda layer_1, mask: layer_1 * (1 - mask) * 2,
             "it keeps the units the mask drops, and drops those it keeps"),
            (lambda layer_1, mask: layer_1 * 2, "no unit is dropped: the mask is not applied"),
        ),
        zero=DROPPED, masked=True, may_change=("layer_1",),  # the book's `layer_1 *= ...`
        hints=(
            "Multiplying by the mask keeps the units where it is 1 and silences the rest.",
            "Half the units survive on average, so the kept ones are doubled to keep the layer's "
            "expected size.",
            "The fix: layer_1 * dropout_mask * 2.",
        )),
    function_exercise(
        blanks.dropout_backward, "the gradient before dropout",
        inputs=lambda step: {"grad_layer_1": step.layer_2_delta @ step.weights_1_2.T,
                          "dropout_mask": step.dropout_mask},
        reference=dropout_backward_reference,
        mistakes=(
            (lambda grad, mask: grad * mask, NO_SCALE_BACK),
            (lambda grad, mask: grad * 2, LEAKS),
            (lambda grad, mask: grad,
             "it is grad_layer_1 as it came: dropout's backward pass does nothing to it"),
            (lambda grad, mask: grad * mask / 2,
             "the kept units' gradient is scaled down, where the forward pass scaled them up"),
        ),
        numeric=gradient_numeric("hidden_output", loss_of_hidden_output),
        zero=DROPPED, masked=True,
        hints=(
            "Dropout is an elementwise product by a constant: y = x * m * 2.",
            "dy/dx = m * 2, so the gradient flowing back is multiplied by the same numbers.",
            "The fix: grad_layer_1 * dropout_mask * 2.",
        )),
    function_exercise(
        blanks.layer_1_delta, "layer_1_delta",
        inputs=lambda step: {"layer_2_delta": step.layer_2_delta, "weights_1_2": step.weights_1_2,
                          "layer_1": step.layer_1, "dropout_mask": step.dropout_mask},
        reference=lambda step: step.layer_1_delta,
        mistakes=(
            (lambda d2, w, layer_1, mask: d2 @ w.T * act.tanh2deriv(layer_1) * mask, BOOK_LINE),
            (lambda d2, w, layer_1, mask: d2 @ w.T * act.tanh2deriv(layer_1 / 2) * mask,
             f"{NO_SCALE_BACK} (the mask's 2)"),
            (lambda d2, w, layer_1, mask: d2 @ w.T * act.tanh2deriv(layer_1) * mask * 2,
             SLOPE_AFTER_DROPOUT),
            (lambda d2, w, layer_1, mask: d2 @ w.T * (1 - np.tanh(layer_1 / 2) ** 2) * mask * 2,
             FROM_INPUT.format("tanh")),
            (lambda d2, w, layer_1, mask: d2 @ w.T * mask * 2, "tanh's slope is left out"),
            (lambda d2, w, layer_1, mask: d2 @ w.T * act.tanh2deriv(layer_1 / 2) * 2, LEAKS),
            (lambda d2, w, layer_1, mask: d2 @ w.T,
             "it stops at the gradient of layer_1: it does not go back through dropout and "
             "tanh"),
        ),
        numeric=gradient_numeric("hidden_input", loss_of_hidden_input),
        depth=4, zero=DROPPED, masked=True, tied=("dropout_mask",),
        hints=(
            "Three steps back from layer_2_delta: the product by weights_1_2 (its transpose "
            "carries the gradient back), dropout (your dropout_backward), then tanh's slope.",
            "layer_1 after dropout is tanh's output times dropout_mask * 2: where a unit is kept, "
            "tanh's output is layer_1 / 2 (where it is dropped, the mask zeroes the gradient "
            "anyway).",
            "The fix: layer_2_delta @ weights_1_2.T * tanh2deriv(layer_1 / 2) * dropout_mask * 2.",
        )),
    update_exercise(blanks.weights_1_2_update, "layer_1", "layer_2_delta", hints=(
        "The gradient of weights_1_2 has its shape (100, 10): one row per hidden unit, one "
        "column per class, summed over the images.",
        "That sum of outer products is layer_1.T @ layer_2_delta. Gradient descent moves "
        "against the gradient, by alpha times it.",
        "The fix: weights_1_2 - alpha * layer_1.T @ layer_2_delta.",
    )),
    update_exercise(blanks.weights_0_1_update, "layer_0", "layer_1_delta", hints=(
        "The same rule as weights_1_2_update: the layer it reads, transposed, times the "
        "delta at the layer it writes.",
        "Here the layer it reads is layer_0 and the delta is layer_1_delta.",
        "The fix: weights_0_1 - alpha * layer_0.T @ layer_1_delta.",
    )),
)
EXERCISE = {exercise.name: exercise for exercise in EXERCISES}

