"""Mutation testing of the parity checks: a wrong factor in either side's arithmetic, and
the one-step check must catch it, in float64 and in float32.

Each mutant rewrites one line of one function's source (a copy, compiled in memory) and
puts it in place with monkeypatch for the length of one test: nothing reaches the files
or the installed package. The factors are 1%: the checks hold every tensor to a few ulps
of its own scale (ch9_shared/close.py), so 1% is a thousand times what they allow.
"""

from __future__ import annotations

import inspect
import textwrap
from dataclasses import dataclass

import pytest

from parity_tests.conftest import NEEDS_TORCH

pytest.importorskip("torch", reason=NEEDS_TORCH)

from ch9_shared.config import PRESETS
from numpy_impl import activations as numpy_act
from numpy_impl import network as numpy_network
from torch_impl import activations as torch_act
from torch_impl import network as torch_network
from torch_impl.parity import all_close, first_step_both_sides, run_rows, step_rows


def mutated(function, old: str, new: str):
    """`function` with `old` replaced by `new` in its source, compiled in its module."""
    source = textwrap.dedent(inspect.getsource(function))
    assert source.count(old) == 1, f"{function.__qualname__} has {source.count(old)} of {old!r}"
    namespace = dict(function.__globals__)
    exec(compile(source.replace(old, new), f"<mutant of {function.__qualname__}>", "exec"),
         namespace)
    return namespace[function.__name__]


@dataclass(frozen=True)
class Mutant:
    """A wrong factor in `owner.key` (or, for a table, in the `field` of `owner[key]`): `old`
    becomes `new`, in runs of `modes` with that hidden and output."""

    side: str
    what: str
    owner: object
    key: str
    old: str
    new: str
    modes: tuple[str, ...] = ("book", "exact")
    hidden: str = "tanh"
    output: str = "softmax"
    field: str = "deriv"

    def current(self):
        """The function the mutant rewrites, as it stands now."""
        if isinstance(self.owner, dict):
            entry = self.owner[self.key]
            return getattr(entry, self.field) if isinstance(entry, tuple) else entry
        original = inspect.getattr_static(self.owner, self.key)
        return original.__func__ if isinstance(original, staticmethod) else original

    def apply(self, monkeypatch: pytest.MonkeyPatch) -> None:
        function = mutated(self.current(), self.old, self.new)
        if isinstance(self.owner, dict):
            entry = self.owner[self.key]
            monkeypatch.setitem(self.owner, self.key, entry._replace(**{self.field: function})
                                if isinstance(entry, tuple) else function)
        else:
            monkeypatch.setattr(self.owner, self.key, function)


N, T = "numpy_impl", "torch_impl"
BookHidden = torch_network.BookHidden
TorchNetwork = torch_network.Network
SLOPES = {"relu": ("(output > 0)", "1.01 * (output > 0)"),
          "sigmoid": ("output * (1 - output)", "1.01 * output * (1 - output)"),
          "tanh": ("1 - (output**2)", "1.01 * (1 - (output**2))")}

MUTANTS = [
    Mutant(N, "forward: the hidden layer x1.01", numpy_network, "forward",
           "layer_1 = layers.hidden(", "layer_1 = 1.01 * layers.hidden("),
    Mutant(N, "dropout scale 2.02 for 2", numpy_network, "forward",
           "layer_1 *= dropout_mask * 2", "layer_1 *= dropout_mask * 2.02"),
    *[Mutant(N, f"output layer: sigmoid x1.01 ({field})", numpy_act.OUTPUTS, "sigmoid",
             "return sigmoid(x)", "return 1.01 * sigmoid(x)", modes=(mode,),
             output="sigmoid", field=field)
      for field, mode in (("forward", "book"), ("stable", "exact"))],
    Mutant(N, "softmax output delta x1.01", numpy_act.OUTPUTS, "softmax",
           "return math.log(base) *", "return 1.01 * math.log(base) *", field="delta"),
    Mutant(N, "softmax output delta: D x1.01", numpy_act.OUTPUTS, "softmax",
           "/ divisor)", "/ (divisor * 1.01))", field="delta"),
    Mutant(N, "sigmoid output delta: D x1.01", numpy_act.OUTPUTS, "sigmoid",
           "(output - labels) / divisor", "(output - labels) / (divisor * 1.01)",
           output="sigmoid", field="delta"),
    *[Mutant(N, f"{hidden} slope x1.01", numpy_act.HIDDEN, hidden, *SLOPES[hidden],
             hidden=hidden) for hidden in SLOPES],
    Mutant(N, "hidden delta: mask x1.01", numpy_network, "backward",
           "layer_1_delta *= dropout_mask\n", "layer_1_delta *= dropout_mask * 1.01\n",
           modes=("book",)),
    Mutant(N, "hidden delta: mask x 2.02 for 2", numpy_network, "backward",
           "layer_1_delta *= dropout_mask * 2", "layer_1_delta *= dropout_mask * 2.02",
           modes=("exact",)),
    Mutant(N, "weights_1_2 update x1.01", numpy_network, "train_step",
           "weights_1_2 -= alpha *", "weights_1_2 -= 1.01 * alpha *"),
    Mutant(N, "weights_0_1 update x1.01", numpy_network, "train_step",
           "weights_0_1 -= alpha * (layer_0.T", "weights_0_1 -= 1.01 * alpha * (layer_0.T"),
    Mutant(T, "forward: the hidden layer's input x1.01", TorchNetwork, "forward",
           "hidden_input = self.weights_0_1(", "hidden_input = 1.01 * self.weights_0_1("),
    Mutant(T, "dropout scale 2.02 for 2", TorchNetwork, "forward",
           "* dropout_mask * 2\n", "* dropout_mask * 2.02\n", modes=("exact",)),
    Mutant(T, "BookHidden: dropout scale 2.02 for 2", BookHidden, "forward",
           "* dropout_mask * 2\n", "* dropout_mask * 2.02\n", modes=("book",)),
    Mutant(T, "output layer: sigmoid x1.01", torch_act.OUTPUTS, "sigmoid",
           "torch.sigmoid(logits)", "1.01 * torch.sigmoid(logits)", output="sigmoid",
           field="stable"),
    Mutant(T, "softmax's loss x1.01", torch_act.OUTPUTS, "softmax",
           "return F.cross_entropy(", "return 1.01 * F.cross_entropy(", field="summed"),
    Mutant(T, "the loss's D x1.01", TorchNetwork, "loss",
           "/ config.D", "/ (config.D * 1.01)"),
    *[Mutant(T, f"BookHidden: {hidden} slope x1.01", torch_act.HIDDEN, hidden,
             *SLOPES[hidden], modes=("book",), hidden=hidden) for hidden in SLOPES],
    Mutant(T, "BookHidden: hidden delta, mask x1.01", BookHidden, "backward",
           "* dropout_mask, None, None", "* dropout_mask * 1.01, None, None", modes=("book",)),
    Mutant(T, "SGD: learning rate x1.01", TorchNetwork, "sgd",
           "lr=self.config.alpha", "lr=1.01 * self.config.alpha"),
]
CASES = [(mutant, mode) for mutant in MUTANTS for mode in mutant.modes]


def config_of(mutant: Mutant, mode: str, dtype: str):
    preset = "relu" if mutant.hidden == "relu" else "tanh"
    return PRESETS[preset].replace(hidden=mutant.hidden, output=mutant.output, mode=mode,
                                   dtype=dtype, seed=3)


def test_enough_mutants_on_both_sides_and_modes():
    assert len(MUTANTS) >= 10 and len(CASES) >= 20
    for side in (N, T):
        assert {mode for m, mode in CASES if m.side == side} == {"book", "exact"}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("mutant", "mode"), CASES,
                         ids=[f"{m.side}: {m.what}, {mode}" for m, mode in CASES])
def test_the_parity_check_catches_the_mutant(mutant, mode, dtype, dataset, monkeypatch):
    config = config_of(mutant, mode, dtype)
    assert all_close(step_rows(first_step_both_sides(config, dataset)))  # the real code passes ...
    mutant.apply(monkeypatch)
    rows = step_rows(first_step_both_sides(config, dataset))
    assert not all_close(rows), "\n".join(map(str, rows))  # ... and the mutant does not


def test_every_mutant_is_undone_after_its_test():
    """monkeypatch put the real functions back (a mutant's source cannot even be read)."""
    for mutant in MUTANTS:
        source = inspect.getsource(mutant.current())
        assert mutant.old in source and mutant.new not in source


RUN_MUTANTS = [m for m in MUTANTS if m.what in ("SGD: learning rate x1.01",
                                                  "weights_0_1 update x1.01")]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("mutant", RUN_MUTANTS, ids=[f"{m.side}: {m.what}" for m in RUN_MUTANTS])
def test_the_whole_run_check_catches_it_too(mutant, dtype, dataset, monkeypatch):
    """The whole-run tolerance grows with the steps, but not so far that 1% gets through."""
    config = PRESETS["tanh"].replace(iterations=20, dtype=dtype)
    rows, same_log = run_rows(config, dataset)
    assert same_log and all_close(rows)
    mutant.apply(monkeypatch)
    rows, _ = run_rows(config, dataset)
    assert not all_close(rows), "\n".join(map(str, rows))
