"""The hand-written derivatives against central finite differences (float64)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from ch9_shared.config import CLASSES, PIXELS, Config
from numpy_impl import activations as act
from numpy_impl.network import Network, backward, forward
from parity_tests.conftest import softmax_vjp

EPS = 1e-6


def gradients(network: Network, layer_0: np.ndarray, labels: np.ndarray,
              dropout_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The directions the network's step moves its weights in, (d weights_0_1,
    d weights_1_2), without moving them: in exact mode dL/d weights of `loss`; in book mode,
    what the listings use."""
    layers, weights_1_2 = network.layers, network.weights_1_2
    layer_1, layer_2 = forward(layers, network.weights_0_1, weights_1_2, layer_0, dropout_mask)
    layer_2_delta, layer_1_delta = backward(layers, weights_1_2, layer_1, layer_2, labels,
                                            dropout_mask)
    return layer_0.T @ layer_1_delta, layer_1.T @ layer_2_delta


def loss(network: Network, layer_0: np.ndarray, labels: np.ndarray,
         dropout_mask: np.ndarray) -> float:
    """The output layer's canonical loss, summed over the batch and divided by D."""
    _, layer_2 = forward(network.layers, network.weights_0_1, network.weights_1_2, layer_0,
                         dropout_mask)
    return network.output.loss(layer_2, labels, network.config.D)


def central_difference(f, x: np.ndarray) -> np.ndarray:
    """d f / d x, entry by entry, for a scalar function f of the array x (changed in place)."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + EPS
        plus = f()
        x[index] = saved - EPS
        minus = f()
        x[index] = saved
        grad[index] = (plus - minus) / (2 * EPS)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b)))


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_hidden_derivative_from_output_is_the_slope(name):
    forward, deriv = act.HIDDEN[name]
    x = np.random.default_rng(0).normal(0, 2, size=(7, 9))
    x[np.abs(x) < 1e-3] = 0.5  # keep clear of relu's kink
    numeric = (forward(x + EPS) - forward(x - EPS)) / (2 * EPS)
    assert relative_error(deriv(forward(x)), numeric) < 1e-8


def test_identity_derivative_is_one():
    x = np.linspace(-3, 3, 12).reshape(3, 4)
    assert np.array_equal(act.identity2deriv(act.identity(x)), np.ones_like(x))


@pytest.mark.parametrize("base", [math.e, 2.0, 5.0])
def test_softmax_vjp_and_fused_delta(base):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, CLASSES))
    grad_output = rng.normal(size=(5, CLASSES))
    labels = np.eye(CLASSES)[rng.integers(CLASSES, size=5)]
    out = act.softmax(x, base)
    assert np.allclose(out.sum(axis=1), 1)
    assert np.allclose(out, np.exp(x * math.log(base)) / np.exp(x * math.log(base)).sum(1)[:, None])
    numeric_vjp = central_difference(lambda: np.sum(grad_output * act.softmax(x, base)), x)
    assert relative_error(softmax_vjp(out, grad_output, base), numeric_vjp) < 1e-8
    loss = lambda: act.cross_entropy(act.softmax(x, base), labels, 7)  # noqa: E731
    numeric_delta = central_difference(loss, x)
    delta = act.softmax_cross_entropy_delta(out, labels, 7, base)
    assert relative_error(delta, numeric_delta) < 1e-8
    # ... and the fused delta is the VJP of the loss's own gradient, -labels / (out D)
    assert np.allclose(delta, softmax_vjp(out, -labels / (out * 7), base))


def small_network(hidden: str, output: str, mode: str, base: float = math.e):
    """A 784 -> 6 -> 10 network on a batch of 4 random images, with a fixed dropout mask."""
    rng = np.random.default_rng(2)
    config = Config(hidden=hidden, output=output, mode=mode, batch_size=4, hidden_size=6,
                    softmax_base=base, divisor="batch*classes")
    network = Network(config, rng.uniform(-0.1, 0.1, (PIXELS, 6)), rng.uniform(-1, 1, (6, CLASSES)))
    layer_0 = rng.uniform(0, 1, (4, PIXELS)) * (rng.uniform(size=(4, PIXELS)) < 0.3)
    labels = np.eye(CLASSES)[[3, 1, 4, 1]]
    dropout_mask = rng.integers(2, size=(4, 6)).astype(float)
    dropout_mask[:, 0] = 1  # at least one kept unit per image
    return network, layer_0, labels, dropout_mask


CASES = [*itertools.product(["relu", "sigmoid", "tanh"], ["softmax", "sigmoid", "identity"]),
         ("tanh", "softmax", 2.0), ("relu", "softmax", 4.0)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_exact_mode_gradients_equal_finite_differences(case):
    network, layer_0, labels, mask = small_network(*case[:2], "exact", *case[2:])
    grad_0_1, grad_1_2 = gradients(network, layer_0, labels, mask)
    of_weights = lambda: loss(network, layer_0, labels, mask)  # noqa: E731
    assert relative_error(grad_1_2, central_difference(of_weights, network.weights_1_2)) < 1e-7
    # rows of weights_0_1 for pixels that are zero in all four images get no gradient at all
    used = np.flatnonzero(layer_0.any(axis=0))[:40]
    rows = network.weights_0_1[used]
    def loss_of_rows() -> float:
        network.weights_0_1[used] = rows
        return of_weights()
    assert relative_error(grad_0_1[used], central_difference(loss_of_rows, rows)) < 1e-7


@pytest.mark.parametrize("hidden", ["relu", "tanh"])
def test_book_mode_hidden_gradient_is_not_the_gradient(hidden):
    """The book's quirk: weights_1_2's direction is exact, weights_0_1's is not."""
    network, layer_0, labels, mask = small_network(hidden, "softmax", "book")
    book_0_1, book_1_2 = gradients(network, layer_0, labels, mask)
    exact = Network(network.config.replace(mode="exact"), network.weights_0_1,
                    network.weights_1_2)
    exact_0_1, exact_1_2 = gradients(exact, layer_0, labels, mask)
    assert relative_error(book_1_2, exact_1_2) < 1e-12
    assert relative_error(book_0_1, exact_0_1) > 0.1
