"""The training loop, written once for every model: the listings' order of random draws,
the book's log, progress, divergence, resume, checkpoints, and where each test pass runs.

One `np.random.RandomState(seed)` per run, drawn exactly as the listings draw from
`np.random.seed(seed)`: `random((784, H))`, `random((H, classes))`, then one
`randint(2, size=(B, H))` dropout mask per batch. The global NumPy state is never touched.

The loop drives a `Model`, which gives the chapter's parts alone: the NumPy network
(numpy_impl/network.py, and its faster twin numpy_impl/fast.py), the hand-built torch
network (torch_impl/hand_built.py) and the idiomatic model (torch_impl/idiomatic.py). The
runner says the rest: the device (where the test passes run) and the checkpoint's `impl`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from ch9_shared.checkpoint import Checkpoint, CheckpointError
from ch9_shared.config import CLASSES, PIXELS, Config
from ch9_shared.data import Dataset
from ch9_shared.threads import SecondThread, one_thread


class Diverged(ArithmeticError):
    """The weights stopped being finite numbers: the learning rate is too large."""

    def __init__(self, iteration: int, alpha: float):
        super().__init__(f"iteration {iteration}: the weights overflowed to inf or nan; "
                         f"lower `alpha` (now {alpha})")


@dataclass(frozen=True)
class LogRecord:
    """One logged iteration; `str()` gives the book's log line.

    The losses are the output layer's canonical loss per image: on the iteration's
    dropped-out training passes (before each update), and on the test pass.
    """

    iteration: int
    test_correct: int
    test_size: int
    train_correct: int
    train_size: int
    train_loss: float = math.nan
    test_loss: float = math.nan
    seconds: float = 0.0  # since training started

    def __str__(self) -> str:
        test_acc = self.test_correct / self.test_size
        train_acc = self.train_correct / self.train_size
        return f"I:{self.iteration} Test-Acc:{test_acc} Train-Acc:{train_acc}"

    def metrics(self) -> dict[str, float]:
        return {"iteration": self.iteration,
                "train_accuracy": self.train_correct / self.train_size,
                "test_accuracy": self.test_correct / self.test_size,
                "train_loss": self.train_loss, "test_loss": self.test_loss,
                "seconds": self.seconds}


def initial_weights(rng: np.random.RandomState, config: Config) -> tuple[np.ndarray, np.ndarray]:
    """`(2 s) * random(shape) - s` for both matrices, in the listings' order."""
    s_0_1, s_1_2 = config.init_0_1, config.init_1_2
    weights_0_1 = (2 * s_0_1) * rng.random_sample((PIXELS, config.hidden_size)) - s_0_1
    weights_1_2 = (2 * s_1_2) * rng.random_sample((config.hidden_size, CLASSES)) - s_1_2
    return weights_0_1, weights_1_2


def dropout_masks(rng: np.random.RandomState, config: Config) -> np.ndarray:
    """One iteration's dropout masks, (batches, B, H), each entry 0 or 1 with probability 1/2.

    The same numbers as the listings' one `randint(2, size=(B, H))` per batch, drawn at once.
    As int32: each entry still takes one 32-bit draw (the same stream as the listings'
    int64), in half the memory, and turns into floats about twice as fast.
    """
    batches = config.train_size // config.batch_size
    return rng.randint(2, size=(batches, config.batch_size, config.hidden_size), dtype=np.int32)


def checkpoint_due(done: int, iterations: int, every: int | None) -> bool:
    """Is a checkpoint due after `done` iterations? Every `every`, and at the end."""
    return done == iterations or (every is not None and done % every == 0)


class State(NamedTuple):
    """A model's state, all a checkpoint keeps of it: its weights in the chapter's layout,
    (784, H) and (H, classes), as NumPy arrays (perhaps the model's own: copy what you
    keep), and the state of its own generator of dropout masks (torch's), if it has one."""

    weights_0_1: np.ndarray
    weights_1_2: np.ndarray
    generator: np.ndarray | None = None


TestPass = Callable[[], tuple[int, float]]
"""A test pass on a copy of the weights: the test images it gets right, and the chapter's
loss of the test set (the canonical loss summed over its images, / D)."""


class Model(Protocol):
    """What the loop drives: the chapter's parts. A model holds its weights, its data in
    the layout its steps take, and any generator of its own (torch's); the loop holds the
    RandomState, the iterations and everything a run does around them."""

    config: Config

    def start(self, state: State, data: Dataset) -> None:
        """Take the weights (the initial draws, or a checkpoint's), its generator's state
        (a checkpoint's; None: seeded from config.seed) and the data."""

    def epoch(self, rng: np.random.RandomState, logged: bool) -> tuple[Any, Any]:
        """One pass over the training batches, an SGD step on each, its dropout mask drawn
        from `rng` as the listings draw it (or by a generator of the model's own): the
        training images it got right and, if `logged`, the chapter's loss (the canonical
        loss / D) summed over the batches (else 0)."""

    def test_pass(self) -> TestPass:
        """The test pass of the weights as they are now, to run now or later."""

    def state(self) -> State:
        """Its weights, and its generator's state."""

    def arithmetic(self) -> contextlib.AbstractContextManager[object]:
        """The settings its arithmetic runs under, for a whole run (NumPy's errstate,
        torch's full float32 precision)."""


class Saving(NamedTuple):
    """The runner's checkpoints: `write` takes each one, every `every` iterations and at
    the end; `impl` names the implementation in them."""

    write: Callable[[Checkpoint], None]
    impl: str
    every: int | None = None


def per_image(loss: float, images: int, config: Config) -> float:
    """The canonical loss per image, from the chapter's loss (canonical / D) of `images`
    images: the one place a model's loss is scaled for the log."""
    return float(loss) * config.D / images


def with_test_pass(job: TestPass, record: LogRecord, config: Config, start: float
                   ) -> LogRecord:
    """`record` completed with a test pass: its correct answers, its loss, the seconds."""
    test_correct, test_loss = job()
    return dataclasses.replace(record, test_correct=test_correct,
                               test_loss=per_image(test_loss, record.test_size, config),
                               seconds=time.perf_counter() - start)


def check_masks_go_on(resume: Checkpoint, model: Model) -> None:
    """The run draws its masks where the checkpoint's came from: NumPy's RandomState, or a
    torch generator of the model's own."""
    made_with = "numpy" if resume.torch_rng is None else "torch"
    drawn_with = "numpy" if model.state().generator is None else "torch"
    if made_with != drawn_with:
        raise CheckpointError(f"the checkpoint was made with `rng` {made_with}, not "
                              f"{drawn_with}")


def train(
    model: Model,
    data: Dataset,
    log: Callable[[LogRecord], None] | None = None,
    progress: Callable[[int], None] | None = None,
    resume: Checkpoint | None = None,
    save: Saving | None = None,
    device: str = "cpu",
) -> Model:
    """Train `model` from scratch, or on from `resume`; call `log` at every `log_every`-th
    iteration, `progress` after every iteration, and write a checkpoint as `save` says.
    `device` is the kind of device the model computes on ("cpu", "cuda", "mps"). Each
    logged test pass runs on a second thread (ch9_shared/threads.py), or at once where the
    device is a GPU (it queues its work anyway); `log` is called on this thread, in order,
    and before any checkpoint of a later iteration is saved.
    """
    start = time.perf_counter()
    config = model.config
    rng = np.random.RandomState(config.seed)
    if resume is None:
        model.start(State(*initial_weights(rng, config)), data)
    else:
        state = State(resume.weights_0_1, resume.weights_1_2, resume.torch_rng_on(device))
        model.start(state, data)
        check_masks_go_on(resume, model)
        rng.set_state(resume.numpy_rng)
    train_size = config.train_size // config.batch_size * config.batch_size
    test_size = len(data.test_labels)

    with model.arithmetic(), one_thread(), SecondThread(log, inline=device != "cpu") as tests:
        for iteration in range(0 if resume is None else resume.iteration, config.iterations):
            logged = log is not None and iteration % config.log_every == 0
            train_correct, train_loss = model.epoch(rng, logged)
            state = model.state()
            if not all(np.isfinite(weights).all() for weights in state[:2]):
                raise Diverged(iteration, config.alpha)
            if progress is not None:
                progress(iteration)
            if logged:
                record = LogRecord(iteration, 0, test_size, int(train_correct), train_size,
                                   per_image(train_loss, train_size, config))
                tests.submit(functools.partial(with_test_pass, model.test_pass(), record,
                                               config, start))
            if save is not None and checkpoint_due(iteration + 1, config.iterations,
                                                   save.every):
                tests.flush()  # the log is whole up to the checkpoint
                save.write(Checkpoint(
                    state.weights_0_1.copy(), state.weights_1_2.copy(), iteration + 1,
                    rng.get_state(legacy=False), state.generator, config, save.impl,
                    "cpu" if state.generator is None else device))
    return model
