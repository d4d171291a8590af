"""Answers of the NumPy track that try to pass by memorizing (issue 30, item 2): a cache by
shape, a result saved to a file, the first value of an argument kept; each fails, with a
line that says what is wrong, in both dtypes. The torch track's are in test_judging.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exercises import backprop_solutions, check
from parity_tests.kit.conftest import wrong_line

DTYPES = ["float64", "float32"]


def shape_cache(solution):
    """The solution's first result for each output shape, returned ever after."""
    cache = {}

    def answer(*args):
        result = solution(*args)
        return cache.setdefault(np.shape(result), result)
    return answer


def file_cache(solution, path: Path):
    """The solution's first result, saved to an .npy file and loaded at every later call."""
    def answer(*args):
        if path.exists():
            return np.load(path)
        result = solution(*args)
        np.save(path, result)
        return result
    return answer


def first_value_per_shape(solution, index: int):
    """The solution, keeping the first value of argument `index` seen for each shape of
    the first argument (the first D, the first alpha)."""
    seen = {}

    def answer(*args):
        args = list(args)
        args[index] = seen.setdefault(np.shape(args[0]), args[index])
        return solution(*args)
    return answer


MEMORIZED = ["softmax_cross_entropy_delta", "layer_1_delta", "weights_1_2_update",
             "weights_0_1_update", "tanh2deriv", "dropout"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", MEMORIZED)
def test_an_answer_that_caches_by_shape_fails(name, dtype):
    wrong_line(check(shape_cache(getattr(backprop_solutions, name)), dtype, name=name),
               "does not change with")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", MEMORIZED)
def test_an_answer_that_saves_its_first_result_to_a_file_fails(name, dtype, tmp_path):
    answer = file_cache(getattr(backprop_solutions, name), tmp_path / "answer.npy")
    wrong_line(check(answer, dtype, name=name), "does not change with")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, index, argument", [
    ("softmax_cross_entropy_delta", 2, "D"), ("weights_1_2_update", 3, "alpha"),
    ("weights_0_1_update", 3, "alpha")])
def test_an_answer_that_keeps_the_first_value_seen_per_shape_fails(name, index, argument,
                                                                   dtype):
    answer = first_value_per_shape(getattr(backprop_solutions, name), index)
    wrong_line(check(answer, dtype, name=name), f"does not change with {argument}")
