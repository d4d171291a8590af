"""The autograd track: the jump from the hand-made backward pass to torch, one piece at a time.

Copy this file into `answers/`, a folder git ignores and the test suite never reads
(`cp exercises/autograd.py answers/`), replace each `raise NotImplementedError` with your
code, and check it:

    python scripts/check_exercises.py answers/autograd.py

or, in a notebook, `from exercises import check, hint`, then `check(softmax_loss)`. Each
answer runs on four configurations (images, hidden units, D): the chapter's first step
(100, 100, 10000), a smaller one (20, 30, 200), the first's shapes with other values (100,
100, 999) and a batch of one (1, 13, 7). Each has its own seed, weights, dropout mask and
alpha: use the arguments, never the chapter's numbers. Each answer is compared, tensor by
tensor, with what the hand-built network computes (numpy_impl) in the same dtype. Stuck?
`hint("softmax_loss")` gives one more hint at each call; the backprop track
(exercises/backprop.py) is the same step by hand.

The names are the chapter's: layer_0 (100 images x 784 pixels), layer_1 (100 x 100
hidden units, tanh, after dropout), logits (100 x 10, layer_2 before its activation),
labels (one-hot, 100 x 10), dropout_mask (100 x 100, 0 or 1), D (the book's divisor,
10000 in its listing). Every tensor you are given is a torch tensor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: F401  (you will want it)
from torch import nn


def softmax_loss(logits: torch.Tensor, labels: torch.Tensor, D: int) -> torch.Tensor:
    """The loss whose gradient autograd turns into the chapter's layer_2_delta (softmax).

    logits: (100, 10), requires grad. labels: (100, 10), one-hot. D: the book's divisor.
    Returns: a tensor holding one number, computed from logits with torch operations, so
    that `loss.backward()` fills `logits.grad`.

    The chapter writes the delta and never the loss. Autograd needs the loss: the one
    whose gradient with respect to the logits is the chapter's softmax delta. The chapter
    names it (cross-entropy); it is summed over the batch and divided by D.
    """
    raise NotImplementedError


def sigmoid_loss(logits: torch.Tensor, labels: torch.Tensor, D: int) -> torch.Tensor:
    """The same for a sigmoid output layer (one independent yes or no per class).

    logits, labels, D and the result: as in softmax_loss. With a sigmoid on each logit,
    the chapter's delta has the same form as softmax's. Which loss makes it so? Give it
    the logits, not the sigmoid's output: torch has a version that is stable for large
    logits.
    """
    raise NotImplementedError


def identity_loss(logits: torch.Tensor, labels: torch.Tensor, D: int) -> torch.Tensor:
    """The same for an output layer with no activation (regression).

    logits, labels, D and the result: as in softmax_loss. The delta is again the output
    minus the labels, over D. Which loss of the outputs has exactly that gradient? Mind
    the constant factor.
    """
    raise NotImplementedError


class ChapterNetwork(nn.Module):
    """The chapter's forward pass as an nn.Module.

    __init__(pixels, hidden_size, classes): two layers without biases, named as the
    chapter's matrices: `self.weights_0_1` (pixels to hidden units) and `self.weights_1_2`
    (hidden units to classes), each an nn.Linear. (nn.Linear keeps its weight as (out,
    in): the chapter's matrix transposed. The check copies the chapter's weights in.)

    forward(layer_0, dropout_mask) -> (layer_1, logits): layer_0 (100, 784);
    dropout_mask (100, 100) of 0 and 1, passed in so that the check can use the chapter's.
    layer_1 (100, 100) is the hidden layer after tanh and dropout, exactly as the chapter
    computes it; logits (100, 10) are layer_2 before softmax (the loss applies it).
    """

    def __init__(self, pixels: int, hidden_size: int, classes: int):
        super().__init__()
        raise NotImplementedError

    def forward(self, layer_0: torch.Tensor, dropout_mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class TrueHidden(torch.autograd.Function):
    """The hidden layer with dropout, tanh then dropout, as an autograd Function whose
    backward is the true gradient.

    forward(ctx, hidden_input, dropout_mask) -> layer_1: hidden_input (100, 100) is
    layer_0 @ weights_0_1; layer_1 as the chapter computes it. Keep what backward needs
    with `ctx.save_for_backward(...)`.

    backward(ctx, grad_layer_1) -> (gradient for hidden_input, None): grad_layer_1 (100,
    100) is the loss's gradient with respect to layer_1; return one gradient per input
    of forward, None for dropout_mask (it is not learned). Work it out step by step,
    as in the backprop track's layer_1_delta. The check runs gradcheck's test on it, in
    float64: it compares your backward with finite differences of your forward.
    """

    @staticmethod
    def forward(ctx, hidden_input: torch.Tensor, dropout_mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_layer_1: torch.Tensor) -> tuple[torch.Tensor, None]:
        raise NotImplementedError


class BookHidden(torch.autograd.Function):
    """The same layer, with the backward pass the book's listings use, quirk and all.

    forward: as TrueHidden's. backward: what the book's hidden-layer line computes, given
    grad_layer_1 for its `layer_2_delta @ weights_1_2.T`: it takes tanh's slope from
    layer_1 as it is after dropout, and multiplies by the mask as it is. The check
    compares it with numpy_impl's book mode, and runs gradcheck, which must fail: no loss
    has the book's update as its gradient.
    """

    @staticmethod
    def forward(ctx, hidden_input: torch.Tensor, dropout_mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_layer_1: torch.Tensor) -> tuple[torch.Tensor, None]:
        raise NotImplementedError


def train_step(network: nn.Module, optimizer: torch.optim.Optimizer, layer_0: torch.Tensor,
               labels: torch.Tensor, dropout_mask: torch.Tensor, D: int) -> torch.Tensor:
    """One training step, the way every PyTorch training loop takes it.

    network(layer_0, dropout_mask) returns (hidden_input, layer_1, logits), as
    torch_impl.network.Network does. optimizer: torch.optim.SGD over its weights, at the
    chapter's alpha. labels: (100, 10), one-hot. Returns: the loss (the check reads the
    weights afterwards, and each .grad as optimizer.step() found it).

    The hand-built step is: forward, deltas, update. Here: forward, the loss (softmax_loss's:
    cross-entropy summed over the batch, over D), autograd's backward, then the optimizer's
    update. One more call comes first: the gradients already held from an earlier step
    must not leak into this one.
    """
    raise NotImplementedError


def idiomatic_model(hidden_size: int, alpha: float, batch_size: int, D: int
                    ) -> tuple[nn.Sequential, float]:
    """The chapter's network as PyTorch code is usually written, and its learning rate.

    Returns (model, lr). model: an nn.Sequential of 784 pixels -> hidden_size units ->
    10 classes, no biases, tanh, and dropout that keeps each hidden unit with probability
    1/2 in model.train() mode, nothing dropped in model.eval() mode. lr: what SGD needs
    so that one step is the chapter's step.

    The check copies the chapter's weights in and trains one step with a mean-reduced
    nn.CrossEntropyLoss() and torch.optim.SGD(model.parameters(), lr). The chapter sums
    its loss over the batch and divides by D; the loss module averages over the batch.
    How must lr make up for it, given alpha, batch_size and D?
    """
    raise NotImplementedError


def manual_layer_1_delta(layer_2_delta: torch.Tensor, weight_1_2: torch.Tensor,
                         layer_1: torch.Tensor, dropout_mask: torch.Tensor) -> torch.Tensor:
    """layer_1_delta by hand, from the tensors of an autograd forward pass (the "cmp" of
    makemore's backprop ninja): the check compares it with autograd's hidden_input.grad.

    layer_2_delta: (100, 10), autograd's logits.grad. weight_1_2: the network's
    `weights_1_2.weight`, nn.Linear's layout (10, 100), not the chapter's (100, 10).
    layer_1: (100, 100), after dropout. dropout_mask: (100, 100). Returns: (100, 100),
    the gradient with respect to the hidden layer's input, the same tensor as
    hidden_input.grad, written with torch operations.
    """
    raise NotImplementedError
