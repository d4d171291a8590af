"""The chapter's network, faster: the same step on fewer numbers, the same log to the digit.

`FastNetwork` is `Network` (numpy_impl/network.py) with two changes of layout, neither of
them a changed line of the chapter's arithmetic:

- pixel pruning: a pixel that is zero in every image of a batch adds nothing forward and
  gets a zero gradient, so each batch keeps only its other columns (about 500 of 784 for
  MNIST batches of 100), and its step hands the chapter's `train_step` a copy of those rows
  of weights_0_1, and writes them back after;
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

from ch9_shared.loop import TestPass
from numpy_impl.network import Batch, Network, test_pass, train_step


@dataclass(frozen=True)
class PrunedBatch(Batch):
    """One fixed mini-batch, its all-zero pixel columns dropped once, up front: layer_0 is
    (B, len(pixels))."""

    pixels: np.ndarray  # the columns of the 784 that are not zero in every image of the batch


class FastNetwork(Network):
    """The chapter's network on each batch's nonzero pixels, its test pass transposed."""

    def layout_test(self, images: np.ndarray) -> np.ndarray:
        """The test set's nonzero pixels, / 255, stored transposed (`predict` runs fastest
        on that layout)."""
        self.test_pixels = np.flatnonzero(images.any(axis=0))
        return np.ascontiguousarray(images[:, self.test_pixels].T / 255, self.config.dtype).T

    def batch(self, images: np.ndarray, digits: np.ndarray) -> PrunedBatch:
        """The chapter's batch without the pixel columns that are zero in all of its images."""
        pixels = np.flatnonzero(images.any(axis=0))
        return PrunedBatch(**vars(super().batch(images[:, pixels], digits)), pixels=pixels)

    def step(self, batch: PrunedBatch, dropout_mask: np.ndarray, logged: bool
             ) -> tuple[int, float]:
        """The chapter's step on the rows of weights_0_1 that the batch's pixels meet."""
        rows = self.weights_0_1[batch.pixels]
        step = train_step(self.layers, rows, self.weights_1_2, self.config.alpha,
                          batch.layer_0, batch.labels, dropout_mask)
        self.weights_0_1[batch.pixels] = rows
        return self.scored(step, batch, logged)

    def predict(self, layer_0: np.ndarray) -> np.ndarray:
        """The chapter's test pass, transposed (see the module's docstring)."""
        layer_1_t = self.layers.hidden(self.weights_0_1.T @ layer_0.T)
        return (self.weights_1_2.T @ layer_1_t).T

    def test_pass(self) -> TestPass:
        copy = FastNetwork(self.config, self.weights_0_1[self.test_pixels],
                           self.weights_1_2.copy())
        return functools.partial(test_pass, copy, self.test_layer_0, self.test_labels,
                                 self.test_digits)

