"""Chapter 9's backprop by hand: nine functions to write, each of which checks itself.

Copy this file (to `my_answers.py`, say), replace each `raise NotImplementedError` with
your code, and check it:

    python scripts/check_exercises.py my_answers.py

or, in a notebook, `from numpy_impl.grading import check` and then `check(tanh2deriv)`.
Each function runs on the chapter's first training step (100 images, the book's seed-1
weights and dropout mask) and is compared, tensor by tensor, with what numpy_impl's own
code computes; a derivative is also checked against finite differences. A wrong answer
gets one line saying what is off.

The names are the chapter's: layer_0 (100 images x 784 pixels), layer_1 (100 x 100
hidden units, tanh, after dropout), layer_2 (100 x 10, softmax), weights_0_1 (784 x 100),
weights_1_2 (100 x 10), labels (one-hot, 100 x 10), dropout_mask (100 x 100, 0 or 1).
"""

from __future__ import annotations

import numpy as np


def relu2deriv(output: np.ndarray) -> np.ndarray:
    """relu's slope, from relu's output: 1 where the unit is on (positive), 0 where it is off.

    "For all of the previous activation functions, we can directly convert their output
    to their slope." `output` is relu(x), not x.
    """
    raise NotImplementedError


def sigmoid2deriv(output: np.ndarray) -> np.ndarray:
    """sigmoid's slope, from sigmoid's output: output * (1 - output).

    `output` is already sigmoid(x): do not apply sigmoid again.
    """
    raise NotImplementedError


def tanh2deriv(output: np.ndarray) -> np.ndarray:
    """tanh's slope, from tanh's output: 1 - output**2.

    `output` is already tanh(x): do not apply tanh again.
    """
    raise NotImplementedError


def softmax_cross_entropy_delta(layer_2: np.ndarray, labels: np.ndarray, D: int) -> np.ndarray:
    """layer_2_delta: the gradient of the loss -sum(labels * log(layer_2)) / D with respect
    to the logits, where layer_2 = softmax(logits).

    Softmax's slope and the log's cancel: the delta is (layer_2 - labels) / D. (The book
    writes labels - layer_2 and then adds the step; here the delta is the gradient, and the
    update subtracts it.)
    """
    raise NotImplementedError


def dropout(layer_1: np.ndarray, dropout_mask: np.ndarray) -> np.ndarray:
    """layer_1 after inverted dropout: keep a unit where dropout_mask is 1 (probability 1/2),
    set it to 0 where the mask is 0, and double the kept ones, so that the layer's expected
    size is what it is without dropout (at test time)."""
    raise NotImplementedError


def dropout_backward(grad_layer_1: np.ndarray, dropout_mask: np.ndarray) -> np.ndarray:
    """The gradient with respect to layer_1 *before* dropout, given `grad_layer_1`, the
    gradient with respect to layer_1 after dropout.

    The forward pass multiplied each unit by a number (0 or 2): by the chain rule, its
    gradient is multiplied by the same number.
    """
    raise NotImplementedError


def layer_1_delta(
    layer_2_delta: np.ndarray, weights_1_2: np.ndarray, layer_1: np.ndarray,
    dropout_mask: np.ndarray,
) -> np.ndarray:
    """layer_1_delta: the gradient with respect to the hidden layer's input, layer_0 @ weights_0_1.

    The chapter: layer_2_delta @ weights_1_2.T, times the slope. But `layer_1` is the layer
    *after* dropout (tanh(layer_0 @ weights_0_1) * dropout_mask * 2), so go back one step
    at a time: through weights_1_2, then through dropout (see dropout_backward), then through
    tanh, whose slope (tanh2deriv) is taken at tanh's output: the layer *before* dropout
    doubled it. (The book's own line does not: see docs/walkthrough.md.)
    """
    raise NotImplementedError


def weights_1_2_update(
    weights_1_2: np.ndarray, layer_1: np.ndarray, layer_2_delta: np.ndarray, alpha: float
) -> np.ndarray:
    """The new weights_1_2 after one step of gradient descent: weights -= alpha * layer.T @ delta.

    The gradient of weights_1_2 is layer_1.T @ layer_2_delta (one term per image, summed).
    Return the new weights (updating `weights_1_2` in place and returning it is fine).
    """
    raise NotImplementedError


def weights_0_1_update(
    weights_0_1: np.ndarray, layer_0: np.ndarray, layer_1_delta: np.ndarray, alpha: float
) -> np.ndarray:
    """The new weights_0_1 after one step of gradient descent: weights -= alpha * layer.T @ delta.

    Return the new weights (updating `weights_0_1` in place and returning it is fine).
    """
    raise NotImplementedError
