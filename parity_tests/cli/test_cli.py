"""The shared command line: flags, streams, errors, NumPy alone, and fetching with torchvision."""

from __future__ import annotations

import ast
import re
import shlex
import shutil
import sys

import numpy as np
import pytest

from ch9_shared.config import PRESETS, Config, ConfigError
from ch9_shared.loop import train
from numpy_impl.fast import FastNetwork
from parity_tests import conftest
from parity_tests.conftest import LOG_LINE, REPO, needs_symlinks, needs_torch, run
from scripts.cli import (
    OVERRIDES,
    CliError,
    build_parser,
    command_line,
    config_from_args,
    main,
    resolve_impl_flags,
)

SHORT = [*conftest.SHORT, "--preset", "tanh", "--iterations", "3"]


def test_every_flag_of_the_issue_is_there_with_its_default():
    args = build_parser("x").parse_args([])
    assert (args.impl, args.preset, args.mode, args.rng, args.seed, args.device) == (
        "numpy", "tanh", None, None, 1, "auto")  # --mode and --rng: by --impl, below
    resolve_impl_flags(args)
    assert (args.mode, args.rng) == ("book", "numpy")
    for name in [*OVERRIDES, "data_dir", "dataset", "download"]:
        assert hasattr(args, name)
    assert set(PRESETS) == {"tanh", "relu"}


@pytest.mark.parametrize(("flags", "mode", "rng"), [
    (["--impl", "numpy"], "book", "numpy"),
    (["--impl", "torch"], "book", "numpy"),
    (["--impl", "torch", "--mode", "exact", "--rng", "torch"], "exact", "torch"),
    (["--impl", "idiomatic"], "exact", "torch"),
    (["--impl", "idiomatic", "--mode", "exact", "--rng", "torch"], "exact", "torch"),
])
def test_mode_and_rng_default_by_impl(flags, mode, rng):
    args = build_parser("x").parse_args(flags)
    resolve_impl_flags(args)
    assert (args.mode, args.rng, config_from_args(args).mode) == (mode, rng, mode)


@pytest.mark.parametrize("flags", [["--mode", "book"], ["--rng", "numpy"]])
def test_idiomatic_refuses_book_mode_and_numpy_masks(flags):
    with pytest.raises(CliError, match="use --impl torch"):
        resolve_impl_flags(build_parser("x").parse_args(["--impl", "idiomatic", *flags]))


def test_presets_carry_the_design_table():
    tanh, relu = PRESETS["tanh"], PRESETS["relu"]
    assert (tanh.hidden, tanh.init_0_1, tanh.init_1_2, tanh.D, tanh.alpha, tanh.iterations) == (
        "tanh", 0.01, 0.1, 10000, 2, 300)
    assert (relu.hidden, relu.init_0_1, relu.init_1_2, relu.D, relu.alpha, relu.iterations) == (
        "relu", 0.01, 0.01, 1000, 2, 100)
    for c in (tanh, relu):
        assert (c.hidden_size, c.batch_size, c.train_size, c.test_size, c.seed) == (
            100, 100, 1000, 10000, 1)


@pytest.mark.parametrize("change", [
    {"hidden": "swish"}, {"mode": "fast"}, {"dtype": "float16"}, {"alpha": 0.0},
    {"alpha": float("inf")}, {"batch_size": 0}, {"iterations": -1}, {"seed": -1},
    {"softmax_base": 1.0}, {"softmax_base": 0.5}, {"batch_size": 2000},
])
def test_config_rejects_what_cannot_work(change):
    with pytest.raises(ConfigError):
        Config(**change)


def test_stdout_is_exactly_the_log_and_impl_numpy_is_the_default():
    script = run(["scripts/train.py", *SHORT, "--preset", "relu"])
    module = run(["scripts/train.py", "--impl", "numpy", *SHORT, "--preset", "relu"])
    assert script.returncode == module.returncode == 0
    assert script.stdout == module.stdout
    lines = script.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["I:0", "I:2"]
    assert all(LOG_LINE.fullmatch(line) for line in lines)
    assert "numpy on cpu, book mode, relu/softmax, float64, 3 iterations" in script.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--alpha", "abc"], "not a number"),
    (["--alpha", "-1"], "above 0"),
    (["--iterations", "0"], "at least 1"),
    (["--hidden", "swish"], "invalid choice"),
    (["--preset", "gelu"], "invalid choice"),
    (["--batch-size", "5000"], "larger than train_size"),
    (["--train-size", "1001"], "there are 1000"),
    (["--data-dir", "/no/such/folder"], "does not exist"),
    (["--data-dir", ".", "--dataset", "mnist"], "not both"),
    (["--download"], "needs --dataset"),
    (["--device", "cuda"], "are for --impl torch"),
    (["--device", "mps"], "are for --impl torch"),
    (["--rng", "torch"], "are for --impl torch"),
    (["--save-every", "5"], "--save-every needs --save"),
    (["--init-0-1", "0"], "above 0"),
    (["--divisor", "batch"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, script):
    result = script("scripts/train.py", args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_init_and_divisor_flags_set_the_config():
    args = build_parser("x").parse_args(["--init-0-1", "0.05", "--init-1-2", "0.2", "--divisor",
                                         "batch*classes", "--preset", "relu"])
    config = config_from_args(args)
    assert (config.init_0_1, config.init_1_2, config.D, config.hidden) == (0.05, 0.2, 1000,
                                                                           "relu")
    assert config_from_args(build_parser("x").parse_args([])) == PRESETS["tanh"]


@pytest.mark.parametrize("config", [
    PRESETS["tanh"], PRESETS["relu"].replace(seed=7, dtype="float32"),
    Config(hidden="sigmoid", output="identity", mode="exact", alpha=0.5, init_0_1=0.02,
           init_1_2=0.3, divisor="batch*classes", softmax_base=2.0, train_size=800,
           test_size=200, batch_size=50, hidden_size=40, iterations=7, log_every=3),
])
def test_command_line_is_the_inverse_of_the_flags(config):
    line = shlex.split(command_line(config))
    assert line[0] == "scripts/train.py"
    assert config_from_args(build_parser("x").parse_args(line[1:])) == config


@pytest.mark.parametrize(("hidden", "noted"), [("sigmoid", True), ("tanh", False),
                                               ("relu", False)])
def test_book_mode_notes_a_hidden_layer_it_pushes_the_wrong_way(hidden, noted, capsys):
    """In book mode a sigmoid unit's slope is taken at 2t, negative where units start (t =
    1/2): the run says so on stderr, once, and suggests --mode exact."""
    for mode in ("book", "exact"):
        assert main(["--hidden", hidden, "--mode", mode, *SHORT], prog="p") == 0
        notes = [line for line in capsys.readouterr().err.splitlines() if "note:" in line]
        assert notes == ([f"p: note: in book mode a {hidden} hidden layer takes each unit's "
                          f"slope at 2t, which has the wrong sign where its units start (t = "
                          f"{hidden}(0)): they learn in the wrong direction and the run may not "
                          "learn; --mode exact follows the true gradient"]
                         if noted and mode == "book" else [])


def test_divergence_stops_with_the_iteration_named(script):
    result = script("scripts/train.py", ["--mode", "exact", "--output", "identity", "--alpha",
                                         "1e6", "--iterations", "5"])
    assert result.returncode == 2
    assert re.search(r"iteration \d+: .*lower --alpha", result.stderr)


@pytest.mark.parametrize("entry", [["scripts/train.py", "--impl", "numpy"], ["scripts/train.py"]])
def test_runs_with_torch_unimportable(entry):
    result = run([*entry, *SHORT], block_torch=True)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2


def test_impl_torch_without_torch_says_how_to_install_it():
    result = run(["scripts/train.py", "--impl", "torch", *SHORT], block_torch=True)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "pip install -e '.[torch]'" in result.stderr


def test_numpy_impl_never_imports_torch():
    for path in (REPO / "numpy_impl").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] in ("torch", "torchvision", "torch_impl")
                           for n in names), f"{path} imports {names}"


def test_same_seed_same_weights_other_seed_other_weights(dataset):
    config = PRESETS["relu"].replace(iterations=3)
    np.random.seed(123)
    global_state = np.random.get_state()[1].copy()
    a = train(FastNetwork(config), dataset)
    assert np.array_equal(np.random.get_state()[1], global_state)  # the global RNG is untouched
    np.random.seed(456)  # ... and does not matter
    b = train(FastNetwork(config), dataset)
    c = train(FastNetwork(config.replace(seed=2)), dataset)
    assert np.array_equal(a.weights_0_1, b.weights_0_1)
    assert np.array_equal(a.weights_1_2, b.weights_1_2)
    assert not np.array_equal(a.weights_1_2, c.weights_1_2)


def test_float32_trains_in_float32(dataset):
    network = train(FastNetwork(PRESETS["tanh"].replace(iterations=2, dtype="float32")),
                    dataset)
    assert network.weights_0_1.dtype == network.weights_1_2.dtype == np.float32


@needs_torch
@needs_symlinks
def test_dataset_flags_read_the_cache_and_download_through_torchvision(tmp_path, shared_mnist,
                                                                      script):
    """With the files already in the cache torchvision checks them and downloads nothing."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for path in (shared_mnist / "MNIST" / "raw").iterdir():
        if not path.name.endswith(".gz"):
            (raw / path.name).symlink_to(path)
    args = ["--train-size", "2000", "--iterations", "1", "--test-size", "1000"]
    direct = script("scripts/train.py", ["--data-dir", str(shared_mnist), *args])
    cached = script("scripts/train.py", ["--dataset", "mnist", "--cache-dir", str(tmp_path),
                                         *args])
    fetched = script("scripts/train.py", ["--dataset", "mnist", "--download", "--cache-dir",
                                          str(tmp_path), *args])
    assert direct.returncode == cached.returncode == fetched.returncode == 0, fetched.stderr
    assert direct.stdout == cached.stdout == fetched.stdout
    assert LOG_LINE.fullmatch(direct.stdout.strip())
    shutil.rmtree(tmp_path / "MNIST")
    missing = script("scripts/train.py", ["--dataset", "mnist", "--cache-dir", str(tmp_path),
                                          *args])
    assert missing.returncode == 2 and "--download" in missing.stderr


def test_a_download_without_torchvision_is_one_clear_line(tmp_path, monkeypatch, script):
    """torchvision is imported only when a download needs it; missing, it is one line."""
    monkeypatch.setitem(sys.modules, "torchvision", None)  # `import torchvision` fails
    result = script("scripts/train.py", ["--dataset", "mnist", "--download", "--cache-dir",
                                         str(tmp_path), "--iterations", "1"])
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "needs torchvision" in result.stderr and "pip install" in result.stderr
