"""NumPy by hand against torch autograd, tensor by tensor: activations, derivatives from the
output, one whole update, and the book's quirk accounted for by its formula. Every
comparison is ch9_shared/close.py's, scaled to the tensor and to its dtype."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from parity_tests.conftest import NEEDS_TORCH

torch = pytest.importorskip("torch", reason=NEEDS_TORCH)

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ch9_shared.close import STEP_DEPTH, compare
from ch9_shared.config import CLASSES, PRESETS
from numpy_impl import activations as act
from numpy_impl.network import book_slope_error
from parity_tests.conftest import DEVICES, assert_close, float64_on, softmax_vjp
from torch_impl import activations as torch_act
from torch_impl.parity import FirstStep, first_step_both_sides, percent, step_rows

HIDDEN = ["relu", "sigmoid", "tanh"]
OUTPUTS = ["softmax", "sigmoid", "identity"]
BASES = [math.e, 2.0, 5.0]

TORCH_FORWARD = {
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "identity": lambda x: x,
}
NUMPY_FORWARD = {"relu": act.relu, "sigmoid": act.sigmoid, "tanh": act.tanh,
                 "identity": act.identity}
NUMPY_DERIV = {"relu": act.relu2deriv, "sigmoid": act.sigmoid2deriv, "tanh": act.tanh2deriv,
               "identity": act.identity2deriv}

EXTREMES = np.array([-1e308, -1e4, -750.0, -710.0, -40.0, -1.0, -1e-300, -0.0, 0.0, 1e-300,
                     1e-8, 0.5, 1.0, 20.0, 40.0, 709.0, 710.0, 750.0, 1e4, 1e308])


def close(numpy_value: np.ndarray, torch_value: torch.Tensor, depth: float = 1) -> None:
    """torch's value against the NumPy side's, under the project's tolerance (numpy and
    torch use different libms, so even elementwise functions differ in the last bits)."""
    assert_close(torch_value, numpy_value, depth=depth)


# 1. Activations, forward --------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(NUMPY_FORWARD))
def test_activation_forward_on_extremes(name, dtype):
    """Entry by entry: each extreme is judged against its own size."""
    x = EXTREMES[np.abs(EXTREMES) < np.finfo(dtype).max].astype(dtype)
    expected, actual = NUMPY_FORWARD[name](x), TORCH_FORWARD[name](torch.from_numpy(x))
    for i in range(len(x)):
        close(expected[i:i + 1], actual[i:i + 1])


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    name=st.sampled_from(list(NUMPY_FORWARD)),
    dtype=st.sampled_from(["float64", "float32"]),
    x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=12),
                 elements=st.floats(-60, 60, allow_subnormal=False)),
)
def test_activation_forward_property(name, dtype, x):
    x = x.astype(dtype)
    close(NUMPY_FORWARD[name](x), TORCH_FORWARD[name](torch.from_numpy(x)))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    base=st.sampled_from(BASES),
    dtype=st.sampled_from(["float64", "float32"]),
    x=hnp.arrays(np.float64, st.tuples(st.integers(1, 8), st.integers(2, 12)),
                 elements=st.floats(-300, 300)),
)
def test_softmax_forward_property(base, dtype, x):
    """Shifted by each row's max (which softmax ignores), as torch does internally. exp(z)
    turns the last-bit rounding of z into a relative error of about |z| eps: a tiny
    probability is judged against the tensor's scale, not its own size."""
    x = x.astype(dtype)
    expected = act.softmax(x - x.max(axis=1, keepdims=True), base)
    actual = torch.softmax(torch.from_numpy(x) * math.log(base), dim=1)
    close(expected, actual, depth=4)


def test_book_softmax_overflows_where_torch_does_not():
    """The listings' softmax exponentiates the raw logits: above ~709 that is inf/inf = nan,
    while torch (and exact mode) subtract the row's max first. A difference parity finds,
    explained: book mode keeps the book's formula so that its log stays the book's."""
    x = np.array([[710.0, 0.0, -5.0]])
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isnan(act.softmax(x)).any()
    shifted = act.softmax(x - x.max(axis=1, keepdims=True))
    close(shifted, torch.softmax(torch.from_numpy(x), dim=1), depth=4)


# 2. Derivatives from the output ------------------------------------------------------------

def autograd_slope(name: str, x: np.ndarray) -> torch.Tensor:
    x_t = torch.from_numpy(x).requires_grad_()
    out = TORCH_FORWARD[name](x_t)
    (grad,) = torch.autograd.grad(out, x_t, grad_outputs=torch.ones_like(out))
    return grad


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(NUMPY_DERIV))
def test_derivative_from_output_equals_autograd_and_finite_differences(name, dtype):
    x = np.random.default_rng(3).normal(0, 3, size=(6, 7))
    x[0, :3] = [0.0, -40.0, 40.0]  # the relu kink, and sigmoid/tanh saturating
    x = x.astype(dtype)
    from_output = NUMPY_DERIV[name](NUMPY_FORWARD[name](x))
    close(from_output, autograd_slope(name, x), depth=2)
    if dtype == "float64":  # a third opinion, away from the kink
        x64, eps = x[1:], 1e-6
        numeric = (NUMPY_FORWARD[name](x64 + eps) - NUMPY_FORWARD[name](x64 - eps)) / (2 * eps)
        np.testing.assert_allclose(from_output[1:], numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_side_derivatives_equal_the_numpy_ones(dtype):
    """torch_impl's table, used by BookHidden, is the NumPy table."""
    out = np.random.default_rng(4).uniform(-1, 1, size=(5, 6)).astype(dtype)
    for name, activation in torch_act.HIDDEN.items():
        close(NUMPY_DERIV[name](out), activation.deriv(torch.from_numpy(out)))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("base", BASES)
def test_softmax_vjp_and_fused_delta_equal_autograd(base, dtype):
    rng = np.random.default_rng(5)
    x = rng.normal(0, 2, size=(4, CLASSES)).astype(dtype)
    grad_output = rng.normal(size=(4, CLASSES)).astype(dtype)
    labels = np.eye(CLASSES, dtype=dtype)[[1, 7, 7, 0]]
    out = act.softmax(x, base)

    x_t = torch.from_numpy(x).requires_grad_()
    out_t = torch.softmax(x_t * math.log(base), dim=1)
    (vjp_t,) = torch.autograd.grad(out_t, x_t, grad_outputs=torch.from_numpy(grad_output))
    close(softmax_vjp(out, grad_output, base), vjp_t, depth=4)

    loss = torch.nn.functional.cross_entropy(x_t * math.log(base), torch.from_numpy(labels),
                                             reduction="sum") / 40
    (delta_t,) = torch.autograd.grad(loss, x_t)
    close(act.softmax_cross_entropy_delta(out, labels, 40, base), delta_t, depth=4)


# 3. One update, every tensor ----------------------------------------------------------------

def assert_same_update(first: FirstStep) -> None:
    """Every tensor of the step, by hand and by autograd, and both updated matrices."""
    rows = step_rows(first)
    assert all(row.close for row in rows), "\n".join(map(str, rows))


CASES = [*itertools.product(HIDDEN, OUTPUTS, ["book", "exact"])]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("hidden", "output", "mode"), CASES)
def test_one_update_every_tensor(hidden, output, mode, dtype, device, dataset):
    """torch's step on the device (CUDA's matmuls sum in another order than the CPU's)."""
    float64_on(device, dtype)
    config = PRESETS["relu" if hidden == "relu" else "tanh"].replace(
        hidden=hidden, output=output, mode=mode, dtype=dtype, seed=7)
    assert_same_update(first_step_both_sides(config, dataset, device))


@pytest.mark.parametrize("mode", ["book", "exact"])
def test_one_update_with_another_softmax_base(mode, dataset):
    config = PRESETS["tanh"].replace(mode=mode, softmax_base=2.0, seed=8)
    assert_same_update(first_step_both_sides(config, dataset))


# 5. The quirk, explained -------------------------------------------------------------------

@pytest.mark.parametrize("hidden", HIDDEN)
def test_book_and_exact_differ_exactly_as_the_formula_predicts(hidden, dataset):
    """Same weights, batch and mask: weights_1_2 moves identically in both modes; the
    difference in layer_1_delta (so in weights_0_1's update) is book_slope_error's formula."""
    config = PRESETS["tanh"].replace(hidden=hidden, seed=9)
    book = first_step_both_sides(config, dataset)
    exact = first_step_both_sides(config.replace(mode="exact"), dataset)
    assert torch.equal(book.model.weights_1_2.weight, exact.model.weights_1_2.weight)
    assert_close(book.network.weights_1_2, exact.network.weights_1_2, "weights_1_2", STEP_DEPTH)
    assert not compare("weights_0_1", book.network.weights_0_1, exact.network.weights_0_1,
                       STEP_DEPTH).close

    t = book.step.layer_1 / 2  # each kept unit's output before dropout doubled it
    predicted = ((book.step.layer_2_delta @ book.weights_1_2.T) * book.dropout_mask
                 * book_slope_error(hidden, t))
    assert_close(book.step.layer_1_delta - exact.step.layer_1_delta, predicted,
                 "numpy book - exact", STEP_DEPTH)
    assert_close(book.torch_step.layer_1_delta - exact.torch_step.layer_1_delta, predicted,
                 "torch book - exact", STEP_DEPTH)


def test_book_tanh_slope_has_the_wrong_sign_beyond_one_half():
    """docs/design.md's claim: for a kept tanh unit the book's slope 1 - (2t)**2 is about half the
    true 2 (1 - t**2) near 0, and of the opposite sign exactly where |t| > 0.5."""
    t = (np.arange(-999, 999) + 0.5) / 1000  # -0.9985 ... 0.9985, never exactly 0.5
    book, true = act.tanh2deriv(2 * t), 2 * act.tanh2deriv(t)
    np.testing.assert_array_equal(np.sign(book) != np.sign(true), np.abs(t) > 0.5)
    near_zero = np.abs(t) < 0.01
    np.testing.assert_allclose(book[near_zero] / true[near_zero], 0.5, rtol=1e-3)



def test_the_table_writes_a_share_of_the_tolerance_plainly():
    assert [percent(used) for used in (0.00035, 0.015, 1.5, 12)] == \
        ["0.035%", "1.5%", "150%", ">999%"]
