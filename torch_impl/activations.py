"""The chapter's activations in torch: one table of the hidden ones, one of the output layers,
named as the NumPy side's (numpy_impl/activations.py).

Each hidden activation carries its function, its derivative from the output and its
nn.Module. Autograd never calls the derivatives: only book mode's `BookHidden` does, to
differentiate the way the listings do, and the study's stacked models, which run the NumPy
side's step (scripts/stacked.py). The modules are the idiomatic model's layers.
Each output layer carries its function of the logits (as the listings compute it, and kept
from overflowing), its canonical loss summed over a batch (the hand-built network's) and the
same loss as a module, averaged (the idiomatic model's).
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


def softmax(logits: Tensor, base: float) -> Tensor:
    """softmax_base of each row as the listings compute it, exp(x ln base) / sum: no shift."""
    temp = torch.exp(logits * math.log(base))
    return temp / temp.sum(dim=-1, keepdim=True)


def stable_softmax(logits: Tensor, base: float) -> Tensor:
    """The same function, kept from overflowing (torch subtracts each row's max)."""
    return torch.softmax(logits * math.log(base), dim=-1)


def sigmoid_output(logits: Tensor, base: float) -> Tensor:
    """sigmoid as an output layer (`base` is softmax's alone)."""
    return torch.sigmoid(logits)


def identity_output(logits: Tensor, base: float) -> Tensor:
    """identity as an output layer: the logits themselves (`base` is softmax's alone)."""
    return logits


class Output(NamedTuple):
    forward: Callable[[Tensor, float], Tensor]  # of the logits and softmax's base: the listing's
    stable: Callable[[Tensor, float], Tensor]  # the same, kept from overflowing
    summed: Callable[[Tensor, Tensor, float], Tensor]  # the loss of the logits, one-hot labels
    module: type[nn.Module]  # averaged over its N terms (MSELoss: the squared error, not half)


OUTPUTS: dict[str, Output] = {
    "softmax": Output(softmax, stable_softmax, softmax_cross_entropy,
                      nn.CrossEntropyLoss),  # the module takes the digits
    "sigmoid": Output(sigmoid_output, sigmoid_output, binary_cross_entropy,
                      nn.BCEWithLogitsLoss),
    "identity": Output(identity_output, identity_output, half_squared_error, nn.MSELoss),
}
"""Each output layer with its canonical loss, before the division by D: its gradient with
respect to the logits is layer_2 - labels."""
