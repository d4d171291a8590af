"""The chapter, reproduced: the book's published log to the last digit, and the ReLU listing."""

from __future__ import annotations

import numpy as np
import pytest

from ch9_shared.close import STEP_DEPTH, run_depth
from ch9_shared.config import PRESETS
from ch9_shared.loop import State, dropout_masks, initial_weights, train
from numpy_impl import listing as book
from numpy_impl.fast import FastNetwork
from numpy_impl.network import Network
from parity_tests.conftest import REFERENCE_LOG, assert_close, first_test_images


@pytest.mark.xdist_group("book_run")  # one run of the default command for both
def test_train_py_defaults_print_the_books_log_exactly(book_run):
    result = book_run
    assert result.returncode == 0, result.stderr
    assert result.stdout == REFERENCE_LOG.read_text(encoding="utf-8")
    assert "I:" not in result.stderr  # the summary goes to stderr, the log only to stdout


def logged(config, dataset, model=FastNetwork) -> list[tuple[int, float, float]]:
    lines = []
    train(model(config), dataset, lambda r: lines.append(
        (r.iteration, r.test_correct / r.test_size, r.train_correct / r.train_size)))
    return lines


def listing(name, seed, dataset, iterations):
    return book.run_listing(name, seed, dataset.train_images, dataset.train_labels,
                       dataset.test_images, dataset.test_labels, iterations)


@pytest.mark.parametrize(("seed", "test_size"), [(1, 10000), (2, 2000), (4_000_000_000, 2000)])
def test_relu_preset_reproduces_the_relu_listing(seed, test_size, dataset):
    """The chapter's seed on all 10000 test images; other seeds on 2000 (the listing tests
    one image at a time, which is most of its minute)."""
    data = first_test_images(dataset, test_size)
    config = PRESETS["relu"].replace(seed=seed)
    assert logged(config, data) == listing("relu", seed, data, config.iterations)


@pytest.mark.parametrize("seed", [0, 3])
def test_tanh_preset_reproduces_the_books_listing_for_other_seeds(seed, dataset):
    config = PRESETS["tanh"].replace(seed=seed, iterations=21)
    assert logged(config, dataset) == listing("tanh", seed, dataset, 21)


def test_the_oracle_itself_prints_the_published_log_start(dataset):
    """The listing oracle agrees with the book's own printed figures (first 2 lines)."""
    expected = REFERENCE_LOG.read_text(encoding="utf-8").splitlines()[:2]
    got = [f"I:{j} Test-Acc:{test} Train-Acc:{train}"
           for j, test, train in listing("tanh", 1, dataset, 11)]
    assert got == expected


def test_dropout_masks_are_the_listings_draws_and_leave_the_stream_where_they_do():
    """One iteration's int32 masks: the listings' int64 `randint(2, size=(B, H))`, batch by
    batch, value for value, and the generator left in the same state."""
    config = PRESETS["tanh"].replace(seed=7)
    ours, theirs = np.random.RandomState(7), np.random.RandomState(7)
    masks = dropout_masks(ours, config)
    listings = [theirs.randint(2, size=(100, 100)) for _ in range(10)]
    assert masks.shape == (10, 100, 100) and set(np.unique(masks)) == {0, 1}
    np.testing.assert_array_equal(masks, np.stack(listings))
    assert ours.random_sample() == theirs.random_sample()


@pytest.mark.parametrize("preset", ["tanh", "relu"])
def test_one_book_step_is_the_listings_arithmetic_tensor_by_tensor(preset, dataset):
    """Beyond the printed digits: every tensor of a step, against the listing's lines
    (which use `labels - layer_2` and `+=`, so the deltas come out negated)."""
    config = PRESETS[preset].replace(seed=5)
    rng = np.random.RandomState(config.seed)
    weights_0_1, weights_1_2 = initial_weights(rng, config)
    network = Network(config)
    network.start(State(weights_0_1.copy(), weights_1_2.copy()), dataset)
    batch = network.batches[3]
    dropout_mask = rng.randint(2, size=(100, 100))
    step = network.train_step(batch.layer_0, batch.labels, dropout_mask.astype(float))

    act, act2deriv = (np.tanh, book.tanh2deriv) if preset == "tanh" else (book.relu,
                                                                          book.relu2deriv)
    layer_0 = dataset.train_images[300:400] / 255
    layer_1 = act(np.dot(layer_0, weights_0_1))
    layer_1 *= dropout_mask * 2
    layer_2 = book.softmax(np.dot(layer_1, weights_1_2))
    layer_2_delta = (batch.labels - layer_2) / config.D
    layer_1_delta = layer_2_delta.dot(weights_1_2.T) * act2deriv(layer_1)
    layer_1_delta *= dropout_mask
    weights_1_2 += 2 * layer_1.T.dot(layer_2_delta)
    weights_0_1 += 2 * layer_0.T.dot(layer_1_delta)

    for name, ours, theirs in [
        ("layer_1", step.layer_1, layer_1), ("layer_2", step.layer_2, layer_2),
        ("layer_2_delta", step.layer_2_delta, -layer_2_delta),
        ("layer_1_delta", step.layer_1_delta, -layer_1_delta),
        ("weights_1_2", network.weights_1_2, weights_1_2),
        ("weights_0_1", network.weights_0_1, weights_0_1),
    ]:
        assert_close(ours, theirs, name, STEP_DEPTH)


@pytest.mark.parametrize(("preset", "mode", "dtype"), [("tanh", "book", "float64"),
                                                        ("relu", "exact", "float32")])
def test_the_fast_step_is_the_chapters_step(preset, mode, dtype, dataset):
    """numpy_impl/fast.py (pixel pruning, the transposed test pass) against the chapter's
    step on whole matrices (numpy_impl/network.py): the same log, and the same weights to
    rounding (a product over fewer columns may add in another order)."""
    config = PRESETS[preset].replace(mode=mode, dtype=dtype, iterations=21)
    chapter, fast = Network(config), FastNetwork(config)
    assert logged(config, dataset, lambda _: chapter) == logged(config, dataset, lambda _: fast)
    for name in ("weights_0_1", "weights_1_2"):
        assert_close(getattr(fast, name), getattr(chapter, name), name,
                     run_depth(config.iterations * 10))


def test_the_fast_step_check_catches_a_step_that_is_not_the_chapters(dataset, monkeypatch):
    """A mutant: the fast step skips the write-back of the pruned rows of weights_0_1."""
    config = PRESETS["tanh"].replace(iterations=11)
    expected = logged(config, dataset, Network)

    def no_write_back(self, batch, dropout_mask, logged):
        weights_0_1 = self.weights_0_1
        self.weights_0_1 = weights_0_1[batch.pixels]
        try:
            return Network.step(self, batch, dropout_mask, logged)
        finally:
            self.weights_0_1 = weights_0_1

    monkeypatch.setattr(FastNetwork, "step", no_write_back)
    assert logged(config, dataset) != expected
