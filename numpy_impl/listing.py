"""The chapter's two programs as the book runs them: the oracle the tests compare the package
with, and the baseline the benchmark times it against.

Written in the listings' own structure, on purpose: per-batch Python loops that count
correct answers one image at a time, the full 784 pixels, the listings' sign convention
(`labels - layer_2`, `+=`), and a per-image test pass. The only liberties: the RNG is a
`RandomState` passed in (the same stream as `np.random.seed`), and the test pass runs
only on the iterations that are printed (it draws no random numbers and changes nothing).
"""

from __future__ import annotations

import numpy as np


def tanh2deriv(output: np.ndarray) -> np.ndarray:
    return 1 - (output**2)


def relu(x: np.ndarray) -> np.ndarray:
    return (x > 0) * x


def relu2deriv(output: np.ndarray) -> np.ndarray:
    return (output > 0).astype("int")


def softmax(x: np.ndarray) -> np.ndarray:
    temp = np.exp(x)
    return temp / np.sum(temp, axis=1, keepdims=True)


def run_listing(
    listing: str,
    seed: int,
    images: np.ndarray,
    digits: np.ndarray,
    test_images: np.ndarray,
    test_digits: np.ndarray,
    iterations: int,
    log_every: int = 10,
) -> list[tuple[int, float, float]]:
    """(iteration, test accuracy, train accuracy) at each logged iteration of listing
    "tanh" (the book's) or "relu" (the chapter's second). Images are uint8 rows of 784."""
    rng = np.random.RandomState(seed)
    images, test_images = images / 255, test_images / 255
    labels = np.zeros((len(digits), 10))
    for i, digit in enumerate(digits):
        labels[i][digit] = 1
    alpha, hidden_size, batch_size = 2, 100, 100
    if listing == "tanh":
        act, act2deriv = np.tanh, tanh2deriv
        weights_0_1 = 0.02 * rng.random_sample((784, hidden_size)) - 0.01
        weights_1_2 = 0.2 * rng.random_sample((hidden_size, 10)) - 0.1
    else:
        act, act2deriv = relu, relu2deriv
        weights_0_1 = 0.02 * rng.random_sample((784, hidden_size)) - 0.01
        weights_1_2 = 0.02 * rng.random_sample((hidden_size, 10)) - 0.01

    log = []
    for j in range(iterations):
        correct_cnt = 0
        for i in range(len(images) // batch_size):
            batch_start, batch_end = i * batch_size, (i + 1) * batch_size
            layer_0 = images[batch_start:batch_end]
            layer_1 = act(np.dot(layer_0, weights_0_1))
            dropout_mask = rng.randint(2, size=layer_1.shape)
            layer_1 *= dropout_mask * 2
            layer_2 = softmax(np.dot(layer_1, weights_1_2))
            for k in range(batch_size):
                correct_cnt += int(np.argmax(layer_2[k : k + 1])
                                   == np.argmax(labels[batch_start + k : batch_start + k + 1]))
            if listing == "tanh":
                divisor = batch_size * layer_2.shape[0]
            else:
                divisor = batch_size * layer_2.shape[1]
            layer_2_delta = (labels[batch_start:batch_end] - layer_2) / divisor
            layer_1_delta = layer_2_delta.dot(weights_1_2.T) * act2deriv(layer_1)
            layer_1_delta *= dropout_mask
            weights_1_2 += alpha * layer_1.T.dot(layer_2_delta)
            weights_0_1 += alpha * layer_0.T.dot(layer_1_delta)
        if j % log_every == 0:
            test_correct_cnt = 0
            for i in range(len(test_images)):
                layer_2 = act(np.dot(test_images[i : i + 1], weights_0_1)).dot(weights_1_2)
                if listing == "relu":
                    layer_2 = softmax(layer_2)
                test_correct_cnt += int(np.argmax(layer_2) == test_digits[i])
            log.append((j, test_correct_cnt / len(test_images), correct_cnt / len(images)))
    return log
