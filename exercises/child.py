"""What runs a learner's answers: the calls the grader asks for, and the tensors they make.

    python exercises/child.py ANSWERS.py MEMORY_MB PROCESSES [torch]   (by exercises/runner.py)

A small script of its own: NumPy, and torch for the autograd track alone. It never imports
the reference (numpy_impl, torch_impl), the checks or the grading engine: the parent
computes every reference tensor and every input before any answer runs, and sends only the
inputs. The parent also imports this module, to run the same calls in its own process
(a notebook's `check`, and the catalogue of typical mistakes): one code path, one line.

The exchange, framed `.npz` messages (8-byte length, then the bytes; read with
allow_pickle=False) on two channels the child keeps on descriptors of its own (its standard
input and output; descriptors 0 and 1 then point at os.devnull and at its standard error, so
the answers neither read the grader's instructions nor print into its channel: what they
print reaches the parent's capture, never the grader's own output):

    parent -> child   {"tracks": {track: [names]}}         every exercise's name
    child -> parent   {"kind": "loading"}                  then it imports the answers,
                                                           guarded (forbid_the_reference)
    child -> parent   {"kind": "ready", "defined": [...]}  or "import failed"
    parent -> child   {"kind": "calls", "names": [...],    the exercises to run, in order,
                       "calls": {name: [call, ...]}}       each call a tag, a run, its
                                                           inputs and what it is given
    parent -> child   {"kind": "run", "name": name,        one call: the parent starts its
                       "call": i}                          clock (the OS's CPU time) here
    child -> parent   {"kind": "made", "name": name,       that call's arrays under its tag,
                       "call": i}                          or the line of what it raised
                                                           (and where in the file: `located`)

With `torch` (the autograd track) it imports torch first, while the parent imports its
checks, before it reads a message: the answers run only once the checks are loaded.

The parent asks for one call at a time and times each from the operating system's count of
the child's CPU time: nothing the child sends can restart a clock, decide a verdict or
stand for a size (exercises/runner.py bounds and checks every message before it reads it).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import linecache
import os
import re
import struct
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

HERE = Path(__file__).resolve().parent
HEADER = struct.Struct("<Q")
Arrays = dict[str, np.ndarray]
Call = dict[str, Any]
"""One call of an answer: {"tag": "1:", "run": a name in RUNS, "inputs": the answer's
arguments by name, "given": what the run needs besides (the weights a model starts from)}."""
SEED = 1
"""torch's seed before the idiomatic model's train-mode pass: nn.Dropout's mask is then
the same for an answer and for the catalogue's mistakes (which the parent runs)."""
TORCH_RNG = threading.Lock()
"""Held while a run uses torch's global generator (nn.Linear draws from it, nn.Dropout
too): the parent runs mistakes in several threads, and one run's draws must not be
another's."""


# What an answer's call comes to, in words.

Frames = tuple[tuple[str, int], ...]
"""Where an error was raised: (file, line number) of each frame, the outermost first."""


class Outcome(Exception):
    """What a call says by itself, before any tensor is compared: not done, or wrong (it
    raised, or returned something that is not a tensor). It can only fail an answer.
    `frames`: where the answer raised, for its line (`located`)."""

    def __init__(self, status: str, message: str, frames: Frames = ()):
        super().__init__(message)
        self.status, self.message, self.frames = status, message, frames


def frames_of(error: BaseException) -> Frames:
    """(file, line number) of each frame an error passed through, the outermost first; a
    SyntaxError's own line last."""
    frames = tuple((frame.f_code.co_filename, line)
                   for frame, line in traceback.walk_tb(error.__traceback__))
    if isinstance(error, SyntaxError) and error.filename and error.lineno:
        frames += ((error.filename, error.lineno),)
    return frames


SOURCE_CHARACTERS = 200
"""The most characters of an answer's line that a location gives."""


def located(frames: Frames, files: Iterable[str]) -> dict[str, object]:
    """The innermost of `frames` in one of `files` (the graded file: never the grader's,
    nor a library's): {"line": its number, "source": its text}, or {} where none is."""
    own = {os.path.normcase(os.path.abspath(file)) for file in files}
    for file, line in reversed(frames):
        if os.path.normcase(os.path.abspath(file)) in own:
            linecache.checkcache(file)  # the file as it is now, as a traceback reads it
            text = " ".join(linecache.getline(file, line).split())
            return {"line": line, "source": text[:SOURCE_CHARACTERS]}
    return {}


SHAPE_ERRORS = (
    (re.compile(r"matmul: Input operand 1 has a mismatch in its core dimension 0.*"
                r"\(size (\d+) is different from (\d+)\)"),
     "a matrix product's shapes do not fit: the left matrix has {1} columns, the right one "
     "{0} rows (a .T missing, or one too many?)"),
    (re.compile(r"operands could not be broadcast together with (?:remapped )?shapes "
                r"(\S+) (\S+)"),
     "arrays of shapes {0} and {1} cannot be combined entry by entry (broadcast): are both "
     "the tensors you meant, the right way round?"),
    (re.compile(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)"),
     "a matrix product's shapes do not fit: ({0}, {1}) @ ({2}, {3}) (a .T missing, or one "
     "too many?)"),
    (re.compile(r"The size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\) "
                r"at non-singleton dimension (\d+)"),
     "tensors of sizes {0} and {1} in dimension {2} cannot be combined entry by entry "
     "(broadcast): are both the tensors you meant, the right way round?"),
)


def first_line(error: BaseException) -> str:
    """What an error says, in one line: a shape error in words a learner reads."""
    text = str(error).strip()
    for pattern, words in SHAPE_ERRORS:
        if match := pattern.search(text):
            return f"a shape error: {words.format(*match.groups())}"
    return f"{type(error).__name__}: {text.splitlines()[0][:200]}" if text else type(error).__name__


def is_shape_error(message: str) -> bool:
    return "a shape error" in message


def article(word: str) -> str:
    """The word with its article: "a list", "an int", "an ndarray"."""
    return f"{'an' if word[:1].lower() in 'aeiou' or word.startswith('nd') else 'a'} {word}"


def kind(value: object) -> str:
    """What a value is, in words: "None", "a list", "an ndarray"."""
    return "None" if value is None else article(type(value).__name__)


def calling(function: Callable[..., object], *args: object) -> object:
    """function(*args), where what it raises (exiting included) becomes an Outcome."""
    try:
        with np.errstate(all="ignore"):
            return function(*args)
    except NotImplementedError:
        raise Outcome("not done", "not done yet") from None
    except (Exception, SystemExit) as e:
        hint = ": an answer returns its result, it does not exit" if isinstance(
            e, SystemExit) else ""
        raise Outcome("wrong", f"wrong: it raised {first_line(e)}{hint}", frames_of(e)) from None


# The backprop track: one function of arrays, returning one array.

def _copies(inputs: dict[str, object]) -> dict[str, object]:
    """Writable copies of the arrays: an answer may change its arguments in place."""
    return {k: np.array(v) if isinstance(v, np.ndarray) else v for k, v in inputs.items()}


def changed_in_place(inputs: dict[str, object], handed: dict[str, object]) -> Arrays:
    """The arguments the answer changed in place: each array or tensor it was handed whose
    values now differ from the inputs' (under "changed", where there are any). The parent
    judges whether that is wrong: the chapter's loop reads most of them again."""
    changed = [name for name, value in handed.items()
               if isinstance(inputs.get(name), np.ndarray) and not np.array_equal(
                   value.detach().cpu().numpy() if hasattr(value, "detach") else value,
                   inputs[name])]
    return {"changed": np.array(changed)} if changed else {}


def answer_of(function: object, inputs: dict[str, object],
              copies: dict[str, object] | None = None) -> np.ndarray:
    """The function's answer on copies of the inputs (`copies`, if given), as an array, or
    Outcome."""
    if not callable(function):
        raise Outcome("wrong", f"wrong: it is {kind(function)}, not a function")
    copies = _copies(inputs) if copies is None else copies
    result = calling(function, *copies.values())
    if result is None:
        changed = [k for k, v in copies.items()
                   if isinstance(v, np.ndarray) and not np.array_equal(v, inputs[k])]
        if changed:
            raise Outcome("wrong", f"wrong: it returned None after changing {changed[0]} in "
                                   f"place: return {changed[0]}")
        raise Outcome("not done", "not done yet (it returns None)")
    try:
        answer = np.asarray(result)
    except (ValueError, TypeError):  # a ragged list
        answer = np.array(None)
    if answer.dtype.kind not in "biuf":
        raise Outcome("wrong", f"wrong: it returned {kind(result)}, not an array of numbers")
    return answer


def function_run(function: object, inputs: dict[str, object], given: dict) -> Arrays:
    copies = _copies(inputs)
    return {"answer": answer_of(function, inputs, copies)} | changed_in_place(inputs, copies)


def float64_run(function: object, inputs: dict[str, object], given: dict) -> Arrays:
    """A derivative's answer in float64, for the finite differences of a float32 exercise."""
    return {"answer64": answer_of(function, inputs)}


# The autograd track (torch, imported only here).

def keeps_rng(run: Callable[..., Arrays]) -> Callable[..., Arrays]:
    """The run alone on torch's global generator, leaving it as it found it: checking an
    answer should not change a notebook's random numbers, nor another thread's."""
    @functools.wraps(run)
    def wrapped(answer: object, inputs: dict[str, object], given: dict) -> Arrays:
        import torch
        with TORCH_RNG, torch.random.fork_rng():
            return run(answer, inputs, given)
    return wrapped


def tensor(array: np.ndarray) -> Any:
    """A writable torch copy of an array."""
    import torch
    return torch.from_numpy(np.array(array))


def array(value: object, what: str) -> np.ndarray:
    """A tensor the answer made, as a NumPy array; anything else is wrong."""
    import torch
    if not isinstance(value, torch.Tensor):
        raise Outcome("wrong", f"wrong: {what} is {kind(value)}, not a tensor")
    return value.detach().cpu().numpy().copy()


def chapter_layout(weight: Any) -> np.ndarray:
    """nn.Linear's weight, (out, in), in the chapter's layout (in, out), as NumPy."""
    return weight.detach().cpu().numpy().T.copy()


def grad_of(weight: Any, name: str) -> np.ndarray:
    """A weight's .grad in the chapter's layout; where there is none, the line that says so."""
    if weight.grad is None:
        return np.array(f"is None after loss.backward(): no gradient reaches {name}, forward "
                        "cuts the graph on its way (a .data, .detach(), .item() or a trip "
                        "through NumPy)")
    return chapter_layout(weight.grad)


def is_subclass(answer: object, base: type, what: str) -> None:
    if not (isinstance(answer, type) and issubclass(answer, base)):
        raise Outcome("wrong", f"wrong: it is {kind(answer)}, not a subclass of {what}")


def chapter_loss(logits: Any, labels: Any, D: int) -> Any:
    """The chapter's loss: cross-entropy of softmax, summed over the batch, over D."""
    import torch.nn.functional as F
    return F.cross_entropy(logits, labels, reduction="sum") / D


@keeps_rng
def loss_run(answer: object, inputs: dict[str, object], given: dict) -> Arrays:
    import torch
    logits, labels = tensor(inputs["logits"]).requires_grad_(), tensor(inputs["labels"])
    loss = calling(answer, logits, labels, inputs["D"])
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
    return {"grad": logits.grad.numpy(), "loss": array(loss.reshape(()), "the loss")
            } | changed_in_place(inputs, {"logits": logits, "labels": labels})


@keeps_rng
def network_run(answer: object, inputs: dict[str, object], given: dict) -> Arrays:
    """ChapterNetwork: its layers, its forward pass on the given weights, and the gradient
    loss.backward() leaves on each weight (the chapter's loss of its logits)."""
    import torch
    from torch import nn
    is_subclass(answer, nn.Module, "nn.Module")
    model = calling(answer, inputs["pixels"], inputs["hidden_size"], inputs["classes"])
    for name in ("weights_0_1", "weights_1_2"):
        layer, weights = getattr(model, name, None), given[name]
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
    calling(model.to, getattr(torch, given["dtype"]))
    with torch.no_grad():
        model.weights_0_1.weight.copy_(tensor(given["weights_0_1"].T))
        model.weights_1_2.weight.copy_(tensor(given["weights_1_2"].T))
    model.zero_grad()
    handed = {"layer_0": tensor(inputs["layer_0"]), "dropout_mask": tensor(inputs["dropout_mask"])}
    result = calling(model, *handed.values())
    if not (isinstance(result, tuple) and len(result) == 2):
        raise Outcome("wrong", f"wrong: forward returned {kind(result)}, expected the pair "
                               "(layer_1, logits)")
    arrays = {"layer_1": array(result[0], "layer_1"), "logits": array(result[1], "the logits")}
    logits = result[1]
    if logits.requires_grad and logits.shape == given["labels"].shape:
        calling(chapter_loss(logits, tensor(given["labels"]), given["D"]).backward)
    for name in ("weights_0_1", "weights_1_2"):
        arrays[f"{name}.grad"] = grad_of(getattr(model, name).weight, f"self.{name}")
    return arrays | changed_in_place(inputs, handed)


@keeps_rng
def hidden_run(answer: object, inputs: dict[str, object], given: dict) -> Arrays:
    """TrueHidden, BookHidden: forward, then backward from the given gradient."""
    import torch
    is_subclass(answer, torch.autograd.Function, "torch.autograd.Function")
    handed = {name: tensor(inputs[name]) for name in ("hidden_input", "dropout_mask",
                                                      "grad_layer_1")}
    hidden_input = handed["hidden_input"].requires_grad_()
    layer_1 = calling(answer.apply, hidden_input, handed["dropout_mask"])
    arrays = {"layer_1": array(layer_1, "forward's result")}
    if not layer_1.requires_grad:
        raise Outcome("wrong", "wrong: forward's result is not connected to hidden_input")
    calling(layer_1.backward, handed["grad_layer_1"])
    if hidden_input.grad is None:
        raise Outcome("wrong", "wrong: backward gave hidden_input no gradient: return it "
                               "first, then None for dropout_mask")
    arrays["layer_1_delta"] = hidden_input.grad.numpy()
    return arrays | changed_in_place(inputs, handed)


@keeps_rng
def jacobian_run(answer: object, inputs: dict[str, object], given: dict) -> Arrays:
    """What the grader's gradient check needs (exercises/autograd_checks.py computes it, not
    this process): each row of the Function's Jacobian from its backward (a one-hot
    gradient of each entry of its output), and its forward with each entry of the input
    moved by +-`step` (float64)."""
    import torch
    hidden_input, dropout_mask = inputs["hidden_input"], tensor(inputs["dropout_mask"])
    size, step = hidden_input.size, float(inputs["step"])

    def forward(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return array(calling(answer.apply, tensor(x), dropout_mask), "forward's result")

    rows = []
    for i in range(size):
        x = tensor(hidden_input).requires_grad_()
        layer_1 = calling(answer.apply, x, dropout_mask)
        if not isinstance(layer_1, torch.Tensor) or layer_1.shape != x.shape:
            raise Outcome("wrong", f"wrong: forward returned {kind(layer_1)} of another shape")
        one_hot = torch.zeros_like(x).reshape(-1)
        one_hot[i] = 1
        calling(layer_1.backward, one_hot.reshape(x.shape))
        rows.append(np.zeros(size) if x.grad is None else x.grad.numpy().reshape(-1))
    moved = np.eye(size).reshape(size, *hidden_input.shape) * step
    return {"jacobian": np.array(rows),
            "plus": np.array([forward(hidden_input + d) for d in moved]),
            "minus": np.array([forward(hidden_input - d) for d in moved])}


@functools.cache
def plain_sgd() -> type:
    """torch.optim.SGD (no momentum, no weight decay: the chapter's step), whose
    add_param_group, step and zero_grad do what torch's do for it (its step is
    param.add_(grad, alpha=-lr) on the CPU) without the wrappers whose first call imports
    torch._dynamo, seconds of a check: the optimizer train_step is given, and the one
    idiomatic_model's run steps with."""
    import torch

    class SGD(torch.optim.SGD):
        __doc__ = plain_sgd.__doc__

        def add_param_group(self, param_group: dict[str, Any]) -> None:
            self.param_groups.append({**self.defaults, **param_group,
                                      "params": list(param_group["params"])})

        @torch.no_grad()
        def step(self, closure: Callable[[], Any] | None = None) -> Any:
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            for group in self.param_groups:
                for param in group["params"]:
                    if param.grad is not None:
                        param.add_(param.grad, alpha=-group["lr"])
            return loss

        def zero_grad(self, set_to_none: bool = True) -> None:
            for group in self.param_groups:
                for param in group["params"]:
                    if param.grad is None:
                        continue
                    if set_to_none:
                        param.grad = None
                        continue
                    if param.grad.grad_fn is not None:
                        param.grad.detach_()
                    else:
                        param.grad.requires_grad_(False)
                    param.grad.zero_()

    return SGD


def hand_built(given: dict) -> Any:
    """The chapter's network in torch, as train_step is given it: forward(layer_0,
    dropout_mask) -> (hidden_input, layer_1, logits), on the given weights."""
    import torch
    from torch import nn

    class Network(nn.Module):
        def __init__(self, weights_0_1: np.ndarray, weights_1_2: np.ndarray):
            super().__init__()
            self.weights_0_1 = nn.Linear(*weights_0_1.shape, bias=False)
            self.weights_1_2 = nn.Linear(*weights_1_2.shape, bias=False)
            with torch.no_grad():
                self.weights_0_1.weight = nn.Parameter(tensor(weights_0_1.T))
                self.weights_1_2.weight = nn.Parameter(tensor(weights_1_2.T))

        def forward(self, layer_0: Any, dropout_mask: Any) -> tuple[Any, Any, Any]:
            hidden_input = self.weights_0_1(layer_0)
            layer_1 = torch.tanh(hidden_input) * dropout_mask * 2
            return hidden_input, layer_1, self.weights_1_2(layer_1)

    return Network(given["weights_0_1"], given["weights_1_2"])


@keeps_rng
def train_step_run(answer: object, inputs: dict[str, object], given: dict) -> Arrays:
    """train_step on the hand-built network, whose weights already hold an earlier step's
    gradients (the same batch, the other half of the units kept): a step that forgets
    optimizer.zero_grad() adds to them. Each .grad is the one optimizer.step() used (its
    last call; without one, as train_step left it): zeroing the gradients after the step,
    as some loops do, is no fault."""
    import torch
    network = hand_built(given)
    layer_0, labels = tensor(inputs["layer_0"]), tensor(inputs["labels"])
    _, _, logits = network(layer_0, tensor(1 - inputs["dropout_mask"]))
    chapter_loss(logits, labels, inputs["D"]).backward()
    optimizer = plain_sgd()(network.parameters(), lr=inputs["optimizer"])
    used: dict[str, np.ndarray] = {}  # each .grad as optimizer.step() found it, last call

    def grads() -> dict[str, np.ndarray]:
        return {name: (np.zeros(tuple(reversed(weight.shape))) if weight.grad is None
                       else chapter_layout(weight.grad))
                for name, weight in (("weights_0_1", network.weights_0_1.weight),
                                     ("weights_1_2", network.weights_1_2.weight))}

    optimizer.register_step_pre_hook(lambda *_: used.update(grads()))
    dropout_mask = tensor(inputs["dropout_mask"])
    loss = calling(answer, network, optimizer, layer_0, labels, dropout_mask, inputs["D"])
    arrays = {}
    for name, grad in (used or grads()).items():
        arrays[name] = chapter_layout(getattr(network, name).weight)
        arrays[f"{name}.grad"] = grad
    if isinstance(loss, torch.Tensor) and loss.numel() == 1:
        arrays["loss"] = loss.detach().cpu().reshape(()).numpy().copy()
    elif isinstance(loss, float):
        arrays["loss"] = np.array(loss)
    else:  # the word on the loss, for the parent to tell after the weights
        arrays["loss"] = np.array(f"is {kind(loss)}: train_step returns the loss (a tensor "
                                  "holding one number)")
    return arrays | changed_in_place(inputs, {"layer_0": layer_0, "labels": labels,
                                              "dropout_mask": dropout_mask})


@keeps_rng
def idiomatic_run(answer: object, inputs: dict[str, object], given: dict) -> Arrays:
    """idiomatic_model: its eval-mode logits; in train mode, after torch.manual_seed(SEED),
    what reaches the last nn.Linear (layer_1: which units its dropout kept, and by how much
    it scaled them) and the logits, then what reaches it in a second train-mode pass after
    torch.manual_seed(SEED + 1) (layer_1_again: a dropout that keeps the same units at
    every step shows; left out where torch was reseeded in between, by the answer or
    another thread, as two masks may then be drawn from the same state); lr; the weights
    after one step of SGD."""
    import torch
    from torch import nn
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
    calling(model.to, getattr(torch, given["dtype"]))
    with torch.no_grad():
        for layer, name in zip(linears, ("weights_0_1", "weights_1_2"), strict=True):
            weights = given[name]
            if tuple(layer.weight.shape) != weights.T.shape:
                raise Outcome("wrong", f"wrong: a layer's weight has shape "
                                       f"{tuple(layer.weight.shape)}, expected {weights.T.shape}")
            layer.weight.copy_(tensor(weights.T))
    layer_0 = tensor(given["layer_0"])
    model.eval()
    with torch.no_grad():
        eval_logits = array(calling(model, layer_0), "the model's output")
    model.train()
    seen = []
    hook = linears[1].register_forward_pre_hook(lambda _, args: seen.append(args[0].detach()))
    optimizer = plain_sgd()(model.parameters(), lr=float(lr))
    torch.manual_seed(SEED)
    logits = calling(model, layer_0)
    fair = torch.initial_seed() == SEED
    torch.manual_seed(SEED + 1)  # the next step's pass, on the same weights: another mask
    with torch.no_grad():
        calling(model, layer_0)
    fair = fair and torch.initial_seed() == SEED + 1  # nothing reseeded in between
    hook.remove()
    train_logits = array(logits, "the model's output")
    loss = nn.CrossEntropyLoss()(logits, tensor(given["labels"].argmax(axis=1)))
    optimizer.zero_grad()
    calling(loss.backward)
    optimizer.step()
    return {"eval_logits": eval_logits, "layer_1": seen[0].cpu().numpy().copy(),
            **({"layer_1_again": seen[-1].cpu().numpy().copy()} if fair else {}),
            "logits": train_logits, "lr": np.array(float(lr)),
            "weights_0_1": chapter_layout(linears[0].weight),
            "weights_1_2": chapter_layout(linears[1].weight)}


@keeps_rng
def manual_run(answer: object, inputs: dict[str, object], given: dict) -> Arrays:
    handed = {name: tensor(value) for name, value in inputs.items()}
    result = calling(answer, *handed.values())
    if result is None:
        raise Outcome("not done", "not done yet (it returns None)")
    return {"layer_1_delta": array(result, "its result")} | changed_in_place(inputs, handed)


Run = Callable[[object, dict[str, object], dict], Arrays]
RUNS: dict[str, Run] = {run.__name__: run for run in (
    function_run, float64_run, loss_run, network_run, hidden_run, jacobian_run,
    train_step_run, idiomatic_run, manual_run)}


def probe(answer: object, calls: list[Call], files: Iterable[str] = ()) -> Arrays:
    """Each call's arrays, under its tag ("1:answer"), in the calls' order; a call that
    raised leaves the line of what it raised (`1:outcome`) and, where it was raised in one
    of `files` (the graded file), that line's number and text (`1:line`, `1:source`)."""
    arrays: Arrays = {}
    files = tuple(files)
    for call in calls:
        tag = call["tag"]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                made = RUNS[call["run"]](answer, call["inputs"], call["given"])
        except Outcome as outcome:
            made = {"outcome": outcome.message} | located(outcome.frames, files)
        except (Exception, SystemExit) as e:  # what the answer broke in the run itself
            made = ({"outcome": f"wrong: checking it raised {first_line(e)}"}
                    | located(frames_of(e), files))
        arrays |= {f"{tag}{key}": np.asarray(value) for key, value in made.items()}
    return arrays


# The messages.

def pack(meta: dict, arrays: Arrays | None = None) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, __meta__=np.array(json.dumps(meta)), **(arrays or {}))
    data = buffer.getvalue()
    return HEADER.pack(len(data)) + data


def unpack(data: bytes) -> tuple[dict, Arrays]:
    """(meta, arrays) of one message's bytes; ValueError if they are not one."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        meta = json.loads(str(arrays.pop("__meta__")))
    except Exception as e:
        raise ValueError("not a message") from e
    if not isinstance(meta, dict):
        raise ValueError("not a message")
    return meta, arrays


def pack_calls(calls: dict[str, list[Call]]) -> tuple[dict, Arrays]:
    """The calls of each exercise as one message's (meta, arrays): each array stored once,
    named in the meta by its key."""
    arrays: Arrays = {}
    keys: dict[int, str] = {}

    def stored(value: object) -> object:
        if isinstance(value, np.ndarray):
            if id(value) not in keys:
                keys[id(value)] = key = f"a{len(keys)}"
                arrays[key] = value
            return {"array": keys[id(value)]}
        return value.item() if isinstance(value, np.generic) else value

    meta = {name: [{**call, "inputs": {k: stored(v) for k, v in call["inputs"].items()},
                    "given": {k: stored(v) for k, v in call["given"].items()}}
                   for call in named] for name, named in calls.items()}
    return {"kind": "calls", "names": list(calls), "calls": meta}, arrays


def unpack_calls(meta: dict, arrays: Arrays) -> dict[str, list[Call]]:
    def value(stored: object) -> object:
        return arrays[stored["array"]] if isinstance(stored, dict) else stored
    return {name: [{**call, "inputs": {k: value(v) for k, v in call["inputs"].items()},
                    "given": {k: value(v) for k, v in call["given"].items()}}
                   for call in named] for name, named in meta["calls"].items()}


def read_message(stream: BinaryIO) -> tuple[dict, Arrays]:
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        raise EOFError("the grader sent nothing")
    (size,) = HEADER.unpack(header)
    return unpack(stream.read(size))


def open_channels() -> tuple[BinaryIO, BinaryIO]:
    """The channels with the parent: this process's standard input and output, moved to
    descriptors of their own, while descriptor 0 (sys.stdin) now reads os.devnull and
    descriptor 1 (sys.stdout) writes to descriptor 2, the parent's capture of what the
    answers print."""
    sys.stdout.flush()
    incoming, outgoing = os.fdopen(os.dup(0), "rb"), os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return incoming, outgoing


def send(channel: BinaryIO, meta: dict, arrays: Arrays | None = None) -> None:
    channel.write(pack(meta, arrays))
    channel.flush()


FORBIDDEN = ("numpy_impl", "torch_impl", "ch9_shared", "exercises", "scripts", "tools")
"""The project's packages: an answer is graded on its own code, never the reference's."""


def forbidden(name: str) -> bool:
    """Whether the module `name` is the project's (or any *solutions module)."""
    return name.split(".")[0] in FORBIDDEN or name.split(".")[-1].endswith("solutions")


class Forbid:
    """A finder, first on sys.meta_path, that refuses the project's modules."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> None:
        if forbidden(name):
            raise ImportError(f"the grader does not allow importing {name}: an answer is "
                              "graded on its own code, not the project's")


def forbid_the_reference() -> None:
    """From here on no module of the project can be imported, and none already imported
    is left in sys.modules for the answers to find (exercises/runner.py's guard)."""
    sys.meta_path.insert(0, Forbid())
    for name in [name for name in sys.modules if forbidden(name)]:
        del sys.modules[name]


def load_answers(path: Path) -> object:
    """The file of answers as a module: the one place the child runs the file's own code
    at import (exercises/runner.py may guard it)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(f"answers_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def limits(memory_mb: int, processes: int) -> str | None:
    """The memory cap, and the threads (and, where no filter forbids them, the processes)
    the answers may start; no other process of this user may trace this one or read its
    memory, it dies with the grader, and it may start no process (ch9_shared/system.py holds
    what differs by system); None, or why there is no memory cap."""
    from ch9_shared.system import (
        die_with_parent,
        forbid_new_processes,
        limit_memory,
        limit_processes,
        not_traceable,
    )
    unlimited = limit_memory(memory_mb)
    limit_processes(processes)
    not_traceable()
    die_with_parent()
    forbid_new_processes()
    return unlimited


WARM = ("torch",)
"""What the parent may ask the child to import before the answers: torch, for the autograd
track, imported while the parent imports its checks (seconds, on another core)."""


def main(path: Path, memory_mb: int, processes: int, warm: tuple[str, ...] = ()) -> None:
    """Import what the parent asks for (WARM), read the exercises' names, import the
    answers (guarded), say which exercises they define, then run each call the parent asks
    for, one at a time."""
    unlimited = limits(memory_mb, processes)
    incoming, outgoing = open_channels()
    for name in warm:
        if name in WARM:
            with contextlib.suppress(ImportError):  # no torch: the answers will say so
                __import__(name)
    tracks: dict[str, list[str]] = read_message(incoming)[0]["tracks"]
    forbid_the_reference()
    send(outgoing, {"kind": "loading"})  # what ends the child from here on is the answers'
    try:
        module = load_answers(path)
    except (Exception, SystemExit) as e:
        where = located(frames_of(e), [str(path)])
        error = (f"{type(e).__name__}: {e.msg}" if isinstance(e, SyntaxError) and e.msg
                 and where else first_line(e))  # its "(file, line)" is where's
        send(outgoing, {"kind": "import failed", "error": error, "unlimited": unlimited,
                        **where})
        return
    defined = [name for names in tracks.values() for name in names
               if getattr(module, name, None) is not None]
    send(outgoing, {"kind": "ready", "defined": defined, "unlimited": unlimited})
    calls = unpack_calls(*read_message(incoming))
    while True:
        try:
            asked = read_message(incoming)[0]
        except EOFError:  # the parent is done with this file
            return
        name, number = asked["name"], asked["call"]
        made = probe(getattr(module, name), [calls[name][number]], [str(path)])
        with contextlib.suppress(BrokenPipeError):
            send(outgoing, {"kind": "made", "name": name, "call": number}, made)


if __name__ == "__main__":
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]  # no checks here
    if len(sys.argv) not in (4, 5):
        sys.exit("exercises/child.py: error: scripts/check_exercises.py starts this, not a "
                 "person: python scripts/check_exercises.py ANSWERS.py")
    _, file, memory, processes_, *warm = sys.argv
    main(Path(file), int(memory), int(processes_), tuple(warm))
