"""The idiomatic endpoint (torch_impl/idiomatic.py) against the hand-built torch network.

nn.Sequential with nn.Dropout, a DataLoader and SGD on a mean loss is the hand-built network
(torch_impl/network.py) in exact mode: with `--rng torch` the hand-built network draws the
masks nn.Dropout draws (on the CPU), so whole runs print the same log and end with weights
equal to rounding. On any device, the idiomatic run equals the hand-built steps fed the
masks its own nn.Dropout drew.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
import runpy
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from parity_tests.conftest import NEEDS_TORCH

torch = pytest.importorskip("torch", reason=NEEDS_TORCH)

from torch import nn
from torch.utils.data import SequentialSampler, TensorDataset

from ch9_shared.checkpoint import CheckpointError, load_checkpoint
from ch9_shared.close import Comparison, compare, run_depth
from ch9_shared.config import PRESETS, Config, ConfigError
from ch9_shared.data import Dataset
from ch9_shared.loop import LogRecord, Saving, initial_weights, train
from parity_tests import conftest
from parity_tests.conftest import DEVICES, LOG_LINE, REPO, dtype_for, first_test_images
from scripts import evaluate
from scripts import train as train_script
from torch_impl import activations as torch_act
from torch_impl import idiomatic
from torch_impl.hand_built import HandBuiltModel, on_device
from torch_impl.network import Network, chapter_layout, from_numpy

SHORT = [*conftest.SHORT, "--log-every", "1", "--device", "cpu"]
NAMES = ("weights_0_1", "weights_1_2")


class Run(NamedTuple):
    records: list[LogRecord]
    weights: tuple[np.ndarray, np.ndarray]  # the NumPy layout

    @property
    def log(self) -> list[str]:
        return [str(record) for record in self.records]


def idiomatic_train(config: Config, data: Dataset, log=None, *, device="cpu", **options
                    ) -> idiomatic.Idiomatic:
    return train(idiomatic.Idiomatic(config, device), data, log, device=device, **options)


def hand_built(config: Config, dataset: Dataset, device: str = "cpu") -> Run:
    """torch_impl/network.py's run, exact mode, with the masks nn.Dropout draws (--rng torch)."""
    log: list[LogRecord] = []
    model = train(HandBuiltModel(config.replace(mode="exact"), device, "torch"), dataset,
                  log.append, device=device)
    return Run(log, model.state()[:2])


def idiomatic_run(config: Config, dataset: Dataset, device: str = "cpu") -> Run:
    log: list[LogRecord] = []
    model = idiomatic_train(config.replace(mode="exact"), dataset, log.append, device=device)
    return Run(log, model.state()[:2])


def rows(ours: Run, theirs: Run, config: Config) -> list[Comparison]:
    """The final weights under the tolerance of a run of that many steps."""
    depth = run_depth(config.iterations * (config.train_size // config.batch_size))
    return [compare(f"{name} (final)", a, b, depth)
            for name, a, b in zip(NAMES, ours.weights, theirs.weights, strict=True)]


@pytest.fixture(scope="module")
def small(dataset: Dataset) -> Dataset:
    """The chapter's 1000 training images and the first 500 test images (--test-size 500)."""
    return first_test_images(dataset, 500)


def main(module, argv: list[str]) -> tuple[int, str, str]:
    """A script's main(argv) in this process: its exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = module.main(argv)
    return status, out.getvalue(), err.getvalue()


# 1. The model ----------------------------------------------------------------------------

@pytest.mark.parametrize(("hidden", "module"), [
    ("tanh", nn.Tanh), ("sigmoid", nn.Sigmoid), ("relu", nn.ReLU)])
def test_the_model_is_an_nn_sequential_with_dropout(hidden, module):
    config = PRESETS["relu"].replace(hidden=hidden, seed=4, mode="exact")
    weights_0_1, weights_1_2 = initial_weights(np.random.RandomState(4), config)
    model = from_numpy(idiomatic.make_model(config), weights_0_1, weights_1_2, config.dtype)
    assert type(model) is nn.Sequential
    assert [type(m) for m in model] == [nn.Linear, module, nn.Dropout, nn.Linear]
    assert model[0].bias is None and model[3].bias is None and model[2].p == 0.5
    assert np.array_equal(model[0].weight.detach().numpy(), weights_0_1.T)
    assert np.array_equal(model[3].weight.detach().numpy(), weights_1_2.T)


@pytest.mark.parametrize("device", DEVICES)
def test_train_and_eval_switch_dropout(device, dataset):
    config = PRESETS["tanh"].replace(mode="exact", dtype=dtype_for(device))
    model = from_numpy(idiomatic.make_model(config),
                       *initial_weights(np.random.RandomState(1), config), config.dtype,
                       device)
    x = torch.as_tensor(dataset.test_images[:200] / 255, dtype=getattr(torch, config.dtype),
                        device=device)
    with torch.no_grad():
        model.eval()
        out = model(x)
        assert torch.equal(out, model(x))  # no dropout: the same output every time
        assert torch.equal(out, model[3](model[1](model[0](x))))  # ... the test pass
        model.train()
        hidden = model[1](model[0](x))
        dropped = model[2](hidden)
        kept = dropped != 0
        assert torch.equal(dropped[kept], 2 * hidden[kept])  # 1 / (1 - p): the book's * 2
        assert 0.45 < kept.double().mean() < 0.55
        assert not torch.equal(model(x), model(x))  # fresh masks every pass


def test_training_starts_from_the_shared_weights_with_a_data_loader_and_sgd(monkeypatch,
                                                                           dataset):
    made = {}

    def spy(owner: object, name: str) -> None:
        original = getattr(owner, name)

        def make(*args, **kwargs):
            made[name] = original(*args, **kwargs)
            made[name, "args"] = args
            return made[name]

        monkeypatch.setattr(owner, name, make)

    for owner, name in ((idiomatic, "from_numpy"), (idiomatic, "DataLoader"), (torch.optim, "SGD")):
        spy(owner, name)
    config = PRESETS["relu"].replace(mode="exact", iterations=1, init_1_2=0.2, seed=8)
    idiomatic_train(config, dataset, device="cpu")
    for given, expected in zip(made["from_numpy", "args"][1:3],
                               initial_weights(np.random.RandomState(8), config), strict=True):
        assert np.array_equal(given, expected)  # the other sides' first draws, --init-1-2 too
    loader, optimizer = made["DataLoader"], made["SGD"]
    assert (loader.batch_size, loader.drop_last, type(loader.dataset), type(loader.sampler)) == (
        100, True, TensorDataset, SequentialSampler)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.2)
    assert {loss.module().reduction for loss in torch_act.OUTPUTS.values()} == {"mean"}
    state = torch.get_rng_state()
    assert sum(1 for _ in loader) == 10
    assert torch.equal(torch.get_rng_state(), state)  # the masks' generator: untouched


@pytest.mark.parametrize(("preset", "output", "lr"), [
    ("tanh", "softmax", 0.02), ("relu", "softmax", 0.2), ("tanh", "sigmoid", 0.2),
    ("relu", "identity", 1.0)])
def test_the_learning_rate_is_alpha_times_n_over_d(preset, output, lr):
    """alpha * N / D (MSE: / 2): N = B for cross-entropy, B * 10 for BCE and MSE."""
    assert idiomatic.learning_rate(PRESETS[preset].replace(output=output)) == pytest.approx(lr)


@pytest.mark.parametrize("change", [{"mode": "book"}, {"softmax_base": 2.0}])
def test_what_the_idiomatic_model_cannot_do_is_a_config_error(change, dataset):
    with pytest.raises(ConfigError, match="`impl` torch"):
        idiomatic_train(PRESETS["tanh"].replace(**{"mode": "exact", **change}), dataset,
                        device="cpu")


# 2. Parity with the hand-built network ----------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_nn_dropout_draws_the_hand_built_masks_on_the_cpu(dtype):
    """torch.manual_seed(s), then nn.Dropout(0.5), draws what `bernoulli_(0.5)` draws from a
    Generator seeded with s (torch_impl/hand_built.py's --rng torch). On CUDA nn.Dropout runs a
    fused kernel (aten::native_dropout) that draws in another order: there the parity holds
    through the recorded masks (test_any_device_...)."""
    torch.manual_seed(9)
    x = torch.ones((100, 100), dtype=getattr(torch, dtype))
    drawn = [nn.Dropout(0.5)(x) / 2 for _ in range(3)]
    generator = torch.Generator().manual_seed(9)
    for mask in drawn:
        assert torch.equal(mask, torch.empty_like(x).bernoulli_(0.5, generator=generator))


class CliRun(NamedTuple):
    preset: str
    status: int
    stdout: str
    stderr: str
    checkpoint: Path


@pytest.fixture(scope="session", params=["tanh", "relu"])
def cli_run(request, tmp_path_factory) -> CliRun:
    """A whole run of `scripts/train.py --impl idiomatic` for the preset, with --save: run
    once for the tests of what it prints and saves (one pytest-xdist group, so one worker)."""
    path = tmp_path_factory.mktemp("idiomatic") / "run.npz"
    status, out, err = main(train_script, ["--impl", "idiomatic", "--preset", request.param,
                                           "--test-size", "500", "--device", "cpu",
                                           "--save", str(path)])
    return CliRun(request.param, status, out, err, path)


@pytest.mark.xdist_group("idiomatic_cli")
def test_a_whole_run_is_the_hand_built_run(cli_run, small):
    """The same log, line for line, and the same final weights to rounding."""
    config = PRESETS[cli_run.preset].replace(mode="exact", test_size=500)
    theirs = hand_built(config, small)
    assert cli_run.stdout.splitlines() == theirs.log
    checkpoint = load_checkpoint(cli_run.checkpoint)
    ours = Run([], (checkpoint.weights_0_1, checkpoint.weights_1_2))
    found = rows(ours, theirs, config)
    assert all(row.close for row in found), "\n".join(map(str, found))


@pytest.mark.parametrize(("hidden", "output", "dtype"), [
    ("tanh", "sigmoid", "float64"), ("relu", "identity", "float64"),
    ("sigmoid", "softmax", "float32"), ("tanh", "identity", "float32")])
def test_a_short_run_is_the_hand_built_run_for_every_output(hidden, output, dtype, small):
    config = PRESETS["relu" if hidden == "relu" else "tanh"].replace(
        hidden=hidden, output=output, dtype=dtype, iterations=20, log_every=5, seed=3)
    ours, theirs = idiomatic_run(config, small), hand_built(config, small)
    assert ours.log == theirs.log
    found = rows(ours, theirs, config)
    depth = run_depth(config.iterations * (config.train_size // config.batch_size))
    for name in ("train_loss", "test_loss"):  # the metrics: the canonical loss per image
        ours_loss, their_loss = ([getattr(r, name) for r in run.records] for run in (ours, theirs))
        found.append(compare(name, np.array(ours_loss, dtype), np.array(their_loss, dtype), depth))
    assert all(row.close for row in found), "\n".join(map(str, found))


@pytest.mark.parametrize("device", DEVICES)
def test_any_device_the_hand_built_steps_fed_the_masks_nn_dropout_drew(device, small):
    """Every mask nn.Dropout applies is recorded (output = input * mask * 2, checked), then
    fed to the hand-built network's train_step, batch by batch."""
    config = PRESETS["tanh"].replace(mode="exact", iterations=3, seed=5,
                                     dtype=dtype_for(device))
    masks: list[torch.Tensor] = []

    def record(module: nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        if isinstance(module, nn.Dropout) and module.training:
            mask = (output != 0).to(output.dtype)
            assert torch.equal(output, inputs[0] * mask * 2)
            masks.append(mask.detach())

    hook = nn.modules.module.register_module_forward_hook(record)
    try:
        ours = idiomatic_run(config, small, device)
    finally:
        hook.remove()
    network = from_numpy(Network(config), *initial_weights(np.random.RandomState(5), config),
                         config.dtype, device)
    optimizer = network.sgd()
    batches = on_device(small, config, getattr(torch, config.dtype), torch.device(device))
    assert len(masks) == config.iterations * len(batches.images)
    recorded = iter(masks)
    for _ in range(config.iterations):
        for layer_0, labels in zip(batches.images, batches.labels, strict=True):
            network.train_step(layer_0, labels, next(recorded), optimizer)
    theirs = Run([], tuple(chapter_layout(getattr(network, name).weight) for name in NAMES))
    found = rows(ours, theirs, config)
    assert all(row.close for row in found), "\n".join(map(str, found))
    if device == "cpu":  # and the masks are --rng torch's
        generator = torch.Generator().manual_seed(5)
        for mask in masks:
            assert torch.equal(mask, torch.empty_like(mask).bernoulli_(0.5, generator=generator))


def wrong_lr(monkeypatch: pytest.MonkeyPatch) -> None:
    original = idiomatic.learning_rate
    monkeypatch.setattr(idiomatic, "learning_rate", lambda config: original(config) * 1.01)


def wrong_p(monkeypatch: pytest.MonkeyPatch) -> None:
    original = idiomatic.make_model

    def make_model(config: Config) -> nn.Sequential:
        model = original(config)
        model[2].p = 0.51
        return model

    monkeypatch.setattr(idiomatic, "make_model", make_model)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("mutant", [wrong_lr, wrong_p])
def test_the_parity_check_catches_a_mutant(mutant, dtype, monkeypatch, small):
    """The check that passes above fails when the lr mapping is 1% off, or dropout's p."""
    config = PRESETS["tanh"].replace(dtype=dtype, iterations=2, seed=6)
    theirs = hand_built(config, small)
    assert all(row.close for row in rows(idiomatic_run(config, small), theirs, config))
    mutant(monkeypatch)
    found = rows(idiomatic_run(config, small), theirs, config)
    assert not all(row.close for row in found), "\n".join(map(str, found))


# 3. The command line, checkpoints, evaluation -------------------------------------------

@pytest.mark.xdist_group("idiomatic_cli")
def test_train_py_impl_idiomatic_prints_the_books_log_and_learns(cli_run):
    assert cli_run.status == 0, cli_run.stderr
    lines = cli_run.stdout.splitlines()
    iterations = PRESETS[cli_run.preset].iterations
    assert [line.split()[0] for line in lines] == [f"I:{i}" for i in range(0, iterations, 10)]
    assert all(LOG_LINE.fullmatch(line) for line in lines)
    assert float(lines[-1].split()[1].split(":")[1]) > 0.8
    lr = "0.02" if cli_run.preset == "tanh" else "0.2"
    assert (f"scripts/train.py: idiomatic on cpu (SGD lr {lr}), exact mode, "
            f"{cli_run.preset}/softmax, float64, {iterations} iterations") in cli_run.stderr


@pytest.mark.parametrize(("flags", "message"), [
    (["--mode", "book"], "has no book mode: autograd follows the true gradient, and the book's "
     "quirk needs BookHidden: use --impl torch --mode book"),
    (["--rng", "numpy"], "nn.Dropout draws its own masks"),
    (["--softmax-base", "2"], "nn.CrossEntropyLoss's softmax has base e"),
])
def test_what_idiomatic_cannot_do_is_one_line_exit_2_and_no_file(flags, message, tmp_path):
    save = tmp_path / "run.npz"
    status, out, err = main(train_script, ["--impl", "idiomatic", *SHORT, *flags, "--save",
                                           str(save)])
    assert (status, out, err.count("\n")) == (2, "", 1), err
    assert err.startswith("scripts/train.py: error: --") and message in err
    assert not save.exists()


def test_the_script_as_main_runs_it_too(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["x", "--impl", "idiomatic", *SHORT])
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(REPO / "scripts" / "train.py"), run_name="__main__")
    module = capsys.readouterr()
    status, script_out, _ = main(train_script, ["--impl", "idiomatic", *SHORT])
    assert stop.value.code == status == 0
    assert module.out == script_out and len(script_out.splitlines()) == 4
    assert "scripts/train.py: idiomatic on cpu" in module.err


def test_resume_ends_bit_identical_and_evaluate_reads_it(tmp_path):
    whole, part = tmp_path / "whole.npz", tmp_path / "part.npz"
    status, log, _ = main(train_script, ["--impl", "idiomatic", *SHORT, "--save", str(whole)])
    first = main(train_script, ["--impl", "idiomatic", *SHORT, "--iterations", "2",
                                "--save-every", "1", "--save", str(part)])
    torch.manual_seed(123)  # what the default generator held before does not matter
    second = main(train_script, ["--impl", "idiomatic", *SHORT, "--resume", str(part),
                                 "--save", str(part)])
    assert status == first[0] == second[0] == 0, second[2]
    assert first[1] + second[1] == log
    a, b = load_checkpoint(whole), load_checkpoint(part)
    assert (a.impl, a.iteration, b.iteration) == ("idiomatic", 4, 4)
    assert np.array_equal(a.weights_0_1, b.weights_0_1)
    assert np.array_equal(a.weights_1_2, b.weights_1_2)
    assert np.array_equal(a.torch_rng, b.torch_rng)
    wrong = main(train_script, ["--impl", "torch", *SHORT, "--resume", str(part)])
    assert wrong[0] == 2 and "made by --impl idiomatic" in wrong[2]

    matrices = set()
    for impl in ("numpy", "torch", "idiomatic"):
        result = main(evaluate, [str(whole), "--impl", impl, "--test-size", "500",
                                 "--device", "cpu"])
        assert result[0] == 0 and "made by idiomatic after 4 iterations" in result[1]
        matrices.add(result[1].split("\n", 1)[1])
    assert len(matrices) == 1


def test_divergence_stops_where_the_hand_built_network_stops(tmp_path):
    flags = ["--output", "identity", "--alpha", "1e6", "--iterations", "5", "--log-every", "1",
             "--test-size", "500", "--device", "cpu"]
    saved = tmp_path / "run.npz"
    ours = main(train_script, ["--impl", "idiomatic", *flags, "--save", str(saved),
                               "--save-every", "1"])
    theirs = main(train_script, ["--impl", "torch", "--mode", "exact", "--rng", "torch",
                                 *flags])
    assert ours[0] == theirs[0] == 2 and ours[1] == theirs[1]
    named = re.search(r"error: iteration (\d+): .*lower --alpha", ours[2])
    assert named and ours[2] == theirs[2]
    checkpoint = load_checkpoint(saved)  # the last iteration before it, all finite
    assert checkpoint.iteration == int(named.group(1)) > 0
    assert np.isfinite(checkpoint.weights_0_1).all() and np.isfinite(checkpoint.weights_1_2).all()


def test_a_checkpoint_of_another_device_is_one_clear_error(tmp_path, dataset):
    config = PRESETS["relu"].replace(mode="exact", iterations=1, test_size=500)
    saved = []
    idiomatic_train(config, dataset, save=Saving(saved.append, "idiomatic"), device="cpu")
    checkpoint = dataclasses.replace(saved[0], torch_rng=np.zeros(16, np.uint8))  # CUDA's size
    with pytest.raises(CheckpointError, match=r"torch_rng: 16 bytes, not the state of a "
                                              r"torch\.Generator on cpu"):
        idiomatic_train(config.replace(iterations=2), dataset, resume=checkpoint, device="cpu")
    made_on_cuda = dataclasses.replace(checkpoint, torch_rng_device="cuda")
    with pytest.raises(CheckpointError, match="on cuda, which cannot go on on cpu: resume it "
                                              "with `device` cuda"):
        idiomatic_train(config.replace(iterations=2), dataset, resume=made_on_cuda, device="cpu")
