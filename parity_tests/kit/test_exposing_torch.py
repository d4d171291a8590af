"""Wrong answers of the autograd track that no configuration exposed (issue 36, item 6): a
dropout that keeps the same units at every step or keeps too few, lr by integer division,
a squeezed batch, an argument written into in place, and optimizer.zero_grad() after
optimizer.step(), each told truly. The NumPy track's are in test_exposing.py."""

from __future__ import annotations

import pytest

from parity_tests.conftest import NEEDS_TORCH

torch = pytest.importorskip("torch", reason=NEEDS_TORCH)

import torch.nn.functional as F
from torch import nn

from exercises import autograd_solutions as solutions
from exercises import check
from exercises.autograd_checks import wrong_step
from parity_tests.kit.conftest import wrong_line

DTYPES = ["float64", "float32"]


class FixedDropout(nn.Module):
    """Dropout on the mask it drew at its first call, kept ever after."""

    def __init__(self) -> None:
        super().__init__()
        self.mask: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        if self.mask is None or self.mask.shape != x.shape:
            self.mask = (torch.rand_like(x) < 0.5).to(x.dtype)
        return x * self.mask * 2


class FewerKept(nn.Module):
    """Keeps 40% of the units, and doubles them (as if it kept half)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (torch.rand_like(x) < 0.4).to(x.dtype) * 2 if self.training else x


def model_with(dropout: nn.Module, lr=None):
    def idiomatic_model(hidden_size, alpha, batch_size, D):
        model = nn.Sequential(nn.Linear(784, hidden_size, bias=False), nn.Tanh(), dropout,
                              nn.Linear(hidden_size, 10, bias=False))
        return model, (lr or (lambda: alpha * batch_size / D))()
    return idiomatic_model


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_dropout_that_keeps_the_same_units_is_caught(dtype):
    wrong_line(check(model_with(FixedDropout()), dtype, name="idiomatic_model"),
               "keeps the same units at every step",
               "agree on more than 54.3% of the units")


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_dropout_that_keeps_too_few_is_caught(dtype):
    wrong_line(check(model_with(FewerKept()), dtype, name="idiomatic_model"),
               "keeps fewer than 45.7% of the hidden units in train mode",
               "(a right dropout keeps 45.7% to 54.3% of the 4901 units here)")


@pytest.mark.parametrize("dtype", DTYPES)
def test_integer_division_in_lr_is_caught(dtype):
    def idiomatic_model(hidden_size, alpha, batch_size, D):
        model, _ = solutions.idiomatic_model(hidden_size, alpha, batch_size, D)
        return model, alpha / (D // batch_size)

    wrong_line(check(idiomatic_model, dtype), "lr is", "on a third step", "D = 999")


def test_a_squeezed_batch_is_caught():
    class ChapterNetwork(solutions.ChapterNetwork):
        def forward(self, layer_0, dropout_mask):
            layer_1, logits = super().forward(layer_0, dropout_mask)
            return layer_1, logits.squeeze()

    wrong_line(check(ChapterNetwork), "on a fourth step", "1 image,",
               "the logits have shape (10,), expected (1, 10): a squeeze")


def test_an_argument_written_into_is_named():
    def manual_layer_1_delta(layer_2_delta, weight_1_2, layer_1, dropout_mask):
        hidden_output = layer_1.div_(2)
        return layer_2_delta @ weight_1_2 * (1 - hidden_output**2) * dropout_mask * 2

    class TrueHidden(solutions.TrueHidden):
        @staticmethod
        def backward(ctx, grad_layer_1):
            hidden_output, dropout_mask = ctx.saved_tensors
            return grad_layer_1.mul_(dropout_mask * 2 * (1 - hidden_output**2)), None

    def train_step(network, optimizer, layer_0, labels, dropout_mask, D):
        optimizer.zero_grad()
        _, _, logits = network(layer_0, dropout_mask.mul_(2) / 2)
        loss = F.cross_entropy(logits, labels, reduction="sum") / D
        loss.backward()
        optimizer.step()
        return loss

    wrong_line(check(manual_layer_1_delta), "it changes its argument layer_1 in place",
               "the chapter's loop uses layer_1 again after this call")
    wrong_line(check(TrueHidden), "it changes its argument grad_layer_1 in place")
    wrong_line(check(train_step), "it changes its argument dropout_mask in place",
               "forward pass and its backward pass both read")


@pytest.mark.parametrize(("calls", "words"), [
    (("backward", "step", "zero_grad"),
     ["weights_0_1.grad is not 0 at", "gradients add up over backward() calls, and an "
      "earlier step's are still there"]),
    (("backward", "zero_grad", "step"),
     ["weights_0_1.grad is 0 everywhere", "the gradients are cleared after backward() made "
      "them, before the optimizer's step could use them"]),
])
def test_zero_grad_after_the_step_is_told_truly(calls, words):
    wrong_line(check(wrong_step(*calls), name="train_step"), *words)


def test_zeroing_the_gradients_after_the_step_as_well_is_right():
    """A step that zeroes the gradients before backward and again after optimizer.step(), as
    some loops do: the step used the right gradient, and passes."""
    result = check(wrong_step("zero_grad", "backward", "step", "zero_grad"), name="train_step")
    assert result.passed, str(result)
