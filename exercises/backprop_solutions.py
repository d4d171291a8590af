"""Solutions to exercises/backprop.py: try the exercises first (and `hint(name)`).

`python scripts/check_exercises.py exercises/backprop_solutions.py` passes every check.
"""

from __future__ import annotations

import numpy as np


def relu2deriv(output: np.ndarray) -> np.ndarray:
    return (output > 0).astype(output.dtype)


def sigmoid2deriv(output: np.ndarray) -> np.ndarray:
    return output * (1 - output)


def tanh2deriv(output: np.ndarray) -> np.ndarray:
    return 1 - output**2


def softmax_cross_entropy_delta(layer_2: np.ndarray, labels: np.ndarray, D: int) -> np.ndarray:
    return (layer_2 - labels) / D


def dropout(layer_1: np.ndarray, dropout_mask: np.ndarray) -> np.ndarray:
    return layer_1 * dropout_mask * 2


def dropout_backward(grad_layer_1: np.ndarray, dropout_mask: np.ndarray) -> np.ndarray:
    return grad_layer_1 * dropout_mask * 2


def layer_1_delta(
    layer_2_delta: np.ndarray, weights_1_2: np.ndarray, layer_1: np.ndarray,
    dropout_mask: np.ndarray,
) -> np.ndarray:
    """layer_1 / 2 is tanh's output before dropout doubled it; the mask's 2 is dropout's."""
    return layer_2_delta @ weights_1_2.T * tanh2deriv(layer_1 / 2) * dropout_mask * 2


def weights_1_2_update(
    weights_1_2: np.ndarray, layer_1: np.ndarray, layer_2_delta: np.ndarray, alpha: float
) -> np.ndarray:
    return weights_1_2 - alpha * layer_1.T @ layer_2_delta


def weights_0_1_update(
    weights_0_1: np.ndarray, layer_0: np.ndarray, layer_1_delta: np.ndarray, alpha: float
) -> np.ndarray:
    return weights_0_1 - alpha * layer_0.T @ layer_1_delta
