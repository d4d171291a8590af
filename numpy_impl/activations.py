"""The chapter's activation table: each forward function beside its derivative.

Every derivative takes the activation's *output*, not its input, as the chapter
teaches ("we can directly convert their output to their slope"):

    relu     out = (x > 0) * x            d out/dx = out > 0
    sigmoid  out = 1 / (1 + e^-x)         d out/dx = out * (1 - out)
    tanh     out = tanh(x)                d out/dx = 1 - out**2
    identity out = x                      d out/dx = 1
    softmax  out = b^x / sum(b^x)         (a Jacobian: with its cross-entropy, a fused delta)

and, below them, the output layers' table: each output activation beside its delta and its
canonical loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

Array = np.ndarray


def relu(x: Array) -> Array:
    return (x > 0) * x


def relu2deriv(output: Array) -> Array:
    return (output > 0).astype(output.dtype)


def sigmoid(x: Array) -> Array:
    with np.errstate(over="ignore"):  # e^-x = inf for x << 0 gives the right limit, 0
        return 1 / (1 + np.exp(-x))


def sigmoid2deriv(output: Array) -> Array:
    return output * (1 - output)


def tanh(x: Array) -> Array:
    return np.tanh(x)


def tanh2deriv(output: Array) -> Array:
    return 1 - (output**2)


def identity(x: Array) -> Array:
    return x


def identity2deriv(output: Array) -> Array:
    return np.ones_like(output)


def softmax(x: Array, base: float = math.e) -> Array:
    """Row-wise `base**x / sum(base**x)`, computed as the chapter does: `exp(x ln base)`.

    With base e, `ln base` is exactly 1.0, so this is the listing's arithmetic to the bit.
    A base above e sharpens the choice of one class, below e softens it. The caller may
    subtract each row's maximum first (softmax does not change under a shift) to keep
    `exp` from overflowing.
    """
    temp = np.exp(x * math.log(base))
    return temp / np.sum(temp, axis=1, keepdims=True)


def stable_softmax(x: Array, base: float = math.e) -> Array:
    """softmax of each row less its maximum: the same function, kept from exp's overflow
    (above logits of about 709). Exact mode and the test pass use it; book mode keeps the
    listing's."""
    return softmax(x - x.max(axis=1, keepdims=True), base)


def softmax_cross_entropy_delta(
    output: Array, labels: Array, divisor: float, base: float = math.e
) -> Array:
    """dL/dx of L = -sum(labels * log softmax(x)) / D: the fused delta `(out - labels) / D`.

    For a base other than e the chain rule adds the factor ln(base) (exactly 1.0 for e).
    """
    return math.log(base) * ((output - labels) / divisor)


def canonical_delta(output: Array, labels: Array, divisor: float, base: float) -> Array:
    """dL/dx of sigmoid or identity with its canonical loss, / D: `(out - labels) / D`
    (`base` is softmax's alone)."""
    return (output - labels) / divisor


def cross_entropy(output: Array, labels: Array, divisor: float) -> float:
    """Softmax's loss: -sum(labels * log(output)) / D."""
    return float(-np.sum(labels * np.log(output)) / divisor)


def binary_cross_entropy(output: Array, labels: Array, divisor: float) -> float:
    """Sigmoid's loss, one independent yes/no per class."""
    return float(-np.sum(labels * np.log(output) + (1 - labels) * np.log(1 - output)) / divisor)


def half_squared_error(output: Array, labels: Array, divisor: float) -> float:
    """Identity's (regression) loss: sum((output - labels)**2) / (2 D)."""
    return float(np.sum((output - labels) ** 2) / (2 * divisor))


class Activation(NamedTuple):
    forward: Callable[[Array], Array]
    deriv: Callable[[Array], Array]  # from the output, as the chapter takes it


HIDDEN: dict[str, Activation] = {
    "relu": Activation(relu, relu2deriv),
    "sigmoid": Activation(sigmoid, sigmoid2deriv),
    "tanh": Activation(tanh, tanh2deriv),
}


def sigmoid_output(x: Array, base: float) -> Array:
    """sigmoid as an output layer (`base` is softmax's alone)."""
    return sigmoid(x)


def identity_output(x: Array, base: float) -> Array:
    """identity as an output layer: the logits themselves (`base` is softmax's alone)."""
    return x


class Output(NamedTuple):
    forward: Callable[[Array, float], Array]  # of the logits and softmax's base: the listing's
    stable: Callable[[Array, float], Array]  # the same, kept from overflowing
    delta: Callable[[Array, Array, float, float], Array]  # of layer_2, labels, D, base
    loss: Callable[[Array, Array, float], float]  # the canonical loss of layer_2, labels, D


OUTPUTS: dict[str, Output] = {
    "softmax": Output(softmax, stable_softmax, softmax_cross_entropy_delta, cross_entropy),
    "sigmoid": Output(sigmoid_output, sigmoid_output, canonical_delta, binary_cross_entropy),
    "identity": Output(identity_output, identity_output, canonical_delta, half_squared_error),
}
"""Each output layer with its canonical loss: dL/d logits = (layer_2 - labels) / D, times
ln(base) for softmax (exactly 1.0 for e). The deltas are arithmetic alone, which any array
library runs: scripts/stacked.py runs them on torch tensors."""
