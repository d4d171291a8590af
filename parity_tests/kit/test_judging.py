"""The judging engine against answers that try to pass without computing, and the lines
that used to mislead: the same verdict every run and in any thread (issue 30, item 1),
the torch track's memorizing answers (item 2; the NumPy track's are in
test_memorizing.py), a graph cut in a module (item 3), dropout drawn by the answer
(item 9), and named lines (item 10), each in both dtypes."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from parity_tests.conftest import NEEDS_TORCH

torch = pytest.importorskip("torch", reason=NEEDS_TORCH)

from torch import nn

from exercises import autograd_solutions as solutions
from exercises import check
from exercises.runner import Limits, grade_file
from parity_tests.kit.conftest import line_of, one_line, wrong_line

DTYPES = ["float64", "float32"]


# Item 1: the same verdict, in any thread, beside any draw from torch's generator.

class HandDropout(nn.Module):
    """Dropout written by hand: keeps a unit where `keep(torch.rand_like(x))`, scales the
    kept by `scale`."""

    def __init__(self, keep, scale=2.0):
        super().__init__()
        self.keep, self.scale = keep, scale

    def forward(self, x):
        if not self.training:
            return x
        return x * self.keep(torch.rand_like(x)) * self.scale


def idiomatic(*middle, lr=None):
    def idiomatic_model(hidden_size, alpha, batch_size, D):
        model = nn.Sequential(nn.Linear(784, hidden_size, bias=False), *middle,
                              nn.Linear(hidden_size, 10, bias=False))
        return model, alpha * batch_size / D if lr is None else lr
    return idiomatic_model


LR_IS_ALPHA = idiomatic(nn.Tanh(), nn.Dropout(0.5), lr=2.0)


def test_the_same_lines_in_many_threads_beside_a_thread_that_draws():
    """Eight threads check the same answers while another draws from torch's global
    generator (seeding it, building layers): every thread gets the lines one thread gets."""
    answers = [(solutions.idiomatic_model, "idiomatic_model"), (LR_IS_ALPHA, "idiomatic_model"),
               (solutions.ChapterNetwork, "ChapterNetwork")]
    alone = [str(check(answer, name=name)) for answer, name in answers]
    stop = threading.Event()

    def draw():
        while not stop.is_set():
            torch.manual_seed(7)
            nn.Linear(784, 100)
            torch.rand(100, 100)

    drawing = threading.Thread(target=draw)
    drawing.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            lines = list(pool.map(lambda i: [str(check(answer, name=name))
                                             for answer, name in answers], range(16)))
    finally:
        stop.set()
        drawing.join()
    assert all(got == alone for got in lines), ({tuple(got) for got in lines}, alone)
    assert alone[0].startswith("idiomatic_model: passed") and "it is alpha" in alone[1]


DRAWN = {"right": solutions.idiomatic_model, "it is alpha": LR_IS_ALPHA,
         "keeps 90%": idiomatic(nn.Tanh(), HandDropout(lambda r: r < 0.9, 1 / 0.9)),
         "p = 0.3": idiomatic(nn.Tanh(), nn.Dropout(0.3)),
         "tanh of dropout": idiomatic(nn.Dropout(0.5), nn.Tanh()),
         "not doubled": idiomatic(nn.Tanh(), HandDropout(lambda r: r > 0.5, 1.0))}


def test_the_same_lines_when_another_thread_draws_between_the_seed_and_the_dropout(monkeypatch):
    """The run seeds torch's global generator, then the answer's dropout draws from it; a
    thread that does not hold TORCH_RNG (a notebook's, a test's) may draw in between, so
    that the answer draws another mask than the seed's. Each line is the same: none holds a
    figure of the mask drawn, and a typical mistake is still named."""
    alone = {case: str(check(answer, name="idiomatic_model")) for case, answer in DRAWN.items()}
    seed = torch.manual_seed

    def seed_then_another_thread_draws(value):
        made = seed(value)
        other = threading.Thread(target=lambda: (seed(7), torch.rand(100, 100)))
        other.start()
        other.join()
        return made

    monkeypatch.setattr(torch, "manual_seed", seed_then_another_thread_draws)
    drawn = {case: str(check(answer, name="idiomatic_model")) for case, answer in DRAWN.items()}
    assert drawn == alone
    assert "dropout comes before tanh" in alone["tanh of dropout"]


AUTOGRAD_FILE = Path(solutions.__file__).read_text(encoding="utf-8")
WRONG_LR = AUTOGRAD_FILE.replace("return model, alpha * batch_size / D", "return model, alpha")


def test_identical_copies_graded_at_once_get_identical_grades(tmp_path):
    """Four byte-identical copies of a right file and four of a wrong one, graded four at
    a time in child processes: each copy gets the same lines as its twins."""
    paths = []
    for i in range(4):
        for kind, text in (("right", AUTOGRAD_FILE), ("wrong", WRONG_LR)):
            path = tmp_path / f"{kind}_{i}.py"
            path.write_text(text, encoding="utf-8")
            paths.append(path)
    with ThreadPoolExecutor(4) as pool:
        grades = list(pool.map(lambda path: grade_file(path, Limits()), paths))
    lines = {kind: {tuple(str(r) for r in graded.results) for graded in grades
                    if graded.path.name.startswith(kind)} for kind in ("right", "wrong")}
    assert len(lines["right"]) == 1 and len(lines["wrong"]) == 1, lines
    (right,), (wrong,) = lines["right"], lines["wrong"]
    assert all(": passed" in line for line in right), right
    assert any(line.startswith("idiomatic_model: wrong: lr ") and "it is alpha" in line
               for line in wrong), wrong


# Item 2: memorizing fails, with a line that says what is wrong (the NumPy track's
# answers: test_memorizing.py).

@pytest.mark.parametrize("dtype", DTYPES)
def test_a_memorizing_torch_answer_fails(dtype):
    cache = {}

    def manual_layer_1_delta(layer_2_delta, weight_1_2, layer_1, dropout_mask):
        result = solutions.manual_layer_1_delta(layer_2_delta, weight_1_2, layer_1, dropout_mask)
        return cache.setdefault(tuple(result.shape), result)
    wrong_line(check(manual_layer_1_delta, dtype),
               "does not change with layer_2_delta, weight_1_2, layer_1 or dropout_mask")


def test_the_memorizing_file_fails_in_the_child_too(tmp_path):
    """The file cache as a student hands it in: graded in child processes, it fails."""
    store = tmp_path / "store.npy"
    text = (f"import numpy as np\nfrom pathlib import Path\nSTORE = Path({str(store)!r})\n"
            "def tanh2deriv(output):\n    if STORE.exists():\n        return np.load(STORE)\n"
            "    np.save(STORE, 1 - output**2)\n    return 1 - output**2\n")
    path = tmp_path / "memorizer.py"
    path.write_text(text, encoding="utf-8")
    results = {result.name: result for result in grade_file(path).results}
    wrong_line(results["tanh2deriv"], "does not change with output")


# Item 3: the gradients of a module, and a cut graph named.

class CutGraph(nn.Module):
    def __init__(self, pixels, hidden_size, classes):
        super().__init__()
        self.weights_0_1 = nn.Linear(pixels, hidden_size, bias=False)
        self.weights_1_2 = nn.Linear(hidden_size, classes, bias=False)

    def forward(self, layer_0, dropout_mask):
        layer_1 = torch.tanh(self.weights_0_1(layer_0)).data * dropout_mask * 2
        return layer_1, self.weights_1_2(layer_1)


class HalfGradient(solutions.ChapterNetwork):
    """Right values, but half the gradient reaches weights_0_1."""

    def forward(self, layer_0, dropout_mask):
        hidden_input = self.weights_0_1(layer_0)
        hidden_input = hidden_input / 2 + (hidden_input / 2).detach()
        layer_1 = torch.tanh(hidden_input) * dropout_mask * 2
        return layer_1, self.weights_1_2(layer_1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_module_that_cuts_the_graph_is_named(dtype):
    wrong_line(check(CutGraph, dtype, name="ChapterNetwork"),
               "weights_0_1.weight.grad (as weights_0_1) is None after loss.backward()",
               "no gradient reaches self.weights_0_1", ".data, .detach()")


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_module_whose_gradient_is_off_fails_on_its_gradient(dtype):
    wrong_line(check(HalfGradient, dtype, name="ChapterNetwork"),
               "weights_0_1.weight.grad (as weights_0_1) is off by a factor of about 0.5")


# Item 9: dropout judged by the mask the answer drew.

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keep", [lambda r: r > 0.5, lambda r: r < 0.5], ids=[">", "<"])
def test_a_hand_written_dropout_passes_whichever_half_it_keeps(keep, dtype):
    answer = idiomatic(nn.Tanh(), HandDropout(keep))
    result = check(answer, dtype, name="idiomatic_model")
    assert result.passed, str(result)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_dropout_that_keeps_nine_units_in_ten_fails(dtype):
    answer = idiomatic(nn.Tanh(), HandDropout(lambda r: r < 0.9, 1 / 0.9))
    wrong_line(check(answer, dtype, name="idiomatic_model"),
               "keeps more than 54.3% of the hidden units in train mode",
               "its probability of dropping a unit is not the chapter's 1/2")


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_dropout_that_does_not_double_fails(dtype):
    answer = idiomatic(nn.Tanh(), HandDropout(lambda r: r > 0.5, 1.0))
    wrong_line(check(answer, dtype, name="idiomatic_model"),
               "multiplies the units its dropout keeps by 1,",
               "where the chapter's inverted dropout doubles them")


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_in_the_wrong_place_is_still_named(dtype):
    answer = idiomatic(nn.Dropout(0.5), nn.Tanh())
    wrong_line(check(answer, dtype, name="idiomatic_model"),
               "layer_1 in train mode", "dropout comes before tanh")


# Item 10: named lines.

@pytest.mark.parametrize("dtype", DTYPES)
def test_a_product_that_fits_only_because_b_equals_h_is_named(dtype):
    def layer_1_delta(layer_2_delta, weights_1_2, layer_1, dropout_mask):
        return (layer_2_delta @ weights_1_2.T).T * (1 - (layer_1 / 2) ** 2) * dropout_mask * 2
    wrong_line(check(layer_1_delta, dtype), "with 20 images and 30 hidden units",
               "fits only because the chapter's first step has as many images as hidden units")
    line = wrong_line(check(lambda w, x, d, alpha: w - alpha * x @ d, dtype,
                            name="weights_1_2_update"),
                      "the product pairs the wrong axes of layer_1 and layer_2_delta")
    assert "fits only because" in line, line


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_leak_of_a_less_precise_dtype_is_named(dtype):
    lower = {"float64": "float32", "float32": "float16"}[dtype]

    def layer_1_delta(layer_2_delta, weights_1_2, layer_1, dropout_mask):
        slope = (1 - (layer_1 / 2) ** 2).astype(lower)  # tanh2deriv leaking `lower`
        return layer_2_delta @ weights_1_2.T * slope * dropout_mask * 2
    line = wrong_line(check(layer_1_delta, dtype), f"is only as precise as {lower}")
    assert "factor" not in line, line


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_shape_error_is_called_one(dtype):
    def weights_0_1_update(weights_0_1, layer_0, layer_1_delta, alpha):
        return weights_0_1 - alpha * layer_0 @ layer_1_delta
    line = wrong_line(check(weights_0_1_update, dtype), "it raised a shape error",
                      "the product pairs the wrong axes of layer_0 and layer_1_delta")
    assert "fit only because" not in line and "fits only because" not in line, line

    def layer_1_delta(layer_2_delta, weights_1_2, layer_1, dropout_mask):
        return layer_2_delta @ weights_1_2.T * (1 - (layer_1 / 2) ** 2)[:, :10]
    assert one_line(check(layer_1_delta, dtype)) == (
        "layer_1_delta: wrong: it raised a shape error: arrays of shapes (100,100) and "
        "(100,10) cannot be combined entry by entry (broadcast): are both the tensors you "
        f"meant, the right way round? ({__file__}, line {line_of(layer_1_delta)}: return "
        "layer_2_delta @ weights_1_2.T * (1 - (layer_1 / 2) ** 2)[:, :10])")


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_hard_coded_learning_rate_is_told_as_one(dtype):
    def train_step(network, optimizer, layer_0, labels, dropout_mask, D):
        optimizer.zero_grad()
        _, _, logits = network(layer_0, dropout_mask)
        loss = solutions.softmax_loss(logits, labels, D)
        loss.backward()
        with torch.no_grad():
            for weight in network.parameters():
                weight -= 2 * weight.grad
        return loss
    line = wrong_line(check(train_step, dtype), "learning rate",
                      "a rate of its own, written in, where the optimizer it is given")
    assert "does not change with optimizer" not in line, line


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_torch_shape_error_is_in_words(dtype):
    def softmax_loss(logits, labels, D):
        return (logits @ labels).sum() / D
    assert one_line(check(softmax_loss, dtype)) == (
        "softmax_loss: wrong: it raised a shape error: a matrix product's shapes do not fit: "
        f"(100, 10) @ (100, 10) (a .T missing, or one too many?) ({__file__}, line "
        f"{line_of(softmax_loss)}: return (logits @ labels).sum() / D)")
