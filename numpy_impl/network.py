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
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

import numpy as np

from ch9_shared.config import CLASSES, Config
from ch9_shared.data import Dataset
from ch9_shared.loop import State, TestPass, dropout_masks
from numpy_impl import activations as act

OUTPUTS = {"sigmoid": act.sigmoid, "identity": act.identity}
LOSSES = {
    "softmax": act.cross_entropy,
    "sigmoid": act.binary_cross_entropy,
    "identity": act.half_squared_error,
}
"""Each output layer's canonical loss: with it, dL/d logits = (layer_2 - labels) / D."""


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
        self.hidden, self.hidden2deriv = act.HIDDEN[config.hidden]
        self.output = (
            functools.partial(act.softmax, base=config.softmax_base)
            if config.output == "softmax"
            else OUTPUTS[config.output]
        )

    def forward(self, layer_0: np.ndarray, dropout_mask: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        """layer_1 (dropped out) and layer_2."""
        layer_1 = self.hidden(layer_0 @ self.weights_0_1)
        layer_1 *= dropout_mask * 2
        layer_2 = self.activate(layer_1 @ self.weights_1_2, stable=self.config.mode == "exact")
        return layer_1, layer_2

    def activate(self, logits: np.ndarray, stable: bool = True) -> np.ndarray:
        """layer_2 from the logits. A stable softmax first subtracts each row's max (which
        does not change it, and keeps exp from overflowing); book mode keeps the listings'
        exp of the raw logits, so that its log stays the book's."""
        if stable and self.config.output == "softmax":
            logits = logits - logits.max(axis=1, keepdims=True)
        return self.output(logits)

    def backward(
        self, layer_1: np.ndarray, layer_2: np.ndarray, labels: np.ndarray, dropout_mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """layer_2_delta and layer_1_delta: dL/d of each layer's pre-activation."""
        if self.config.output == "softmax":
            layer_2_delta = act.softmax_cross_entropy_delta(
                layer_2, labels, self.config.D, self.config.softmax_base)
        else:
            layer_2_delta = (layer_2 - labels) / self.config.D
        if self.config.mode == "book":
            layer_1_delta = layer_2_delta @ self.weights_1_2.T * self.hidden2deriv(layer_1)
            layer_1_delta *= dropout_mask
        else:
            layer_1_delta = layer_2_delta @ self.weights_1_2.T * self.hidden2deriv(layer_1 / 2)
            layer_1_delta *= dropout_mask * 2
        return layer_2_delta, layer_1_delta

    def train_step(self, layer_0: np.ndarray, labels: np.ndarray, dropout_mask: np.ndarray
                   ) -> Step:
        """One step of mini-batch SGD on a batch with one-hot labels."""
        layer_1, layer_2 = self.forward(layer_0, dropout_mask)
        layer_2_delta, layer_1_delta = self.backward(layer_1, layer_2, labels, dropout_mask)
        alpha = self.config.alpha
        self.weights_1_2 -= alpha * (layer_1.T @ layer_2_delta)
        self.weights_0_1 -= alpha * (layer_0.T @ layer_1_delta)
        return Step(layer_1, layer_2, layer_2_delta, layer_1_delta)

    def predict(self, layer_0: np.ndarray) -> np.ndarray:
        """Logits of the test pass: no dropout, and no output activation (argmax is the same)."""
        return self.hidden(layer_0 @ self.weights_0_1) @ self.weights_1_2

    def loss(self, layer_2: np.ndarray, labels: np.ndarray) -> float:
        """The chapter's loss of a batch: the output layer's canonical loss summed over its
        images, / D (its gradient with respect to the logits is layer_2_delta)."""
        return LOSSES[self.config.output](layer_2, labels, self.config.D)

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
        config, dtype = self.config, np.dtype(self.config.dtype)
        found = []
        for start in range(0, config.train_size - config.batch_size + 1, config.batch_size):
            end = start + config.batch_size
            found.append(Batch((images[start:end] / 255).astype(dtype),
                               np.eye(CLASSES, dtype=dtype)[digits[start:end]],
                               digits[start:end]))
        return found

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
        step = self.train_step(batch.layer_0, batch.labels, dropout_mask)
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
