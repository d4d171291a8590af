"""The chapter's network with torch.nn: the same forward pass, and autograd for the backward.

    layer_1 = hidden(weights_0_1(layer_0)) * dropout_mask * 2
    logits  = weights_1_2(layer_1)
    loss    = output layer's canonical loss, summed over the batch, / D

`weights_0_1` and `weights_1_2` are `nn.Linear(bias=False)` layers; their `.weight` is the
NumPy side's matrix transposed, (out, in). With each output layer's canonical loss, autograd's
dL/d logits is the NumPy side's `layer_2_delta = (layer_2 - labels) / D`.

exact mode: nothing written by hand; `loss.backward()` and `torch.optim.SGD(lr=alpha)`.
book mode: the same, except that the hidden layer is `BookHidden`, an autograd Function whose
backward is the listings' line, quirk included (see numpy_impl/network.py and docs/design.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from ch9_shared.config import CLASSES, PIXELS, Config
from torch_impl import activations as act

M = TypeVar("M", bound=nn.Module)


def chapter_layout(weight: torch.Tensor) -> np.ndarray:
    """A weight matrix in the chapter's layout, (in, out), as a NumPy array of its own:
    nn.Linear keeps its weight transposed, (out, in), and perhaps on a GPU."""
    return weight.detach().cpu().numpy().T.copy()


def linear_layers(model: nn.Module) -> tuple[nn.Linear, nn.Linear]:
    """weights_0_1 and weights_1_2 of the hand-built Network or the idiomatic nn.Sequential:
    its two nn.Linear layers, in order."""
    first, second = (module for module in model.modules() if isinstance(module, nn.Linear))
    return first, second


def from_numpy(model: M, weights_0_1: np.ndarray, weights_1_2: np.ndarray, dtype: str,
               device: torch.device | str = "cpu") -> M:
    """`model` (the hand-built Network or the idiomatic nn.Sequential) holding the chapter's
    matrices, in `dtype` on `device`. nn.Linear keeps its weight as (out, in): the chapter's
    matrices transposed."""
    model = model.to(device, getattr(torch, dtype))
    first, second = linear_layers(model)
    with torch.no_grad():
        first.weight.copy_(torch.from_numpy(weights_0_1.T))
        second.weight.copy_(torch.from_numpy(weights_1_2.T))
    return model


def chapter_weights(model: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """weights_0_1 and weights_1_2 of `model` in the chapter's layout, NumPy arrays of their
    own."""
    first, second = linear_layers(model)
    return chapter_layout(first.weight), chapter_layout(second.weight)


@dataclass
class Step:
    """The tensors of one training step, named as in the chapter (as numpy_impl's Step)."""

    layer_1: torch.Tensor
    layer_2: torch.Tensor
    layer_2_delta: torch.Tensor
    layer_1_delta: torch.Tensor
    loss: torch.Tensor  # the batch's loss, / D


class BookHidden(torch.autograd.Function):
    """layer_1 = hidden(x) * dropout_mask * 2, differentiated the way the listings do it:

        grad_x = grad_layer_1 * hidden2deriv(layer_1) * dropout_mask

    The slope is taken at layer_1 *after* dropout doubled it, and the mask's 2 is left out.
    The true gradient (what autograd finds in exact mode) is
    `grad_layer_1 * hidden2deriv(layer_1 / 2) * dropout_mask * 2`.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, dropout_mask: torch.Tensor, hidden: str) -> torch.Tensor:
        activation = act.HIDDEN[hidden]
        layer_1 = activation.forward(x) * dropout_mask * 2
        ctx.save_for_backward(layer_1, dropout_mask)
        ctx.hidden2deriv = activation.deriv
        return layer_1

    @staticmethod
    def backward(ctx, grad_layer_1: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        layer_1, dropout_mask = ctx.saved_tensors
        return grad_layer_1 * ctx.hidden2deriv(layer_1) * dropout_mask, None, None


class Network(nn.Module):
    """784 -> H -> classes, no biases; hidden activation, output layer and mode from config."""

    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        self.weights_0_1 = nn.Linear(PIXELS, config.hidden_size, bias=False)
        self.weights_1_2 = nn.Linear(config.hidden_size, CLASSES, bias=False)
        self.hidden = act.HIDDEN[config.hidden].forward

    def forward(
        self, layer_0: torch.Tensor, dropout_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The hidden layer's input (layer_0 @ weights_0_1), layer_1 (dropped out) and the
        logits (layer_1 @ weights_1_2, layer_2 before its activation)."""
        hidden_input = self.weights_0_1(layer_0)
        if self.config.mode == "book":
            layer_1 = BookHidden.apply(hidden_input, dropout_mask, self.config.hidden)
        else:
            layer_1 = self.hidden(hidden_input) * dropout_mask * 2
        return hidden_input, layer_1, self.weights_1_2(layer_1)

    def train_step(
        self,
        layer_0: torch.Tensor,
        labels: torch.Tensor,
        dropout_mask: torch.Tensor,
        optimizer: torch.optim.Optimizer,
    ) -> Step:
        """One step of SGD: forward, `loss.backward()`, `optimizer.step()`.

        The deltas of the returned Step are autograd's gradients of the loss with respect
        to the logits and to the hidden layer's input: the NumPy side's hand-made deltas.
        """
        optimizer.zero_grad()
        hidden_input, layer_1, logits = self(layer_0, dropout_mask)
        hidden_input.retain_grad()
        logits.retain_grad()
        loss = self.loss(logits, labels)
        loss.backward()
        optimizer.step()
        return Step(layer_1.detach(), self.output(logits.detach()), logits.grad,
                    hidden_input.grad, loss.detach())

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The output layer's canonical loss over the batch, divided by D: its gradient with
        respect to the logits is (layer_2 - labels) / D, the NumPy side's layer_2_delta."""
        config = self.config
        return act.OUTPUTS[config.output].summed(logits, labels, config.softmax_base) / config.D

    def output(self, logits: torch.Tensor) -> torch.Tensor:
        """layer_2: the output layer's activation of the logits."""
        return act.OUTPUTS[self.config.output].stable(logits, self.config.softmax_base)

    def sgd(self) -> torch.optim.SGD:
        """Plain SGD at the chapter's learning rate: `weight -= alpha * weight.grad`."""
        return torch.optim.SGD(self.parameters(), lr=self.config.alpha)

    @torch.no_grad()
    def predict(self, layer_0: torch.Tensor) -> torch.Tensor:
        """Logits of the test pass: no dropout, and no output activation (argmax is the same)."""
        return self.weights_1_2(self.hidden(self.weights_0_1(layer_0)))
