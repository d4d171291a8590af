"""How an exercise is graded, and the checks of the backprop track (exercises/backprop.py).

    >>> from exercises import check
    >>> print(check(tanh2deriv))
    tanh2deriv: passed (max abs diff 0.0e+00, max rel diff 0.0e+00; finite differences ...)

Grading is two halves, so that a learner's code never decides its own verdict:

- `probe(answer, chapter)` runs the learner's code on the chapter's first training step
  and hands back the tensors it made, as named NumPy arrays. This is the only half that
  runs code we did not write: scripts/check_exercises.py runs it in a child process
  (exercises/runner.py), the notebooks in their own kernel.
- `judge(exercise, arrays, dtype)` compares those arrays with the project's own tensors,
  in the exercise's dtype, and says in one line what is off. It runs only our code.

Every exercise runs on the chapter's first training step: the first 100 images of the
shipped MNIST slice, the book's seed-1 initial weights and first dropout mask, preset tanh
in exact mode. The reference is what numpy_impl computes from the same inputs, and "close"
is common/close.py's, at the tolerance of the exercise's dtype (never the answer's).
Where the answer is a derivative, it is also checked against central finite differences
(float64) of the loss: a pass means the answer is the true gradient, not merely the
project's.

A wrong answer gets one line that names the tensor and says what is off, trying in turn:
its shape, NaN or inf, a dtype less precise than the exercise's, the exercise's catalogue
of typical mistakes (written out below as code), entries that should be 0, a constant
factor (everywhere, or wherever a unit is kept), and else by how much it differs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from common.close import compare
from common.config import CLASSES, PRESETS, Config
from common.data import load
from numpy_impl import activations as act
from numpy_impl.network import LOSSES, Network
from numpy_impl.train import dropout_masks, initial_weights

CONFIG = PRESETS["tanh"].replace(mode="exact")
"""The book's listing, with the true gradient (book mode's hidden delta is not one)."""

H = 1e-5
"""The step of the central differences (float64)."""

FD_TOLERANCE = 1e-6
"""How far, in relative error (of the norms), an answer may be from finite differences.
The solutions are at most 2e-8 away (truncation, and the rounding of the loss); a
mistake of 0.1% is 1e-3 away."""


@dataclass(frozen=True)
class Chapter:
    """The tensors of the chapter's first training step, named as in the chapter (read-only)."""

    config: Config
    network: Network  # on the initial weights: its hidden and output layers, for the losses
    layer_0: np.ndarray  # (100, 784): the first 100 images, pixels / 255
    labels: np.ndarray  # (100, 10): one-hot
    dropout_mask: np.ndarray  # (100, 100): the first mask of seed 1, 0 or 1
    weights_0_1: np.ndarray  # (784, 100): seed 1's initial weights
    weights_1_2: np.ndarray  # (100, 10)
    hidden_input: np.ndarray  # layer_0 @ weights_0_1
    hidden_output: np.ndarray  # tanh(hidden_input): layer_1 before dropout
    layer_1: np.ndarray  # after dropout: hidden_output * dropout_mask * 2
    layer_2: np.ndarray  # softmax(layer_1 @ weights_1_2)
    layer_2_delta: np.ndarray
    layer_1_delta: np.ndarray
    new_weights_0_1: np.ndarray  # after the step
    new_weights_1_2: np.ndarray
    spread: np.ndarray  # hidden_input stretched to [-4, 4], where the slopes differ most

    @property
    def logits(self) -> np.ndarray:
        return self.layer_1 @ self.weights_1_2


def chapter(dtype: str = "float64") -> Chapter:
    """The chapter's first step, computed by numpy_impl in `dtype` (float64 or float32)."""
    return _chapter(CONFIG.replace(dtype=dtype))


@functools.cache
def _chapter(config: Config) -> Chapter:
    dtype = np.dtype(config.dtype)
    data = load(train_size=config.batch_size, test_size=1)
    rng = np.random.RandomState(config.seed)
    weights_0_1, weights_1_2 = (w.astype(dtype) for w in initial_weights(rng, config))
    dropout_mask = dropout_masks(rng, config)[0].astype(dtype)
    layer_0 = (data.train_images / 255).astype(dtype)
    labels = np.eye(CLASSES, dtype=dtype)[data.train_labels]
    trained = Network(config, weights_0_1.copy(), weights_1_2.copy())
    step = trained.train_step(layer_0, labels, dropout_mask)
    network = Network(config, weights_0_1, weights_1_2)
    hidden_input = layer_0 @ weights_0_1
    tensors = dict(
        layer_0=layer_0, labels=labels, dropout_mask=dropout_mask, weights_0_1=weights_0_1,
        weights_1_2=weights_1_2, hidden_input=hidden_input,
        hidden_output=network.hidden(hidden_input), layer_1=step.layer_1,
        layer_2=step.layer_2, layer_2_delta=step.layer_2_delta,
        layer_1_delta=step.layer_1_delta, new_weights_0_1=trained.weights_0_1,
        new_weights_1_2=trained.weights_1_2,
        spread=hidden_input * dtype.type(4 / np.abs(hidden_input).max()))
    for tensor in tensors.values():
        tensor.flags.writeable = False
    return Chapter(config, network, **tensors)


# The verdicts: a Result per exercise, decided by `judge` alone.

STATUSES = ("passed", "not done", "wrong", "failed")
"""failed: the answer's code hung, crashed or ended the grader's process (exercises/runner.py)."""


@dataclass(frozen=True)
class Result:
    """How one exercise went; `str()` gives its one line."""

    name: str
    status: str  # one of STATUSES
    message: str  # the line after the name: "passed (...)", "not done yet", "wrong: ..."

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:  # a notebook cell's output
        printer.text(str(self))


class Outcome(Exception):
    """What a probe says by itself, before any tensor is compared: not done, or wrong (it
    raised, or returned something that is not a tensor). It can only fail an answer."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:200]}" if text else type(error).__name__


def calling(function: Callable[..., object], *args: object) -> object:
    """function(*args), where what it raises (exiting included) becomes an Outcome."""
    try:
        with np.errstate(all="ignore"):
            return function(*args)
    except NotImplementedError:
        raise Outcome("not done", "not done yet") from None
    except (Exception, SystemExit) as e:
        hint = ": an answer returns its result, it does not exit" if isinstance(
            e, SystemExit) else ""
        raise Outcome("wrong", f"wrong: it raised {first_line(e)}{hint}") from None


Arrays = dict[str, np.ndarray]
Probe = Callable[[object, Chapter], Arrays]
"""probe(answer, chapter) -> the tensors the answer made, by name: runs the learner's code."""
Mistake = tuple[object, str]
"""A typical wrong answer, as code of the answer's kind, and what it gets wrong."""
Final = Callable[[Chapter, Arrays], tuple[str | None, str]]
"""final(chapter, arrays) -> (what is off, or None; a note for the line that says passed)."""


@dataclass(frozen=True)
class Tensor:
    """One tensor an answer is judged on."""

    key: str  # its name among the probe's arrays
    label: str  # what messages call it
    reference: Callable[[Chapter], np.ndarray]  # computed by the project's own code
    depth: float = 2  # its rounding steps, for common.close.compare
    zero: str = "where it should be 0"  # where the reference is 0, in words
    masked: bool = False  # 0 where the chapter's dropout_mask is 0
    weights: str | None = None  # the new value of these chapter weights: diagnose its step


@dataclass(frozen=True)
class Exercise:
    """One thing to write: how to run it, what it must match, how to tell what is off."""

    name: str
    probe: Probe
    tensors: tuple[Tensor, ...]
    mistakes: tuple[Mistake, ...] = ()
    final: Final | None = None


def _factor(a: np.ndarray, b: np.ndarray) -> float | None:
    """c if a = c b (to 0.01% of the largest entry), else None."""
    norm = float(np.sum(b * b))
    if norm == 0:
        return None
    c = float(np.sum(a * b)) / norm
    if c != 0 and np.abs(a - c * b).max() <= 1e-4 * abs(c) * np.abs(b).max():
        return c
    return None


def _about(c: float) -> str:
    if abs(c + 1) < 1e-3:
        return "has the wrong sign"
    text = f"{c:.3g}"
    if text == "1":
        text = f"1 {'+' if c > 1 else '-'} {abs(c - 1):.1e}"
    return f"is off by a factor of about {text}"


@functools.cache
def _mistake_arrays(exercise: Exercise, config: Config) -> list[tuple[Arrays, str]]:
    """What each typical wrong answer makes (those that run on these inputs)."""
    found = []
    for wrong, explanation in exercise.mistakes:
        try:
            found.append((exercise.probe(wrong, _chapter(config)), explanation))
        except Outcome:
            continue
    return found


def what_is_off(exercise: Exercise, tensor: Tensor, answer: np.ndarray, c: Chapter) -> str | None:
    """None if the answer's tensor is close to the reference; else what is off, in one line."""
    label, expected, dtype = tensor.label, tensor.reference(c), c.config.dtype
    if answer.shape != expected.shape:
        hint = ": a transposed product?" if answer.shape == expected.shape[::-1] else ""
        return f"{label} has shape {answer.shape}, expected {expected.shape}{hint}"
    if not np.isfinite(answer).all():
        return f"{label} has {np.count_nonzero(~np.isfinite(answer))} NaN or inf entries"
    comparison = compare(label, answer, expected, tensor.depth, dtype)
    if comparison.close:
        return None
    if answer.dtype.kind == "f" and np.finfo(answer.dtype).eps > np.finfo(dtype).eps:
        return (f"{label} is {answer.dtype}, less precise than the exercise's {dtype}: "
                f"compute it in the inputs' dtype")
    for arrays, explanation in _mistake_arrays(exercise, c.config):
        wrong = arrays.get(tensor.key)
        if wrong is not None and wrong.shape == answer.shape and compare(
                label, answer, wrong.astype(dtype), tensor.depth, dtype).close:
            return f"{label} {explanation}"
    a, b = answer.astype(np.float64), expected.astype(np.float64)
    stray = (b == 0) & (np.abs(a) > comparison.tol * np.abs(b).max())
    if stray.any():
        return f"{label} is not 0 at {np.count_nonzero(stray)} entries {tensor.zero}"
    if tensor.weights is not None:
        weights = getattr(c, tensor.weights).astype(np.float64)
        if (factor := _factor(weights - a, weights - b)) is not None:
            return f"the step ({tensor.weights} - {label}) {_about(factor)}"
    if (factor := _factor(a, b)) is not None:
        return f"{label} {_about(factor)}"
    if tensor.masked:
        kept = c.dropout_mask == 1
        if (factor := _factor(a[kept], b[kept])) is not None:
            return f"{label} {_about(factor)} wherever a unit is kept"
    return (f"{label} differs: max abs diff {comparison.max_abs:.1e}, max rel diff "
            f"{comparison.max_rel:.1e} (tolerance {comparison.tol:.0e} of the tensor's size)")


def judge(exercise: Exercise, arrays: Arrays, dtype: str = "float64") -> Result:
    """The verdict on the tensors an answer made (by `exercise.probe`), in `dtype`."""
    name, c = exercise.name, chapter(dtype)
    max_abs = max_rel = 0.0
    for tensor in exercise.tensors:
        answer = arrays.get(tensor.key)
        if not isinstance(answer, np.ndarray) or answer.dtype.kind not in "biuf":
            return Result(name, "failed", f"failed: the grader's process sent no {tensor.label}")
        problem = what_is_off(exercise, tensor, answer, c)
        if problem is not None:
            return Result(name, "wrong", f"wrong: {problem}")
        comparison = compare(tensor.label, answer, tensor.reference(c), tensor.depth, dtype)
        max_abs, max_rel = max(max_abs, comparison.max_abs), max(max_rel, comparison.max_rel)
    line = f"max abs diff {max_abs:.1e}, max rel diff {max_rel:.1e}"
    if exercise.final is not None:
        problem, note = exercise.final(c, arrays)
        if problem is not None:
            return Result(name, "wrong", f"wrong: {problem}")
        line += f"; {note}"
    return Result(name, "passed", f"passed ({line})")


def grade(exercise: Exercise, answer: object, dtype: str = "float64") -> Result:
    """Probe and judge in this process: for the notebooks, where the code is the learner's
    own, in the learner's own kernel."""
    if answer is None:
        return Result(exercise.name, "not done", f"not done yet ({exercise.name} is not defined)")
    try:
        arrays = exercise.probe(answer, chapter(dtype))
    except Outcome as outcome:
        return Result(exercise.name, outcome.status, outcome.message)
    return judge(exercise, arrays, dtype)


# The backprop track: every hand-written derivative of the chapter, in NumPy.

def loss_of_logits(c: Chapter, logits: np.ndarray) -> float:
    return LOSSES[c.config.output](c.network.activate(logits), c.labels, c.config.D)


def loss_of_hidden_output(c: Chapter, hidden_output: np.ndarray) -> float:
    return loss_of_logits(c, hidden_output * c.dropout_mask * 2 @ c.weights_1_2)


def loss_of_hidden_input(c: Chapter, hidden_input: np.ndarray) -> float:
    return loss_of_hidden_output(c, c.network.hidden(hidden_input))


def derivative(f: Callable[[float], float]) -> float:
    """f'(0) by central differences: (f(h) - f(-h)) / 2h."""
    return (f(H) - f(-H)) / (2 * H)


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


Numeric = Callable[[Chapter, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""numeric(chapter, answer) -> (entries of the answer, the same entries by finite differences)."""


def slope_numeric(forward: Callable[[np.ndarray], np.ndarray]) -> Numeric:
    def numeric(c: Chapter, slope: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        away = np.abs(c.spread) > 10 * H  # from relu's kink, where there is no slope
        x = c.spread[away]
        return slope[away], (forward(x + H) - forward(x - H)) / (2 * H)
    return numeric


def gradient_numeric(x: str, loss: Callable[[Chapter, np.ndarray], float]) -> Numeric:
    """d loss / d x by finite differences on a few entries of the chapter's tensor `x`,
    beside the same entries of the answer (of an update: the gradient it followed,
    (weights - new) / alpha)."""
    def numeric(c: Chapter, answer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        value = getattr(c, x)
        gradient = (value - answer) / c.config.alpha if x.startswith("weights") else answer
        entries = some_entries(value.shape)
        return gradient[entries], central_differences(functools.partial(loss, c), value, entries)
    return numeric


def weights_0_1_numeric(c: Chapter, new: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """gradient_numeric's, on rows of pixels that are not 0 in every image (the rest get 0).
    Moving weights_0_1[i, j] by t moves the hidden input's column j by t * layer_0[:, i]:
    the same differences, without a 784-wide matmul for each."""
    rows, columns = some_entries(c.weights_0_1.shape, rows=np.flatnonzero(c.layer_0.any(axis=0)))
    gradient = (c.weights_0_1 - new) / c.config.alpha

    def loss(i: int, j: int, t: float) -> float:
        hidden_input = c.hidden_input.copy()
        hidden_input[:, j] += t * c.layer_0[:, i]
        return loss_of_hidden_input(c, hidden_input)
    numeric = [derivative(functools.partial(loss, i, j))
               for i, j in zip(rows, columns, strict=True)]
    return gradient[rows, columns], np.array(numeric)


def dropout_backward_reference(c: Chapter) -> np.ndarray:
    """Dropout alone is a hidden layer whose activation is the identity: Network.backward,
    with identity's slope (1), leaves only dropout's part of layer_1_delta."""
    network = Network(c.config, c.weights_0_1, c.weights_1_2)
    network.hidden2deriv = act.identity2deriv
    return network.backward(c.layer_1, c.layer_2, c.labels, c.dropout_mask)[1]


def _copies(inputs: dict[str, object]) -> dict[str, object]:
    """Writable copies of the arrays: an answer may change its arguments in place."""
    return {k: np.array(v) if isinstance(v, np.ndarray) else v for k, v in inputs.items()}


def _answer(function: object, inputs: dict[str, object]) -> np.ndarray:
    """The function's answer on copies of the inputs, as an array, or Outcome."""
    if not callable(function):
        raise Outcome("wrong", f"wrong: it is a {type(function).__name__}, not a function")
    copies = _copies(inputs)
    result = calling(function, *copies.values())
    if result is None:
        changed = [k for k, v in copies.items()
                   if isinstance(v, np.ndarray) and not np.array_equal(v, inputs[k])]
        if changed:
            raise Outcome("wrong", f"wrong: it returned None after changing {changed[0]} in "
                                   f"place: return {changed[0]}")
        raise Outcome("not done", "not done yet (it returns None)")
    try:
        answer = np.asarray(result)
    except (ValueError, TypeError):  # a ragged list
        answer = np.array(None)
    if answer.dtype.kind not in "biuf":
        raise Outcome("wrong", f"wrong: it returned a {type(result).__name__}, not an array "
                               "of numbers")
    return answer


def function_probe(inputs: Callable[[Chapter], dict[str, object]],
                   numeric: Numeric | None) -> Probe:
    """Call the answer on the chapter's inputs; a derivative also on float64's, for the
    finite differences."""
    def probe(function: object, c: Chapter) -> Arrays:
        arrays = {"answer": _answer(function, inputs(c))}
        if numeric is not None and c.config.dtype != "float64":
            arrays["answer64"] = _answer(function, inputs(chapter("float64")))
        return arrays
    return probe


def finite_differences(numeric: Numeric, label: str) -> Final:
    def final(c: Chapter, arrays: Arrays) -> tuple[str | None, str]:
        c64 = chapter("float64")
        answer64 = arrays.get("answer64", arrays["answer"])
        if answer64.shape != arrays["answer"].shape:
            return f"{label} in float64 has shape {answer64.shape}", ""
        error = relative_error(*numeric(c64, answer64.astype(np.float64)))
        if not error <= FD_TOLERANCE:
            return (f"{label} matches numpy_impl's reference but not finite differences "
                    f"(relative error {error:.1e}): the reference is not the gradient"), ""
        return None, f"finite differences agree to {error:.0e}"
    return final


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return float(np.linalg.norm(a - b) / scale) if scale > 0 else 0.0


def function_exercise(
    name: str, label: str, inputs: Callable[[Chapter], dict[str, object]],
    reference: Callable[[Chapter], np.ndarray], mistakes: tuple[Mistake, ...] = (),
    numeric: Numeric | None = None, depth: float = 2, zero: str = "where it should be 0",
    masked: bool = False, weights: str | None = None,
) -> Exercise:
    """An exercise whose answer is one function of arrays, returning one array."""
    return Exercise(
        name, function_probe(inputs, numeric),
        (Tensor("answer", label, reference, depth, zero, masked, weights),), mistakes,
        None if numeric is None else finite_differences(numeric, label))


BOOK_LINE = ("is off by a factor of about 0.5 wherever a unit is kept: this is the book's "
             "line, which takes the slope after dropout doubled layer_1 and leaves out the "
             "mask's 2; see docs/walkthrough.md")
FROM_INPUT = ("takes the slope from the input: {0}2deriv gets {0}'s output, so do not apply "
              "{0} again")
DROPPED = "where dropout dropped a unit (dropout_mask is 0)"


def slope_exercise(name: str, forward: Callable[[np.ndarray], np.ndarray],
                   mistakes: tuple[Mistake, ...], zero: str = "where it should be 0") -> Exercise:
    return function_exercise(
        f"{name}2deriv", f"{name}2deriv(output)",
        inputs=lambda c: {"output": forward(c.spread)},
        reference=lambda c: act.HIDDEN[name][1](forward(c.spread)),
        mistakes=mistakes, numeric=slope_numeric(forward), zero=zero)


def update_exercise(name: str, layer: str, delta: str) -> Exercise:
    weights = f"weights_{name}"
    return function_exercise(
        f"{weights}_update", f"the new {weights}",
        inputs=lambda c: {weights: getattr(c, weights), layer: getattr(c, layer),
                          delta: getattr(c, delta), "alpha": c.config.alpha},
        reference=lambda c: getattr(c, f"new_{weights}"),
        mistakes=(
            (lambda w, x, d, alpha: w + alpha * x.T @ d,
             "moves up the gradient: += where it should be -= (the book adds, because its "
             "delta is labels - layer_2; the gradient's is layer_2 - labels)"),
            (lambda w, x, d, alpha: w - x.T @ d, "leaves out alpha, the learning rate"),
            (lambda w, x, d, alpha: -alpha * x.T @ d,
             f"is the step alone: return {weights} minus the step"),
            (lambda w, x, d, alpha: w - alpha * x @ d,
             f"multiplies {layer}, not {layer}.T, by {delta}: with 100 images and 100 hidden "
             "units the shapes fit by accident"),
        ),
        numeric=weights_0_1_numeric if name == "0_1" else gradient_numeric(
            weights, lambda c, w: loss_of_logits(c, c.layer_1 @ w)),
        weights=weights)


EXERCISE_LIST = [
    slope_exercise("relu", act.relu, zero="where relu's output is 0 (a unit that is off)",
                   mistakes=(
        (lambda output: output >= 0,
         "is 1 where relu's output is 0: a unit that is off has slope 0 (output > 0, not >= 0)"),
        (lambda output: output, "is relu's output, not its slope (1 or 0)"),
    )),
    slope_exercise("sigmoid", act.sigmoid, mistakes=(
        (lambda output: act.sigmoid(output) * (1 - act.sigmoid(output)),
         FROM_INPUT.format("sigmoid")),
        (lambda output: 1 - output**2, "is tanh's slope (1 - output**2), not sigmoid's"),
        (lambda output: 1 - output, "is 1 - output: multiply by output, output * (1 - output)"),
    )),
    slope_exercise("tanh", act.tanh, mistakes=(
        (lambda output: 1 - np.tanh(output) ** 2, FROM_INPUT.format("tanh")),
        (lambda output: 1 - output, "is 1 - output: square the output, 1 - output**2"),
        (lambda output: (1 - output) ** 2, "is (1 - output)**2: the square is the output's, "
                                           "1 - output**2"),
        (lambda output: output * (1 - output), "is sigmoid's slope, not tanh's (1 - output**2)"),
    )),
    function_exercise(
        "softmax_cross_entropy_delta", "layer_2_delta",
        inputs=lambda c: {"layer_2": c.layer_2, "labels": c.labels, "D": c.config.D},
        reference=lambda c: c.layer_2_delta,
        mistakes=(
            (lambda layer_2, labels, D: (labels - layer_2) / D,
             "has the wrong sign: it is the book's (labels - layer_2) / D, which goes with its "
             "+=; the gradient is (layer_2 - labels) / D"),
            (lambda layer_2, labels, D: layer_2 - labels, "is D times too large: divide by D"),
            (lambda layer_2, labels, D: (layer_2 - labels) / len(layer_2),
             "divides by the batch size, not by D"),
            (lambda layer_2, labels, D: (act.softmax(layer_2) - labels) / D,
             "applies softmax again: layer_2 is already softmax's output"),
            (lambda layer_2, labels, D: (layer_2 - labels) * layer_2 * (1 - layer_2) / D,
             "multiplies by a slope: with softmax and cross-entropy the slope cancels, "
             "the delta is just (layer_2 - labels) / D"),
        ),
        numeric=gradient_numeric("logits", loss_of_logits)),
    function_exercise(
        "dropout", "layer_1 (after dropout)",
        inputs=lambda c: {"layer_1": c.hidden_output, "dropout_mask": c.dropout_mask},
        reference=lambda c: c.layer_1,
        mistakes=(
            (lambda layer_1, mask: layer_1 * mask,
             "keeps the right units but does not double them: inverted dropout multiplies "
             "the kept units by 2 (1 / the probability 1/2 of keeping one)"),
            (lambda layer_1, mask: layer_1 * mask / 2, "halves the kept units: double them"),
            (lambda layer_1, mask: layer_1 * (1 - mask) * 2,
             "drops the units the mask keeps: a unit is kept where dropout_mask is 1"),
            (lambda layer_1, mask: layer_1 * 2, "doubles every unit but drops none: multiply "
                                                "by dropout_mask"),
        ),
        zero=DROPPED, masked=True),
    function_exercise(
        "dropout_backward", "the gradient before dropout",
        inputs=lambda c: {"grad_layer_1": c.layer_2_delta @ c.weights_1_2.T,
                          "dropout_mask": c.dropout_mask},
        reference=dropout_backward_reference,
        mistakes=(
            (lambda grad, mask: grad * mask,
             "leaves out the 2: the forward pass doubled the kept units, so their gradient "
             "doubles too"),
            (lambda grad, mask: grad * 2,
             "lets the gradient through dropped units: multiply by dropout_mask"),
            (lambda grad, mask: grad,
             "is grad_layer_1 unchanged: multiply by what the forward pass multiplied by"),
            (lambda grad, mask: grad * mask / 2, "halves the kept units' gradient: double it"),
        ),
        numeric=gradient_numeric("hidden_output", loss_of_hidden_output),
        zero=DROPPED, masked=True),
    function_exercise(
        "layer_1_delta", "layer_1_delta",
        inputs=lambda c: {"layer_2_delta": c.layer_2_delta, "weights_1_2": c.weights_1_2,
                          "layer_1": c.layer_1, "dropout_mask": c.dropout_mask},
        reference=lambda c: c.layer_1_delta,
        mistakes=(
            (lambda d2, w, layer_1, mask: d2 @ w.T * act.tanh2deriv(layer_1) * mask, BOOK_LINE),
            (lambda d2, w, layer_1, mask: d2 @ w.T * act.tanh2deriv(layer_1 / 2) * mask,
             "is off by a factor of 0.5 wherever a unit is kept: it leaves out the mask's 2 "
             "(dropout doubled the kept units, so their gradient doubles too)"),
            (lambda d2, w, layer_1, mask: d2 @ w.T * act.tanh2deriv(layer_1) * mask * 2,
             "takes tanh's slope at layer_1, after dropout doubled it: take it at layer_1 / 2, "
             "tanh's output"),
            (lambda d2, w, layer_1, mask: d2 @ w.T * (1 - np.tanh(layer_1 / 2) ** 2) * mask * 2,
             FROM_INPUT.format("tanh")),
            (lambda d2, w, layer_1, mask: d2 @ w.T * mask * 2,
             "leaves out tanh's slope: multiply by tanh2deriv of tanh's output"),
            (lambda d2, w, layer_1, mask: d2 @ w.T * act.tanh2deriv(layer_1 / 2) * 2,
             "lets the gradient through dropped units: multiply by dropout_mask"),
            (lambda d2, w, layer_1, mask: d2 @ w.T,
             "is layer_2_delta @ weights_1_2.T alone: go on through dropout and tanh"),
        ),
        numeric=gradient_numeric("hidden_input", loss_of_hidden_input),
        depth=4, zero=DROPPED, masked=True),
    update_exercise("1_2", "layer_1", "layer_2_delta"),
    update_exercise("0_1", "layer_0", "layer_1_delta"),
]
EXERCISE = {exercise.name: exercise for exercise in EXERCISE_LIST}
EXERCISES = tuple(EXERCISE)
"""The exercises' names, in the order of exercises/backprop.py."""

