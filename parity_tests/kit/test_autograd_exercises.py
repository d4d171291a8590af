"""The autograd track checks itself: the solutions pass in both dtypes, the blanks are not
done, a 1% mutant of each solution is caught, typical wrong answers get their line, and an
answer that ignores an argument gets a line that names it."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from parity_tests.conftest import NEEDS_TORCH

torch = pytest.importorskip("torch", reason=NEEDS_TORCH)

import torch.nn.functional as F
from torch import nn

from exercises import TRACKS, autograd, autograd_checks, check, check_module
from exercises import autograd_solutions as solutions
from exercises.grading import first_step, step_tensors
from parity_tests.kit.conftest import one_line, wrong_line

DTYPES = ["float64", "float32"]
NAMES = TRACKS["autograd"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_the_solutions_pass(name, dtype):
    result = check(getattr(solutions, name), dtype)
    assert result.status == "passed", str(result)
    assert "max abs diff" in one_line(result)


def test_the_blanks_are_not_done():
    results = check_module(autograd, "autograd")
    assert [r.name for r in results] == list(NAMES)
    assert {r.status for r in results} == {"not done"}, [str(r) for r in results]
    assert all(one_line(r).endswith("not done yet") for r in results)


def test_gradcheck_is_in_the_verdict():
    assert "gradcheck passes" in str(check(solutions.TrueHidden))
    assert "gradcheck fails, as it must" in str(check(solutions.BookHidden))
    assert "exact False, close True" in str(check(solutions.manual_layer_1_delta))


def scaled_function(name: str):
    """The solution whose output (or, for a Function, backward) is 1% too large."""
    solution = getattr(solutions, name)
    if name == "ChapterNetwork":
        class Mutant(solution):
            def forward(self, layer_0, dropout_mask):
                layer_1, logits = super().forward(layer_0, dropout_mask)
                return layer_1 * 1.01, logits * 1.01
        return Mutant
    if name in ("TrueHidden", "BookHidden"):
        class Mutant(solution):
            @staticmethod
            def backward(ctx, grad_layer_1):
                return solution.backward(ctx, grad_layer_1)[0] * 1.01, None
        return Mutant
    if name == "train_step":
        def mutant(network, optimizer, layer_0, labels, dropout_mask, D):
            optimizer.zero_grad()
            _, _, logits = network(layer_0, dropout_mask)
            loss = solutions.softmax_loss(logits, labels, D) * 1.01
            loss.backward()
            optimizer.step()
            return loss
        return mutant
    if name == "idiomatic_model":
        def mutant(*args):
            model, lr = solution(*args)
            return model, lr * 1.01
        return mutant

    def mutant(*args):
        return solution(*args) * 1.01
    return mutant


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_one_percent_off_is_caught(name, dtype):
    result = check(scaled_function(name), dtype, name=name)
    assert result.status == "wrong", str(result)
    assert "off by a factor of about 1.01" in one_line(result)


class NoDouble(solutions.ChapterNetwork):
    def forward(self, layer_0, dropout_mask):
        layer_1 = torch.tanh(self.weights_0_1(layer_0)) * dropout_mask
        return layer_1, self.weights_1_2(layer_1)


class WithBias(nn.Module):
    def __init__(self, pixels, hidden_size, classes):
        super().__init__()
        self.weights_0_1 = nn.Linear(pixels, hidden_size)
        self.weights_1_2 = nn.Linear(hidden_size, classes)


class Renamed(nn.Module):
    def __init__(self, pixels, hidden_size, classes):
        super().__init__()
        self.fc1 = nn.Linear(pixels, hidden_size, bias=False)


def hidden(backward, forward_saves="layer_1"):
    """A hidden-layer Function: forward as the chapter's, saving tanh's output or layer_1."""
    class Hidden(torch.autograd.Function):
        @staticmethod
        def forward(ctx, hidden_input, dropout_mask):
            t = torch.tanh(hidden_input)
            ctx.save_for_backward(t if forward_saves == "t" else t * dropout_mask * 2,
                                  dropout_mask)
            return t * dropout_mask * 2

        @staticmethod
        def backward(ctx, grad_layer_1):
            return backward(grad_layer_1, *ctx.saved_tensors)
    return Hidden


def step_without(skip: str):
    def train_step(network, optimizer, layer_0, labels, dropout_mask, D):
        if skip != "zero_grad":
            optimizer.zero_grad()
        _, _, logits = network(layer_0, dropout_mask)
        loss = F.cross_entropy(logits, labels, reduction="sum") / D
        loss.backward()
        if skip != "step":
            optimizer.step()
        if skip != "return":
            return loss
    return train_step


def step_returning(value):
    """The solution's step, returning value(loss) instead of the loss."""
    def train_step(network, optimizer, layer_0, labels, dropout_mask, D):
        return value(solutions.train_step(network, optimizer, layer_0, labels, dropout_mask, D))
    return train_step


def sequential(*middle, lr=None):
    def idiomatic_model(hidden_size, alpha, batch_size, D):
        model = nn.Sequential(nn.Linear(784, hidden_size, bias=False), *middle,
                              nn.Linear(hidden_size, 10, bias=False))
        return model, alpha * batch_size / D if lr is None else lr
    return idiomatic_model


WRONG = [  # (exercise, a wrong answer as a learner writes it, words its message must hold)
    ("softmax_loss", lambda logits, labels, D: F.cross_entropy(logits, labels.argmax(1)),
     ["logits.grad", "reduction='mean'"]),
    ("softmax_loss", lambda logits, labels, D: -(labels * torch.log(logits)).sum() / D,
     ["logits.grad differs"]),
    ("softmax_loss", lambda logits, labels, D: (F.cross_entropy(logits, labels, reduction="sum")
                                                / D).item(), ["returned a float, not a tensor"]),
    ("softmax_loss", lambda logits, labels, D: F.cross_entropy(logits, labels,
                                                               reduction="none") / D,
     ["the loss has shape (100,)", "one number"]),
    ("sigmoid_loss", lambda logits, labels, D: F.cross_entropy(logits, labels, reduction="sum")
     / D, ["logits.grad", "softmax's loss"]),
    ("sigmoid_loss", lambda logits, labels, D: F.binary_cross_entropy_with_logits(
        logits, labels, reduction="sum") / (2 * D), ["factor of about 0.5"]),
    ("identity_loss", lambda logits, labels, D: F.mse_loss(logits, labels, reduction="sum") / D,
     ["logits.grad", "factor of about 2", "twice the chapter's delta"]),
    ("identity_loss", lambda logits, labels, D: ((logits - labels) ** 2).detach().sum() / D,
     ["does not depend on logits through autograd"]),
    ("ChapterNetwork", NoDouble, ["layer_1", "factor of about 0.5", "does not scale them up"]),
    ("ChapterNetwork", WithBias, ["self.weights_0_1 has a bias", "bias=False"]),
    ("ChapterNetwork", Renamed, ["it has no self.weights_0_1: __init__ names its layers "
                                 "self.weights_0_1 and self.weights_1_2"]),
    ("ChapterNetwork", solutions.TrueHidden, ["not a subclass of nn.Module"]),
    ("TrueHidden", hidden(lambda g, layer_1, mask: (g * (1 - layer_1**2) * mask, None)),
     ["hidden_input.grad", "the book's line"]),
    ("TrueHidden", hidden(lambda g, t, mask: (g * (1 - t**2) * mask * 2,), "t"),
     ["raised RuntimeError"]),
    ("TrueHidden", hidden(lambda g, t, mask: (g * (1 - t**2) * mask, None), "t"),
     ["hidden_input.grad", "factor of about 0.5", "the mask's 2"]),
    ("BookHidden", hidden(lambda g, t, mask: (g * (1 - t**2) * mask * 2, None), "t"),
     ["hidden_input.grad", "is the true gradient"]),
    ("BookHidden", hidden(lambda g, layer_1, mask: (g * (1 - layer_1**2) * mask * 2, None)),
     ["factor of about 2", "the mask's 2 is in"]),
    ("train_step", step_without("zero_grad"), ["weights_0_1.grad",
                                               "gradients add up over backward() calls"]),
    ("train_step", step_without("step"), ["the new weights_0_1 has not moved",
                                          "never applies the gradient"]),
    ("idiomatic_model", sequential(nn.Tanh(), nn.Dropout(0.5), lr=2.0),
     ["lr is 2, expected 0.02", "it is alpha"]),
    ("idiomatic_model", sequential(nn.Tanh()), ["drops nothing in train mode",
                                                 "no dropout after its activation"]),
    ("idiomatic_model", lambda hidden_size, alpha, batch_size, D: solutions.ChapterNetwork(
        784, hidden_size, 10), ["expected the pair (model, lr)"]),
    ("manual_layer_1_delta", lambda d2, w, layer_1, mask: d2 @ w.T * (1 - layer_1**2) * mask,
     ["it raised a shape error", "weight_1_2 is nn.Linear's weight, (classes, hidden units)"]),
    ("manual_layer_1_delta", lambda d2, w, layer_1, mask: d2 @ w * (1 - layer_1**2) * mask,
     ["layer_1_delta", "the book's line"]),
]


@pytest.mark.parametrize("name, answer, words", WRONG,
                         ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(WRONG)])
def test_a_wrong_answer_says_what_is_off(name, answer, words):
    wrong_line(check(answer, name=name), *words)


class SlopeOfTheInput(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden_input, dropout_mask):
        ctx.save_for_backward(hidden_input, dropout_mask)
        return torch.tanh(hidden_input) * dropout_mask * 2

    @staticmethod
    def backward(ctx, grad_layer_1):
        hidden_input, dropout_mask = ctx.saved_tensors
        return grad_layer_1 * dropout_mask * 2 * (1 - hidden_input**2), None


def softmax_step(network, optimizer, layer_0, labels, dropout_mask, D):
    optimizer.zero_grad()
    _, _, logits = network(layer_0, dropout_mask)
    loss = F.cross_entropy(torch.softmax(logits, 1), labels, reduction="sum") / D
    loss.backward()
    optimizer.step()
    return loss


NAMED = [  # the issue's table: each mistake and the words of its line (its kind, named)
    ("identity_loss", lambda logits, labels, D: F.mse_loss(logits, labels),
     "the loss is F.mse_loss's default mean (reduction='mean')"),
    ("sigmoid_loss", lambda logits, labels, D: F.binary_cross_entropy_with_logits(logits, labels),
     "the loss is a mean (the default reduction='mean'), where the chapter sums over the "
     "batch's outputs (images x classes) and divides by D"),
    ("train_step", softmax_step, "softmax is applied twice: cross_entropy applies it to what "
                                 "it is given"),
    ("idiomatic_model", lambda hidden_size, alpha, batch_size, D: (
        nn.Sequential(*solutions.idiomatic_model(hidden_size, alpha, batch_size, D)[0],
                      nn.Softmax(dim=1)), alpha * batch_size / D),
     "they are softmax's output, where nn.CrossEntropyLoss takes the logits"),
    ("TrueHidden", SlopeOfTheInput, "tanh's slope is computed from the hidden input as if it "
                                    "were tanh's output"),
    ("manual_layer_1_delta", lambda d2, w, layer_1, mask:
        d2 @ w.T * (1 - (layer_1 / 2)**2) * mask * 2,
     "it raised a shape error: a matrix product's shapes do not fit"),
    ("softmax_loss", lambda logits, labels, D: solutions.softmax_loss(logits, labels, D) + 1,
     "the loss is 1 more than it should be ("),
    ("identity_loss", lambda logits, labels, D: solutions.identity_loss(logits, labels, D) - 2,
     "the loss is 2 less than it should be ("),
    ("ChapterNetwork", Renamed, "it has no self.weights_0_1"),
    ("train_step", step_returning(lambda loss: 2 * loss),
     "the loss is 0.04602, expected 0.02301: it is off by a factor of about 2"),
    ("train_step", step_returning(lambda loss: -loss), "the loss has the wrong sign"),
    ("train_step", step_returning(lambda loss: loss + 1), "the loss is 1 more than it should be"),
    ("train_step", step_without("return"), "the loss is None: train_step returns the loss"),
    ("train_step", step_returning(lambda loss: [loss]), "the loss is a list: train_step returns"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, answer, words", NAMED,
                         ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(NAMED)])
def test_each_mistake_of_the_issue_has_its_line(name, answer, words, dtype):
    line = wrong_line(check(answer, dtype, name=name), words)
    assert " is a NoneType" not in line, line


def test_the_grammar_of_the_lines():
    """The logits are (plural); an int, an ndarray (articles)."""
    class Logits(solutions.ChapterNetwork):
        def forward(self, layer_0, dropout_mask):
            layer_1, logits = super().forward(layer_0, dropout_mask)
            return layer_1, logits * 3
    assert str(check(Logits, name="ChapterNetwork")) == (
        "ChapterNetwork: wrong: the logits are off by a factor of about 3")
    assert str(check(lambda logits, labels, D: 1, name="softmax_loss")).endswith(
        "it returned an int, not a tensor: autograd differentiates tensors (no .item(), no "
        "NumPy)")
    assert "lr is an ndarray, not a number" in str(check(
        lambda hidden_size, alpha, batch_size, D: (solutions.idiomatic_model(
            hidden_size, alpha, batch_size, D)[0], np.array(0.02)), name="idiomatic_model"))


def arguments(name: str) -> list[str]:
    """The blank's arguments: a function's, or its class's methods' (but self and ctx), all
    but train_step's network (an answer has nothing else to train)."""
    blank = getattr(autograd, name)
    methods = [blank] if not inspect.isclass(blank) else [
        getattr(blank, method) for method in ("__init__", "forward", "backward")
        if method in vars(blank)]
    return [argument for method in methods for argument in inspect.signature(method).parameters
            if argument not in ("self", "ctx", "network")]


ARGUMENTS = [(name, argument) for name in NAMES for argument in arguments(name)]


def test_every_argument_is_changed():
    """The second configuration differs from the first in every argument but pixels and
    classes; the third, in every array's values (the same shapes)."""
    first, second, third, *_ = step_tensors()
    for name in NAMES:
        exercise = autograd_checks.EXERCISE[name]
        inputs, others = exercise.inputs(first), exercise.inputs(second)
        assert sorted(inputs) == sorted(arguments(name)), name
        for argument, value in inputs.items():
            assert np.shape(value) != np.shape(others[argument]) or not np.array_equal(
                value, others[argument]) or argument in ("pixels", "classes"), (name, argument)
            same_shape = exercise.inputs(third)[argument]
            assert np.shape(same_shape) == np.shape(value), (name, argument)
            if isinstance(value, np.ndarray):
                assert not np.array_equal(same_shape, value), (name, argument)


def hard_coded(name: str, argument: str, dtype: str):
    """The solution, with the argument's value on the chapter's first step written in (as
    a torch tensor where it is an array)."""
    value = autograd_checks.EXERCISE[name].inputs(first_step(dtype))[argument]
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.array(value))
    solution = getattr(solutions, name)
    if name == "ChapterNetwork":
        class Network(solution):
            def __init__(self, pixels, hidden_size, classes):
                sizes = dict(pixels=pixels, hidden_size=hidden_size, classes=classes)
                super().__init__(**{**sizes, argument: value} if argument in sizes else sizes)

            def forward(self, layer_0, dropout_mask):
                given = dict(layer_0=layer_0, dropout_mask=dropout_mask)
                return super().forward(**{**given, argument: value} if argument in given
                                       else given)
        return Network
    if name in ("TrueHidden", "BookHidden"):
        class Hidden(solution):
            @staticmethod
            def forward(ctx, hidden_input, dropout_mask):
                given = dict(hidden_input=hidden_input, dropout_mask=dropout_mask)
                return solution.forward(ctx, **{**given, argument: value} if argument in given
                                        else given)

            @staticmethod
            def backward(ctx, grad_layer_1):
                return solution.backward(ctx, value if argument == "grad_layer_1"
                                         else grad_layer_1)
        return Hidden
    if argument == "optimizer":  # SGD by hand, at the first step's lr
        def train_step(network, optimizer, layer_0, labels, dropout_mask, D):
            network.zero_grad()
            _, _, logits = network(layer_0, dropout_mask)
            loss = solutions.softmax_loss(logits, labels, D)
            loss.backward()
            with torch.no_grad():
                for weight in network.parameters():
                    weight -= value * weight.grad
            return loss
        return train_step
    parameters = list(inspect.signature(solution).parameters)

    def answer(*args):
        return solution(*(value if p == argument else a for p, a in zip(parameters, args,
                                                                          strict=True)))
    return answer


NOT_CONNECTED = {"logits": "the loss does not depend on logits through autograd",
                 "optimizer": "does not change with the optimizer's learning rate: it moves "
                              "the weights by a rate of its own"}
"""The logits written in: the loss is a constant, which has its own line. The optimizer's
lr written in: a line about the learning rate."""


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, argument", ARGUMENTS)
def test_an_answer_that_hard_codes_an_argument_is_caught(name, argument, dtype):
    """The first step's value of any one argument written in: it fails, and its line names
    that argument alone."""
    wrong_line(check(hard_coded(name, argument, dtype), dtype, name=name),
               NOT_CONNECTED.get(argument, f"not change with {argument}: "))


def idiomatic_lr(lr):
    def idiomatic_model(hidden_size, alpha, batch_size, D):
        return solutions.idiomatic_model(hidden_size, alpha, batch_size, D)[0], lr(
            alpha, batch_size, D)
    return idiomatic_model


class Hidden100(nn.Module):
    def __init__(self, pixels, hidden_size, classes):
        super().__init__()
        self.weights_0_1 = nn.Linear(784, 100, bias=False)
        self.weights_1_2 = nn.Linear(100, 10, bias=False)

    forward = solutions.ChapterNetwork.forward


HARD_CODED = [  # answers as a learner writes them, the words of their line
    ("idiomatic_model", idiomatic_lr(lambda alpha, batch_size, D: alpha / batch_size),
     "lr does not change with D: on a second step (seed 2, 20 images, 30 hidden units, "
     "alpha = 0.5, D = 200), lr is 0.025, expected 0.05"),
    ("idiomatic_model", idiomatic_lr(lambda alpha, batch_size, D: 0.02),
     "lr does not change with alpha, batch_size or D: on a second step"),
    ("idiomatic_model", sequential(nn.Tanh(), nn.Dropout(0.5), lr=0.02),
     "lr does not change with alpha, batch_size or D: on a second step"),
    ("softmax_loss", lambda logits, labels, D: F.cross_entropy(logits, labels, reduction="sum")
     / 10000, "logits.grad does not change with D: on a second step"),
    ("ChapterNetwork", Hidden100, "it does not change with pixels, hidden_size or classes: "),
]


@pytest.mark.parametrize("name, answer, words", HARD_CODED,
                         ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(HARD_CODED)])
def test_the_hard_coded_answers_of_the_issue(name, answer, words):
    wrong_line(check(answer, name=name), words)


@pytest.mark.parametrize("name", ["ChapterNetwork", "idiomatic_model"])
def test_checking_leaves_torchs_generator_alone(name):
    """Building the answer's layers and its dropout draw from torch's default generator:
    a check in a notebook does not change the notebook's random numbers."""
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    assert check(getattr(solutions, name)).passed
    assert torch.equal(torch.rand(3), expected)
