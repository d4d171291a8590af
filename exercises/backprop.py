"""The backprop track: chapter 9's backward pass by hand, one function at a time (NumPy alone).

Copy this file into `answers/`, a folder git ignores and the test suite never reads
(`cp exercises/backprop.py answers/`), replace each `raise NotImplementedError` with your
code, and check it:

    python scripts/check_exercises.py answers/backprop.py

or, in a notebook, `from exercises import check, hint`, then `check(tanh2deriv)`. Each
answer runs on four configurations (images, hidden units, D): the chapter's first step
(100, 100, 10000), a smaller one (20, 30, 200), the first's shapes with other values (100,
100, 999) and a batch of one (1, 13, 7). Each has its own seed, weights, dropout mask and
alpha: use the arguments, never the chapter's numbers. Each answer is compared, tensor by
tensor, with what numpy_impl's own code computes; a derivative is also checked against
finite differences. A wrong answer gets one line saying what is off. Stuck?
`hint("tanh2deriv")` gives one more hint at each call.

The names are the chapter's: layer_0 (100 images x 784 pixels), layer_1 (100 x 100
hidden units, tanh, after dropout), layer_2 (100 x 10, softmax), weights_0_1 (784 x 100),
weights_1_2 (100 x 10), labels (one-hot, 100 x 10), dropout_mask (100 x 100, 0 or 1).
"""

from __future__ import annotations

import numpy as np


def relu2deriv(output: np.ndarray) -> np.ndarray:
    """relu's slope at each entry, computed from relu's output.

    output: any shape, what relu returned (never negative). Returns: the same shape, the
    slope of relu at the input that gave each output. The chapter: "For all of the
    previous activation functions, we can directly convert their output to their slope."
    Where is relu flat, and where does it pass its input straight through?
    """
    raise NotImplementedError


def sigmoid2deriv(output: np.ndarray) -> np.ndarray:
    """sigmoid's slope at each entry, computed from sigmoid's output.

    output: any shape, what sigmoid returned (between 0 and 1). Returns: the same shape.
    You are given the output, not the input: do not apply sigmoid again. Differentiate
    1 / (1 + e^-x) and write the result in terms of the output alone.
    """
    raise NotImplementedError


def tanh2deriv(output: np.ndarray) -> np.ndarray:
    """tanh's slope at each entry, computed from tanh's output.

    output: any shape, what tanh returned (between -1 and 1). Returns: the same shape.
    You are given the output, not the input: do not apply tanh again. The slope is 1 at
    the origin and falls to 0 as the output nears -1 or 1.
    """
    raise NotImplementedError


def softmax_cross_entropy_delta(layer_2: np.ndarray, labels: np.ndarray, D: int) -> np.ndarray:
    """layer_2_delta: how the loss changes with each logit (layer_2 before its softmax).

    layer_2: (100, 10), softmax's output, each row sums to 1. labels: (100, 10), one-hot.
    D: the book's divisor (10000 in its listing). Returns: (100, 10).

    The loss is cross-entropy summed over the batch and divided by D. Softmax's slope
    and the logarithm's cancel each other, and what is left is short. Mind the sign: the
    book writes its delta the other way round and then adds it; here the delta is the
    gradient, and the update subtracts it.
    """
    raise NotImplementedError


def dropout(layer_1: np.ndarray, dropout_mask: np.ndarray) -> np.ndarray:
    """layer_1 after dropout, as the chapter trains it.

    layer_1: (100, 100), the hidden layer before dropout. dropout_mask: (100, 100), 1 for
    a unit that is kept (probability 1/2), 0 for one that is dropped. Returns: (100, 100).
    Dropped units are silenced; the kept ones are scaled up so that the layer's expected
    size stays what it is at test time, when nothing is dropped.
    """
    raise NotImplementedError


def dropout_backward(grad_layer_1: np.ndarray, dropout_mask: np.ndarray) -> np.ndarray:
    """The gradient with respect to layer_1 *before* dropout.

    grad_layer_1: (100, 100), the gradient with respect to layer_1 after dropout.
    dropout_mask: (100, 100) of 0 and 1. Returns: (100, 100). The forward pass multiplied
    each unit by a number; what does the chain rule do to a product by a constant?
    """
    raise NotImplementedError


def layer_1_delta(
    layer_2_delta: np.ndarray, weights_1_2: np.ndarray, layer_1: np.ndarray,
    dropout_mask: np.ndarray,
) -> np.ndarray:
    """layer_1_delta: the gradient with respect to the hidden layer's input, layer_0 @ weights_0_1.

    layer_2_delta: (100, 10). weights_1_2: (100, 10). layer_1: (100, 100), the hidden
    layer *after* dropout, as the book keeps it. dropout_mask: (100, 100). Returns:
    (100, 100).

    Go back one step at a time: through weights_1_2, through dropout (your
    dropout_backward), then through tanh. tanh's slope comes from tanh's output, and
    layer_1 is not quite that: dropout changed it. (The book's own line takes the slope
    from layer_1 as it is; see docs/walkthrough.md for what that does.)
    """
    raise NotImplementedError


def weights_1_2_update(
    weights_1_2: np.ndarray, layer_1: np.ndarray, layer_2_delta: np.ndarray, alpha: float
) -> np.ndarray:
    """weights_1_2 after one step of gradient descent.

    weights_1_2: (100, 10). layer_1: (100, 100), the layer it reads. layer_2_delta:
    (100, 10), the gradient at the layer it writes. alpha: the learning rate. Returns:
    (100, 10), the new weights (changing weights_1_2 in place and returning it is fine).
    Each image adds one outer product to the gradient of the weights; a single matrix
    product sums them. Then take a step of size alpha downhill.
    """
    raise NotImplementedError


def weights_0_1_update(
    weights_0_1: np.ndarray, layer_0: np.ndarray, layer_1_delta: np.ndarray, alpha: float
) -> np.ndarray:
    """weights_0_1 after one step of gradient descent.

    weights_0_1: (784, 100). layer_0: (100, 784), the pixels. layer_1_delta: (100, 100).
    alpha: the learning rate. Returns: (784, 100), the new weights (changing weights_0_1 in
    place and returning it is fine). The same rule as weights_1_2_update, one layer down.
    """
    raise NotImplementedError
