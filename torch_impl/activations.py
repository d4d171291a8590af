"""The chapter's hidden activations in torch, each beside its derivative from the output.

The same table as numpy_impl/activations.py. Autograd never calls these derivatives: only
book mode's `BookHidden` does, to differentiate the way the listings do.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Tensor = torch.Tensor


def relu2deriv(output: Tensor) -> Tensor:
    return (output > 0).to(output.dtype)


def sigmoid2deriv(output: Tensor) -> Tensor:
    return output * (1 - output)


def tanh2deriv(output: Tensor) -> Tensor:
    return 1 - (output**2)


HIDDEN: dict[str, tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    "relu": (torch.relu, relu2deriv),
    "sigmoid": (torch.sigmoid, sigmoid2deriv),
    "tanh": (torch.tanh, tanh2deriv),
}
