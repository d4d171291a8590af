"""The chapter, reproduced: the book's published log to the last digit, and the ReLU listing."""

from __future__ import annotations

import pytest

from numpy_impl.config import PRESETS
from numpy_impl.train import train
from parity_tests.conftest import REFERENCE_LOG, run
from parity_tests.listing import run_listing


def test_train_py_defaults_print_the_books_log_exactly():
    result = run(["scripts/train.py"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == REFERENCE_LOG.read_text()
    assert "I:" not in result.stderr  # the summary goes to stderr, the log only to stdout


def logged(config, dataset) -> list[tuple[int, float, float]]:
    lines = []
    train(config, dataset, lambda r: lines.append(
        (r.iteration, r.test_correct / r.test_size, r.train_correct / r.train_size)))
    return lines


def listing(name, seed, dataset, iterations):
    return run_listing(name, seed, dataset.train_images, dataset.train_labels,
                       dataset.test_images, dataset.test_labels, iterations)


@pytest.mark.parametrize("seed", [1, 2, 4_000_000_000])
def test_relu_preset_reproduces_the_relu_listing(seed, dataset):
    config = PRESETS["relu"].replace(seed=seed)
    assert logged(config, dataset) == listing("relu", seed, dataset, config.iterations)


@pytest.mark.parametrize("seed", [0, 3])
def test_tanh_preset_reproduces_the_books_listing_for_other_seeds(seed, dataset):
    config = PRESETS["tanh"].replace(seed=seed, iterations=21)
    assert logged(config, dataset) == listing("tanh", seed, dataset, 21)


def test_the_oracle_itself_prints_the_published_log_start(dataset):
    """The listing oracle agrees with the book's own printed figures (first 2 lines)."""
    expected = REFERENCE_LOG.read_text().splitlines()[:2]
    got = [f"I:{j} Test-Acc:{test} Train-Acc:{train}"
           for j, test, train in listing("tanh", 1, dataset, 11)]
    assert got == expected
