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

import functools
from dataclasses import dataclass

import numpy as np

from ch9_shared.config import Config
from numpy_impl import activations as act

Pixels = np.ndarray | slice
"""Which of the 784 pixel columns a layer_0 holds: an index array, or all of them."""

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


class Network:
    """`weights_0_1` (784, H) and `weights_1_2` (H, classes), no biases, trained in place."""

    def __init__(self, config: Config, weights_0_1: np.ndarray, weights_1_2: np.ndarray):
        self.config = config
        self.weights_0_1 = weights_0_1
        self.weights_1_2 = weights_1_2
        self.hidden, self.hidden2deriv = act.HIDDEN[config.hidden]
        self.output = (
            functools.partial(act.softmax, base=config.softmax_base)
            if config.output == "softmax"
            else OUTPUTS[config.output]
        )

    def forward(
        self, layer_0: np.ndarray, dropout_mask: np.ndarray, weights_0_1: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """layer_1 (dropped out) and layer_2. `weights_0_1` is the whole matrix unless
        given: `train_step` passes the rows of the pixels its batch holds."""
        if weights_0_1 is None:
            weights_0_1 = self.weights_0_1
        layer_1 = self.hidden(layer_0 @ weights_0_1)
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

    def train_step(
        self,
        layer_0: np.ndarray,
        labels: np.ndarray,
        dropout_mask: np.ndarray,
        pixels: Pixels = slice(None),
    ) -> Step:
        """One step of mini-batch SGD on a batch with one-hot labels.

        `pixels` lists the columns of the 784 that layer_0 holds: a pixel that is zero in
        every image of a batch adds nothing forward and gets a zero gradient, so a batch
        may leave it out (about 280 of 784 for MNIST batches of 100). The step works on a
        copy of those rows of weights_0_1 and writes them back.
        """
        weights_0_1 = self.weights_0_1[pixels]
        layer_1, layer_2 = self.forward(layer_0, dropout_mask, weights_0_1)
        layer_2_delta, layer_1_delta = self.backward(layer_1, layer_2, labels, dropout_mask)
        alpha = self.config.alpha
        self.weights_1_2 -= alpha * (layer_1.T @ layer_2_delta)
        weights_0_1 -= alpha * (layer_0.T @ layer_1_delta)
        self.weights_0_1[pixels] = weights_0_1
        return Step(layer_1, layer_2, layer_2_delta, layer_1_delta)

    def gradients(
        self, layer_0: np.ndarray, labels: np.ndarray, dropout_mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The directions the weights move in, (d weights_0_1, d weights_1_2), without moving them.

        In exact mode these are dL/d weights of `loss`; in book mode, what the listings use.
        """
        layer_1, layer_2 = self.forward(layer_0, dropout_mask)
        layer_2_delta, layer_1_delta = self.backward(layer_1, layer_2, labels, dropout_mask)
        return layer_0.T @ layer_1_delta, layer_1.T @ layer_2_delta

    def loss(self, layer_0: np.ndarray, labels: np.ndarray, dropout_mask: np.ndarray) -> float:
        """The output layer's canonical loss, summed over the batch and divided by D."""
        _, layer_2 = self.forward(layer_0, dropout_mask)
        return LOSSES[self.config.output](layer_2, labels, self.config.D)

    def predict(self, layer_0: np.ndarray, pixels: Pixels = slice(None)) -> np.ndarray:
        """Logits of the test pass: no dropout, and no output activation (argmax is the same).

        Computed as `(layer_1 @ weights_1_2).T = weights_1_2.T @ hidden(weights_0_1.T @ layer_0.T)`:
        the same numbers, but BLAS runs about twice as fast writing the wide (H, N) result than
        the tall (N, H) one, most of all when `layer_0` is the transpose of a C-ordered array.
        """
        layer_1_t = self.hidden(self.weights_0_1[pixels].T @ layer_0.T)
        return (self.weights_1_2.T @ layer_1_t).T
