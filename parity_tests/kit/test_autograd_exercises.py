"""The autograd track checks itself: the solutions pass in both dtypes, the blanks are not
done, a 1% mutant of each solution is caught, and typical wrong answers get their line."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from exercises import autograd, autograd_grading, check, check_module
from exercises import autograd_solutions as solutions

DTYPES = ["float64", "float32"]
NAMES = autograd_grading.EXERCISES


def one_line(result) -> str:
    line = str(result)
    assert "\n" not in line and line.startswith(f"{result.name}: ")
    return line


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
            (solutions.softmax_loss(logits, labels, D) * 1.01).backward()
            optimizer.step()
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
        (F.cross_entropy(logits, labels, reduction="sum") / D).backward()
        if skip != "step":
            optimizer.step()
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
     ["logits.grad", "halve the loss"]),
    ("identity_loss", lambda logits, labels, D: ((logits - labels) ** 2).detach().sum() / D,
     ["does not depend on logits through autograd"]),
    ("ChapterNetwork", NoDouble, ["layer_1", "does not double them"]),
    ("ChapterNetwork", WithBias, ["self.weights_0_1 has a bias", "bias=False"]),
    ("ChapterNetwork", Renamed, ["self.weights_0_1 is a NoneType, not an nn.Linear"]),
    ("ChapterNetwork", solutions.TrueHidden, ["not a subclass of nn.Module"]),
    ("TrueHidden", hidden(lambda g, layer_1, mask: (g * (1 - layer_1**2) * mask, None)),
     ["hidden_input.grad", "the book's line"]),
    ("TrueHidden", hidden(lambda g, t, mask: (g * (1 - t**2) * mask * 2,), "t"),
     ["raised RuntimeError"]),
    ("TrueHidden", hidden(lambda g, t, mask: (g * (1 - t**2) * mask, None), "t"),
     ["hidden_input.grad", "leaves out the mask's 2"]),
    ("BookHidden", hidden(lambda g, t, mask: (g * (1 - t**2) * mask * 2, None), "t"),
     ["hidden_input.grad", "is the true gradient"]),
    ("BookHidden", hidden(lambda g, layer_1, mask: (g * (1 - layer_1**2) * mask * 2, None)),
     ["multiplies by the mask's 2"]),
    ("train_step", step_without("zero_grad"), ["weights_0_1.grad", "optimizer.zero_grad()"]),
    ("train_step", step_without("step"), ["the new weights_0_1 has not moved",
                                          "optimizer.step()"]),
    ("idiomatic_model", sequential(nn.Tanh(), nn.Dropout(0.5), lr=2.0),
     ["lr is alpha", "alpha * batch_size / D"]),
    ("idiomatic_model", sequential(nn.Tanh()), ["the logits in train mode", "nn.Dropout(0.5)"]),
    ("idiomatic_model", lambda hidden_size, alpha, batch_size, D: solutions.ChapterNetwork(
        784, hidden_size, 10), ["expected the pair (model, lr)"]),
    ("manual_layer_1_delta", lambda d2, w, layer_1, mask: d2 @ w.T * (1 - layer_1**2) * mask,
     ["raised RuntimeError", "mat1 and mat2"]),
    ("manual_layer_1_delta", lambda d2, w, layer_1, mask: d2 @ w * (1 - layer_1**2) * mask,
     ["layer_1_delta", "the book's line"]),
]


@pytest.mark.parametrize("name, answer, words", WRONG,
                         ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(WRONG)])
def test_a_wrong_answer_says_what_is_off(name, answer, words):
    result = check(answer, name=name)
    line = one_line(result)
    assert result.status == "wrong" and line.startswith(f"{name}: wrong: "), line
    for word in words:
        assert word in line, line


def test_each_exercise_has_two_wrong_answers_here_and_in_the_catalogue():
    counts = {name: sum(n == name for n, _, _ in WRONG) for name in NAMES}
    assert min(counts.values()) >= 2, counts
    for exercise in autograd_grading.EXERCISE_LIST:
        assert len(exercise.mistakes) >= 2, exercise.name
        for wrong, explanation in exercise.mistakes:  # each typical mistake is recognized
            line = str(check(wrong, name=exercise.name))
            assert line.endswith(explanation), line


@pytest.mark.parametrize("name", ["ChapterNetwork", "idiomatic_model"])
def test_checking_leaves_torchs_generator_alone(name):
    """Building the answer's layers and its dropout draw from torch's default generator:
    a check in a notebook does not change the notebook's random numbers."""
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    assert check(getattr(solutions, name)).passed
    assert torch.equal(torch.rand(3), expected)
