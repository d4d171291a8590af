"""The checks of the autograd track (exercises/autograd.py): each answer against the
hand-built network's tensors of the chapter's first step.

Each exercise's probe runs the learner's torch code on the chapter's step and hands back
NumPy arrays; `exercises.grading.judge` compares them with numpy_impl's own tensors under
common/close.py, in the exercise's dtype. The references:

    softmax_loss, sigmoid_loss,   logits.grad after loss.backward(): (layer_2 - labels) / D,
    identity_loss                 with layer_2 = the output layer's activation; the loss's value
    ChapterNetwork                layer_1 and the logits of numpy_impl's forward pass
    TrueHidden                    layer_1, and hidden_input.grad = exact mode's layer_1_delta;
                                  torch.autograd.gradcheck (float64) must pass
    BookHidden                    the same against book mode's layer_1_delta; gradcheck must fail
    train_step                    each weight's .grad and new value, as the hand-built step's
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

from common.config import CLASSES, PIXELS, Config
from exercises.grading import (
    BOOK_LINE,
    Arrays,
    Chapter,
    Exercise,
    Final,
    Mistake,
    Outcome,
    Probe,
    Tensor,
    _chapter,
    calling,
    chapter,
)
from numpy_impl.network import LOSSES, OUTPUTS, Network
from torch_impl.idiomatic import learning_rate
from torch_impl.network import Network as TorchNetwork

SEED = 1
"""torch's seed for the dropout mask of the idiomatic model's step."""


def tensor(array: np.ndarray) -> torch.Tensor:
    """A writable torch copy of one of the chapter's arrays."""
    return torch.from_numpy(np.array(array))


def array(value: object, what: str) -> np.ndarray:
    """A tensor the answer made, as a NumPy array; anything else is wrong."""
    if not isinstance(value, torch.Tensor):
        raise Outcome("wrong", f"wrong: {what} is a {type(value).__name__}, not a tensor")
    return value.detach().cpu().numpy().copy()


def keeps_rng(probe: Probe) -> Probe:
    """The probe, leaving torch's default generator as it found it: building an nn.Linear
    draws from it, and checking an answer should not change a notebook's random numbers."""
    @functools.wraps(probe)
    def wrapped(answer: object, c: Chapter) -> Arrays:
        with torch.random.fork_rng():
            return probe(answer, c)
    return wrapped


def is_subclass(answer: object, base: type, what: str) -> None:
    if not (isinstance(answer, type) and issubclass(answer, base)):
        raise Outcome("wrong", f"wrong: it is a {type(answer).__name__}, not a subclass of "
                               f"{what}")


# The three losses.

def output_layer(c: Chapter, output: str) -> Callable[[np.ndarray], np.ndarray]:
    return c.network.activate if output == "softmax" else OUTPUTS[output]


@keeps_rng
def loss_probe(answer: object, c: Chapter) -> Arrays:
    logits = tensor(c.logits).requires_grad_()
    loss = calling(answer, logits, tensor(c.labels), c.config.D)
    if loss is None:
        raise Outcome("not done", "not done yet (it returns None)")
    if not isinstance(loss, torch.Tensor):
        raise Outcome("wrong", f"wrong: it returned a {type(loss).__name__}, not a tensor: "
                               "autograd differentiates tensors (no .item(), no NumPy)")
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


def loss_exercise(output: str, mistakes: tuple[Mistake, ...]) -> Exercise:
    def delta(c: Chapter) -> np.ndarray:
        return (output_layer(c, output)(c.logits) - c.labels) / c.config.D

    def value(c: Chapter) -> np.ndarray:
        layer_2 = output_layer(c, output)(c.logits)
        return np.array(LOSSES[output](layer_2, c.labels, c.config.D), c.config.dtype)
    return Exercise(f"{output}_loss", loss_probe, (
        Tensor("grad", "logits.grad", delta, depth=4),
        Tensor("loss", "the loss", value, depth=4),
    ), mistakes)


MEAN = ("is that of a mean (the default reduction='mean'): the chapter sums over the "
        "batch and divides by D")
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


@keeps_rng
def network_probe(answer: object, c: Chapter) -> Arrays:
    is_subclass(answer, nn.Module, "nn.Module")
    model = calling(answer, PIXELS, c.config.hidden_size, CLASSES)
    for name in ("weights_0_1", "weights_1_2"):
        layer, weights = getattr(model, name, None), getattr(c, name)
        if not isinstance(layer, nn.Linear):
            raise Outcome("wrong", f"wrong: self.{name} is a {type(layer).__name__}, not an "
                                   "nn.Linear")
        if layer.bias is not None:
            raise Outcome("wrong", f"wrong: self.{name} has a bias: the chapter's layers have "
                                   "none (bias=False)")
        if tuple(layer.weight.shape) != weights.T.shape:
            raise Outcome("wrong", f"wrong: self.{name}.weight has shape "
                                   f"{tuple(layer.weight.shape)}, expected {weights.T.shape}")
    calling(model.to, getattr(torch, c.config.dtype))
    with torch.no_grad():
        model.weights_0_1.weight.copy_(tensor(c.weights_0_1.T))
        model.weights_1_2.weight.copy_(tensor(c.weights_1_2.T))
    result = calling(model, tensor(c.layer_0), tensor(c.dropout_mask))
    if not (isinstance(result, tuple) and len(result) == 2):
        raise Outcome("wrong", f"wrong: forward returned a {type(result).__name__}, expected "
                               "the pair (layer_1, logits)")
    return {"layer_1": array(result[0], "layer_1"), "logits": array(result[1], "the logits")}


# TrueHidden and BookHidden.

def wrong_function(backward: Callable[[torch.Tensor, torch.Tensor, torch.Tensor],
                                      torch.Tensor]) -> type:
    """A hidden-layer Function with the right forward and backward(grad, layer_1, mask)."""
    def forward(ctx: object, hidden_input: torch.Tensor, dropout_mask: torch.Tensor
                ) -> torch.Tensor:
        layer_1 = torch.tanh(hidden_input) * dropout_mask * 2
        ctx.save_for_backward(layer_1, dropout_mask)
        return layer_1

    def backward_(ctx: object, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return backward(grad, *ctx.saved_tensors), None
    return type("Hidden", (torch.autograd.Function,), {
        "forward": staticmethod(forward), "backward": staticmethod(backward_)})


def gradcheck_passes(answer: type) -> bool:
    """torch.autograd.gradcheck on a 4 x 5 corner of the chapter's step, in float64."""
    c = chapter("float64")
    hidden_input = tensor(c.hidden_input[:4, :5]).requires_grad_()
    dropout_mask = tensor(c.dropout_mask[:4, :5])
    try:
        return bool(torch.autograd.gradcheck(lambda x: answer.apply(x, dropout_mask),
                                             (hidden_input,), raise_exception=False))
    except (Exception, SystemExit):
        return False


@keeps_rng
def function_probe(answer: object, c: Chapter) -> Arrays:
    is_subclass(answer, torch.autograd.Function, "torch.autograd.Function")
    hidden_input = tensor(c.hidden_input).requires_grad_()
    layer_1 = calling(answer.apply, hidden_input, tensor(c.dropout_mask))
    arrays = {"layer_1": array(layer_1, "forward's result")}
    if not layer_1.requires_grad:
        raise Outcome("wrong", "wrong: forward's result is not connected to hidden_input")
    calling(layer_1.backward, tensor(c.layer_2_delta @ c.weights_1_2.T))
    if hidden_input.grad is None:
        raise Outcome("wrong", "wrong: backward gave hidden_input no gradient: return it "
                               "first, then None for dropout_mask")
    arrays["layer_1_delta"] = hidden_input.grad.numpy()
    arrays["gradcheck"] = np.array(gradcheck_passes(answer))
    return arrays


def gradcheck_verdict(must_pass: bool) -> Final:
    def final(c: Chapter, arrays: Arrays) -> tuple[str | None, str]:
        if must_pass and not arrays["gradcheck"].all():
            return ("layer_1_delta matches exact mode on the chapter's step, but "
                    "torch.autograd.gradcheck fails on a 4 x 5 corner of it (float64)"), ""
        if must_pass:
            return None, "torch.autograd.gradcheck passes (float64)"
        if arrays["gradcheck"].all():
            return "torch.autograd.gradcheck passes: the book's update is not a gradient", ""
        return None, "torch.autograd.gradcheck fails, as it must: the book's update is no gradient"
    return final


def book_layer_1_delta(c: Chapter) -> np.ndarray:
    """numpy_impl's book mode, on the chapter's step."""
    network = Network(c.config.replace(mode="book"), c.weights_0_1, c.weights_1_2)
    return network.backward(c.layer_1, c.layer_2, c.labels, c.dropout_mask)[1]


def hidden_exercise(name: str, reference: Callable[[Chapter], np.ndarray], gradient: bool,
                    mistakes: tuple[Mistake, ...]) -> Exercise:
    return Exercise(name, function_probe, (
        Tensor("layer_1", "layer_1", lambda c: c.layer_1, zero="where dropout dropped a unit"),
        Tensor("layer_1_delta", "hidden_input.grad", reference, depth=4, masked=True,
               zero="where dropout dropped a unit"),
    ), mistakes, gradcheck_verdict(gradient))


def tanh2deriv(output: torch.Tensor) -> torch.Tensor:
    return 1 - output**2


# train_step.

def stale_gradients(network: TorchNetwork, c: Chapter) -> None:
    """Fill each weight's .grad as an earlier step would: the same batch with the other half
    of the units kept. A step that forgets optimizer.zero_grad() adds its gradient to these."""
    _, _, logits = network(tensor(c.layer_0), tensor(1 - c.dropout_mask))
    network.loss(logits, tensor(c.labels)).backward()


@keeps_rng
def train_step_probe(answer: object, c: Chapter) -> Arrays:
    network = TorchNetwork.from_numpy(c.config, np.array(c.weights_0_1), np.array(c.weights_1_2))
    stale_gradients(network, c)
    calling(answer, network, network.sgd(), tensor(c.layer_0), tensor(c.labels),
            tensor(c.dropout_mask), c.config.D)
    arrays = {}
    for name in ("weights_0_1", "weights_1_2"):
        weight = getattr(network, name).weight
        arrays[name] = weight.detach().numpy().T.copy()
        arrays[f"{name}.grad"] = (np.zeros_like(arrays[name]) if weight.grad is None
                                  else weight.grad.numpy().T.copy())
    return arrays


def wrong_step(*calls: str) -> Callable[..., object]:
    """A train_step that makes these calls, in this order."""
    def step(network: TorchNetwork, optimizer: torch.optim.Optimizer, layer_0: torch.Tensor,
             labels: torch.Tensor, dropout_mask: torch.Tensor, D: int) -> object:
        loss = None
        for call in calls:
            if call == "zero_grad":
                optimizer.zero_grad()
            elif call == "step":
                optimizer.step()
            elif call == "backward":
                _, _, logits = network(layer_0, dropout_mask)
                loss = F.cross_entropy(logits, labels, reduction="sum") / D
                loss.backward()
            else:  # the loss averaged over the batch
                _, _, logits = network(layer_0, dropout_mask)
                F.cross_entropy(logits, labels).backward()
        return loss
    return step


# idiomatic_model.

@functools.cache
def idiomatic_mask(dtype: str) -> np.ndarray:
    """The mask nn.Dropout(0.5) draws first after torch.manual_seed(SEED), 0 or 1."""
    c = chapter(dtype)
    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        ones = torch.ones(c.dropout_mask.shape, dtype=getattr(torch, dtype))
        return (nn.Dropout(0.5)(ones) / 2).numpy()


@functools.cache
def _idiomatic_step(config: Config) -> Network:
    """The hand-built network after its first step with idiomatic_mask."""
    c = _chapter(config)
    network = Network(c.config, c.weights_0_1.copy(), c.weights_1_2.copy())
    network.train_step(c.layer_0, c.labels, idiomatic_mask(c.config.dtype))
    return network


def idiomatic_reference(name: str) -> Callable[[Chapter], np.ndarray]:
    return lambda c: getattr(_idiomatic_step(c.config), name)


@keeps_rng
def idiomatic_probe(answer: object, c: Chapter) -> Arrays:
    config = c.config
    result = calling(answer, config.hidden_size, config.alpha, config.batch_size, config.D)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise Outcome("wrong", f"wrong: it returned a {type(result).__name__}, expected the "
                               "pair (model, lr)")
    model, lr = result
    if not isinstance(model, nn.Sequential):
        raise Outcome("wrong", f"wrong: the model is a {type(model).__name__}, not an "
                               "nn.Sequential")
    if not isinstance(lr, (int, float)) or isinstance(lr, bool):
        raise Outcome("wrong", f"wrong: lr is a {type(lr).__name__}, not a number")
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if len(linears) != 2 or any(layer.bias is not None for layer in linears):
        raise Outcome("wrong", "wrong: the model needs exactly two nn.Linear layers, without "
                               "biases (bias=False)")
    calling(model.to, getattr(torch, config.dtype))
    with torch.no_grad():
        for layer, weights in zip(linears, (c.weights_0_1, c.weights_1_2), strict=True):
            if tuple(layer.weight.shape) != weights.T.shape:
                raise Outcome("wrong", f"wrong: a layer's weight has shape "
                                       f"{tuple(layer.weight.shape)}, expected {weights.T.shape}")
            layer.weight.copy_(tensor(weights.T))
    layer_0 = tensor(c.layer_0)
    model.eval()
    with torch.no_grad():
        eval_logits = array(calling(model, layer_0), "the model's output")
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=float(lr))
    torch.manual_seed(SEED)
    logits = calling(model, layer_0)
    train_logits = array(logits, "the model's output")
    loss = nn.CrossEntropyLoss()(logits, tensor(c.labels.argmax(axis=1)))
    optimizer.zero_grad()
    calling(loss.backward)
    optimizer.step()
    return {"eval_logits": eval_logits, "logits": train_logits, "lr": np.array(float(lr)),
            "weights_0_1": linears[0].weight.detach().numpy().T.copy(),
            "weights_1_2": linears[1].weight.detach().numpy().T.copy()}


def wrong_model(*layers: Callable[[int], nn.Module], lr: float | None = None) -> Callable:
    """An idiomatic_model with these layers between the two nn.Linear (and this lr)."""
    def idiomatic_model(hidden_size: int, alpha: float, batch_size: int, D: int
                        ) -> tuple[nn.Sequential, float]:
        model = nn.Sequential(nn.Linear(PIXELS, hidden_size, bias=False),
                              *(layer(hidden_size) for layer in layers),
                              nn.Linear(hidden_size, CLASSES, bias=False))
        return model, alpha * batch_size / D if lr is None else lr
    return idiomatic_model


def tanh_(_: int) -> nn.Module:
    return nn.Tanh()


def dropout_(p: float) -> Callable[[int], nn.Module]:
    return lambda _: nn.Dropout(p)


# manual_layer_1_delta.

def autograd_pass(c: Chapter) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """torch_impl's network on the chapter's step, forward and backward: the tensors
    manual_layer_1_delta gets, and autograd's hidden_input.grad."""
    network = TorchNetwork.from_numpy(c.config, np.array(c.weights_0_1), np.array(c.weights_1_2))
    mask = tensor(c.dropout_mask)
    hidden_input, layer_1, logits = network(tensor(c.layer_0), mask)
    hidden_input.retain_grad()
    logits.retain_grad()
    network.loss(logits, tensor(c.labels)).backward()
    inputs = {"layer_2_delta": logits.grad, "weight_1_2": network.weights_1_2.weight.detach(),
              "layer_1": layer_1.detach(), "dropout_mask": mask}
    return inputs, hidden_input.grad


@keeps_rng
def manual_probe(answer: object, c: Chapter) -> Arrays:
    inputs, _ = autograd_pass(c)
    result = calling(answer, *(value.clone() for value in inputs.values()))
    if result is None:
        raise Outcome("not done", "not done yet (it returns None)")
    return {"layer_1_delta": array(result, "its result")}


@functools.cache
def _autograd_grad(config: Config) -> np.ndarray:
    return autograd_pass(_chapter(config))[1].numpy()


def cmp_note(c: Chapter, arrays: Arrays) -> tuple[None, str]:
    """makemore's cmp: exact to the bit, close, and the largest difference."""
    autograd = _autograd_grad(c.config)
    exact = np.array_equal(arrays["layer_1_delta"], autograd)
    diff = float(np.abs(arrays["layer_1_delta"].astype(np.float64) - autograd).max())
    return None, f"cmp with autograd's hidden_input.grad: exact {exact}, close True, " \
                 f"max diff {diff:.1e}"


EXERCISE_LIST = [
    loss_exercise("softmax", (
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
    loss_exercise("sigmoid", (
        (lambda logits, labels, D: F.binary_cross_entropy_with_logits(logits, labels) / D,
         MEAN.replace("the batch", "the batch's 1000 outputs")),
        (lambda logits, labels, D: F.cross_entropy(logits, labels, reduction="sum") / D,
         "is that of softmax's loss (cross_entropy): sigmoid's is binary cross-entropy"),
        (lambda logits, labels, D: F.binary_cross_entropy_with_logits(
            torch.sigmoid(logits), labels, reduction="sum") / D,
         "is that of sigmoid applied twice: binary_cross_entropy_with_logits takes the "
         "logits"),
        (lambda logits, labels, D: F.binary_cross_entropy_with_logits(
            logits, labels, reduction="sum"), NO_D),
    )),
    loss_exercise("identity", (
        (lambda logits, labels, D: F.mse_loss(logits, labels, reduction="sum") / D,
         "is that of the squared error, twice the chapter's delta: halve the loss"),
        (lambda logits, labels, D: F.mse_loss(logits, labels) / D,
         MEAN.replace("the batch", "the batch's 1000 outputs")),
        (lambda logits, labels, D: (logits - labels).abs().sum() / D,
         "is that of the absolute error, the sign of the error: square it (and halve it)"),
    )),
    Exercise("ChapterNetwork", network_probe, (
        Tensor("layer_1", "layer_1", lambda c: c.layer_1, masked=True,
               zero="where dropout dropped a unit"),
        Tensor("logits", "the logits", lambda c: c.logits, depth=4),
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
    hidden_exercise("TrueHidden", lambda c: c.layer_1_delta, True, (
        (wrong_function(lambda g, layer_1, mask: g * tanh2deriv(layer_1) * mask), BOOK_LINE),
        (wrong_function(lambda g, layer_1, mask: g * tanh2deriv(layer_1 / 2) * mask),
         "is off by a factor of 0.5 wherever a unit is kept: it leaves out the mask's 2"),
        (wrong_function(lambda g, layer_1, mask: g * tanh2deriv(layer_1) * mask * 2),
         "takes tanh's slope at layer_1, after dropout doubled it: take it from tanh's output"),
        (wrong_function(lambda g, layer_1, mask: g * mask * 2),
         "leaves out tanh's slope"),
    )),
    hidden_exercise("BookHidden", book_layer_1_delta, False, (
        (wrong_function(lambda g, layer_1, mask: g * tanh2deriv(layer_1 / 2) * mask * 2),
         "is the true gradient (TrueHidden's): the book takes tanh's slope at layer_1, after "
         "dropout, and multiplies by the mask without its 2"),
        (wrong_function(lambda g, layer_1, mask: g * tanh2deriv(layer_1) * mask * 2),
         "multiplies by the mask's 2: the book's line multiplies by dropout_mask alone"),
        (wrong_function(lambda g, layer_1, mask: g * tanh2deriv(layer_1 / 2) * mask),
         "takes tanh's slope from tanh's output: the book takes it at layer_1, after dropout"),
    )),
    Exercise("train_step", train_step_probe, (
        Tensor("weights_0_1.grad", "weights_0_1.grad", lambda c: c.layer_0.T @ c.layer_1_delta,
               depth=8),
        Tensor("weights_1_2.grad", "weights_1_2.grad", lambda c: c.layer_1.T @ c.layer_2_delta,
               depth=8),
        Tensor("weights_0_1", "the new weights_0_1", lambda c: c.new_weights_0_1, depth=8,
               weights="weights_0_1"),
        Tensor("weights_1_2", "the new weights_1_2", lambda c: c.new_weights_1_2, depth=8,
               weights="weights_1_2"),
    ), (
        (wrong_step("backward", "step"),
         "holds an earlier step's gradient too: gradients add up over backward() calls; "
         "call optimizer.zero_grad() first"),
        (wrong_step("zero_grad", "backward"),
         "has not moved: call optimizer.step(), after loss.backward()"),
        (wrong_step("backward", "zero_grad", "step"),
         "is 0: optimizer.zero_grad() came after loss.backward() and erased its gradient"),
        (wrong_step("zero_grad", "mean", "step"), MEAN),
    )),
    Exercise("idiomatic_model", idiomatic_probe, (
        Tensor("eval_logits", "the logits in eval mode", lambda c: c.hidden_output @ c.weights_1_2,
               depth=4),
        Tensor("logits", "the logits in train mode", lambda c: (
            c.hidden_output * idiomatic_mask(c.config.dtype) * 2 @ c.weights_1_2), depth=4),
        Tensor("lr", "lr", lambda c: np.array(learning_rate(c.config))),
        Tensor("weights_0_1", "the new weights_0_1", idiomatic_reference("weights_0_1"),
               depth=8, weights="weights_0_1"),
        Tensor("weights_1_2", "the new weights_1_2", idiomatic_reference("weights_1_2"),
               depth=8, weights="weights_1_2"),
    ), (
        (wrong_model(tanh_, dropout_(0.5), lr=2.0),
         "is alpha: nn.CrossEntropyLoss averages over the batch where the chapter divides "
         "the sum by D, so lr is alpha * batch_size / D"),
        (wrong_model(tanh_, dropout_(0.5), lr=2 / 10000),
         "is alpha / D: the loss module already divides by the batch size, so lr is alpha * "
         "batch_size / D"),
        (wrong_model(tanh_), "drop nothing: add nn.Dropout(0.5) after the activation"),
        (wrong_model(dropout_(0.5), tanh_),
         "drop out before tanh: the chapter applies tanh, then dropout"),
        (wrong_model(tanh_, dropout_(0.2)),
         "keep 4 units in 5: nn.Dropout's p is the probability of dropping one, 0.5 here"),
        (wrong_model(lambda _: nn.ReLU(), dropout_(0.5)), "use relu: the chapter's hidden "
                                                           "layer is tanh (nn.Tanh())"),
    )),
    Exercise("manual_layer_1_delta", manual_probe, (
        Tensor("layer_1_delta", "layer_1_delta", lambda c: _autograd_grad(c.config), depth=4,
               masked=True, zero="where dropout dropped a unit"),
    ), (
        (lambda d2, w, layer_1, mask: d2 @ w * tanh2deriv(layer_1) * mask, BOOK_LINE),
        (lambda d2, w, layer_1, mask: d2 @ w * tanh2deriv(layer_1 / 2) * mask,
         "is off by a factor of 0.5 wherever a unit is kept: it leaves out the mask's 2"),
        (lambda d2, w, layer_1, mask: d2 @ w * tanh2deriv(layer_1) * mask * 2,
         "takes tanh's slope at layer_1, after dropout doubled it: take it from tanh's output"),
        (lambda d2, w, layer_1, mask: d2 @ w * mask * 2, "leaves out tanh's slope"),
    ), cmp_note),
]
EXERCISE = {exercise.name: exercise for exercise in EXERCISE_LIST}
EXERCISES = tuple(EXERCISE)
"""The exercises' names, in the order of exercises/autograd.py."""

