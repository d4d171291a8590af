"""The chapter's network, faster: the same step on fewer numbers, the same log to the digit.

`FastNetwork` is `Network` (numpy_impl/network.py) with two changes of layout, neither of
them a changed line of the chapter's arithmetic:

- pixel pruning: a pixel that is zero in every image of a batch adds nothing forward and
  gets a zero gradient, so each batch keeps only its other columns (about 500 of 784 for
  MNIST batches of 100), and its step runs `Network.train_step` on a copy of those rows of
  weights_0_1, written back after;
- the test pass, on the test set's nonzero pixels, is computed transposed:
  `(layer_1 @ weights_1_2).T = weights_1_2.T @ hidden(weights_0_1.T @ layer_0.T)`, the
  same numbers, but BLAS runs about twice as fast writing the wide (H, N) result than the
  tall (N, H) one, most of all when `layer_0` is the transpose of a C-ordered array.

The loop (ch9_shared/loop.py) adds the rest of the speed: one BLAS thread, and each test
pass on a second thread (ch9_shared/threads.py). parity_tests/chapter/test_book_log.py
holds this step equal to the chapter's.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ch9_shared.config import CLASSES
from ch9_shared.loop import TestPass
from numpy_impl.network import Network, test_pass


@dataclass(frozen=True)
class PrunedBatch:
    """One fixed mini-batch, its all-zero pixel columns dropped once, up front."""

    pixels: np.ndarray  # the columns of the 784 that are not zero in every image of the batch
    layer_0: np.ndarray  # (B, len(pixels)) pixel values / 255
    labels: np.ndarray  # (B, classes) one-hot
    digits: np.ndarray  # (B,) the labels as digits, to count correct answers


class FastNetwork(Network):
    """The chapter's network on each batch's nonzero pixels, its test pass transposed."""

    def layout_test(self, images: np.ndarray) -> np.ndarray:
        """The test set's nonzero pixels, / 255, stored transposed (`predict` runs fastest
        on that layout)."""
        self.test_pixels = np.flatnonzero(images.any(axis=0))
        return np.ascontiguousarray(images[:, self.test_pixels].T / 255, self.config.dtype).T

    def layout_batches(self, images: np.ndarray, digits: np.ndarray) -> list[PrunedBatch]:
        """The batches of `Network.layout_batches`, each without the pixel columns that are
        zero in all of its images."""
        config, dtype = self.config, np.dtype(self.config.dtype)
        found = []
        for start in range(0, config.train_size - config.batch_size + 1, config.batch_size):
            end = start + config.batch_size
            pixels = np.flatnonzero(images[start:end].any(axis=0))
            found.append(PrunedBatch(pixels, (images[start:end, pixels] / 255).astype(dtype),
                                     np.eye(CLASSES, dtype=dtype)[digits[start:end]],
                                     digits[start:end]))
        return found

    def step(self, batch: PrunedBatch, dropout_mask: np.ndarray, logged: bool
             ) -> tuple[int, float]:
        """The chapter's step on the rows of weights_0_1 that the batch's pixels meet."""
        weights_0_1 = self.weights_0_1
        self.weights_0_1 = weights_0_1[batch.pixels]
        try:
            return super().step(batch, dropout_mask, logged)
        finally:
            weights_0_1[batch.pixels] = self.weights_0_1
            self.weights_0_1 = weights_0_1

    def predict(self, layer_0: np.ndarray) -> np.ndarray:
        """The chapter's test pass, transposed (see the module's docstring)."""
        layer_1_t = self.hidden(self.weights_0_1.T @ layer_0.T)
        return (self.weights_1_2.T @ layer_1_t).T

    def test_pass(self) -> TestPass:
        copy = FastNetwork(self.config, self.weights_0_1[self.test_pixels],
                           self.weights_1_2.copy())
        return functools.partial(test_pass, copy, self.test_layer_0, self.test_labels,
                                 self.test_digits)

