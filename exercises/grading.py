"""How an exercise is graded, on either track: the engine. Each track's exercises, their
references and their catalogues of typical mistakes are its checks (backprop_checks.py,
autograd_checks.py); this module knows none of them.

    >>> from exercises import check
    >>> check(tanh2deriv)
    tanh2deriv: passed (max abs diff 0.0e+00, max rel diff 0.0e+00; finite differences ...)

Grading is two halves, so that a learner's code never decides its own verdict:

- `exercise.probe(answer, dtype)` runs the learner's code on every configuration below and
  hands back the tensors it made, as named NumPy arrays. This is the only half that runs
  code we did not write: scripts/check_exercises.py runs it in a child process
  (exercises/runner.py), the notebooks in their own kernel.
- `judge(exercise, arrays, dtype)` compares those arrays with the project's own tensors,
  in the exercise's dtype, and says in one line what is off. It runs only our code.

Every exercise runs on two configurations. The first is the chapter's first training
step: the first 100 images of the shipped MNIST slice, the book's seed-1 initial weights
and first dropout mask, preset tanh in exact mode (D = 10000, alpha = 2, 100 hidden
units). The second differs in every value an answer receives: seed 2's weights and mask,
20 other images, 30 hidden units, alpha = 0.5, D = 200 (batch*classes). And on the first
step, each argument in turn takes another value (an array its rows rolled by one, a number
the second configuration's, or one more where both have the same: pixels, classes): an
answer that makes the same tensors ignores that argument, and its line says which ("lr
does not change with D").

The reference is what numpy_impl computes from the same inputs, and "close" is
ch9_shared/close.py's, at the tolerance of the exercise's dtype (never the answer's). An
exercise may end with a `final` check of its own on the first step (finite differences,
gradcheck), whose note joins the line that says passed.

A wrong answer gets one line that names the tensor and says what is off, trying in turn:
its shape, NaN or inf, a dtype less precise than the exercise's, the exercise's catalogue
of typical mistakes (written out in its track's checks as code; one that raises is
matched by what it raised), entries that should be 0, a constant factor (everywhere, or
wherever a unit is kept) or, for one number, a constant added, and else by how much it
differs.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ch9_shared.close import compare
from ch9_shared.config import CLASSES, PRESETS, Config
from ch9_shared.data import load
from numpy_impl.network import Network
from numpy_impl.train import dropout_masks, initial_weights

CONFIG = PRESETS["tanh"].replace(mode="exact")
"""The book's listing, with the true gradient (book mode's hidden delta is not one)."""

SECOND = dict(seed=2, batch_size=20, hidden_size=30, alpha=0.5, divisor="batch*classes")
SECOND_BATCH = 5
"""The second configuration: CONFIG with these values, on batch 5 of its images (100 to
119, none of the first step's). Small, so that checking stays fast."""


@dataclass(frozen=True, eq=False)  # one per configuration (cached), hashed as itself
class StepTensors:
    """The tensors of one training step, named as in the chapter (read-only)."""

    config: Config
    batch: int  # which batch of the training images
    network: Network  # on the initial weights: its hidden and output layers, for the losses
    layer_0: np.ndarray  # (B, 784): the batch's images, pixels / 255
    labels: np.ndarray  # (B, 10): one-hot
    dropout_mask: np.ndarray  # (B, H): the batch's mask, 0 or 1
    weights_0_1: np.ndarray  # (784, H): the seed's initial weights
    weights_1_2: np.ndarray  # (H, 10)
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

    def describe(self) -> str:
        config = self.config
        return (f"seed {config.seed}, {config.batch_size} images, {config.hidden_size} hidden "
                f"units, alpha = {config.alpha:g}, D = {config.D}")


def step_tensors(dtype: str = "float64") -> tuple[StepTensors, StepTensors]:
    """The two configurations an answer runs on, in `dtype`: the chapter's first step, and
    the second (SECOND)."""
    config = CONFIG.replace(dtype=dtype)
    return _step_tensors_of(config, 0), _step_tensors_of(config.replace(**SECOND), SECOND_BATCH)


def first_step(dtype: str = "float64") -> StepTensors:
    """The chapter's first step, computed by numpy_impl in `dtype` (float64 or float32).
    (It computes the second configuration too: a child process calls it to have its inputs
    before it imports any answers.)"""
    return step_tensors(dtype)[0]


@functools.cache
def _step_tensors_of(config: Config, batch: int) -> StepTensors:
    dtype, size = np.dtype(config.dtype), config.batch_size
    data = load(train_size=(batch + 1) * size, test_size=1)
    rng = np.random.RandomState(config.seed)
    weights_0_1, weights_1_2 = (w.astype(dtype) for w in initial_weights(rng, config))
    dropout_mask = dropout_masks(rng, config)[batch].astype(dtype)
    layer_0 = (data.train_images[batch * size:] / 255).astype(dtype)
    labels = np.eye(CLASSES, dtype=dtype)[data.train_labels[batch * size:]]
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
    return StepTensors(config, batch, network, **tensors)


# The verdicts: a Result per exercise, decided by `judge` alone.

Status = Literal["passed", "not done", "wrong", "failed"]
"""failed: the answer's code hung, crashed or ended the grader's process (exercises/runner.py)."""


@dataclass(frozen=True)
class Result:
    """How one exercise went; `str()` and `repr()` give its one line."""

    name: str
    status: Status
    message: str  # the line after the name: "passed (...)", "not done yet", "wrong: ..."

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"

    def __repr__(self) -> str:  # what a plain Python prompt shows
        return str(self)

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:  # IPython's and a notebook's
        printer.text(str(self))


class Outcome(Exception):
    """What a probe says by itself, before any tensor is compared: not done, or wrong (it
    raised, or returned something that is not a tensor). It can only fail an answer."""

    def __init__(self, status: Status, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:200]}" if text else type(error).__name__


def article(word: str) -> str:
    """The word with its article: "a list", "an int", "an ndarray"."""
    return f"{'an' if word[:1].lower() in 'aeiou' or word.startswith('nd') else 'a'} {word}"


def kind(value: object) -> str:
    """What a value is, in words: "None", "a list", "an ndarray"."""
    return "None" if value is None else article(type(value).__name__)


PLURAL = {"is": "are", "has": "have", "differs": "differ", "does": "do", "matches": "match"}


def say(label: str, predicate: str) -> str:
    """The label and what is off with it, the verb agreeing: "the logits are ..."."""
    if "logits" in label.split():
        verb, _, rest = predicate.partition(" ")
        predicate = f"{PLURAL.get(verb, verb)} {rest}".strip()
    return f"{label} {predicate}"


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
Inputs = Callable[[StepTensors], dict[str, object]]
"""inputs(chapter) -> the answer's arguments, by name: NumPy arrays and numbers."""
Run = Callable[[object, dict[str, object], StepTensors], Arrays]
"""run(answer, inputs, chapter) -> the tensors the answer made from these inputs, by name
(the chapter gives the rest: the weights a model starts from). Runs the learner's code."""
Extra = Callable[[object, StepTensors], Arrays]
"""extra(answer, chapter) -> more tensors of the answer, on the first step alone."""
Mistake = tuple[object, str]
"""A typical wrong answer, as code of the answer's kind, and what it gets wrong."""
Final = Callable[[StepTensors, Arrays], tuple[str | None, str]]
"""final(chapter, arrays) -> (what is off, or None; a note for the line that says passed),
on the first step's arrays."""


@dataclass(frozen=True)
class Expected:
    """One tensor an answer must make, and how it is judged."""

    key: str  # its name among the probe's arrays
    label: str  # what messages call it
    reference: Callable[[StepTensors], np.ndarray]  # computed by the project's own code
    depth: float = 2  # its rounding steps, for ch9_shared.close.compare
    zero: str = "where it should be 0"  # where the reference is 0, in words
    masked: bool = False  # 0 where the chapter's dropout_mask is 0
    weights: str | None = None  # the new value of these chapter weights: diagnose its step


@dataclass(frozen=True)
class Exercise:
    """One thing to write: its arguments, how to run it, what it must match, how to tell
    what is off."""

    blank: Callable[..., object]  # the function or class to write, in its track's blank file
    inputs: Inputs
    run: Run
    tensors: tuple[Expected, ...]
    mistakes: tuple[Mistake, ...] = ()
    final: Final | None = None
    extra: Extra | None = None  # on the first step: what `final` reads besides the tensors

    @property
    def name(self) -> str:
        """The blank's name, the only place an exercise's name is written."""
        return self.blank.__name__

    def probe(self, answer: object, dtype: str = "float64") -> Arrays:
        """The tensors the answer makes on every configuration (running the learner's code)."""
        return self.probe_first(answer, dtype) | self.probe_rest(answer, dtype)

    def probe_first(self, answer: object, dtype: str = "float64") -> Arrays:
        """`1:`, the tensors it makes on the first step; its Outcome is the exercise's."""
        first = step_tensors(dtype)[0]
        try:
            arrays = _prefixed("1:", self.run(answer, self.inputs(first), first))
        except Outcome as outcome:
            raise _named(self, outcome, first) from None
        if self.extra is not None:
            arrays |= _prefixed("1:", self.extra(answer, first))
        return arrays

    def probe_rest(self, answer: object, dtype: str = "float64") -> Arrays:
        """`1:X:`, the tensors it makes on the first step with argument X changed (`_other`;
        it may raise), and `2:`, on the second configuration (what it raises there is kept
        as the line `2:outcome`)."""
        first, second = step_tensors(dtype)
        inputs, others = self.inputs(first), self.inputs(second)
        arrays = {}
        for name, value in inputs.items():
            changed = {**inputs, name: _other(value, others[name])}
            # a value it cannot run with (or warns about) is one it uses
            with contextlib.suppress(Exception), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                arrays |= _prefixed(f"1:{name}:", self.run(answer, changed, first))
        try:
            arrays |= _prefixed("2:", self.run(answer, others, second))
        except Outcome as outcome:
            arrays["2:outcome"] = np.array(_named(self, outcome, second).message)
        return arrays


def _prefixed(prefix: str, arrays: Arrays) -> Arrays:
    return {f"{prefix}{key}": value for key, value in arrays.items()}


def _part(arrays: Arrays, prefix: str) -> Arrays:
    """The arrays under `prefix`, without it (and without those of a longer prefix)."""
    return {key[len(prefix):]: value for key, value in arrays.items()
            if key.startswith(prefix) and ":" not in key[len(prefix):]}


def _other(value: object, second: object) -> object:
    """Another value of an argument: an array with its rows rolled by one (the same shape,
    so that the rest still fits), a number as in the second configuration (one more where
    it is the same in both: pixels, classes)."""
    if isinstance(value, np.ndarray):
        return np.roll(value, 1, axis=0)
    return value + 1 if value == second else second


@functools.cache
def _mistakes(exercise: Exercise, step: StepTensors) -> list[tuple[Arrays | str, str]]:
    """What each typical wrong answer makes on chapter step: its tensors, or the line of what
    it raised."""
    made = []
    for wrong, explanation in exercise.mistakes:
        try:
            made.append((exercise.run(wrong, exercise.inputs(step), step), explanation))
        except Outcome as outcome:
            made.append((outcome.message, explanation))
    return made


def _named(exercise: Exercise, outcome: Outcome, step: StepTensors) -> Outcome:
    """The outcome, told as the typical mistake that raises the same (as in `weight_1_2.T`
    where weight_1_2 is already transposed)."""
    if outcome.status == "wrong":
        for made, explanation in _mistakes(exercise, step):
            if made == outcome.message:
                return Outcome("wrong", f"wrong: {say(exercise.tensors[0].label, explanation)}")
    return outcome


def _factor(a: np.ndarray, b: np.ndarray) -> float | None:
    """k if a = k b (to 0.01% of the largest entry), else None."""
    norm = float(np.sum(b * b))
    if norm == 0:
        return None
    k = float(np.sum(a * b)) / norm
    if k != 0 and np.abs(a - k * b).max() <= 1e-4 * abs(k) * np.abs(b).max():
        return k
    return None


def _about(factor: float) -> str:
    if abs(factor + 1) < 1e-3:
        return "has the wrong sign"
    text = f"{factor:.3g}"
    if text == "1":
        text = f"1 {'+' if factor > 1 else '-'} {abs(factor - 1):.1e}"
    return f"is off by a factor of about {text}"


def _number_off(a: float, b: float) -> str:
    """What is off with one number, a, where b is expected."""
    step = round(a - b)
    if step != 0 and abs(a - b - step) <= 1e-5 * max(abs(a), abs(b), 1):
        return (f"is {abs(step)} {'more' if step > 0 else 'less'} than it should be ({a:.4g}, "
                f"expected {b:.4g}): a constant added changes no gradient, but it changes the "
                "value")
    if a == 0 or b == 0:
        return f"is {a:.4g}, expected {b:.4g}"
    if abs(a / b + 1) < 1e-3:
        return _about(-1)
    return f"is {a:.4g}, expected {b:.4g}: it {_about(a / b)}"


def what_is_off(exercise: Exercise, tensor: Expected, answer: np.ndarray, step: StepTensors
                ) -> str | None:
    """None if the answer's tensor is close to the reference; else what is off, in one line."""
    label, expected, dtype = tensor.label, tensor.reference(step), step.config.dtype
    if answer.shape != expected.shape:
        hint = ": a transposed product?" if answer.shape == expected.shape[::-1] else ""
        return say(label, f"has shape {answer.shape}, expected {expected.shape}{hint}")
    if not np.isfinite(answer).all():
        return say(label, f"has {np.count_nonzero(~np.isfinite(answer))} NaN or inf entries")
    comparison = compare(label, answer, expected, tensor.depth, dtype)
    if comparison.close:
        return None
    if answer.dtype.kind == "f" and np.finfo(answer.dtype).eps > np.finfo(dtype).eps:
        return say(label, f"is {answer.dtype}, less precise than the exercise's {dtype}: "
                          "compute it in the inputs' dtype")
    for made, explanation in _mistakes(exercise, step):
        wrong = None if isinstance(made, str) else made.get(tensor.key)
        if wrong is not None and wrong.dtype.kind in "biuf" and wrong.shape == answer.shape \
                and compare(label, answer, wrong.astype(dtype), tensor.depth, dtype).close:
            return say(label, explanation)
    a, b = answer.astype(np.float64), expected.astype(np.float64)
    if b.size == 1:
        return say(label, _number_off(float(a.flat[0]), float(b.flat[0])))
    stray = (b == 0) & (np.abs(a) > comparison.tol * np.abs(b).max())
    if stray.any():
        return say(label, f"is not 0 at {np.count_nonzero(stray)} entries {tensor.zero}")
    if tensor.weights is not None:
        weights = getattr(step, tensor.weights).astype(np.float64)
        if (factor := _factor(weights - a, weights - b)) is not None:
            return f"the step ({tensor.weights} - {label}) {_about(factor)}"
    if (factor := _factor(a, b)) is not None:
        return say(label, _about(factor))
    if tensor.masked:
        kept = step.dropout_mask == 1
        if (factor := _factor(a[kept], b[kept])) is not None:
            return say(label, f"{_about(factor)} wherever a unit is kept")
    return say(label, f"differs: max abs diff {comparison.max_abs:.1e}, max rel diff "
                      f"{comparison.max_rel:.1e} (tolerance {comparison.tol:.0e} of the "
                      "tensor's size)")


class _Missing(Exception):
    """The arrays lack a tensor: the grader's process did not send it."""


def _off(exercise: Exercise, arrays: Arrays, step: StepTensors
         ) -> tuple[str | None, str | None, list[tuple[float, float]]]:
    """What is off with the arrays an answer made on chapter step: (the label of the tensor
    that is off, or "it"; what is off, or None; the max abs and rel differences of those
    before it)."""
    if "outcome" in arrays:
        text = " ".join(str(arrays["outcome"]).split())
        return "it", text.removeprefix("wrong: "), []
    differences = []
    for tensor in exercise.tensors:
        answer = arrays.get(tensor.key)
        if isinstance(answer, np.ndarray) and answer.dtype.kind == "U":  # the probe's word
            return tensor.label, say(tensor.label, str(answer)), differences
        if not isinstance(answer, np.ndarray) or answer.dtype.kind not in "biuf":
            raise _Missing(tensor.label)
        problem = what_is_off(exercise, tensor, answer, step)
        if problem is not None:
            return tensor.label, problem, differences
        comparison = compare(tensor.label, answer, tensor.reference(step), tensor.depth,
                             step.config.dtype)
        differences.append((comparison.max_abs, comparison.max_rel))
    return None, None, differences


def _same(exercise: Exercise, arrays: Arrays, base: Arrays, step: StepTensors) -> bool:
    """Whether the answer made the same tensors (to their tolerance) with an argument
    changed as without."""
    for tensor in exercise.tensors:
        changed, made = arrays.get(tensor.key), base[tensor.key]
        if not (isinstance(changed, np.ndarray) and changed.shape == made.shape
                and changed.dtype.kind in "biuf" and compare(
                    tensor.label, changed, made, tensor.depth, step.config.dtype).close):
            return False
    return True


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def judge(exercise: Exercise, arrays: Arrays, dtype: str = "float64") -> Result:
    """The verdict on the tensors an answer made (by `exercise.probe`), in `dtype`: the
    first step's, then the second configuration's, told as the arguments the answer
    ignores where any (an answer right on both may ignore one that their inputs tie to
    another, as dropout_mask to layer_1, but not pixels or classes, the same in both), then
    `final` on the first step's."""
    name, (first, second) = exercise.name, step_tensors(dtype)
    base = _part(arrays, "1:")
    try:
        _, problem, differences = _off(exercise, base, first)
        if problem is not None:
            return Result(name, "wrong", f"wrong: {problem}")
        inputs, others = exercise.inputs(first), exercise.inputs(second)
        ignored = [argument for argument in inputs
                   if _same(exercise, _part(arrays, f"1:{argument}:"), base, first)]
        label, problem, more = _off(exercise, _part(arrays, "2:"), second)
    except _Missing as missing:
        return Result(name, "failed", f"failed: the grader's process did not send {missing}")
    if problem is None:  # right on both: only an argument they share can be ignored unseen
        ignored = [argument for argument in ignored if not isinstance(
            inputs[argument], np.ndarray) and inputs[argument] == others[argument]]
    where = f"on a second step ({second.describe()})"
    if ignored:
        detail = (f"{where}, {problem}" if problem is not None else
                  f"use {'it' if len(ignored) == 1 else 'them'}, not the first step's "
                  f"value{'s' if len(ignored) > 1 else ''}")
        return Result(name, "wrong", f"wrong: {say(label or 'it', 'does not change with')} "
                                     f"{_names(ignored)}: {detail}")
    if problem is not None:
        return Result(name, "wrong", f"wrong: right on the chapter's first step, but {where}, "
                                     f"{problem}")
    max_abs, max_rel = (max(d) for d in zip((0.0, 0.0), *differences, *more, strict=True))
    line = f"max abs diff {max_abs:.1e}, max rel diff {max_rel:.1e}"
    if exercise.final is not None:
        problem, note = exercise.final(first, base)
        if problem is not None:
            return Result(name, "wrong", f"wrong: {problem}")
        line += f"; {note}"
    return Result(name, "passed", f"passed ({line})")


def grade(exercise: Exercise, answer: object, dtype: str = "float64") -> Result:
    """Probe and judge in this process: for the notebooks, where the code is the learner's
    own, in the learner's own kernel. (An answer wrong on the first step is judged on it
    alone: the verdict is the same, sooner.)"""
    if answer is None:
        return Result(exercise.name, "not done", f"not done yet ({exercise.name} is not defined)")
    try:
        arrays = exercise.probe_first(answer, dtype)
        if _off(exercise, _part(arrays, "1:"), step_tensors(dtype)[0])[1] is None:  # the rest
            arrays |= exercise.probe_rest(answer, dtype)
    except Outcome as outcome:
        return Result(exercise.name, outcome.status, outcome.message)
    return judge(exercise, arrays, dtype)
