"""The checks of the autograd track (exercises/autograd.py): each answer against the
hand-built network's tensors of the chapter's first step, and of the other configurations
(exercises/grading.py). Each exercise's catalogue of typical mistakes is written out below
as code, each with its kind in words (never the fix: that is the last hint's).

Each exercise's run (exercises/child.py) takes the learner's torch code through each step
and hands back NumPy arrays; `exercises.grading.judge` compares them with numpy_impl's own
tensors under ch9_shared/close.py, in the exercise's dtype. The references:

    softmax_loss, sigmoid_loss,   logits.grad after loss.backward(): (layer_2 - labels) / D,
    identity_loss                 with layer_2 = the output layer's activation; the loss's value
    ChapterNetwork                layer_1 and the logits of numpy_impl's forward pass, and each
                                  weight's .grad after the chapter's loss.backward() (a graph
                                  cut by .data or .detach() leaves one None: named)
    TrueHidden                    layer_1, and hidden_input.grad = exact mode's layer_1_delta;
                                  gradcheck (float64, computed here) must pass
    BookHidden                    the same against book mode's layer_1_delta; gradcheck must fail
    train_step                    each weight's .grad and new value, as the hand-built step's,
                                  and the loss it returns
    idiomatic_model               eval logits, lr; in train mode, the mask its dropout drew
                                  (about half kept, doubled), then layer_1, the logits and the
                                  weights after one SGD step, as numpy_impl's on that mask
    manual_layer_1_delta          autograd's hidden_input.grad from torch_impl's network
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ch9_shared.config import CLASSES, PIXELS
from exercises import autograd as blanks
from exercises.backprop_checks import BOOK_LINE, NO_SCALE_BACK, SLOPE_AFTER_DROPOUT
from exercises.child import (
    hidden_run,
    idiomatic_run,
    jacobian_run,
    loss_run,
    manual_run,
    network_run,
    tensor,
    train_step_run,
)
from exercises.grading import (
    Arrays,
    Exercise,
    Expected,
    Final,
    Mistake,
    StepTensors,
    first_step,
)
from numpy_impl.activations import OUTPUTS
from numpy_impl.network import Layers, backward
from torch_impl.activations import tanh2deriv
from torch_impl.idiomatic import learning_rate
from torch_impl.network import Network as TorchNetwork
from torch_impl.network import from_numpy

# The three losses.

def output_layer(step: StepTensors, output: str) -> Callable[[np.ndarray], np.ndarray]:
    return functools.partial(OUTPUTS[output].stable, base=step.config.softmax_base)


def loss_inputs(step: StepTensors) -> dict[str, object]:
    return {"logits": step.logits, "labels": step.labels, "D": step.config.D}


def loss_exercise(blank: Callable[..., object], mistakes: tuple[Mistake, ...],
                  hints: tuple[str, ...] = ()) -> Exercise:
    """The loss of an output layer: `blank` is {output}_loss."""
    output = blank.__name__.removesuffix("_loss")

    def delta(step: StepTensors) -> np.ndarray:
        return (output_layer(step, output)(step.logits) - step.labels) / step.config.D

    return Exercise(blank, loss_inputs, loss_run, (
        Expected("grad", "logits.grad", delta, depth=4),
        Expected("loss", "the loss", loss_value(output), depth=4),
    ), mistakes, hints=hints)


def loss_value(output: str) -> Callable[[StepTensors], np.ndarray]:
    """The chapter's loss on its step, summed over the batch and divided by D."""
    def value(step: StepTensors) -> np.ndarray:
        layer_2 = output_layer(step, output)(step.logits)
        return np.array(OUTPUTS[output].loss(layer_2, step.labels, step.config.D),
                        step.config.dtype)
    return value


MEAN = ("the loss is a mean (the default reduction='mean'), where the chapter sums over the "
        "batch and divides by D")
OUTPUTS_MEAN = MEAN.replace("the batch", "the batch's outputs (images x classes)")
NO_D = "the summed loss is not divided by D"
CUT = "the graph from the logits to the loss is cut on the way (a .data cuts it too)"
"""The kinds of mistake, in words, that the catalogues below share (never the fix: that is
the last hint's, exercises/hints.py)."""


# ChapterNetwork.

class _Layers(nn.Module):
    """The two layers every typical wrong ChapterNetwork below gets right."""

    def __init__(self, pixels: int, hidden_size: int, classes: int):
        super().__init__()
        self.weights_0_1 = nn.Linear(pixels, hidden_size, bias=False)
        self.weights_1_2 = nn.Linear(hidden_size, classes, bias=False)


def wrong_network(forward: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> type:
    return type("ChapterNetwork", (_Layers,), {"forward": forward})


def network_inputs(step: StepTensors) -> dict[str, object]:
    return {"pixels": PIXELS, "hidden_size": step.config.hidden_size, "classes": CLASSES,
            "layer_0": step.layer_0, "dropout_mask": step.dropout_mask}


def network_given(step: StepTensors) -> dict[str, object]:
    """The weights the check copies in, and what its loss.backward() needs."""
    return {"weights_0_1": step.weights_0_1, "weights_1_2": step.weights_1_2,
            "labels": step.labels, "D": step.config.D, "dtype": step.config.dtype}


# TrueHidden and BookHidden.

def wrong_function(backward: Callable[..., torch.Tensor]) -> type:
    """A hidden-layer Function with the right forward and backward(grad, hidden_input,
    layer_1, mask)."""
    def forward(ctx: object, hidden_input: torch.Tensor, dropout_mask: torch.Tensor
                ) -> torch.Tensor:
        layer_1 = torch.tanh(hidden_input) * dropout_mask * 2
        ctx.save_for_backward(hidden_input, layer_1, dropout_mask)
        return layer_1

    def backward_(ctx: object, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return backward(grad, *ctx.saved_tensors), None
    return type("Hidden", (torch.autograd.Function,), {
        "forward": staticmethod(forward), "backward": staticmethod(backward_)})


def hidden_inputs(step: StepTensors) -> dict[str, object]:
    """forward's arguments, and backward's grad_layer_1."""
    return {"hidden_input": step.hidden_input, "dropout_mask": step.dropout_mask,
            "grad_layer_1": step.layer_2_delta @ step.weights_1_2.T}


GRADCHECK_STEP = 1e-6
"""How far the gradient check moves each entry (torch.autograd.gradcheck's eps)."""
GRADCHECK_ATOL, GRADCHECK_RTOL = 1e-5, 1e-3
"""Its tolerances (torch.autograd.gradcheck's defaults)."""


def gradcheck_inputs(step: StepTensors) -> tuple[object, dict[str, object]]:
    """The gradient check's call: a 4 x 5 corner of the chapter's step, in float64."""
    step64 = first_step("float64")
    return jacobian_run, {"hidden_input": step64.hidden_input[:4, :5],
                          "dropout_mask": step64.dropout_mask[:4, :5], "step": GRADCHECK_STEP}


def gradcheck_passes(arrays: Arrays) -> bool | str:
    """torch.autograd.gradcheck's test, computed here from the tensors the answer made (its
    backward's Jacobian, its forward moved by +-GRADCHECK_STEP), never taken from the
    answer's process: whether each entry of the Jacobian matches central differences of
    forward. A string where the tensors cannot be what a right forward makes."""
    step64 = first_step("float64")
    x, mask = step64.hidden_input[:4, :5], step64.dropout_mask[:4, :5]
    size = x.size
    shapes = {"jacobian": (size, size), "plus": (size, *x.shape), "minus": (size, *x.shape)}
    got = {key: arrays.get(key) for key in shapes}
    if not all(isinstance(value, np.ndarray) and value.shape == shapes[key]
               and value.dtype == np.float64 and np.isfinite(value).all()
               for key, value in got.items()):
        return "the grader's process did not send the gradient check's tensors"
    moved = np.eye(size).reshape(size, *x.shape) * GRADCHECK_STEP
    for key, sign in (("plus", 1), ("minus", -1)):
        if not np.allclose(got[key], np.tanh(x + sign * moved) * mask * 2, rtol=1e-9,
                           atol=1e-12):
            return ("forward's result differs from the chapter's layer_1 on a 4 x 5 corner "
                    "of its step, each entry moved by 1e-6 (float64)")
    numeric = ((got["plus"] - got["minus"]).reshape(size, size) / (2 * GRADCHECK_STEP)).T
    return bool(np.allclose(got["jacobian"], numeric, rtol=GRADCHECK_RTOL, atol=GRADCHECK_ATOL))


def gradcheck_verdict(must_pass: bool) -> Final:
    def final(step: StepTensors, arrays: Arrays) -> tuple[str | None, str]:
        passes = gradcheck_passes(arrays)
        if isinstance(passes, str):
            return passes, ""
        if must_pass and not passes:
            return ("layer_1_delta matches exact mode on the chapter's step, but gradcheck "
                    "(backward against central differences of forward) fails on a 4 x 5 "
                    "corner of it (float64)"), ""
        if must_pass:
            return None, "gradcheck passes (float64, computed by the grader)"
        if passes:
            return "gradcheck passes: the book's update is not a gradient", ""
        return None, ("gradcheck fails, as it must: the book's update is no gradient "
                      "(float64, computed by the grader)")
    return final


def book_layer_1_delta(step: StepTensors) -> np.ndarray:
    """numpy_impl's book mode, on the chapter's step."""
    layers = Layers.of(step.config.replace(mode="book"))
    return backward(layers, step.weights_1_2, step.layer_1, step.layer_2, step.labels,
                    step.dropout_mask)[1]


def hidden_exercise(blank: type, reference: Callable[[StepTensors], np.ndarray], gradient: bool,
                    mistakes: tuple[Mistake, ...], hints: tuple[str, ...] = ()) -> Exercise:
    return Exercise(blank, hidden_inputs, hidden_run, (
        Expected("layer_1", "layer_1", lambda step: step.layer_1,
                 zero="where dropout dropped a unit"),
        Expected("layer_1_delta", "hidden_input.grad", reference, depth=4, masked=True,
                 zero="where dropout dropped a unit"),
    ), mistakes, gradcheck_verdict(gradient), gradcheck_inputs, hints=hints)


# train_step.

def step_inputs(step: StepTensors) -> dict[str, object]:
    """train_step's arguments but the network: the optimizer as its lr, alpha."""
    return {"optimizer": step.config.alpha, "layer_0": step.layer_0, "labels": step.labels,
            "dropout_mask": step.dropout_mask, "D": step.config.D}


HARD_CODED_RATE = (
    "train_step does not change with the optimizer's learning rate: it moves the weights by "
    "a rate of its own, written in, where the optimizer it is given has the configuration's "
    "alpha as its lr")


def step_given(step: StepTensors) -> dict[str, object]:
    """The hand-built network's weights, which the child builds it on."""
    return {"weights_0_1": step.weights_0_1, "weights_1_2": step.weights_1_2}


def wrong_step(*calls: str) -> Callable[..., object]:
    """A train_step that makes these calls, in this order, and returns the loss."""
    def step(network: TorchNetwork, optimizer: torch.optim.Optimizer, layer_0: torch.Tensor,
             labels: torch.Tensor, dropout_mask: torch.Tensor, D: int) -> object:
        loss = None
        for call in calls:
            if call == "zero_grad":
                optimizer.zero_grad()
            elif call == "step":
                optimizer.step()
            else:
                _, _, logits = network(layer_0, dropout_mask)
                if call == "backward":
                    loss = F.cross_entropy(logits, labels, reduction="sum") / D
                elif call == "mean":  # the loss averaged over the batch
                    loss = F.cross_entropy(logits, labels)
                else:  # "softmax": softmax before the loss that applies it
                    loss = F.cross_entropy(torch.softmax(logits, 1), labels, reduction="sum") / D
                loss.backward()
        return loss
    return step


# idiomatic_model.

def idiomatic_inputs(step: StepTensors) -> dict[str, object]:
    config = step.config
    return {"hidden_size": config.hidden_size, "alpha": config.alpha,
            "batch_size": config.batch_size, "D": config.D}


def idiomatic_given(step: StepTensors) -> dict[str, object]:
    """The weights the check copies in, the batch it trains on, and the dtype."""
    return {"weights_0_1": step.weights_0_1, "weights_1_2": step.weights_1_2,
            "layer_0": step.layer_0, "labels": step.labels, "dtype": step.config.dtype}


def wrong_model(*layers: Callable[[int], nn.Module], last: tuple[nn.Module, ...] = (),
                lr: Callable[[float, int, int], float] | None = None) -> Callable:
    """An idiomatic_model with these layers between the two nn.Linear, these after them,
    and this lr(alpha, batch_size, D)."""
    def idiomatic_model(hidden_size: int, alpha: float, batch_size: int, D: int
                        ) -> tuple[nn.Sequential, float]:
        model = nn.Sequential(nn.Linear(PIXELS, hidden_size, bias=False),
                              *(layer(hidden_size) for layer in layers),
                              nn.Linear(hidden_size, CLASSES, bias=False), *last)
        return model, (lr or learning_rate_of)(alpha, batch_size, D)
    return idiomatic_model


def learning_rate_of(alpha: float, batch_size: int, D: int) -> float:
    return alpha * batch_size / D


def tanh_(_: int) -> nn.Module:
    return nn.Tanh()


def dropout_(p: float) -> Callable[[int], nn.Module]:
    return lambda _: nn.Dropout(p)


# manual_layer_1_delta.

def autograd_pass(step: StepTensors) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """torch_impl's network on the chapter's step, forward and backward: the tensors
    manual_layer_1_delta gets, and autograd's hidden_input.grad."""
    network = from_numpy(TorchNetwork(step.config), np.array(step.weights_0_1),
                         np.array(step.weights_1_2), step.config.dtype)
    mask = tensor(step.dropout_mask)
    hidden_input, layer_1, logits = network(tensor(step.layer_0), mask)
    hidden_input.retain_grad()
    logits.retain_grad()
    network.loss(logits, tensor(step.labels)).backward()
    inputs = {"layer_2_delta": logits.grad, "weight_1_2": network.weights_1_2.weight.detach(),
              "layer_1": layer_1.detach(), "dropout_mask": mask}
    return inputs, hidden_input.grad


@functools.cache
def _autograd(step: StepTensors) -> tuple[dict[str, object], np.ndarray]:
    """autograd_pass's tensors as NumPy arrays: manual_layer_1_delta's inputs, and the grad."""
    inputs, grad = autograd_pass(step)
    return {name: value.numpy() for name, value in inputs.items()}, grad.numpy()


def manual_inputs(step: StepTensors) -> dict[str, object]:
    return _autograd(step)[0]


def _autograd_grad(step: StepTensors) -> np.ndarray:
    return _autograd(step)[1]


def cmp_note(step: StepTensors, arrays: Arrays) -> tuple[None, str]:
    """makemore's cmp: exact to the bit, close, and the largest difference."""
    autograd = _autograd_grad(step)
    exact = np.array_equal(arrays["layer_1_delta"], autograd)
    diff = float(np.abs(arrays["layer_1_delta"].astype(np.float64) - autograd).max())
    return None, f"cmp with autograd's hidden_input.grad: exact {exact}, close True, " \
                 f"max diff {diff:.1e}"


EXERCISES = (
    loss_exercise(blanks.softmax_loss, (
        (lambda logits, labels, D: F.cross_entropy(logits, labels) / D, MEAN),
        (lambda logits, labels, D: F.cross_entropy(logits, labels), MEAN),
        (lambda logits, labels, D: F.cross_entropy(logits, labels, reduction="sum"), NO_D),
        (lambda logits, labels, D: F.nll_loss(logits, labels.argmax(1), reduction="sum") / D,
         "it is nll_loss of the logits, where nll_loss expects log-probabilities"),
        (lambda logits, labels, D: F.cross_entropy(torch.softmax(logits, 1), labels,
                                                   reduction="sum") / D,
         "softmax is applied twice: cross_entropy applies it to what it is given"),
        (lambda logits, labels, D: F.binary_cross_entropy_with_logits(
            logits, labels, reduction="sum") / D,
         "it is sigmoid's loss (binary cross-entropy), not softmax's"),
        (lambda logits, labels, D: F.cross_entropy(logits.data, labels, reduction="sum") / D,
         CUT),
    ), hints=(
        "torch.nn.functional has the loss that takes logits and applies log_softmax "
        "itself; it accepts one-hot (probability) targets as well as class indices.",
        "Its default reduction averages over the batch; the chapter sums (reduction='sum') "
        "and then divides by D.",
        "The fix: F.cross_entropy(logits, labels, reduction='sum') / D.",
    )),
    loss_exercise(blanks.sigmoid_loss, (
        (lambda logits, labels, D: F.binary_cross_entropy_with_logits(logits, labels) / D,
         OUTPUTS_MEAN),
        (lambda logits, labels, D: F.binary_cross_entropy_with_logits(logits, labels),
         OUTPUTS_MEAN),
        (lambda logits, labels, D: F.cross_entropy(logits, labels, reduction="sum") / D,
         "it is softmax's loss (cross-entropy), not sigmoid's"),
        (lambda logits, labels, D: F.binary_cross_entropy_with_logits(
            torch.sigmoid(logits), labels, reduction="sum") / D,
         "sigmoid is applied twice: binary_cross_entropy_with_logits applies it to what it "
         "is given"),
        (lambda logits, labels, D: F.binary_cross_entropy_with_logits(
            logits, labels, reduction="sum"), NO_D),
        (lambda logits, labels, D: F.binary_cross_entropy_with_logits(
            logits.data, labels, reduction="sum") / D, CUT),
    ), hints=(
        "Sigmoid's canonical loss is binary cross-entropy, one yes-or-no per output.",
        "Use the version that takes logits (it applies the sigmoid itself, stably), summed, "
        "then divided by D.",
        "The fix: F.binary_cross_entropy_with_logits(logits, labels, reduction='sum') / D.",
    )),
    loss_exercise(blanks.identity_loss, (
        (lambda logits, labels, D: F.mse_loss(logits, labels, reduction="sum") / D,
         "it is the squared error's gradient, twice the chapter's delta"),
        (lambda logits, labels, D: F.mse_loss(logits, labels) / D, OUTPUTS_MEAN),
        (lambda logits, labels, D: F.mse_loss(logits, labels),
         "the loss is F.mse_loss's default mean (reduction='mean'), where the chapter's loss "
         "is a sum divided by D"),
        (lambda logits, labels, D: (logits - labels).abs().sum() / D,
         "it is the absolute error's gradient, the error's sign, where the chapter's loss "
         "squares the error"),
        (lambda logits, labels, D: ((logits.data - labels) ** 2).sum() / (2 * D), CUT),
    ), hints=(
        "The squared error's gradient is twice the error; the chapter's delta is the error "
        "itself, over D.",
        "So take half of the summed squared error, and divide by D.",
        "The fix: ((logits - labels) ** 2).sum() / (2 * D).",
    )),
    Exercise(blanks.ChapterNetwork, network_inputs, network_run, (
        Expected("layer_1", "layer_1", lambda step: step.layer_1, masked=True,
                 zero="where dropout dropped a unit"),
        Expected("logits", "the logits", lambda step: step.logits, depth=4),
        Expected("weights_0_1.grad", "weights_0_1.weight.grad (as weights_0_1)",
                 lambda step: step.layer_0.T @ step.layer_1_delta, depth=8),
        Expected("weights_1_2.grad", "weights_1_2.weight.grad (as weights_1_2)",
                 lambda step: step.layer_1.T @ step.layer_2_delta, depth=8),
    ), (
        (wrong_network(lambda self, layer_0, mask: (
            (layer_1 := torch.tanh(self.weights_0_1(layer_0)) * mask),
            self.weights_1_2(layer_1))),
         "it keeps the right units but does not scale them up as inverted dropout does"),
        (wrong_network(lambda self, layer_0, mask: (
            (layer_1 := torch.tanh(self.weights_0_1(layer_0))), self.weights_1_2(layer_1))),
         "no unit is dropped: the dropout mask is not applied"),
        (wrong_network(lambda self, layer_0, mask: (
            (layer_1 := torch.tanh(self.weights_0_1(layer_0) * mask * 2)),
            self.weights_1_2(layer_1))),
         "dropout comes before tanh, where the chapter applies tanh first"),
        (wrong_network(lambda self, layer_0, mask: (
            (layer_1 := torch.tanh(self.weights_0_1(layer_0)) * mask * 2),
            torch.softmax(self.weights_1_2(layer_1), 1))),
         "they are softmax's output, layer_2, where the loss takes the logits and applies "
         "softmax itself"),
    ), given=network_given, hints=(
        "In __init__: nn.Linear(pixels, hidden_size, bias=False), and the same from hidden "
        "units to classes, stored as self.weights_0_1 and self.weights_1_2.",
        "In forward: layer_1 is tanh of the first layer's output, then the chapter's dropout "
        "with the mask you are given; the logits are the second layer applied to layer_1.",
        "The fix: in __init__, super().__init__(); self.weights_0_1 = nn.Linear(pixels, "
        "hidden_size, bias=False); self.weights_1_2 = nn.Linear(hidden_size, classes, "
        "bias=False). In forward, layer_1 = torch.tanh(self.weights_0_1(layer_0)) * "
        "dropout_mask * 2; return layer_1, self.weights_1_2(layer_1).",
    )),
    hidden_exercise(blanks.TrueHidden, lambda step: step.layer_1_delta, True, (
        (wrong_function(lambda g, h, layer_1, mask: g * tanh2deriv(layer_1) * mask), BOOK_LINE),
        (wrong_function(lambda g, h, layer_1, mask: g * tanh2deriv(layer_1 / 2) * mask),
         f"{NO_SCALE_BACK} (the mask's 2)"),
        (wrong_function(lambda g, h, layer_1, mask: g * tanh2deriv(layer_1) * mask * 2),
         SLOPE_AFTER_DROPOUT),
        (wrong_function(lambda g, h, layer_1, mask: g * tanh2deriv(h) * mask * 2),
         "tanh's slope is computed from the hidden input as if it were tanh's output: the "
         "slope's formula in tanh's output is given its input"),
        (wrong_function(lambda g, h, layer_1, mask: g * mask * 2), "tanh's slope is left out"),
    ), hints=(
        "forward computes layer_1 as the chapter does and saves, with "
        "ctx.save_for_backward, what backward needs: tanh's output and the mask.",
        "backward multiplies grad_layer_1 by dropout's factor (the mask times 2) and by "
        "tanh's slope at tanh's output, 1 - t**2; it returns that and None.",
        "The fix: forward: hidden_output = torch.tanh(hidden_input); "
        "ctx.save_for_backward(hidden_output, dropout_mask); return hidden_output * "
        "dropout_mask * 2. backward: hidden_output, dropout_mask = ctx.saved_tensors; "
        "return grad_layer_1 * dropout_mask * 2 * (1 - hidden_output**2), None.",
    )),
    hidden_exercise(blanks.BookHidden, book_layer_1_delta, False, (
        (wrong_function(lambda g, h, layer_1, mask: g * tanh2deriv(layer_1 / 2) * mask * 2),
         "it is the true gradient (TrueHidden's), not the book's line, which takes tanh's "
         "slope at layer_1, after dropout, and leaves out the mask's 2"),
        (wrong_function(lambda g, h, layer_1, mask: g * tanh2deriv(layer_1) * mask * 2),
         "the mask's 2 is in, where the book's line leaves it out"),
        (wrong_function(lambda g, h, layer_1, mask: g * tanh2deriv(layer_1 / 2) * mask),
         "tanh's slope is taken at tanh's own output, where the book's line takes it at "
         "layer_1, after dropout"),
    ), hints=(
        "forward is TrueHidden's, but save layer_1 itself (after dropout): the book's "
        "backward only knows layer_1.",
        "The book's line: its delta times tanh2deriv(layer_1), times dropout_mask, without "
        "the 2 and with the slope at the doubled output.",
        "The fix: forward: layer_1 = torch.tanh(hidden_input) * dropout_mask * 2; "
        "ctx.save_for_backward(layer_1, dropout_mask); return layer_1. backward: "
        "return grad_layer_1 * (1 - layer_1**2) * dropout_mask, None.",
    )),
    Exercise(blanks.train_step, step_inputs, train_step_run, (
        Expected("weights_0_1.grad", "weights_0_1.grad",
                 lambda step: step.layer_0.T @ step.layer_1_delta, depth=8),
        Expected("weights_1_2.grad", "weights_1_2.grad",
                 lambda step: step.layer_1.T @ step.layer_2_delta, depth=8),
        Expected("weights_0_1", "the new weights_0_1", lambda step: step.new_weights_0_1, depth=8,
                 weights="weights_0_1"),
        Expected("weights_1_2", "the new weights_1_2", lambda step: step.new_weights_1_2, depth=8,
                 weights="weights_1_2"),
        Expected("loss", "the loss", loss_value("softmax"), depth=4),
    ), (
        (wrong_step("backward", "step"),
         "gradients add up over backward() calls, and an earlier step's are still there"),
        (wrong_step("zero_grad", "backward"), "the optimizer never applies the gradient"),
        (wrong_step("backward", "zero_grad", "step"),
         "the gradients are cleared after backward() made them, before the optimizer's step "
         "could use them"),
        (wrong_step("zero_grad", "mean", "step"), MEAN),
        (wrong_step("zero_grad", "softmax", "step"),
         "softmax is applied twice: cross_entropy applies it to what it is given"),
    ), given=step_given, ignoring=(("optimizer", HARD_CODED_RATE),), hints=(
        "Every PyTorch step has the same four calls around the forward pass: clear the "
        "gradients, compute a loss, backpropagate it, update.",
        "optimizer.zero_grad(); the logits are network(layer_0, dropout_mask)[2]; the loss "
        "is softmax_loss's (F.cross_entropy, summed, over D); then loss.backward() and "
        "optimizer.step().",
        "The fix: optimizer.zero_grad(); _, _, logits = network(layer_0, dropout_mask); "
        "loss = softmax_loss(logits, labels, D) (F.cross_entropy(logits, labels, "
        "reduction='sum') / D); loss.backward(); optimizer.step(); return loss.",
    )),
    Exercise(blanks.idiomatic_model, idiomatic_inputs, idiomatic_run, (
        Expected("eval_logits", "the logits in eval mode",
                 lambda step: step.hidden_output @ step.weights_1_2, depth=4),
        Expected("layer_1", "layer_1 in train mode", lambda step: step.layer_1, masked=True,
                 zero="where its dropout dropped a unit", drawn=True),
        Expected("logits", "the logits in train mode", lambda step: step.logits, depth=4,
                 drawn=True),
        Expected("lr", "lr", lambda step: np.array(learning_rate(step.config))),
        Expected("weights_0_1", "the new weights_0_1", lambda step: step.new_weights_0_1,
                 depth=8, weights="weights_0_1", drawn=True),
        Expected("weights_1_2", "the new weights_1_2", lambda step: step.new_weights_1_2,
                 depth=8, weights="weights_1_2", drawn=True),
    ), (
        (wrong_model(tanh_, dropout_(0.5), lr=lambda alpha, batch_size, D: alpha),
         "it is alpha, where nn.CrossEntropyLoss averages over the batch and the chapter "
         "divides the sum by D"),
        (wrong_model(tanh_, dropout_(0.5), lr=lambda alpha, batch_size, D: alpha / D),
         "the loss module already divides by the batch size, which this lr does not make up "
         "for"),
        (wrong_model(dropout_(0.5), tanh_),
         "dropout comes before tanh, where the chapter applies tanh first"),
        (wrong_model(lambda _: nn.ReLU(), dropout_(0.5)),
         "the hidden layer's activation is relu, where the chapter's is tanh"),
        (wrong_model(tanh_, dropout_(0.5), last=(nn.Softmax(dim=1),)),
         "they are softmax's output, where nn.CrossEntropyLoss takes the logits and applies "
         "softmax itself"),
    ), given=idiomatic_given, own_mask=True, hints=(
        "nn.Sequential of nn.Linear(784, hidden_size, bias=False), nn.Tanh(), nn.Dropout(p), "
        "nn.Linear(hidden_size, 10, bias=False); p is the probability of dropping a unit, "
        "and nn.Dropout scales the kept ones by 1 / (1 - p).",
        "The loss module's mean divides the summed loss by batch_size; the chapter divides "
        "it by D. SGD's lr must multiply by batch_size / D to make up for it.",
        "The fix: model = nn.Sequential(nn.Linear(784, hidden_size, bias=False), nn.Tanh(), "
        "nn.Dropout(0.5), nn.Linear(hidden_size, 10, bias=False)); return model, "
        "alpha * batch_size / D.",
    )),
    Exercise(blanks.manual_layer_1_delta, manual_inputs, manual_run, (
        Expected("layer_1_delta", "layer_1_delta", _autograd_grad, depth=4,
                 masked=True, zero="where dropout dropped a unit"),
    ), (
        (lambda d2, w, layer_1, mask: d2 @ w * tanh2deriv(layer_1) * mask, BOOK_LINE),
        (lambda d2, w, layer_1, mask: d2 @ w * tanh2deriv(layer_1 / 2) * mask,
         f"{NO_SCALE_BACK} (the mask's 2)"),
        (lambda d2, w, layer_1, mask: d2 @ w * tanh2deriv(layer_1) * mask * 2,
         SLOPE_AFTER_DROPOUT),
        (lambda d2, w, layer_1, mask: d2 @ w * mask * 2, "tanh's slope is left out"),
        (lambda d2, w, layer_1, mask: d2 @ w.T * tanh2deriv(layer_1 / 2) * mask * 2,
         "weight_1_2 is nn.Linear's weight, (classes, hidden units): the chapter's "
         "weights_1_2 transposed already, which a .T turns back"),
    ), cmp_note, tied=("dropout_mask",), hints=(
        "It is the backprop track's layer_1_delta, in torch. weight_1_2 is nn.Linear's "
        "weight, (10, 100): it is weights_1_2.T already.",
        "layer_2_delta @ weight_1_2 carries the gradient back to layer_1; then dropout's "
        "factor and tanh's slope at tanh's output (layer_1 / 2).",
        "The fix: layer_2_delta @ weight_1_2 * (1 - (layer_1 / 2)**2) * dropout_mask * 2; or, "
        "naming tanh's output, hidden_output = layer_1 / 2 and layer_2_delta @ weight_1_2 * "
        "(1 - hidden_output**2) * dropout_mask * 2.",
    )),
)
EXERCISE = {exercise.name: exercise for exercise in EXERCISES}

