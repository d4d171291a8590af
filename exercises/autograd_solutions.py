"""Solutions to exercises/autograd.py: try the exercises first (and `hint(name)`).

`python scripts/check_exercises.py exercises/autograd_solutions.py` passes every check.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def softmax_loss(logits: torch.Tensor, labels: torch.Tensor, D: int) -> torch.Tensor:
    return F.cross_entropy(logits, labels, reduction="sum") / D


def sigmoid_loss(logits: torch.Tensor, labels: torch.Tensor, D: int) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, labels, reduction="sum") / D


def identity_loss(logits: torch.Tensor, labels: torch.Tensor, D: int) -> torch.Tensor:
    return ((logits - labels) ** 2).sum() / (2 * D)


class ChapterNetwork(nn.Module):
    def __init__(self, pixels: int, hidden_size: int, classes: int):
        super().__init__()
        self.weights_0_1 = nn.Linear(pixels, hidden_size, bias=False)
        self.weights_1_2 = nn.Linear(hidden_size, classes, bias=False)

    def forward(self, layer_0: torch.Tensor, dropout_mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        layer_1 = torch.tanh(self.weights_0_1(layer_0)) * dropout_mask * 2
        return layer_1, self.weights_1_2(layer_1)


class TrueHidden(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden_input: torch.Tensor, dropout_mask: torch.Tensor) -> torch.Tensor:
        hidden_output = torch.tanh(hidden_input)
        ctx.save_for_backward(hidden_output, dropout_mask)
        return hidden_output * dropout_mask * 2

    @staticmethod
    def backward(ctx, grad_layer_1: torch.Tensor) -> tuple[torch.Tensor, None]:
        hidden_output, dropout_mask = ctx.saved_tensors
        return grad_layer_1 * dropout_mask * 2 * (1 - hidden_output**2), None


class BookHidden(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden_input: torch.Tensor, dropout_mask: torch.Tensor) -> torch.Tensor:
        layer_1 = torch.tanh(hidden_input) * dropout_mask * 2
        ctx.save_for_backward(layer_1, dropout_mask)
        return layer_1

    @staticmethod
    def backward(ctx, grad_layer_1: torch.Tensor) -> tuple[torch.Tensor, None]:
        layer_1, dropout_mask = ctx.saved_tensors
        return grad_layer_1 * (1 - layer_1**2) * dropout_mask, None


def train_step(network: nn.Module, optimizer: torch.optim.Optimizer, layer_0: torch.Tensor,
               labels: torch.Tensor, dropout_mask: torch.Tensor, D: int) -> torch.Tensor:
    optimizer.zero_grad()
    _, _, logits = network(layer_0, dropout_mask)
    loss = softmax_loss(logits, labels, D)
    loss.backward()
    optimizer.step()
    return loss


def idiomatic_model(hidden_size: int, alpha: float, batch_size: int, D: int
                    ) -> tuple[nn.Sequential, float]:
    model = nn.Sequential(nn.Linear(784, hidden_size, bias=False), nn.Tanh(), nn.Dropout(0.5),
                          nn.Linear(hidden_size, 10, bias=False))
    return model, alpha * batch_size / D


def manual_layer_1_delta(layer_2_delta: torch.Tensor, weight_1_2: torch.Tensor,
                         layer_1: torch.Tensor, dropout_mask: torch.Tensor) -> torch.Tensor:
    """weight_1_2 is nn.Linear's (out, in) = weights_1_2.T, so no .T here."""
    hidden_output = layer_1 / 2
    return layer_2_delta @ weight_1_2 * (1 - hidden_output**2) * dropout_mask * 2
