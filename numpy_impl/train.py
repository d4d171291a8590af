"""The training loop: the listings' order of random draws, mini-batch SGD, the book's log.

One `np.random.RandomState(seed)` per run, drawn exactly as the listings draw from
`np.random.seed(seed)`: `random((784, H))`, `random((H, classes))`, then one
`randint(2, size=(B, H))` dropout mask per batch. The global NumPy state is never touched.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ch9_shared.checkpoint import Checkpoint
from ch9_shared.config import CLASSES, PIXELS, Config
from ch9_shared.data import Dataset
from ch9_shared.threads import Background, one_thread
from numpy_impl.network import LOSSES, Network


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


@dataclass(frozen=True)
class Batch:
    """One fixed mini-batch, its all-zero pixel columns dropped once, up front."""

    pixels: np.ndarray  # the columns of the 784 that are not zero in every image of the batch
    layer_0: np.ndarray  # (B, len(pixels)) pixel values / 255
    labels: np.ndarray  # (B, classes) one-hot
    digits: np.ndarray  # (B,) the labels as digits, to count correct answers


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


def make_batches(images: np.ndarray, digits: np.ndarray, config: Config) -> list[Batch]:
    """The training set cut into train_size // batch_size batches; a remainder is left out,
    as in the listings."""
    dtype = np.dtype(config.dtype)
    batches = []
    for start in range(0, config.train_size - config.batch_size + 1, config.batch_size):
        end = start + config.batch_size
        pixels = np.flatnonzero(images[start:end].any(axis=0))
        layer_0 = (images[start:end, pixels] / 255).astype(dtype)
        labels = np.eye(CLASSES, dtype=dtype)[digits[start:end]]
        batches.append(Batch(pixels, layer_0, labels, digits[start:end]))
    return batches


def as_test_layer_0(images: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """The test set as the test pass takes it: the pixels that are not zero in every image,
    and those columns / 255, stored transposed (`predict` runs fastest on that layout)."""
    pixels = np.flatnonzero(images.any(axis=0))
    return pixels, np.ascontiguousarray(images[:, pixels].T / 255, dtype).T


def due(done: int, iterations: int, every: int | None) -> bool:
    """Is a checkpoint due after `done` iterations? Every `every`, and at the end."""
    return done == iterations or (every is not None and done % every == 0)


def count_correct(scores: np.ndarray, digits: np.ndarray) -> int:
    return int(np.count_nonzero(scores.argmax(axis=1) == digits))


def test_pass(network: Network, test_layer_0: np.ndarray, test_labels: np.ndarray,
              digits: np.ndarray, record: LogRecord, start: float) -> LogRecord:
    """`record` completed with the test pass of `network` (no dropout): its correct answers,
    its loss, and the seconds since `start`."""
    with np.errstate(all="ignore"):
        logits = network.predict(test_layer_0)
        test_loss = LOSSES[network.config.output](network.activate(logits), test_labels,
                                                  len(test_labels))
    return dataclasses.replace(record, test_correct=count_correct(logits, digits),
                               test_loss=test_loss, seconds=time.perf_counter() - start)


def train(
    config: Config,
    data: Dataset,
    log: Callable[[LogRecord], None] | None = None,
    progress: Callable[[int], None] | None = None,
    resume: Checkpoint | None = None,
    save: Callable[[Checkpoint], None] | None = None,
    save_every: int | None = None,
) -> Network:
    """Train from scratch, or on from `resume`; call `log` at every `log_every`-th iteration,
    `progress` after every iteration, and `save` every `save_every` iterations and at the end.
    Each logged test pass runs on a second thread (ch9_shared/threads.py); `log` is called
    on this one, in order, and before any checkpoint of a later iteration is saved.
    """
    start = time.perf_counter()
    dtype = np.dtype(config.dtype)
    rng = np.random.RandomState(config.seed)
    if resume is None:
        weights_0_1, weights_1_2 = initial_weights(rng, config)
    else:
        weights_0_1, weights_1_2 = resume.weights_0_1, resume.weights_1_2
        rng.set_state(resume.numpy_rng)
    network = Network(config, weights_0_1.astype(dtype), weights_1_2.astype(dtype))
    loss = LOSSES[config.output]

    batches = make_batches(data.train_images, data.train_labels, config)
    train_size = len(batches) * config.batch_size
    test_pixels, test_layer_0 = as_test_layer_0(data.test_images, dtype)
    test_labels = np.eye(CLASSES, dtype=dtype)[data.test_labels]

    # Overflow is caught below, at the first value that stops being finite.
    with np.errstate(all="ignore"), one_thread(), Background(log) as tests:
        for iteration in range(0 if resume is None else resume.iteration, config.iterations):
            logged = log is not None and iteration % config.log_every == 0
            train_correct, train_loss = 0, 0.0
            masks = dropout_masks(rng, config).astype(dtype)
            for batch, dropout_mask in zip(batches, masks, strict=True):
                step = network.train_step(batch.layer_0, batch.labels, dropout_mask, batch.pixels)
                if not np.isfinite(step.layer_2).all():
                    raise Diverged(iteration, config.alpha)
                train_correct += count_correct(step.layer_2, batch.digits)
                if logged:
                    train_loss += loss(step.layer_2, batch.labels, train_size)
            if not (np.isfinite(network.weights_0_1).all()
                    and np.isfinite(network.weights_1_2).all()):
                raise Diverged(iteration, config.alpha)
            if progress is not None:
                progress(iteration)
            if logged:  # on a copy of the weights, on the other thread, while training goes on
                snapshot = Network(config, network.weights_0_1[test_pixels],
                                   network.weights_1_2.copy())
                tests.submit(functools.partial(
                    test_pass, snapshot, test_layer_0, test_labels, data.test_labels,
                    LogRecord(iteration, 0, len(test_labels), train_correct, train_size,
                              train_loss), start))
            if save is not None and due(iteration + 1, config.iterations, save_every):
                tests.flush()  # the log is whole up to the checkpoint
                save(Checkpoint(network.weights_0_1.copy(), network.weights_1_2.copy(),
                                iteration + 1, rng.get_state(legacy=False), None, config,
                                "numpy"))
    return network
