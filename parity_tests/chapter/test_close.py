"""ch9_shared/close.py, the one notion of "close": rounding passes, a wrong factor fails, in
either dtype, and an entry that cancels to near zero does not loosen the whole tensor."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ch9_shared.close import ULPS, compare, run_depth, tolerance
from ch9_shared.config import PRESETS
from parity_tests.conftest import assert_close, needs_torch

DTYPES = ["float64", "float32"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_tolerance_is_eps_times_depth(dtype):
    eps = np.finfo(dtype).eps
    assert tolerance(dtype) == ULPS * eps
    assert tolerance(dtype, 8) == 8 * ULPS * eps
    assert run_depth(3000) == pytest.approx(8 * 3000**0.5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rounding_passes_and_a_wrong_factor_fails(dtype):
    rng = np.random.default_rng(0)
    b = rng.normal(size=(50, 40)).astype(dtype)
    rounded = (b.astype(np.float64) * (1 + 4 * np.finfo(dtype).eps)).astype(dtype)
    assert compare("b", rounded, b).close
    for factor in (1.01, 0.99, 1.001, -1.0):
        assert not compare("b", b * np.asarray(factor, dtype), b).close
    wrong_entry = b.copy()
    wrong_entry[3, 4] *= 1.01  # one entry off is enough, if it is not a tiny one
    wrong_entry[3, 4] += np.sign(wrong_entry[3, 4]) * 0.01 * np.abs(b).max()
    assert not compare("b", wrong_entry, b).close


def test_an_entry_that_cancels_does_not_loosen_the_tensor():
    """1 - t**2 at t near 1: an absolute error of a few eps, a relative one of about 1. The
    tensor passes; a 1% error on its large entries still does not."""
    t = np.array([0.0, 0.5, 0.9, 1 - 2**-40])
    slope, other = 1 - t**2, 1 - t * t * (1 + np.array([0, 0, 0, 2**-52]))
    assert abs(other[-1] - slope[-1]) / slope[-1] > 1e-5  # relative to itself: far off
    assert compare("slope", other, slope).close
    assert not compare("slope", other * np.array([1.01, 1, 1, 1]), slope).close


def test_a_nan_on_one_side_fails_and_on_both_passes():
    b = np.array([1.0, np.nan, 2.0])
    assert compare("b", b.copy(), b).close
    assert not compare("b", np.array([1.0, 1.0, 2.0]), b).close
    assert not compare("b", b, np.array([1.0, 1.0, 2.0])).close


def test_a_float32_comparison_is_judged_in_float32():
    b = np.linspace(-1, 1, 11)
    assert compare("b", b.astype(np.float32), b).tol == tolerance("float32")
    assert compare("b", b, b).tol == tolerance("float64")


def test_the_message_names_the_tensor_and_how_far_off_it_is():
    with pytest.raises(AssertionError, match=r"layer_1_delta 2x3: NOT close \(max abs diff "):
        assert_close(np.full((2, 3), 2.0), np.ones((2, 3)), "layer_1_delta")
    with pytest.raises(ValueError, match="shape"):
        compare("x", np.ones(3), np.ones(4))


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_one_step_uses_a_small_part_of_its_tolerance(dtype, dataset):
    """The margin: over every hidden x output x mode, numpy by hand and torch by autograd
    stay within a quarter of the tolerance (measured: 17 eps at most of 128). So rounding
    never decides a check, and test_mutants.py shows that 1% always does."""
    from torch_impl.parity import first_step_both_sides, step_rows

    worst = 0.0
    for hidden, output, mode in itertools.product(["relu", "sigmoid", "tanh"],
                                                  ["softmax", "sigmoid", "identity"],
                                                  ["book", "exact"]):
        config = PRESETS["relu" if hidden == "relu" else "tanh"].replace(
            hidden=hidden, output=output, mode=mode, dtype=dtype, seed=11)
        worst = max(worst, *(row.used for row in step_rows(first_step_both_sides(config, dataset))))
    assert 0 < worst <= 0.25
