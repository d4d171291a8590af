"""The chapter's activations and losses in torch: one table of each, named as the NumPy side's
(numpy_impl/activations.py, numpy_impl/network.py).

Each hidden activation carries its function, its derivative from the output and its
nn.Module. Autograd never calls the derivatives: only book mode's `BookHidden` does, to
differentiate the way the listings do. The modules are the idiomatic model's layers.
Each output layer's loss carries the canonical loss summed over a batch (the hand-built
network's) and the same loss as a module, averaged (the idiomatic model's).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

Tensor = torch.Tensor


def relu2deriv(output: Tensor) -> Tensor:
    return (output > 0).to(output.dtype)


def sigmoid2deriv(output: Tensor) -> Tensor:
    return output * (1 - output)


def tanh2deriv(output: Tensor) -> Tensor:
    return 1 - (output**2)


class Activation(NamedTuple):
    forward: Callable[[Tensor], Tensor]
    deriv: Callable[[Tensor], Tensor]  # from the output, as the chapter takes it
    module: type[nn.Module]  # the same function as a layer of nn.Sequential


HIDDEN: dict[str, Activation] = {
    "relu": Activation(torch.relu, relu2deriv, nn.ReLU),
    "sigmoid": Activation(torch.sigmoid, sigmoid2deriv, nn.Sigmoid),
    "tanh": Activation(torch.tanh, tanh2deriv, nn.Tanh),
}


def softmax_cross_entropy(logits: Tensor, labels: Tensor, base: float) -> Tensor:
    """-sum(labels * log softmax_base(logits)), with softmax_base(x) = softmax(x ln base)."""
    return F.cross_entropy(logits * math.log(base), labels, reduction="sum")


def binary_cross_entropy(logits: Tensor, labels: Tensor, base: float) -> Tensor:
    """Sigmoid's loss, one independent yes/no per class (`base` is softmax's alone)."""
    return F.binary_cross_entropy_with_logits(logits, labels, reduction="sum")


def half_squared_error(logits: Tensor, labels: Tensor, base: float) -> Tensor:
    """Identity's (regression) loss: sum((logits - labels)**2) / 2."""
    return F.mse_loss(logits, labels, reduction="sum") / 2


class Loss(NamedTuple):
    summed: Callable[[Tensor, Tensor, float], Tensor]  # of the logits and one-hot labels
    module: type[nn.Module]  # averaged over its N terms (MSELoss: the squared error, not half)


LOSSES: dict[str, Loss] = {
    "softmax": Loss(softmax_cross_entropy, nn.CrossEntropyLoss),  # the module takes the digits
    "sigmoid": Loss(binary_cross_entropy, nn.BCEWithLogitsLoss),
    "identity": Loss(half_squared_error, nn.MSELoss),
}
"""Each output layer's canonical loss, before the division by D: its gradient with respect
to the logits is layer_2 - labels."""
