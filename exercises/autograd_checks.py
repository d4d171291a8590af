"""The checks of the autograd track (exercises/autograd.py): each answer against the
hand-built network's tensors of the chapter's first step, and of the second configuration
(exercises/grading.py). Each exercise's catalogue of typical mistakes is written out below
as code.

Each exercise's run takes the learner's torch code through each step and hands back
NumPy arrays; `exercises.grading.judge` compares them with numpy_impl's own tensors under
ch9_shared/close.py, in the exercise's dtype. The references:

    softmax_loss, sigmoid_loss,   logits.grad after loss.backward(): (layer_2 - labels) / D,
    identity_loss                 with layer_2 = the output layer's activation; the loss's value
    ChapterNetwork                layer_1 and the logits of numpy_impl's forward pass
    TrueHidden                    layer_1, and hidden_input.grad = exact mode's layer_1_delta;
                                  torch.autograd.gradcheck (float64) must pass
    BookHidden                    the same against book mode's layer_1_delta; gradcheck must fail
    train_step                    each weight's .grad and new value, as the hand-built step's,
                                  and the loss it returns
    idiomatic_model               eval and train logits, lr, and the weights after one SGD step
                                  with the mask nn.Dropout draws, through numpy_impl
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
from exercises.backprop_checks import BOOK_LINE
from exercises.grading import (
    Arrays,
    Exercise,
    Expected,
    Final,
    Mistake,
    Outcome,
    Run,
    StepTensors,
    calling,
    first_step,
    kind,
)
from numpy_impl.network import LOSSES, OUTPUTS, Network
from torch_impl.idiomatic import learning_rate
from torch_impl.network import Network as TorchNetwork
from torch_impl.network import chapter_layout

SEED = 1
"""torch's seed for the dropout mask of the idiomatic model's step."""


def tensor(array: np.ndarray) -> torch.Tensor:
    """A writable torch copy of one of the chapter's arrays."""
    return torch.from_numpy(np.array(array))


def array(value: object, what: str) -> np.ndarray:
    """A tensor the answer made, as a NumPy array; anything else is wrong."""
    if not isinstance(value, torch.Tensor):
        raise Outcome("wrong", f"wrong: {what} is {kind(value)}, not a tensor")
    return value.detach().cpu().numpy().copy()


def keeps_rng(run: Run) -> Run:
    """The run, leaving torch's default generator as it found it: building an nn.Linear
    draws from it, and checking an answer should not change a notebook's random numbers."""
    @functools.wraps(run)
    def wrapped(answer: object, inputs: dict[str, object], step: StepTensors) -> Arrays:
        with torch.random.fork_rng():
            return run(answer, inputs, step)
    return wrapped


def is_subclass(answer: object, base: type, what: str) -> None:
    if not (isinstance(answer, type) and issubclass(answer, base)):
        raise Outcome("wrong", f"wrong: it is {kind(answer)}, not a subclass of {what}")


# The three losses.

def output_layer(step: StepTensors, output: str) -> Callable[[np.ndarray], np.ndarray]:
    return step.network.activate if output == "softmax" else OUTPUTS[output]


def loss_inputs(step: StepTensors) -> dict[str, object]:
    return {"logits": step.logits, "labels": step.labels, "D": step.config.D}


@keeps_rng
def loss_run(answer: object, inputs: dict[str, object], step: StepTensors) -> Arrays:
    logits = tensor(inputs["logits"]).requires_grad_()
    loss = calling(answer, logits, tensor(inputs["labels"]), inputs["D"])
    if loss is None:
        raise Outcome("not done", "not done yet (it returns None)")
    if not isinstance(loss, torch.Tensor):
        raise Outcome("wrong", f"wrong: it returned {kind(loss)}, not a tensor: autograd "
                               "differentiates tensors (no .item(), no NumPy)")
    if loss.numel() != 1:
        raise Outcome("wrong", f"wrong: the loss has shape {tuple(loss.shape)}: a loss is one "
                               "number, summed over the batch")
    if not loss.requires_grad:
        raise Outcome("wrong", "wrong: the loss does not depend on logits through autograd "
                               "(a .detach(), .item() or a trip through NumPy?)")
    calling(loss.reshape(()).backward)
    if logits.grad is None:
        raise Outcome("wrong", "wrong: loss.backward() left logits.grad empty")
    return {"grad": logits.grad.numpy(), "loss": array(loss.reshape(()), "the loss")}


def loss_exercise(blank: Callable[..., object], mistakes: tuple[Mistake, ...]) -> Exercise:
    """The loss of an output layer: `blank` is {output}_loss."""
    output = blank.__name__.removesuffix("_loss")

    def delta(step: StepTensors) -> np.ndarray:
        return (output_layer(step, output)(step.logits) - step.labels) / step.config.D

    return Exercise(blank, loss_inputs, loss_run, (
        Expected("grad", "logits.grad", delta, depth=4),
        Expected("loss", "the loss", loss_value(output), depth=4),
    ), mistakes)


def loss_value(output: str) -> Callable[[StepTensors], np.ndarray]:
    """The chapter's loss on its step, summed over the batch and divided by D."""
    def value(step: StepTensors) -> np.ndarray:
        layer_2 = output_layer(step, output)(step.logits)
        return np.array(LOSSES[output](layer_2, step.labels, step.config.D), step.config.dtype)
    return value


MEAN = ("is that of a mean (the default reduction='mean'): the chapter sums over the "
        "batch and divides by D")
OUTPUTS_MEAN = MEAN.replace("the batch", "the batch's outputs (images x classes)")
NO_D = "is D times too large: divide the summed loss by D"


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


@keeps_rng
def network_run(answer: object, inputs: dict[str, object], step: StepTensors) -> Arrays:
    is_subclass(answer, nn.Module, "nn.Module")
    model = calling(answer, inputs["pixels"], inputs["hidden_size"], inputs["classes"])
    for name in ("weights_0_1", "weights_1_2"):
        layer, weights = getattr(model, name, None), getattr(step, name)
        if layer is None:
            raise Outcome("wrong", f"wrong: it has no self.{name}: __init__ names its layers "
                                   "self.weights_0_1 and self.weights_1_2, each an nn.Linear")
        if not isinstance(layer, nn.Linear):
            raise Outcome("wrong", f"wrong: self.{name} is {kind(layer)}, not an nn.Linear")
        if layer.bias is not None:
            raise Outcome("wrong", f"wrong: self.{name} has a bias: the chapter's layers have "
                                   "none (bias=False)")
        if tuple(layer.weight.shape) != weights.T.shape:
            raise Outcome("wrong", f"wrong: self.{name}.weight has shape "
                                   f"{tuple(layer.weight.shape)}, expected {weights.T.shape}")
    calling(model.to, getattr(torch, step.config.dtype))
    with torch.no_grad():
        model.weights_0_1.weight.copy_(tensor(step.weights_0_1.T))
        model.weights_1_2.weight.copy_(tensor(step.weights_1_2.T))
    result = calling(model, tensor(inputs["layer_0"]), tensor(inputs["dropout_mask"]))
    if not (isinstance(result, tuple) and len(result) == 2):
        raise Outcome("wrong", f"wrong: forward returned {kind(result)}, expected the pair "
                               "(layer_1, logits)")
    return {"layer_1": array(result[0], "layer_1"), "logits": array(result[1], "the logits")}


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


def gradcheck_passes(answer: type) -> bool:
    """torch.autograd.gradcheck on a 4 x 5 corner of the chapter's step, in float64."""
    step = first_step("float64")
    hidden_input = tensor(step.hidden_input[:4, :5]).requires_grad_()
    dropout_mask = tensor(step.dropout_mask[:4, :5])
    try:
        return bool(torch.autograd.gradcheck(lambda x: answer.apply(x, dropout_mask),
                                             (hidden_input,), raise_exception=False))
    except (Exception, SystemExit):
        return False


def hidden_inputs(step: StepTensors) -> dict[str, object]:
    """forward's arguments, and backward's grad_layer_1."""
    return {"hidden_input": step.hidden_input, "dropout_mask": step.dropout_mask,
            "grad_layer_1": step.layer_2_delta @ step.weights_1_2.T}


@keeps_rng
def hidden_run(answer: object, inputs: dict[str, object], step: StepTensors) -> Arrays:
    is_subclass(answer, torch.autograd.Function, "torch.autograd.Function")
    hidden_input = tensor(inputs["hidden_input"]).requires_grad_()
    layer_1 = calling(answer.apply, hidden_input, tensor(inputs["dropout_mask"]))
    arrays = {"layer_1": array(layer_1, "forward's result")}
    if not layer_1.requires_grad:
        raise Outcome("wrong", "wrong: forward's result is not connected to hidden_input")
    calling(layer_1.backward, tensor(inputs["grad_layer_1"]))
    if hidden_input.grad is None:
        raise Outcome("wrong", "wrong: backward gave hidden_input no gradient: return it "
                               "first, then None for dropout_mask")
    arrays["layer_1_delta"] = hidden_input.grad.numpy()
    return arrays


def gradcheck_run(answer: object, step: StepTensors) -> Arrays:
    return {"gradcheck": np.array(gradcheck_passes(answer))}


def gradcheck_verdict(must_pass: bool) -> Final:
    def final(step: StepTensors, arrays: Arrays) -> tuple[str | None, str]:
        passes = arrays.get("gradcheck")
        if not (isinstance(passes, np.ndarray) and passes.dtype.kind == "b"):
            return "the grader's process did not send gradcheck's verdict", ""
        if must_pass and not passes.all():
            return ("layer_1_delta matches exact mode on the chapter's step, but "
                    "torch.autograd.gradcheck fails on a 4 x 5 corner of it (float64)"), ""
        if must_pass:
            return None, "torch.autograd.gradcheck passes (float64)"
        if passes.all():
            return "torch.autograd.gradcheck passes: the book's update is not a gradient", ""
        return None, "torch.autograd.gradcheck fails, as it must: the book's update is no gradient"
    return final


def book_layer_1_delta(step: StepTensors) -> np.ndarray:
    """numpy_impl's book mode, on the chapter's step."""
    network = Network(step.config.replace(mode="book"), step.weights_0_1, step.weights_1_2)
    return network.backward(step.layer_1, step.layer_2, step.labels, step.dropout_mask)[1]


def hidden_exercise(blank: type, reference: Callable[[StepTensors], np.ndarray], gradient: bool,
                    mistakes: tuple[Mistake, ...]) -> Exercise:
    return Exercise(blank, hidden_inputs, hidden_run, (
        Expected("layer_1", "layer_1", lambda step: step.layer_1,
                 zero="where dropout dropped a unit"),
        Expected("layer_1_delta", "hidden_input.grad", reference, depth=4, masked=True,
                 zero="where dropout dropped a unit"),
    ), mistakes, gradcheck_verdict(gradient), gradcheck_run)


def tanh2deriv(output: torch.Tensor) -> torch.Tensor:
    return 1 - output**2


# train_step.

def stale_gradients(network: TorchNetwork, step: StepTensors) -> None:
    """Fill each weight's .grad as an earlier step would: the same batch with the other half
    of the units kept. A step that forgets optimizer.zero_grad() adds its gradient to these."""
    _, _, logits = network(tensor(step.layer_0), tensor(1 - step.dropout_mask))
    network.loss(logits, tensor(step.labels)).backward()


def step_inputs(step: StepTensors) -> dict[str, object]:
    """train_step's arguments but the network: the optimizer as its lr, alpha."""
    return {"optimizer": step.config.alpha, "layer_0": step.layer_0, "labels": step.labels,
            "dropout_mask": step.dropout_mask, "D": step.config.D}


@keeps_rng
def train_step_run(answer: object, inputs: dict[str, object], step: StepTensors) -> Arrays:
    network = TorchNetwork.from_numpy(step.config, np.array(step.weights_0_1),
                                      np.array(step.weights_1_2))
    stale_gradients(network, step)
    optimizer = torch.optim.SGD(network.parameters(), lr=inputs["optimizer"])
    loss = calling(answer, network, optimizer, tensor(inputs["layer_0"]),
                   tensor(inputs["labels"]), tensor(inputs["dropout_mask"]), inputs["D"])
    arrays = {}
    for name in ("weights_0_1", "weights_1_2"):
        weight = getattr(network, name).weight
        arrays[name] = chapter_layout(weight)
        arrays[f"{name}.grad"] = (np.zeros_like(arrays[name]) if weight.grad is None
                                  else chapter_layout(weight.grad))
    if isinstance(loss, torch.Tensor) and loss.numel() == 1:
        arrays["loss"] = loss.detach().cpu().reshape(()).numpy().copy()
    elif isinstance(loss, float):
        arrays["loss"] = np.array(loss)
    else:  # the probe's word on the loss, for judge to tell after the weights
        arrays["loss"] = np.array(f"is {kind(loss)}: train_step returns the loss (a tensor "
                                  "holding one number)")
    return arrays


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

@functools.cache
def idiomatic_mask(step: StepTensors) -> np.ndarray:
    """The mask nn.Dropout(0.5) draws first after torch.manual_seed(SEED), 0 or 1."""
    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        ones = torch.ones(step.dropout_mask.shape, dtype=getattr(torch, step.config.dtype))
        return (nn.Dropout(0.5)(ones) / 2).numpy()


@functools.cache
def _idiomatic_step(step: StepTensors) -> Network:
    """The hand-built network after its first step with idiomatic_mask."""
    network = Network(step.config, step.weights_0_1.copy(), step.weights_1_2.copy())
    network.train_step(step.layer_0, step.labels, idiomatic_mask(step))
    return network


def idiomatic_reference(name: str) -> Callable[[StepTensors], np.ndarray]:
    return lambda step: getattr(_idiomatic_step(step), name)


def idiomatic_inputs(step: StepTensors) -> dict[str, object]:
    config = step.config
    return {"hidden_size": config.hidden_size, "alpha": config.alpha,
            "batch_size": config.batch_size, "D": config.D}


@keeps_rng
def idiomatic_run(answer: object, inputs: dict[str, object], step: StepTensors) -> Arrays:
    config = step.config
    result = calling(answer, *inputs.values())
    if not (isinstance(result, tuple) and len(result) == 2):
        raise Outcome("wrong", f"wrong: it returned {kind(result)}, expected the pair "
                               "(model, lr)")
    model, lr = result
    if not isinstance(model, nn.Sequential):
        raise Outcome("wrong", f"wrong: the model is {kind(model)}, not an nn.Sequential")
    if not isinstance(lr, (int, float)) or isinstance(lr, bool):
        raise Outcome("wrong", f"wrong: lr is {kind(lr)}, not a number")
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if len(linears) != 2 or any(layer.bias is not None for layer in linears):
        raise Outcome("wrong", "wrong: the model needs exactly two nn.Linear layers, without "
                               "biases (bias=False)")
    calling(model.to, getattr(torch, config.dtype))
    with torch.no_grad():
        for layer, weights in zip(linears, (step.weights_0_1, step.weights_1_2), strict=True):
            if tuple(layer.weight.shape) != weights.T.shape:
                raise Outcome("wrong", f"wrong: a layer's weight has shape "
                                       f"{tuple(layer.weight.shape)}, expected {weights.T.shape}")
            layer.weight.copy_(tensor(weights.T))
    layer_0 = tensor(step.layer_0)
    model.eval()
    with torch.no_grad():
        eval_logits = array(calling(model, layer_0), "the model's output")
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=float(lr))
    torch.manual_seed(SEED)
    logits = calling(model, layer_0)
    train_logits = array(logits, "the model's output")
    loss = nn.CrossEntropyLoss()(logits, tensor(step.labels.argmax(axis=1)))
    optimizer.zero_grad()
    calling(loss.backward)
    optimizer.step()
    return {"eval_logits": eval_logits, "logits": train_logits, "lr": np.array(float(lr)),
            "weights_0_1": chapter_layout(linears[0].weight),
            "weights_1_2": chapter_layout(linears[1].weight)}


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
    network = TorchNetwork.from_numpy(step.config, np.array(step.weights_0_1),
                                      np.array(step.weights_1_2))
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


@keeps_rng
def manual_run(answer: object, inputs: dict[str, object], step: StepTensors) -> Arrays:
    result = calling(answer, *(tensor(value) for value in inputs.values()))
    if result is None:
        raise Outcome("not done", "not done yet (it returns None)")
    return {"layer_1_delta": array(result, "its result")}


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
         "is that of nll_loss of the logits: nll_loss wants log-probabilities (log_softmax "
         "first), or use cross_entropy, which applies log_softmax itself"),
        (lambda logits, labels, D: F.cross_entropy(torch.softmax(logits, 1), labels,
                                                   reduction="sum") / D,
         "is that of softmax applied twice: cross_entropy takes the logits and applies it"),
        (lambda logits, labels, D: F.binary_cross_entropy_with_logits(
            logits, labels, reduction="sum") / D,
         "is that of sigmoid's loss (binary cross-entropy): softmax's is cross_entropy"),
    )),
    loss_exercise(blanks.sigmoid_loss, (
        (lambda logits, labels, D: F.binary_cross_entropy_with_logits(logits, labels) / D,
         OUTPUTS_MEAN),
        (lambda logits, labels, D: F.binary_cross_entropy_with_logits(logits, labels),
         OUTPUTS_MEAN),
        (lambda logits, labels, D: F.cross_entropy(logits, labels, reduction="sum") / D,
         "is that of softmax's loss (cross_entropy): sigmoid's is binary cross-entropy"),
        (lambda logits, labels, D: F.binary_cross_entropy_with_logits(
            torch.sigmoid(logits), labels, reduction="sum") / D,
         "is that of sigmoid applied twice: binary_cross_entropy_with_logits takes the "
         "logits"),
        (lambda logits, labels, D: F.binary_cross_entropy_with_logits(
            logits, labels, reduction="sum"), NO_D),
    )),
    loss_exercise(blanks.identity_loss, (
        (lambda logits, labels, D: F.mse_loss(logits, labels, reduction="sum") / D,
         "is that of the squared error, twice the chapter's delta: halve the loss"),
        (lambda logits, labels, D: F.mse_loss(logits, labels) / D, OUTPUTS_MEAN),
        (lambda logits, labels, D: F.mse_loss(logits, labels),
         "is that of F.mse_loss's default mean (reduction='mean'): the chapter halves the "
         "squared error, sums it over the batch and divides by D"),
        (lambda logits, labels, D: (logits - labels).abs().sum() / D,
         "is that of the absolute error, the sign of the error: square it (and halve it)"),
    )),
    Exercise(blanks.ChapterNetwork, network_inputs, network_run, (
        Expected("layer_1", "layer_1", lambda step: step.layer_1, masked=True,
                 zero="where dropout dropped a unit"),
        Expected("logits", "the logits", lambda step: step.logits, depth=4),
    ), (
        (wrong_network(lambda self, layer_0, mask: (
            (layer_1 := torch.tanh(self.weights_0_1(layer_0)) * mask),
            self.weights_1_2(layer_1))),
         "keeps the right units but does not double them: inverted dropout scales the kept "
         "units by 2"),
        (wrong_network(lambda self, layer_0, mask: (
            (layer_1 := torch.tanh(self.weights_0_1(layer_0))), self.weights_1_2(layer_1))),
         "drops nothing: multiply by the dropout mask (and by 2)"),
        (wrong_network(lambda self, layer_0, mask: (
            (layer_1 := torch.tanh(self.weights_0_1(layer_0) * mask * 2)),
            self.weights_1_2(layer_1))),
         "drops out before tanh: tanh comes first, then dropout"),
        (wrong_network(lambda self, layer_0, mask: (
            (layer_1 := torch.tanh(self.weights_0_1(layer_0)) * mask * 2),
            torch.softmax(self.weights_1_2(layer_1), 1))),
         "are layer_2, after softmax: return the logits, the loss applies softmax"),
    )),
    hidden_exercise(blanks.TrueHidden, lambda step: step.layer_1_delta, True, (
        (wrong_function(lambda g, h, layer_1, mask: g * tanh2deriv(layer_1) * mask), BOOK_LINE),
        (wrong_function(lambda g, h, layer_1, mask: g * tanh2deriv(layer_1 / 2) * mask),
         "is off by a factor of 0.5 wherever a unit is kept: it leaves out the mask's 2"),
        (wrong_function(lambda g, h, layer_1, mask: g * tanh2deriv(layer_1) * mask * 2),
         "takes tanh's slope at layer_1, after dropout doubled it: take it from tanh's output"),
        (wrong_function(lambda g, h, layer_1, mask: g * tanh2deriv(h) * mask * 2),
         "takes the slope 1 - x**2 at the hidden input x: tanh's slope is 1 - t**2 at its "
         "output, t = tanh(hidden_input)"),
        (wrong_function(lambda g, h, layer_1, mask: g * mask * 2),
         "leaves out tanh's slope"),
    )),
    hidden_exercise(blanks.BookHidden, book_layer_1_delta, False, (
        (wrong_function(lambda g, h, layer_1, mask: g * tanh2deriv(layer_1 / 2) * mask * 2),
         "is the true gradient (TrueHidden's): the book takes tanh's slope at layer_1, after "
         "dropout, and multiplies by the mask without its 2"),
        (wrong_function(lambda g, h, layer_1, mask: g * tanh2deriv(layer_1) * mask * 2),
         "multiplies by the mask's 2: the book's line multiplies by dropout_mask alone"),
        (wrong_function(lambda g, h, layer_1, mask: g * tanh2deriv(layer_1 / 2) * mask),
         "takes tanh's slope from tanh's output: the book takes it at layer_1, after dropout"),
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
         "holds an earlier step's gradient too: gradients add up over backward() calls; "
         "call optimizer.zero_grad() first"),
        (wrong_step("zero_grad", "backward"),
         "has not moved: call optimizer.step(), after loss.backward()"),
        (wrong_step("backward", "zero_grad", "step"),
         "is 0: optimizer.zero_grad() came after loss.backward() and erased its gradient"),
        (wrong_step("zero_grad", "mean", "step"), MEAN),
        (wrong_step("zero_grad", "softmax", "step"),
         "is that of softmax applied twice: cross_entropy takes the logits and applies it"),
    )),
    Exercise(blanks.idiomatic_model, idiomatic_inputs, idiomatic_run, (
        Expected("eval_logits", "the logits in eval mode",
                 lambda step: step.hidden_output @ step.weights_1_2, depth=4),
        Expected("logits", "the logits in train mode", lambda step: (
            step.hidden_output * idiomatic_mask(step) * 2 @ step.weights_1_2), depth=4),
        Expected("lr", "lr", lambda step: np.array(learning_rate(step.config))),
        Expected("weights_0_1", "the new weights_0_1", idiomatic_reference("weights_0_1"),
                 depth=8, weights="weights_0_1"),
        Expected("weights_1_2", "the new weights_1_2", idiomatic_reference("weights_1_2"),
                 depth=8, weights="weights_1_2"),
    ), (
        (wrong_model(tanh_, dropout_(0.5), lr=lambda alpha, batch_size, D: alpha),
         "is alpha: nn.CrossEntropyLoss averages over the batch where the chapter divides "
         "the sum by D, so lr is alpha * batch_size / D"),
        (wrong_model(tanh_, dropout_(0.5), lr=lambda alpha, batch_size, D: alpha / D),
         "is alpha / D: the loss module already divides by the batch size, so lr is alpha * "
         "batch_size / D"),
        (wrong_model(tanh_), "drop nothing: add nn.Dropout(0.5) after the activation"),
        (wrong_model(dropout_(0.5), tanh_),
         "drop out before tanh: the chapter applies tanh, then dropout"),
        (wrong_model(tanh_, dropout_(0.2)),
         "keep 4 units in 5: nn.Dropout's p is the probability of dropping one, 0.5 here"),
        (wrong_model(lambda _: nn.ReLU(), dropout_(0.5)), "use relu: the chapter's hidden "
                                                           "layer is tanh (nn.Tanh())"),
        (wrong_model(tanh_, dropout_(0.5), last=(nn.Softmax(dim=1),)),
         "are softmax's output: end the model with the last nn.Linear, as nn.CrossEntropyLoss "
         "applies softmax itself"),
    )),
    Exercise(blanks.manual_layer_1_delta, manual_inputs, manual_run, (
        Expected("layer_1_delta", "layer_1_delta", _autograd_grad, depth=4,
                 masked=True, zero="where dropout dropped a unit"),
    ), (
        (lambda d2, w, layer_1, mask: d2 @ w * tanh2deriv(layer_1) * mask, BOOK_LINE),
        (lambda d2, w, layer_1, mask: d2 @ w * tanh2deriv(layer_1 / 2) * mask,
         "is off by a factor of 0.5 wherever a unit is kept: it leaves out the mask's 2"),
        (lambda d2, w, layer_1, mask: d2 @ w * tanh2deriv(layer_1) * mask * 2,
         "takes tanh's slope at layer_1, after dropout doubled it: take it from tanh's output"),
        (lambda d2, w, layer_1, mask: d2 @ w * mask * 2, "leaves out tanh's slope"),
        (lambda d2, w, layer_1, mask: d2 @ w.T * tanh2deriv(layer_1 / 2) * mask * 2,
         "cannot be computed with weight_1_2.T: weight_1_2 is nn.Linear's weight, (classes, "
         "hidden units), which is weights_1_2.T already; use it as it is"),
    ), cmp_note),
)
EXERCISE = {exercise.name: exercise for exercise in EXERCISES}

