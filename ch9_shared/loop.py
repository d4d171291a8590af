"""The training loop, written once for every model: the listings' order of random draws,
mini-batch SGD, the book's log, progress, divergence, resume and checkpoints.

One `np.random.RandomState(seed)` per run, drawn exactly as the listings draw from
`np.random.seed(seed)`: `random((784, H))`, `random((H, classes))`, then one
`randint(2, size=(B, H))` dropout mask per batch. The global NumPy state is never touched.

The loop drives a `Model`: the NumPy network (numpy_impl/network.py, and its faster twin
numpy_impl/fast.py), the hand-built torch network (torch_impl/train.py) and the idiomatic
model (torch_impl/idiomatic.py). They differ in their `step`; everything around it is here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ch9_shared.checkpoint import Checkpoint
from ch9_shared.config import CLASSES, PIXELS, Config
from ch9_shared.data import Dataset
from ch9_shared.threads import Background, one_thread


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


TestPass = Callable[[], tuple[int, float]]
"""A test pass on a copy of the weights: the test images it gets right, its loss per image."""


class Model(Protocol):
    """What the loop drives. A model holds its weights, its data in the layout its step
    takes, and any generator of its own (torch's); the loop holds the RandomState."""

    config: Config
    impl: str  # the checkpoint's `impl`
    generator_device: str  # where its own generator runs (the checkpoint's), "cpu" if none
    inline_tests: bool  # run each test pass at once (a GPU queues its work anyway)
    ran_on: str  # the device, and how (for the run's summary line)

    def start(self, weights_0_1: np.ndarray, weights_1_2: np.ndarray, data: Dataset,
              resume: Checkpoint | None) -> Sequence[Any]:
        """Take the weights and the data; return the fixed batches of one iteration."""

    def masks(self, rng: np.random.RandomState) -> Iterable[Any]:
        """One iteration's dropout masks, one a batch."""

    def step(self, batch: Any, dropout_mask: Any, logged: bool) -> tuple[Any, Any]:
        """One SGD step: the batch's correct answers and, if `logged`, the output layer's
        canonical loss summed over its images (else 0)."""

    def finite(self) -> bool:
        """Are all the weights finite numbers?"""

    def test_pass(self) -> TestPass:
        """The test pass of the weights as they are now (a copy, if it may run later)."""

    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        """weights_0_1 and weights_1_2 in the chapter's layout, NumPy arrays of their own."""

    def generator_state(self) -> np.ndarray | None:
        """The state of the model's own generator (torch's), or None."""

    def context(self) -> contextlib.AbstractContextManager[object]:
        """What the model's arithmetic runs inside (NumPy's errstate, torch's precision)."""


def tested(job: TestPass, record: LogRecord, start: float) -> LogRecord:
    """`record` completed with a test pass: its correct answers, its loss, the seconds."""
    test_correct, test_loss = job()
    return dataclasses.replace(record, test_correct=test_correct, test_loss=test_loss,
                               seconds=time.perf_counter() - start)


def train(
    model: Model,
    data: Dataset,
    log: Callable[[LogRecord], None] | None = None,
    progress: Callable[[int], None] | None = None,
    resume: Checkpoint | None = None,
    save: Callable[[Checkpoint], None] | None = None,
    save_every: int | None = None,
) -> Model:
    """Train `model` from scratch, or on from `resume`; call `log` at every `log_every`-th
    iteration, `progress` after every iteration, and `save` every `save_every` iterations
    and at the end. Each logged test pass runs on a second thread (ch9_shared/threads.py)
    unless the model runs them inline; `log` is called on this one, in order, and before any
    checkpoint of a later iteration is saved.
    """
    start = time.perf_counter()
    config = model.config
    rng = np.random.RandomState(config.seed)
    if resume is None:
        weights_0_1, weights_1_2 = initial_weights(rng, config)
    else:
        weights_0_1, weights_1_2 = resume.weights_0_1, resume.weights_1_2
        rng.set_state(resume.numpy_rng)
    batches = model.start(weights_0_1, weights_1_2, data, resume)
    train_size, test_size = len(batches) * config.batch_size, len(data.test_labels)

    with model.context(), one_thread(), Background(log, inline=model.inline_tests) as tests:
        for iteration in range(0 if resume is None else resume.iteration, config.iterations):
            logged = log is not None and iteration % config.log_every == 0
            train_correct, train_loss = 0, 0.0
            for batch, dropout_mask in zip(batches, model.masks(rng), strict=True):
                correct, loss = model.step(batch, dropout_mask, logged)
                train_correct += correct
                train_loss += loss
            if not model.finite():
                raise Diverged(iteration, config.alpha)
            if progress is not None:
                progress(iteration)
            if logged:
                record = LogRecord(iteration, 0, test_size, int(train_correct), train_size,
                                   float(train_loss) / train_size)
                tests.submit(functools.partial(tested, model.test_pass(), record, start))
            if save is not None and checkpoint_due(iteration + 1, config.iterations, save_every):
                tests.flush()  # the log is whole up to the checkpoint
                save(Checkpoint(*model.weights(), iteration + 1, rng.get_state(legacy=False),
                                model.generator_state(), config, model.impl,
                                model.generator_device))
    return model
