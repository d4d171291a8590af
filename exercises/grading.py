"""How an exercise is graded, on either track: the engine. Each track's exercises, their
references and their catalogues of typical mistakes are its checks (backprop_checks.py,
autograd_checks.py); this module knows none of them.

    >>> from exercises import check
    >>> check(tanh2deriv)
    tanh2deriv: passed (max abs diff 0.0e+00, max rel diff 0.0e+00; finite differences ...)

Grading is two halves, so that a learner's code never decides its own verdict:

- `exercise.calls(dtype, order)` are the calls the answer gets, their inputs computed here
  from the project's own tensors; exercises/child.py runs them (NumPy, and torch for the
  autograd track, never the reference) and hands back the tensors each made, as named
  NumPy arrays. scripts/check_exercises.py runs that in a child process
  (exercises/runner.py), a notebook's `check` in its own kernel: the same calls, the same
  lines.
- `judge(exercise, arrays, dtype)` compares those arrays with the project's own tensors,
  in the exercise's dtype, and says in one line what is off. It runs only our code.

Every exercise runs on four configurations. The first is the chapter's first training
step: the first 100 images of the shipped MNIST slice, the book's seed-1 initial weights
and first dropout mask, preset tanh in exact mode (D = 10000, alpha = 2, 100 hidden
units). The second differs in every value an answer receives: seed 2's weights and mask,
20 other images, 30 hidden units, alpha = 0.5, D = 200 (batch*classes). The third has the
first's shapes and other values (seed 3, images 200 to 299, alpha = 1, D = 999): an
answer that returns what it computed for a shape, or on a first call, gives the same
tensors on the first and the third and is told so; and its D is no multiple of the batch
size (StepConfig.fixed_D), so that `D // batch_size` is not D / batch_size. The fourth is
a batch of one image (image 300, seed 4, 13 hidden units, alpha = 1.5, D = 7: B, H and D
with no common factor), where a squeeze (np.squeeze, .squeeze()) loses the batch's axis.
And on the first step, each argument in turn takes another value (an array its rows
rolled by one, a number the second configuration's, or one more where both have the same:
pixels, classes): an answer that makes the same tensors ignores that argument, and its
line says which ("lr does not change with D"), even where its values happen to be right.
The calls come in an order drawn from the file's content (`order_of`): the same file, the
same verdict; no answer can foresee which call comes first. Every reference and catalogue
is drawn from its own seeded generator, and a run that draws from torch's global one holds
exercises/child.py's TORCH_RNG: grading one answer never changes another's verdict.

Each run hands the answer copies of its arguments and sends back the names of those it
changed in place (NumPy arrays and torch tensors alike): that is wrong, and the line says
which argument and why the chapter's loop needs it as it was (IN_PLACE), but for those
an exercise lets it change (`may_change`: the book's `weights -= ...`, `layer_1 *= ...`).

An answer that draws its own dropout mask (idiomatic_model) is judged on the mask it drew
(`_drawn`: the units that are 0): a share of the units kept within SIGMAS standard
deviations of 1/2 (kept_bounds: on the first step's about 4900 units, 45.7% to 54.3%), the
kept doubled, a second train-mode pass in the same run (after another seed) on a mask of
its own (two masks agree on about half the units: one kept from step to step is told
so), and every other tensor against numpy_impl's step on that mask.

The reference is what numpy_impl computes from the same inputs, and "close" is
ch9_shared/close.py's, at the tolerance of the exercise's dtype (never the answer's). An
exercise may end with a `final` check of its own on the first step (finite differences,
gradcheck), whose note joins the line that says passed.

A wrong answer gets one line that teaches rather than tells: it names the tensor, the
symptom and the kind of mistake in words, never the corrected expression (that is the
last hint's, exercises/hints.py). The symptom, trying in turn: its shape, NaN or inf, a
dtype less precise than the exercise's; for one number, a constant added or a factor; 0
everywhere, weights that have not moved, entries that should be 0, a constant factor
(everywhere, or wherever a unit is kept), and else where and by how much it differs. The
kind, after it: the exercise's catalogue of typical mistakes (written out in its track's
checks as code, each with its kind in words; one that raises is matched by what it
raised; where several make the tensor, the one that makes every tensor of the answer
tells it).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ch9_shared.close import Comparison, compare
from ch9_shared.config import CLASSES, PRESETS, Config
from ch9_shared.data import load
from ch9_shared.loop import dropout_masks, initial_weights
from ch9_shared.threads import one_thread
from exercises.child import (
    SOURCE_CHARACTERS,
    Arrays,
    Call,
    Outcome,
    Run,
    is_shape_error,
    probe,
)
from numpy_impl.network import Network


@dataclass(frozen=True)
class StepConfig(Config):
    """A Config whose D may be written out (`fixed_D`) instead of following the divisor's
    rule: a configuration where D is no multiple of the batch size, so that an answer that
    divides integers (`D // batch_size`) cannot pass. numpy_impl reads config.D: its
    arithmetic stays the chapter's."""

    fixed_D: int = 0  # 0: the divisor's rule (batch*batch or batch*classes)

    @property
    def D(self) -> int:
        return self.fixed_D or super().D


CONFIG = StepConfig(**vars(PRESETS["tanh"])).replace(mode="exact")
"""The book's listing, with the true gradient (book mode's hidden delta is not one)."""

SECOND = dict(seed=2, batch_size=20, hidden_size=30, alpha=0.5, divisor="batch*classes")
SECOND_BATCH = 5
"""The second configuration: CONFIG with these values, on batch 5 of its images (100 to
119, none of the first step's). Small, so that checking stays fast."""

THIRD = dict(seed=3, alpha=1.0, fixed_D=999)
THIRD_BATCH = 2
"""The third: the first step's shapes with other values everywhere (seed 3's weights and
mask, images 200 to 299, alpha = 1, D = 999), so that an answer that keeps what it
computed for a shape, or for a first call, cannot pass; and D is no multiple of the 100
images, nor of the 100 hidden units (999 = 27 * 37), so that D / batch_size is no integer
and `D // batch_size` is not it."""

FOURTH = dict(seed=4, batch_size=1, hidden_size=13, alpha=1.5, fixed_D=7)
FOURTH_BATCH = 300
"""The fourth: a batch of one image (image 300), 13 hidden units, alpha = 1.5, D = 7 (B,
H and D with no common factor, D neither B * B nor B * classes): an answer that squeezes
a batch (np.squeeze, .squeeze()) loses its one row. Tiny, so that checking stays fast."""


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
    stretched_input: np.ndarray  # hidden_input stretched to [-4, 4], where slopes differ most
    drawn_from: StepTensors | None = None  # with_mask's: the step whose mask an answer redrew

    @property
    def logits(self) -> np.ndarray:
        return self.layer_1 @ self.weights_1_2

    @property
    def origin(self) -> StepTensors:
        """The configuration's own step (its mask, not one an answer drew)."""
        return self.drawn_from or self

    def describe(self) -> str:
        config = self.config
        images = "1 image" if config.batch_size == 1 else f"{config.batch_size} images"
        return (f"seed {config.seed}, {images}, {config.hidden_size} hidden "
                f"units, alpha = {config.alpha:g}, D = {config.D}")


def step_tensors(dtype: str = "float64") -> tuple[StepTensors, ...]:
    """The configurations an answer runs on, in `dtype`: the chapter's first step, the
    second (SECOND), the third (THIRD) and the fourth (FOURTH)."""
    config = CONFIG.replace(dtype=dtype)
    return (_step_tensors_of(config, 0), _step_tensors_of(config.replace(**SECOND), SECOND_BATCH),
            _step_tensors_of(config.replace(**THIRD), THIRD_BATCH),
            _step_tensors_of(config.replace(**FOURTH), FOURTH_BATCH))


def first_step(dtype: str = "float64") -> StepTensors:
    """The chapter's first step, computed by numpy_impl in `dtype` (float64 or float32)."""
    return step_tensors(dtype)[0]


def with_mask(step: StepTensors, dropout_mask: np.ndarray) -> StepTensors:
    """The same step on another dropout mask (one an answer drew itself)."""
    return _stepped(step.config, step.batch, step.layer_0, step.labels, step.weights_0_1,
                    step.weights_1_2, dropout_mask.astype(step.config.dtype), step)


@functools.cache
def _step_tensors_of(config: Config, batch: int) -> StepTensors:
    """The step's tensors, from its own RandomState(seed): nothing another thread draws."""
    dtype, size = np.dtype(config.dtype), config.batch_size
    data = load(train_size=(batch + 1) * size, test_size=1)
    rng = np.random.RandomState(config.seed)
    weights_0_1, weights_1_2 = (w.astype(dtype) for w in initial_weights(rng, config))
    dropout_mask = dropout_masks(rng, config)[batch].astype(dtype)
    layer_0 = (data.train_images[batch * size:] / 255).astype(dtype)
    labels = np.eye(CLASSES, dtype=dtype)[data.train_labels[batch * size:]]
    return _stepped(config, batch, layer_0, labels, weights_0_1, weights_1_2, dropout_mask)


def _stepped(config: Config, batch: int, layer_0: np.ndarray, labels: np.ndarray,
             weights_0_1: np.ndarray, weights_1_2: np.ndarray, dropout_mask: np.ndarray,
             drawn_from: StepTensors | None = None) -> StepTensors:
    """numpy_impl's training step on these tensors, and every tensor of it."""
    dtype = np.dtype(config.dtype)
    trained = Network(config, weights_0_1.copy(), weights_1_2.copy())
    step = trained.train_step(layer_0, labels, dropout_mask)
    network = Network(config, weights_0_1, weights_1_2)
    hidden_input = layer_0 @ weights_0_1
    tensors = dict(
        layer_0=layer_0, labels=labels, dropout_mask=dropout_mask, weights_0_1=weights_0_1,
        weights_1_2=weights_1_2, hidden_input=hidden_input,
        hidden_output=network.layers.hidden(hidden_input), layer_1=step.layer_1,
        layer_2=step.layer_2, layer_2_delta=step.layer_2_delta,
        layer_1_delta=step.layer_1_delta, new_weights_0_1=trained.weights_0_1,
        new_weights_1_2=trained.weights_1_2,
        stretched_input=hidden_input * dtype.type(4 / np.abs(hidden_input).max()))
    for tensor in tensors.values():
        tensor.flags.writeable = False
    return StepTensors(config, batch, network, **tensors, drawn_from=drawn_from)


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


PLURAL = {"is": "are", "has": "have", "differs": "differ", "does": "do", "matches": "match"}


def say(label: str, predicate: str) -> str:
    """The label and what is off with it, the verb agreeing: "the logits are ..."."""
    if "logits" in label.split():
        verb, _, rest = predicate.partition(" ")
        predicate = f"{PLURAL.get(verb, verb)} {rest}".strip()
    return f"{label} {predicate}"


Inputs = Callable[[StepTensors], dict[str, object]]
"""inputs(step) -> the answer's arguments, by name: NumPy arrays and numbers."""
Given = Callable[[StepTensors], dict[str, object]]
"""given(step) -> what the run needs besides the arguments (the weights a model starts
from, the dtype), by name."""
Extra = Callable[[StepTensors], tuple[Run, dict[str, object]] | None]
"""extra(first step) -> one more call on the first step (a run of exercises/child.py and
its inputs), whose arrays `final` reads: a derivative in float64, gradcheck's verdict."""
Mistake = tuple[object, str]
"""A typical wrong answer, as code of the answer's kind, and what it gets wrong."""
Final = Callable[[StepTensors, Arrays], tuple[str | None, str]]
"""final(step, arrays) -> (what is off, or None; a note for the line that says passed),
on the first step's arrays."""


def nothing_given(step: StepTensors) -> dict[str, object]:
    return {}


@dataclass(frozen=True)
class Expected:
    """One tensor an answer must make, and how it is judged."""

    key: str  # its name among the probe's arrays
    label: str  # what messages call it
    reference: Callable[[StepTensors], np.ndarray]  # computed by the project's own code
    depth: float = 2  # its rounding steps, for ch9_shared.close.compare
    zero: str = "where it should be 0"  # where the reference is 0, in words
    masked: bool = False  # 0 where the step's dropout_mask is 0
    weights: str | None = None  # the new value of these chapter weights: diagnose its step
    drawn: bool = False  # depends on the mask the answer drew: not compared across calls


@dataclass(frozen=True, eq=False)  # hashed as itself: its mistakes are cached
class Exercise:
    """One thing to write: its arguments, how to run it, what it must match, how to tell
    what is off, and its hints. Made once, in its track's checks (EXERCISES): the
    registration from which the rest is found (exercises/registry.py)."""

    blank: Callable[..., object]  # the function or class to write, in its track's blank file
    inputs: Inputs
    run: Run  # one of exercises/child.py's RUNS: what the child does with the answer
    tensors: tuple[Expected, ...]
    mistakes: tuple[Mistake, ...] = ()
    final: Final | None = None
    extra: Extra | None = None
    given: Given = nothing_given
    tied: tuple[str, ...] = ()  # arguments an answer may read from another (dropout_mask
    # from layer_1): that it does not change with them alone is no fault
    ignoring: tuple[tuple[str, str], ...] = ()  # (argument, the line for ignoring it)
    own_mask: bool = False  # the answer draws its own dropout mask: judged on the one it drew
    may_change: tuple[str, ...] = ()  # arguments an answer may change in place (the book's
    # `weights -= ...`); changing any other is wrong (IN_PLACE says why)
    hints: tuple[str, ...] = ()  # the hint ladder, a nudge first and the fix last, written
    # out as texts (exercises/registry.py reads them without importing the checks)

    def __post_init__(self) -> None:
        if (levels := len(self.hints)) < 2:
            raise ValueError(f"{self.name}: its hint ladder (hints= in its registration) has "
                             f"{levels} level{'s' * (levels != 1)}, where it needs two or more: "
                             "a nudge first, the fix last")

    @property
    def name(self) -> str:
        """The blank's name, the only place an exercise's name is written."""
        return self.blank.__name__

    def calls(self, dtype: str = "float64", order: int = 0) -> list[Call]:
        """Every call the answer gets, shuffled by `order` (a file's, so that a verdict is
        reproducible and an answer cannot foresee which comes first): `1:` the first step,
        `1:X:` the first step with argument X changed (`_another_value`), `2:`, `3:` and `4:` the
        other configurations, `x:` the extra call, if any."""
        first, second, *others_steps = step_tensors(dtype)
        inputs, others = self.inputs(first), self.inputs(second)
        calls = [self._call("1:", inputs, first)]
        calls += [self._call(f"1:{name}:", {**inputs, name: _another_value(value, others[name])},
                             first) for name, value in inputs.items()]
        calls += [self._call("2:", others, second)]
        calls += [self._call(f"{number}:", self.inputs(step), step)
                  for number, step in enumerate(others_steps, 3)]
        extra = self.extra(first) if self.extra is not None else None
        if extra is not None:
            calls.append({"tag": "x:", "run": extra[0].__name__, "inputs": extra[1], "given": {}})
        shuffled = np.random.default_rng(order).permutation(len(calls))
        return [calls[i] for i in shuffled]

    def _call(self, tag: str, inputs: dict[str, object], step: StepTensors) -> Call:
        return {"tag": tag, "run": self.run.__name__, "inputs": inputs, "given": self.given(step)}

    def probe(self, answer: object, dtype: str = "float64", order: int = 0,
              files: Iterable[str] = ()) -> Arrays:
        """The tensors the answer makes on every call, in this process (the learner's code),
        and where in `files` (its own) it raised, if it did."""
        return probe(answer, self.calls(dtype, order), files)


def _part(arrays: Arrays, prefix: str) -> Arrays:
    """The arrays under `prefix`, without it (and without those of a longer prefix)."""
    return {key[len(prefix):]: value for key, value in arrays.items()
            if key.startswith(prefix) and ":" not in key[len(prefix):]}


def _another_value(value: object, second: object) -> object:
    """Another value of an argument: an array with its rows rolled by one (the same shape,
    so that the rest still fits), a number as in the second configuration (one more where
    it is the same in both: pixels, classes)."""
    if isinstance(value, np.ndarray):
        return np.roll(value, 1, axis=0)
    return value + 1 if value == second else second


@functools.cache
def _mistakes(exercise: Exercise, step: StepTensors) -> list[tuple[Arrays | str, str]]:
    """What each typical wrong answer makes on the step: its tensors, or the line of what
    it raised. Computed once a step, the first time an answer needs it (a wrong one: a
    right answer never does), in this process from the checks' own code (a run that draws
    holds TORCH_RNG), on one thread (ch9_shared/threads.py: a busy core makes a pool spin)."""
    made = []
    with one_thread():
        for wrong, explanation in exercise.mistakes:
            try:
                made.append((exercise.run(wrong, exercise.inputs(step), exercise.given(step)),
                             explanation))
            except Outcome as outcome:
                made.append((outcome.message, explanation))
    return made


def prepare(exercises: list[Exercise], dtype: str = "float64") -> None:
    """Every reference the exercises need, computed now, from the project's data and code,
    before any answer runs and before the threads that grade a class start (the
    catalogues of mistakes wait for a wrong answer: `_mistakes`), on one thread."""
    with one_thread():
        for exercise in exercises:
            for step in step_tensors(dtype):
                for tensor in exercise.tensors:
                    if not exercise.own_mask:
                        tensor.reference(step)


def _named(exercise: Exercise, message: str, step: StepTensors) -> str:
    """The line of what the answer raised (or of what the run refused), with the kind of
    the typical mistake that does the same (as `weight_1_2.T` where weight_1_2 is already
    transposed, or a graph cut by .data)."""
    for made, kind in _mistakes(exercise, step):
        if made == message:
            return f"{message}: {kind}"
    return message


def _factor(a: np.ndarray, b: np.ndarray) -> float | None:
    """k if a = k b (to 0.01% of the largest entry), else None."""
    norm = float(np.sum(b * b))
    if norm == 0:
        return None
    k = float(np.sum(a * b)) / norm
    near = np.abs(a - k * b).max() <= 1e-4 * abs(k) * np.abs(b).max()
    if k != 0 and abs(k - 1) > 1e-3 and near:  # a factor of 1 + 1e-9 is no factor
        return k
    return None


def _about(factor: float) -> str:
    if abs(factor + 1) < 1e-3:
        return "has the wrong sign"
    return f"is off by a factor of about {factor:.3g}"


def _number_off(a: float, b: float) -> str:
    """What is off with one number, a, where b is expected (both finite, their difference
    perhaps not: 1e308 and -1e308)."""
    if not math.isfinite(a - b):
        return f"is {a:.4g}, expected {b:.4g}"
    step = round(a - b)
    if step != 0 and abs(a - b - step) <= 1e-5 * max(abs(a), abs(b), 1):
        return (f"is {abs(step)} {'more' if step > 0 else 'less'} than it should be ({a:.4g}, "
                f"expected {b:.4g}): a constant added changes no gradient, but it changes the "
                "value")
    if a == 0 or b == 0:
        return f"is {a:.4g}, expected {b:.4g}"
    if abs(a / b + 1) < 1e-3:
        return _about(-1)
    if abs(a / b - 1) <= 1e-3:
        return f"is {a:.6g}, expected {b:.6g}"
    return f"is {a:.4g}, expected {b:.4g}: it {_about(a / b)}"


LOWER = {"float64": "float32", "float32": "float16"}
LESS_PRECISE = ("is only as precise as {0} (max rel diff {1:.1e}): a {0} value enters "
                "somewhere ({2}), where the exercise computes in {3}")
TORCH_CAST = {"float32": ".float()", "float16": ".half()"}


def suspects(dtype: str) -> str:
    """Where a value of a less precise dtype comes from, in NumPy and in torch."""
    return (f"np.{dtype}, .astype(np.{dtype}), torch's {TORCH_CAST.get(dtype, '.to()')} or "
            f".to(torch.{dtype}), a {dtype} array, tensor or constant")


def what_is_off(exercise: Exercise, tensor: Expected, answer: np.ndarray, step: StepTensors,
                arrays: Arrays | None = None) -> str | None:
    """None if the answer's tensor is close to the reference; else what is off, in one line.
    Where several typical mistakes make this tensor, the one that makes every tensor of
    the answer (`arrays`) as it is tells it: a zero .grad says which calls erased it."""
    label, expected, dtype = tensor.label, tensor.reference(step), step.config.dtype
    if answer.shape != expected.shape:
        hint = (": a transposed product?" if answer.shape == expected.shape[::-1]
                else ": a squeeze (np.squeeze, .squeeze()) drops a batch's one row; keep "
                     "the batch's axis" if 1 in expected.shape
                and answer.shape == tuple(n for n in expected.shape if n != 1) else "")
        return say(label, f"has shape {answer.shape}, expected {expected.shape}{hint}")
    if not np.isfinite(answer).all():
        return say(label, f"has {np.count_nonzero(~np.isfinite(answer))} NaN or inf entries")
    comparison = compare(label, answer, expected, tensor.depth, dtype)
    if comparison.close:
        return None
    if answer.dtype.kind == "f" and np.finfo(answer.dtype).eps > np.finfo(dtype).eps:
        return say(label, f"is {answer.dtype}, less precise than the exercise's {dtype}: a "
                          f"{answer.dtype} value enters somewhere ({suspects(str(answer.dtype))})")
    symptom = _symptom(tensor, answer, expected, step, comparison)
    kind = _kind(exercise, tensor, answer, step, arrays)
    return symptom if kind is None else f"{symptom}: {kind}"


def _kind(exercise: Exercise, tensor: Expected, answer: np.ndarray, step: StepTensors,
          arrays: Arrays | None) -> str | None:
    """The kind of the typical mistake that makes the answer's tensor, if one does: where
    several do, the one that makes every tensor of the answer (`arrays`) as it is (a zero
    .grad says which calls erased it)."""
    dtype = step.config.dtype
    matching = [(made, kind) for made, kind in _mistakes(exercise, step.origin)
                if not isinstance(made, str) and _makes(made, tensor, answer, dtype)]
    for made, kind in matching:
        if arrays is not None and all(_makes(made, other, arrays.get(other.key), dtype)
                                      for other in exercise.tensors):
            return kind
    return matching[0][1] if matching else None


def _symptom(tensor: Expected, answer: np.ndarray, expected: np.ndarray, step: StepTensors,
             comparison: Comparison) -> str:
    """Where the answer's tensor differs from the reference, and by how much, in words: a
    number off, 0 everywhere, weights not moved, entries that should be 0, a factor, else
    which entries differ and by how much."""
    label, dtype = tensor.label, step.config.dtype
    a, b = answer.astype(np.float64), expected.astype(np.float64)
    if b.size == 1:
        return say(label, _number_off(float(a.flat[0]), float(b.flat[0])))
    if not a.any():
        return say(label, f"is 0 everywhere ({a.size} entries)")
    if tensor.weights is not None:
        weights = getattr(step, tensor.weights).astype(np.float64)
        if np.array_equal(a, weights):
            return say(label, f"has not moved: it is {tensor.weights} as it was before the step")
    stray = (b == 0) & (np.abs(a) > comparison.tol * np.abs(b).max())
    if stray.any():
        return say(label, f"is not 0 at {np.count_nonzero(stray)} of {stray.size} entries "
                          f"{tensor.zero}")
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
    if tensor.drawn:  # its figures would be those of the mask this call happened to draw
        return say(label, "differs from what the chapter's step makes on the mask its dropout "
                          "drew")
    if dtype in LOWER and compare(label, answer, expected, tensor.depth, LOWER[dtype]).close:
        return say(label, LESS_PRECISE.format(LOWER[dtype], comparison.max_rel,
                                              suspects(LOWER[dtype]), dtype))
    off = np.abs(a - b) > comparison.tol * (np.abs(b) + np.abs(b).max())
    return say(label, f"differs {_where(off, step.dropout_mask if tensor.masked else None)}"
                      f"{_factors(a[off], b[off])}: max abs diff {comparison.max_abs:.1e}, "
                      f"max rel diff {comparison.max_rel:.1e} (tolerance {comparison.tol:.0e} "
                      "of the tensor's size)")


def _factors(a: np.ndarray, b: np.ndarray) -> str:
    """By what factors the entries that differ differ, where none should be 0: the range of
    a factor that varies, and how many have the wrong sign."""
    if not (b.size and b.all()):
        return ""
    ratios = a / b
    wrong = np.count_nonzero(ratios < 0)
    if wrong:
        return f", with the wrong sign at {'every one' if wrong == b.size else wrong} of them"
    low, high = (f"{ratios.min():.3g}", f"{ratios.max():.3g}")
    if low == high:  # a factor that varies by less than three digits show
        low, high = (f"{ratios.min():.6g}", f"{ratios.max():.6g}")
    return f", by a factor of {low}" if low == high else f", by a factor from {low} to {high}"


def _where(off: np.ndarray, mask: np.ndarray | None) -> str:
    """Which entries differ, in words: how many, all where a unit is kept (of a tensor that
    is 0 where dropout dropped one), in which rows or columns where they are few."""
    count = np.count_nonzero(off)
    where = f"at {'every one' if count == off.size else count} of {off.size} entries"
    if mask is not None and mask.shape == off.shape and count and not off[mask == 0].any():
        where += ", all where a unit is kept"
    if off.ndim == 2 and count < off.size:
        for axis, name in ((1, "row"), (0, "column")):
            hit = np.flatnonzero(off.any(axis=axis))
            if len(hit) <= 3 < off.shape[1 - axis]:
                where += f", only in {name}{'s' if len(hit) > 1 else ''} "
                where += ", ".join(str(i) for i in hit)
    return where


def _makes(made: Arrays, tensor: Expected, answer: object, dtype: str) -> bool:
    """Whether a typical mistake made the answer's tensor (`_like`)."""
    wrong = made.get(tensor.key)
    return (isinstance(wrong, np.ndarray) and isinstance(answer, np.ndarray)
            and wrong.dtype.kind in "biuf" and answer.dtype.kind in "biuf"
            and wrong.shape == answer.shape
            and _like(tensor, answer, wrong.astype(dtype), dtype))


def _like(tensor: Expected, answer: np.ndarray, wrong: np.ndarray, dtype: str) -> bool:
    """Whether the answer's tensor is a typical mistake's. One that depends on the mask the
    answer drew is compared where both masks kept a unit (the mistake ran on the seed's
    mask; another thread's draws may have given the answer another), or not at all where
    every entry depends on the whole mask (the logits, the new weights)."""
    if not tensor.drawn:
        return compare(tensor.label, answer, wrong, tensor.depth, dtype).close
    both = (answer != 0) & (wrong != 0)
    return tensor.masked and bool(both.any()) and compare(
        tensor.label, answer[both], wrong[both], tensor.depth, dtype).close


class _Missing(Exception):
    """The arrays lack a tensor: the grader's process did not send it."""


SIGMAS = 6
"""How far from 1/2, in standard deviations of a binomial share, the share of units an
answer's own dropout keeps may be (and the share on which two of its masks agree)."""
FEW_UNITS = 100
"""Below this many units (the fourth step's 13), a share says little: the mask is not judged."""


def kept_bounds(units: int) -> tuple[float, float]:
    """The shares of `units` independent draws of probability 1/2 that a right dropout
    gives, SIGMAS standard deviations either side of 1/2 (on the first step's about 5000
    units: 0.458 to 0.542)."""
    half_width = SIGMAS * 0.5 / math.sqrt(units)
    return 0.5 - half_width, 0.5 + half_width


def _beyond(share: float, low: float, high: float) -> str:
    """The bound a share outside [low, high] passes, in words: never the share itself,
    which is the figure of the mask this call happened to draw."""
    return f"more than {high:.1%}" if share > high else f"fewer than {low:.1%}"


def _drawn(arrays: Arrays, step: StepTensors) -> tuple[StepTensors, str | None]:
    """The step on the mask the answer drew (read from its layer_1: the units that are 0),
    and what is off with that mask, if anything: about half kept, the kept doubled, and a
    second train-mode pass (layer_1_again) on a mask of its own."""
    layer_1 = arrays.get("layer_1")
    if not (isinstance(layer_1, np.ndarray) and layer_1.shape == step.dropout_mask.shape
            and layer_1.dtype.kind == "f"):
        return step, None  # judged on the step's own mask: the tensors will say what is off
    kept = layer_1 != 0
    positive = step.hidden_input > 0  # where tanh's output is not 0, nor relu's
    units = int(positive.sum())
    if units < FEW_UNITS:
        return with_mask(step, kept), None
    low, high = kept_bounds(units)
    share = float(kept[positive].mean())
    if share == 1:
        return step, ("drops nothing in train mode: no hidden unit is 0 in layer_1, where the "
                      "chapter's dropout drops each with probability 1/2: the model has no "
                      "dropout after its activation")
    if not low <= share <= high:  # the bound, not the share: the mask's own figure
        return step, (f"keeps {_beyond(share, low, high)} of the hidden units in train mode "
                      f"(a right dropout keeps {low:.1%} to {high:.1%} of the {units} units "
                      "here): its probability of dropping a unit is not the chapter's 1/2")
    both = kept & positive
    a, b = layer_1[both].astype(np.float64), step.hidden_output[both].astype(np.float64)
    scale = float(np.sum(a * b) / np.sum(b * b))
    if np.abs(a - scale * b).max() <= 1e-4 * np.abs(a).max() and abs(scale - 2) > 1e-3:
        return step, (f"multiplies the units its dropout keeps by {scale:.3g}, where the "
                      "chapter's inverted dropout doubles them: its scale of the kept units "
                      "comes from another probability than the chapter's 1/2")
    again = arrays.get("layer_1_again")
    if isinstance(again, np.ndarray) and again.shape == layer_1.shape:
        agree = float((kept == (again != 0))[positive].mean())
        if not low <= agree <= high:  # the bound, not the share
            return step, (f"keeps the same units at every step: its masks of two train-mode "
                          f"passes agree on {_beyond(agree, low, high)} of the units, where "
                          "masks drawn anew agree on about half: its mask is drawn once, not "
                          "anew at each forward pass")
    return with_mask(step, kept), None


IN_PLACE = {
    "output": "output is the book's layer_1 (its loop calls tanh2deriv(layer_1)), and the "
              "chapter's loop uses layer_1 again after this call: weights_1_2's update "
              "reads it",
    "layer_1": "the chapter's loop uses layer_1 again after this call: weights_1_2's update "
               "reads it",
    "layer_2": "the chapter's loop reads layer_2 again after the step: it counts the "
               "correct answers from it",
    "labels": "labels are the training set's, which the chapter's loop reads again at "
              "every epoch",
    "layer_0": "layer_0 is the training set's images, which weights_0_1's update reads "
               "after the forward pass, and the chapter's loop again at every epoch",
    "dropout_mask": "dropout_mask is the step's mask, which its forward pass and its "
                    "backward pass both read: they must see the same one",
    "layer_2_delta": "the chapter's loop uses layer_2_delta again after this call: "
                     "weights_1_2's update reads it",
    "weights_1_2": "weights_1_2 are the network's own weights, which only their update "
                   "may change",
    "weight_1_2": "weight_1_2 is the network's own weight (nn.Linear's, detached: the same "
                  "memory), which only optimizer.step() may change",
    "layer_1_delta": "layer_1_delta is the step's gradient, which weights_0_1's update "
                     "reads after it is made",
    "grad_layer_1": "grad_layer_1 is the gradient the caller hands on: a backward pass "
                    "returns a new one, and leaves what it was given as it was",
    "hidden_input": "hidden_input is layer_0 @ weights_0_1, which the backward pass "
                    "reads again",
}
"""Why the chapter's loop needs each argument as it was: for the line of an answer that
writes into one."""


def _in_place(exercise: Exercise, arrays: Arrays) -> str | None:
    """What is off with an answer that changed an argument in place (the child's
    `changed`), but for those the exercise lets it change (the book's `weights -= ...`)."""
    changed = [str(name) for name in np.atleast_1d(arrays.get("changed", np.array([])))
               if str(name) not in exercise.may_change]
    if not changed:
        return None
    why = IN_PLACE.get(changed[0], f"{changed[0]} is the caller's, who may read it again: "
                                   "return a new tensor and leave the arguments as they were")
    return f"it changes its argument {changed[0]} in place: {why}"


def _raised_at(arrays: Arrays, file: str | None) -> str:
    """Where in the graded file the answer raised, from the `line` and `source` its run sent
    (exercises/child.py's `located`; checked, as all it sends): " (FILE, line N: TEXT)", or
    "" where it sent none."""
    line, source = arrays.get("line"), arrays.get("source")
    if not (isinstance(line, np.ndarray) and line.shape == () and line.dtype.kind in "iu"):
        return ""
    place = f"{file}, line {int(line)}" if file else f"line {int(line)}"
    text = (" ".join(str(source).split())[:SOURCE_CHARACTERS] if isinstance(source, np.ndarray)
            and source.shape == () and source.dtype.kind == "U" else "")
    return f" ({place}: {text})" if text else f" ({place})"


def _off(exercise: Exercise, arrays: Arrays, step: StepTensors, file: str | None = None
         ) -> tuple[str | None, str | None, list[tuple[float, float]]]:
    """What is off with the arrays an answer made on the step: (the label of the tensor
    that is off, or "it"; what is off, or None; the max abs and rel differences of those
    before it). `file`: the graded file, for the line an answer raised at."""
    if "outcome" in arrays:
        text = " ".join(str(arrays["outcome"]).split())
        problem = _named(exercise, text, step).removeprefix("wrong: ") + _raised_at(arrays, file)
        return "it", problem, []
    if (problem := _in_place(exercise, arrays)) is not None:
        return "it", problem, []
    if exercise.own_mask:
        step, problem = _drawn(arrays, step)
        if problem is not None:
            return "it", problem, []
    differences = []
    for tensor in exercise.tensors:
        answer = arrays.get(tensor.key)
        if isinstance(answer, np.ndarray) and answer.dtype.kind == "U":  # the probe's word
            return tensor.label, say(tensor.label, str(answer)), differences
        if not isinstance(answer, np.ndarray) or answer.dtype.kind not in "biuf":
            raise _Missing(tensor.label)
        problem = what_is_off(exercise, tensor, answer, step, arrays)
        if problem is not None:
            return tensor.label, problem, differences
        if not tensor.drawn:  # the line's figures: never those of a mask the answer drew
            comparison = compare(tensor.label, answer, tensor.reference(step), tensor.depth,
                                 step.config.dtype)
            differences.append((comparison.max_abs, comparison.max_rel))
    return None, None, differences


def _same(exercise: Exercise, arrays: Arrays, base: Arrays, step: StepTensors,
          exactly: bool = False) -> bool:
    """Whether the answer made the same tensors (to their tolerance, or to the bit) in two
    calls (those that depend on a mask the answer drew aside: it may draw another)."""
    for tensor in exercise.tensors:
        if tensor.drawn:
            continue
        changed, made = arrays.get(tensor.key), base.get(tensor.key)
        if not (isinstance(changed, np.ndarray) and isinstance(made, np.ndarray)
                and changed.shape == made.shape and changed.dtype.kind in "biuf"
                and made.dtype.kind in "biuf"):
            return False
        if exactly and not np.array_equal(changed, made):
            return False
        if not exactly and not compare(tensor.label, changed, made, tensor.depth,
                                       step.config.dtype).close:
            return False
    return True


def _memorized(exercise: Exercise, arrays: Arrays, first: StepTensors, third: StepTensors
               ) -> bool:
    """Whether the answer gave, to the bit, the same tensors on the first and the third
    step (the same shapes, other values), and they are right for one of them: what it
    computed on one call, it returned on the other."""
    one, three = _part(arrays, "1:"), _part(arrays, "3:")
    if exercise.own_mask or not _same(exercise, three, one, first, exactly=True):
        return False  # (an own mask: its references depend on the mask it drew)
    return any(all(_close(tensor, made[tensor.key], step) for tensor in exercise.tensors)
               for made, step in ((one, first), (one, third)))


def _close(tensor: Expected, answer: np.ndarray, step: StepTensors) -> bool:
    expected = tensor.reference(step)
    return answer.shape == expected.shape and compare(
        tensor.label, answer, expected, tensor.depth, step.config.dtype).close


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _square_only(arrays: Arrays, second: StepTensors) -> str:
    """A note where the answer raises a shape error on the second step alone, whose images
    are not as many as its hidden units: a product that fits only on a square step."""
    outcome = arrays.get("2:outcome")
    if outcome is None or not is_shape_error(str(outcome)):
        return ""
    config = second.config
    return (f"; on a second step, with {config.batch_size} images and {config.hidden_size} "
            f"hidden units, it raises {str(outcome).removeprefix('wrong: it raised ')}: a "
            "product or a transpose that fits only because the chapter's first step has as "
            f"many images as hidden units ({CONFIG.batch_size} of each)")


ORDINALS = {2: "second", 3: "third", 4: "fourth"}


def _status(message: str) -> Status:
    return "not done" if message.startswith("not done") else "wrong"


def judge(exercise: Exercise, arrays: Arrays, dtype: str = "float64", file: str | None = None
          ) -> Result:
    """The verdict on the tensors an answer made (by its calls), in `dtype`: the first
    step's outcome; the same tensors for other values (memorized); the first step's tensors;
    the arguments it ignores (told even where its values happen to match, but for one that
    its other arguments tie, as layer_1 ties dropout_mask, in an answer right everywhere);
    the other configurations, in turn; then `final` on the first step's. An answer that
    raised is told where, in `file` (the graded file, as the learner names it)."""
    name, (first, second, third, *_) = exercise.name, step_tensors(dtype)
    base = _part(arrays, "1:")
    if "outcome" in base:
        message = _named(exercise, " ".join(str(base["outcome"]).split()), first)
        return Result(name, _status(message), message + _raised_at(base, file))
    inputs = exercise.inputs(first)
    if _memorized(exercise, arrays, first, third):
        label = say(exercise.tensors[0].label, "does not change with")
        return Result(name, "wrong", f"wrong: {label} {_names(list(inputs))}: it is the same "
                      "for the chapter's first step as for another step with the same shapes "
                      f"and other values ({third.describe()}): it keeps what it computed on "
                      "one call for the next, where each call's result comes from its own "
                      "arguments")
    try:
        label, problem, differences = _off(exercise, base, first)
        later = None
        for number, step in enumerate(step_tensors(dtype)[1:], 2):
            tag, which = f"{number}:", f"a {ORDINALS[number]}"
            label_there, problem_there, more = _off(exercise, _part(arrays, tag), step, file)
            if problem_there is not None:
                label = label or label_there
                later = f"on {which} step ({step.describe()}), {problem_there}"
                break
            differences += more
        excused = () if problem or later else exercise.tied  # right everywhere
        ignored = [argument for argument in inputs if argument not in excused
                   and _same(exercise, _part(arrays, f"1:{argument}:"), base, first)]
    except _Missing as missing:
        return Result(name, "failed", f"failed: the grader's process did not send {missing}")
    if ignored:
        lines = dict(exercise.ignoring)
        if ignored[0] in lines and problem is None:
            return Result(name, "wrong", f"wrong: {lines[ignored[0]]}")
        detail = (f", and on the chapter's first step {problem}" if problem is not None
                  else f": {later}" if later is not None
                  else f": use {'it' if len(ignored) == 1 else 'them'}, not a value of an "
                       "earlier call")
        return Result(name, "wrong", f"wrong: {say(label or 'it', 'does not change with')} "
                                     f"{_names(ignored)}{detail}")
    if problem is not None:
        return Result(name, "wrong", f"wrong: {problem}{_square_only(arrays, second)}")
    if later is not None:
        return Result(name, "wrong", f"wrong: right on the chapter's first step, but {later}")
    max_abs, max_rel = (max(d) for d in zip((0.0, 0.0), *differences, strict=True))
    line = f"max abs diff {max_abs:.1e}, max rel diff {max_rel:.1e}"
    extra = _part(arrays, "x:")
    if "outcome" in extra:
        message = " ".join(str(extra["outcome"]).split())
        return Result(name, _status(message), message + _raised_at(extra, file))
    if exercise.final is not None:
        problem, note = exercise.final(first, base | extra)
        if problem is not None:
            return Result(name, "wrong", f"wrong: {problem}")
        line += f"; {note}"
    return Result(name, "passed", f"passed ({line})")


def order_of(text: str | bytes) -> int:
    """The order of a file's calls, from its content: the same file, the same order."""
    data = text.encode("utf-8", errors="replace") if isinstance(text, str) else text
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "little")


def code_files(answer: object) -> list[str]:
    """The files an answer's code is in: a function's, or a class's methods' (a notebook's
    cell, a module), the first its own: where a line it raised at is found."""
    if inspect.isclass(answer):
        functions = [inspect.unwrap(getattr(value, "__func__", value))
                     for value in vars(answer).values()]
    else:
        functions = [inspect.unwrap(answer)] if callable(answer) else []
    return list(dict.fromkeys(function.__code__.co_filename for function in functions
                              if inspect.isfunction(function)))


def grade(exercise: Exercise, answer: object, dtype: str = "float64") -> Result:
    """Probe and judge in this process: for the notebooks, where the code is the learner's
    own, in the learner's own kernel. The calls and the lines are the child's (runner.py),
    in an order drawn from the answer's source; an answer that raises is told the line, in
    its own file."""
    if answer is None:
        return Result(exercise.name, "not done", f"not done yet ({exercise.name} is not defined)")
    try:
        source = inspect.getsource(answer)
    except (TypeError, OSError):
        source = exercise.name
    files = code_files(answer)
    return judge(exercise, exercise.probe(answer, dtype, order_of(source), files), dtype,
                 files[0] if files else None)
