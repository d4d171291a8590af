"""The chapter's network, forward and backward by hand.

    layer_1 = hidden(layer_0 @ weights_0_1) * dropout_mask * 2      (inverted dropout, keep 1/2)
    layer_2 = output(layer_1 @ weights_1_2)
    layer_2_delta = (layer_2 - labels) / D                          (dL/d logits, every output)
    layer_1_delta = layer_2_delta @ weights_1_2.T * slope           (dL/d hidden pre-activation)
    weights_1_2 -= alpha * layer_1.T @ layer_2_delta
    weights_0_1 -= alpha * layer_0.T @ layer_1_delta

The two modes differ only in the hidden slope:

    book:   hidden2deriv(layer_1) * dropout_mask            the listings' line, quirk included
    exact:  hidden2deriv(layer_1 / 2) * dropout_mask * 2    the true gradient

The listings take the slope at `layer_1` *after* dropout doubled it, and scale by the mask
but not by its 2, so book mode does not follow the gradient of any loss (see docs/design.md).

The step is a function of the matrices it moves (`train_step`): numpy_impl/fast.py hands it
each batch's rows of weights_0_1, and scripts/stacked.py runs it on every model of a stack at
once, on torch tensors: the one backward written by hand on this side.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ch9_shared.config import CLASSES, Config
from ch9_shared.data import Dataset
from ch9_shared.loop import State, TestPass, dropout_masks
from numpy_impl import activations as act


def book_slope_error(hidden: str, t: np.ndarray) -> np.ndarray:
    """Book mode's slope minus the true slope of a kept unit, from t, its output before dropout.

    The book takes hidden2deriv(2t) and leaves out the mask's 2; the truth is 2 hidden2deriv(t):

        tanh:    (1 - 4 t**2) - 2 (1 - t**2)   = -1 - 2 t**2
        sigmoid: 2t (1 - 2t) - 2 t (1 - t)     = -2 t**2
        relu:    [t > 0] - 2 [t > 0]           = -[t > 0]

    so layer_1_delta(book) - layer_1_delta(exact)
        = (layer_2_delta @ weights_1_2.T) * dropout_mask * book_slope_error(t).
    """
    if hidden == "tanh":
        return -1 - 2 * t**2
    if hidden == "sigmoid":
        return -2 * t**2
    return -(t > 0).astype(t.dtype)


def book_minus_exact(hidden: str, layer_2_delta: np.ndarray, weights_1_2: np.ndarray,
                     dropout_mask: np.ndarray, layer_1: np.ndarray) -> np.ndarray:
    """layer_1_delta(book) - layer_1_delta(exact) of one step, by book_slope_error's formula,
    from the step's tensors (weights_1_2 as it was before the step)."""
    t = layer_1 / 2  # each kept unit's output before dropout doubled it
    return (layer_2_delta @ weights_1_2.T) * dropout_mask * book_slope_error(hidden, t)


def book_slope_flips_at_start(hidden: str) -> bool:
    """Does book mode push units the wrong way where they start? Units start near t =
    hidden(0) (small initial weights); the book's slope of a kept unit, hidden2deriv(2t),
    has the true slope's sign there for tanh and relu, and not for sigmoid: 2t (1 - 2t)
    is negative for every t above 1/2, where half of sigmoid's units sit from the start."""
    forward, hidden2deriv = act.HIDDEN[hidden]
    t = forward(np.array([-1e-3, 1e-3]))
    return bool((np.sign(hidden2deriv(2 * t)) != np.sign(2 * hidden2deriv(t))).any())


@dataclass
class Step:
    """The tensors of one training step, named as in the chapter."""

    layer_1: np.ndarray
    layer_2: np.ndarray
    layer_2_delta: np.ndarray
    layer_1_delta: np.ndarray


@dataclass(frozen=True)
class Layers:
    """What a step computes besides its matrices, from a config and one side's two tables,
    keyed alike (a hidden activation's `forward` and `deriv`, an output layer's `forward` and
    `stable`): numpy_impl's for the chapter, torch_impl's for the study's stacked models, which
    run this module's step on torch tensors (scripts/stacked.py). The delta is numpy_impl's
    either way: arithmetic alone."""

    hidden: Callable[[np.ndarray], np.ndarray]
    hidden2deriv: Callable[[np.ndarray], np.ndarray]  # from the output, as the chapter takes it
    output: Callable[[np.ndarray], np.ndarray]  # layer_2 of the logits
    delta: Callable[[np.ndarray, np.ndarray], np.ndarray]  # layer_2_delta of layer_2, labels
    book: bool  # book mode's hidden slope (the listings' line), or exact mode's

    @classmethod
    def of(cls, config: Config, hidden: Mapping[str, Any] = act.HIDDEN,
           outputs: Mapping[str, Any] = act.OUTPUTS) -> Layers:
        """Book mode keeps the listings' softmax of the raw logits, so that its log stays the
        book's; exact mode's first subtracts each row's max (the same function, and no
        overflow)."""
        activation, output = hidden[config.hidden], outputs[config.output]
        layer_2 = output.forward if config.mode == "book" else output.stable
        base, delta = config.softmax_base, act.OUTPUTS[config.output].delta
        return cls(activation.forward, activation.deriv, functools.partial(layer_2, base=base),
                   functools.partial(delta, divisor=config.D, base=base), config.mode == "book")


def forward(layers: Layers, weights_0_1: np.ndarray, weights_1_2: np.ndarray,
            layer_0: np.ndarray, dropout_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """layer_1 (dropped out) and layer_2."""
    layer_1 = layers.hidden(layer_0 @ weights_0_1)
    layer_1 *= dropout_mask * 2
    layer_2 = layers.output(layer_1 @ weights_1_2)
    return layer_1, layer_2


def backward(layers: Layers, weights_1_2: np.ndarray, layer_1: np.ndarray, layer_2: np.ndarray,
             labels: np.ndarray, dropout_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """layer_2_delta and layer_1_delta: dL/d of each layer's pre-activation."""
    layer_2_delta = layers.delta(layer_2, labels)
    if layers.book:
        layer_1_delta = layer_2_delta @ weights_1_2.T * layers.hidden2deriv(layer_1)
        layer_1_delta *= dropout_mask
    else:
        layer_1_delta = layer_2_delta @ weights_1_2.T * layers.hidden2deriv(layer_1 / 2)
        layer_1_delta *= dropout_mask * 2
    return layer_2_delta, layer_1_delta


def train_step(layers: Layers, weights_0_1: np.ndarray, weights_1_2: np.ndarray, alpha: float,
               layer_0: np.ndarray, labels: np.ndarray, dropout_mask: np.ndarray) -> Step:
    """One step of mini-batch SGD on a batch with one-hot labels: both matrices move in
    place. numpy_impl/fast.py hands it the batch's rows of weights_0_1; scripts/stacked.py,
    each model of a stack (torch.func.vmap), with its own alpha."""
    layer_1, layer_2 = forward(layers, weights_0_1, weights_1_2, layer_0, dropout_mask)
    layer_2_delta, layer_1_delta = backward(layers, weights_1_2, layer_1, layer_2, labels,
                                            dropout_mask)
    weights_1_2 -= alpha * (layer_1.T @ layer_2_delta)
    weights_0_1 -= alpha * (layer_0.T @ layer_1_delta)
    return Step(layer_1, layer_2, layer_2_delta, layer_1_delta)


@dataclass(frozen=True)
class Batch:
    """One fixed mini-batch."""

    layer_0: np.ndarray  # (B, 784) pixel values / 255
    labels: np.ndarray  # (B, classes) one-hot
    digits: np.ndarray  # (B,) the labels as digits, to count correct answers


def count_correct(scores: np.ndarray, digits: np.ndarray) -> int:
    return int(np.count_nonzero(scores.argmax(axis=1) == digits))


class Network:
    """`weights_0_1` (784, H) and `weights_1_2` (H, classes), no biases, trained in place.

    Also the model the training loop drives (ch9_shared/loop.py): the chapter's step on
    whole matrices. numpy_impl/fast.py is the same step, faster."""

    def __init__(self, config: Config, weights_0_1: np.ndarray | None = None,
                 weights_1_2: np.ndarray | None = None):
        self.config = config
        self.weights_0_1 = weights_0_1
        self.weights_1_2 = weights_1_2
        self.layers = Layers.of(config)
        self.output = act.OUTPUTS[config.output]

    def train_step(self, layer_0: np.ndarray, labels: np.ndarray, dropout_mask: np.ndarray
                   ) -> Step:
        """The chapter's step (`train_step`) on this network's weights."""
        return train_step(self.layers, self.weights_0_1, self.weights_1_2, self.config.alpha,
                          layer_0, labels, dropout_mask)

    def activate(self, logits: np.ndarray) -> np.ndarray:
        """layer_2 of the test pass: the output layer, kept from overflowing."""
        return self.output.stable(logits, self.config.softmax_base)

    def predict(self, layer_0: np.ndarray) -> np.ndarray:
        """Logits of the test pass: no dropout, and no output activation (argmax is the same)."""
        return self.layers.hidden(layer_0 @ self.weights_0_1) @ self.weights_1_2

    def loss(self, layer_2: np.ndarray, labels: np.ndarray) -> float:
        """The chapter's loss of a batch: the output layer's canonical loss summed over its
        images, / D (its gradient with respect to the logits is layer_2_delta)."""
        return self.output.loss(layer_2, labels, self.config.D)

    # The model the training loop drives (ch9_shared/loop.py) ---------------------------

    def start(self, state: State, data: Dataset) -> None:
        """The weights in config.dtype; the training set in batches, the test set."""
        dtype = np.dtype(self.config.dtype)
        self.weights_0_1 = state.weights_0_1.astype(dtype)
        self.weights_1_2 = state.weights_1_2.astype(dtype)
        self.test_labels = np.eye(CLASSES, dtype=dtype)[data.test_labels]
        self.test_digits = data.test_labels
        self.test_layer_0 = self.layout_test(data.test_images)
        self.batches = self.layout_batches(data.train_images, data.train_labels)

    def layout_test(self, images: np.ndarray) -> np.ndarray:
        """The test set's layer_0."""
        return (images / 255).astype(self.config.dtype)

    def layout_batches(self, images: np.ndarray, digits: np.ndarray) -> list[Batch]:
        """The training set cut into train_size // batch_size batches; a remainder is left
        out, as in the listings."""
        size = self.config.batch_size
        return [self.batch(images[start:start + size], digits[start:start + size])
                for start in range(0, self.config.train_size - size + 1, size)]

    def batch(self, images: np.ndarray, digits: np.ndarray) -> Batch:
        """One batch's images and digits as the step takes them."""
        dtype = np.dtype(self.config.dtype)
        return Batch((images / 255).astype(dtype), np.eye(CLASSES, dtype=dtype)[digits], digits)

    def epoch(self, rng: np.random.RandomState, logged: bool) -> tuple[int, float]:
        """The chapter's inner loop: a step on each batch, its mask drawn from `rng`."""
        masks = dropout_masks(rng, self.config).astype(self.config.dtype)
        correct, loss = 0, 0.0
        for batch, dropout_mask in zip(self.batches, masks, strict=True):
            batch_correct, batch_loss = self.step(batch, dropout_mask, logged)
            correct += batch_correct
            loss += batch_loss
        return correct, loss

    def step(self, batch: Batch, dropout_mask: np.ndarray, logged: bool) -> tuple[int, float]:
        return self.scored(self.train_step(batch.layer_0, batch.labels, dropout_mask), batch,
                           logged)

    def scored(self, step: Step, batch: Batch, logged: bool) -> tuple[int, float]:
        """The batch's correct answers, and its loss where the iteration is logged."""
        loss = self.loss(step.layer_2, batch.labels) if logged else 0.0
        return count_correct(step.layer_2, batch.digits), loss

    def test_pass(self) -> TestPass:
        copy = Network(self.config, self.weights_0_1.copy(), self.weights_1_2.copy())
        return functools.partial(test_pass, copy, self.test_layer_0, self.test_labels,
                                 self.test_digits)

    def state(self) -> State:
        return State(self.weights_0_1, self.weights_1_2)

    def arithmetic(self) -> contextlib.AbstractContextManager[object]:
        """Overflow is caught by the loop, at the first iteration whose weights are not
        finite: NumPy's warnings on the way would say less, many times over."""
        return np.errstate(all="ignore")


def test_pass(network: Network, test_layer_0: np.ndarray, test_labels: np.ndarray,
              digits: np.ndarray) -> tuple[int, float]:
    """The test pass of `network` (no dropout): its correct answers and its loss (the
    chapter's, over the whole test set)."""
    with np.errstate(all="ignore"):
        logits = network.predict(test_layer_0)
        loss = network.loss(network.activate(logits), test_labels)
    return count_correct(logits, digits), loss
