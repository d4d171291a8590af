"""Every CUDA code path, on the device parameter: checkpoints and resuming across devices,
the stacked trainer, the bench's device rows, determinism of plain runs, float32 matmuls
at full precision whatever the caller set, and the notes a GPU run prints. The CPU runs
each body here; only the CUDA parameter skips where torch sees no GPU."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
import torch

from common.checkpoint import CheckpointError, load_npz, save_npz
from common.close import assert_close, run_depth
from common.config import PRESETS, Config
from numpy_impl.train import train as numpy_train
from parity_tests.conftest import DEVICES
from scripts import evaluate, study
from scripts.cli import as_flags, main, torch_trainer
from tools import bench
from torch_impl import activations as torch_act
from torch_impl import device as torch_device
from torch_impl import network as torch_network
from torch_impl import parity, stacked
from torch_impl import train as torch_train_module
from torch_impl.checkpoint import load_pt, save_pt
from torch_impl.stacked import train_stack
from torch_impl.train import train as torch_train

SHORT = ["--preset", "relu", "--test-size", "500", "--log-every", "2", "--quiet"]
OTHER = {"cpu": "cuda", "cuda": "cpu"}


def train_py(argv: list[str]) -> int:
    """scripts/train.py --impl torch, in this process."""
    return main(["--impl", "torch", *argv], prog="scripts/train.py",
                trainers={"torch": torch_trainer})


def weights(model: torch_network.Network) -> tuple[np.ndarray, np.ndarray]:
    return parity.weights(model, "weights_0_1"), parity.weights(model, "weights_1_2")


# Checkpoints ------------------------------------------------------------------------------

@pytest.mark.parametrize("rng", ["numpy", "torch"])
@pytest.mark.parametrize("device", DEVICES)
def test_save_resume_and_evaluate_on_the_device(device, rng, tmp_path, capsys):
    """Stopped at 4 of 8 iterations and resumed on the device: the same log and, to the bit,
    the same weights and generator state as the run never stopped; evaluated there, the
    checkpoint scores as NumPy scores it."""
    flags = [*SHORT, "--device", device, "--rng", rng]
    whole, part, end = (tmp_path / f"{name}.pt" for name in ("whole", "part", "end"))
    assert train_py([*flags, "--iterations", "8", "--save", str(whole)]) == 0
    whole_log = capsys.readouterr().out
    assert train_py([*flags, "--iterations", "4", "--save", str(part)]) == 0
    part_log = capsys.readouterr().out
    assert train_py([*flags, "--iterations", "8", "--resume", str(part), "--save", str(end)]) == 0
    assert part_log + capsys.readouterr().out == whole_log
    assert whole_log.count("\n") == 4

    a, b = load_pt(whole), load_pt(end)
    assert np.array_equal(a.weights_0_1, b.weights_0_1)
    assert np.array_equal(a.weights_1_2, b.weights_1_2)
    if rng == "torch":
        assert np.array_equal(a.torch_rng, b.torch_rng)
        assert a.torch_rng_device == b.torch_rng_device == device

    scores = {}
    for impl in ("torch", "numpy"):
        assert evaluate.main([str(end), "--impl", impl, "--device", device,
                              "--test-size", "500"]) == 0
        scores[impl] = capsys.readouterr().out.split("\n", 1)[1]
    assert scores["torch"] == scores["numpy"]
    assert "test accuracy: " in scores["torch"]


def made_on(device: str, tmp_path, legacy: bool = False):
    """A --rng torch checkpoint after 2 iterations, its generator state as `device` makes it:
    a CUDA generator's 16 bytes are crafted where there is no GPU. `legacy`: written the way
    checkpoints were before they kept the generator's device."""
    path = tmp_path / f"made-on-{device}.pt"
    flags = [*SHORT, "--rng", "torch", "--iterations", "2", "--save", str(path)]
    if device == "cuda" and not torch.cuda.is_available():
        assert train_py([*flags, "--device", "cpu"]) == 0
        checkpoint = load_pt(path)
        checkpoint.torch_rng = torch.Generator("cpu").manual_seed(1).get_state()[:16].numpy()
        checkpoint.torch_rng_device = "cuda"
        save_pt(path, checkpoint)
    else:
        assert train_py([*flags, "--device", device]) == 0
    if legacy:
        state = torch.load(path, weights_only=True)
        del state["torch_rng_device"]
        torch.save(state, path)
    return path


@pytest.mark.parametrize(("made", "resumed"), [
    ("cuda", "cpu"),
    pytest.param("cpu", "cuda", marks=DEVICES[1].marks),
])
@pytest.mark.parametrize("legacy", [False, True])
def test_torch_masks_resume_on_another_device_is_one_clear_line(made, resumed, legacy,
                                                                tmp_path, capsys):
    """A generator's state fits only its own kind of device: resuming on the other one stops
    before training, in one line that names the --device to use, also for a checkpoint
    written before the device was saved (then read as "cpu", and told apart by its size)."""
    path = made_on(made, tmp_path, legacy)
    capsys.readouterr()
    status = train_py([*SHORT, "--rng", "torch", "--iterations", "4", "--device", resumed,
                       "--resume", str(path), "--save", str(tmp_path / "end.pt")])
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("scripts/train.py: error: ")
    assert err.rstrip().endswith(f"--device {made}"), err
    assert not (tmp_path / "end.pt").exists()


def test_a_checkpoint_without_the_device_field_still_resumes_on_the_cpu(tmp_path, capsys):
    path = made_on("cpu", tmp_path, legacy=True)
    assert load_pt(path).torch_rng_device == "cpu"
    capsys.readouterr()
    assert train_py([*SHORT, "--rng", "torch", "--iterations", "4", "--device", "cpu",
                     "--resume", str(path)]) == 0
    assert capsys.readouterr().out.count("\n") == 1  # iteration 2


@pytest.mark.parametrize("device", ["cpu", "cuda"])  # crafted where there is no GPU
def test_checkpoints_keep_the_generator_device_and_read_old_files_as_cpu(device, tmp_path):
    path = made_on(device, tmp_path)
    checkpoint = load_pt(path)
    assert checkpoint.torch_rng_device == device
    assert load_pt(made_on(device, tmp_path, legacy=True)).torch_rng_device == "cpu"
    save_npz(tmp_path / "copy.npz", checkpoint)
    assert load_npz(tmp_path / "copy.npz").torch_rng_device == device
    with np.load(tmp_path / "copy.npz") as f:
        arrays = {name: f[name] for name in f.files if name != "torch_rng_device"}
    np.savez(tmp_path / "old.npz", **arrays)
    assert load_npz(tmp_path / "old.npz").torch_rng_device == "cpu"
    np.savez(tmp_path / "bad.npz", **arrays, torch_rng_device=np.array("tpu"))
    with pytest.raises(CheckpointError, match="'tpu', not cpu or cuda"):
        load_npz(tmp_path / "bad.npz")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
@pytest.mark.parametrize(("made", "resumed"), [("cpu", "cuda"), ("cuda", "cpu")])
def test_numpy_masks_resume_on_the_other_device(made, resumed, tmp_path, capsys):
    """NumPy's masks and the weights travel: the run goes on, and ends close to the run
    that never left the first device (another device sums in another order)."""
    flags = [*SHORT, "--mode", "exact"]
    whole, part, end = (tmp_path / f"{name}.pt" for name in ("whole", "part", "end"))
    assert train_py([*flags, "--device", made, "--iterations", "8", "--save", str(whole)]) == 0
    assert train_py([*flags, "--device", made, "--iterations", "4", "--save", str(part)]) == 0
    assert train_py([*flags, "--device", resumed, "--iterations", "8", "--resume", str(part),
                     "--save", str(end)]) == 0
    a, b = load_pt(whole), load_pt(end)
    depth = run_depth(8 * 10)
    assert_close(b.weights_0_1, a.weights_0_1, "weights_0_1", depth)
    assert_close(b.weights_1_2, a.weights_1_2, "weights_1_2", depth)


# The stacked trainer -----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("device", DEVICES)
def test_a_stack_of_models_with_their_own_alphas_on_the_device(device, dtype, dataset):
    """float64: each model's log is numpy_impl.train's. float32: each model's weights are
    close to the single-model torch run of its config on the same device."""
    base = Config(hidden="tanh", mode="exact", iterations=12, log_every=4,
                  divisor="batch*classes", alpha=0.5, dtype=dtype)
    configs = [base, base.replace(alpha=1.0, seed=7), base.replace(alpha=2.0, init_1_2=0.01)]
    stack = train_stack(configs, dataset, device)
    assert stack.stack.weights_0_1.device.type == device
    assert stack.diverged == [None] * len(configs)
    depth = run_depth(12 * 10)
    for m, config in enumerate(configs):
        weights_0_1 = stack.stack.weights_0_1.view(784, len(configs), -1)[:, m]
        weights_1_2 = stack.stack.weights_1_2[m]
        if dtype == "float64":
            records = []
            network = numpy_train(config, dataset, records.append)
            assert [str(r) for r in stack.logs[m]] == [str(r) for r in records]
            expected = network.weights_0_1, network.weights_1_2
        else:
            expected = weights(torch_train(config, dataset, device=device))
        assert_close(weights_0_1, expected[0], f"model {m}: weights_0_1", depth)
        assert_close(weights_1_2, expected[1], f"model {m}: weights_1_2", depth)


# The bench's device rows -------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
def test_the_bench_rows_of_a_device_run_there_against_its_own_gemm(device, dataset):
    chapter = bench.DEVICE_CHAPTER.replace(iterations=3)
    rows = bench.device_rows(device, dataset, chapter=chapter)
    gemm = bench.device_gemm("float32", 256, device)
    timings, _ = bench.round_robin([gemm, *(row.run for row in rows)], rounds=2)
    rates = {device: {"float32": 2 * 256**3 / timings[0].median / 1e9}}
    [row] = bench.results(rows, timings[1:], rates, {}, speedups=False)
    assert row["run"] == f"torch {device}, book mode, torch masks"
    assert row["roofline"] == device and row["test_passes"] == 1
    flops = bench.dense_flops(chapter, 1)
    assert row["roofline_fraction"] == pytest.approx(
        flops / (rates[device]["float32"] * 1e9) / row["seconds"])
    assert 30 < row["peak_mb"] < 16000  # the host's, in a process of its own
    if device == "cuda":
        assert 0 < row["gpu_peak_mb"] < 2000  # the chapter's tensors: tens of MB
    else:
        assert row["gpu_peak_mb"] is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_bench_device_rows_on_cuda_without_a_gpu_is_one_clear_line(capsys):
    assert bench.main(["--quick", "--device-rows", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no CUDA GPU" in err


# Determinism -------------------------------------------------------------------------------

@pytest.mark.parametrize("rng", ["numpy", "torch"])
@pytest.mark.parametrize("device", DEVICES)
def test_plain_runs_repeat_to_the_bit(device, rng, dataset):
    """What users run: no torch.use_deterministic_algorithms, no CUBLAS_WORKSPACE_CONFIG
    set here; the same run twice in one process, and a stack twice, give the same weights."""
    assert not torch.are_deterministic_algorithms_enabled()
    config = PRESETS["relu"].replace(iterations=5, dtype="float32")
    a, b = (weights(torch_train(config, dataset, device=device, rng=rng)) for _ in range(2))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    if rng == "numpy":
        configs = [config, config.replace(alpha=1.0, seed=3)]
        c, d = (train_stack(configs, dataset, device).stack for _ in range(2))
        assert torch.equal(c.weights_0_1, d.weights_0_1)
        assert torch.equal(c.weights_1_2, d.weights_1_2)


# Full float32 precision, whatever the caller set -------------------------------------------

def precision_now() -> tuple[str, bool, bool]:
    return (torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32)


RUNS = {
    "train": lambda device, data: torch_train(
        PRESETS["relu"].replace(iterations=1, dtype="float32"), data, device=device),
    "train_stack": lambda device, data: train_stack(
        [Config(iterations=1, dtype="float32")], data, device),
    "first_step": lambda device, data: parity.first_step(
        PRESETS["tanh"].replace(dtype="float32"), data, device),
}
STEPS = {"train": (torch_network.Network, "train_step"),
         "train_stack": (stacked.Stack, "train_step"),
         "first_step": (torch_network.Network, "train_step")}


def precision_during(run: str, device: str, dataset, monkeypatch) -> set[tuple[str, bool, bool]]:
    """The precision settings each training step of `run` saw."""
    seen = set()
    owner, name = STEPS[run]
    step = getattr(owner, name)

    def spy(*args, **kwargs):
        seen.add(precision_now())
        return step(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)
    RUNS[run](device, dataset)
    return seen


@pytest.fixture
def caller_settings():
    """Whatever a test sets, the session gets its settings back."""
    precision, cudnn_tf32 = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    yield
    torch.set_float32_matmul_precision(precision)
    torch.backends.cudnn.allow_tf32 = cudnn_tf32


@pytest.mark.parametrize("caller", ["high", "medium"])
@pytest.mark.parametrize("run", list(RUNS))
@pytest.mark.parametrize("device", DEVICES)
def test_float32_matmuls_run_at_full_precision_and_the_callers_setting_returns(
        device, run, caller, dataset, monkeypatch, caller_settings):
    torch.set_float32_matmul_precision(caller)
    torch.backends.cudnn.allow_tf32 = True
    before = precision_now()
    assert before[0] == caller and before[1]
    assert precision_during(run, device, dataset, monkeypatch) == {("highest", False, False)}
    assert precision_now() == before


@pytest.mark.parametrize("run", list(RUNS))
def test_the_precision_check_catches_a_trainer_that_does_not_pin(run, dataset, monkeypatch,
                                                                   caller_settings):
    """The mutant: full_precision that does nothing, in each module that uses it."""
    for module in (torch_train_module, stacked, parity):
        monkeypatch.setattr(module, "full_precision", lambda *a: contextlib.nullcontext())
    torch.set_float32_matmul_precision("high")
    assert ("highest", False, False) not in precision_during(run, "cpu", dataset, monkeypatch)


def test_full_precision_restores_the_callers_settings_after_an_error(caller_settings):
    torch.set_float32_matmul_precision("medium")
    torch.backends.cudnn.allow_tf32 = False
    with pytest.raises(ZeroDivisionError), torch_device.full_precision(
            torch.device("cpu"), torch.float32):
        assert precision_now() == ("highest", False, False)
        1 / 0  # noqa: B018
    assert precision_now() == ("medium", True, False)


# Notes for a GPU run -----------------------------------------------------------------------

def pretend_cuda(monkeypatch) -> None:
    """Runs on the CPU take the GPU's code paths: is_cuda says yes."""
    monkeypatch.setattr(torch_device, "is_cuda", lambda device: True)


@pytest.mark.parametrize(("dtype", "quiet", "noted"), [
    ("float64", False, True), ("float64", True, False), ("float32", False, False)])
def test_a_gpu_run_in_float64_notes_that_float32_is_faster(dtype, quiet, noted, monkeypatch,
                                                           capsys):
    pretend_cuda(monkeypatch)
    monkeypatch.delenv(torch_device.TF32_OVERRIDE, raising=False)
    argv = ["--device", "cpu", "--dtype", dtype, "--iterations", "1", "--test-size", "500"]
    assert train_py(argv + (["--quiet"] if quiet else [])) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if "note:" in line]
    if noted:
        assert notes == ["scripts/train.py: note: " + as_flags(torch_device.notes(
            torch.device("cuda"), torch.float64)[0])]
        assert "--dtype float32" in notes[0]
    else:
        assert notes == []
    if quiet:
        assert err == ""


def test_the_float64_note_is_only_for_cuda():
    assert torch_device.notes(torch.device("cuda"), torch.float64)
    assert not torch_device.notes(torch.device("cuda"), torch.float32)
    assert not torch_device.notes(torch.device("cpu"), torch.float64)


@pytest.mark.parametrize(("override", "dtype", "cuda", "noted"), [
    ("1", torch.float32, True, True), ("0", torch.float32, True, False),
    ("1", torch.float64, True, False), ("1", torch.float32, False, False)])
def test_the_tf32_override_is_noted_once_for_a_cuda_float32_run(override, dtype, cuda, noted,
                                                                 monkeypatch, capsys):
    if cuda:
        pretend_cuda(monkeypatch)
    monkeypatch.setenv(torch_device.TF32_OVERRIDE, override)
    torch_device.note_tf32_override.cache_clear()
    for _ in range(2):
        with torch_device.full_precision(torch.device("cpu"), dtype):
            pass
    err = capsys.readouterr().err
    assert err.count(f"note: {torch_device.TF32_OVERRIDE}=1 is set") == (1 if noted else 0)
    assert err.count("\n") == (1 if noted else 0)
    torch_device.note_tf32_override.cache_clear()


# The study's activation timings --------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
def test_the_study_times_torchs_activations_on_its_device(device, monkeypatch):
    seen = set()

    def spy(function):
        def timed(x):
            seen.add(x.device.type)
            return function(x)
        return timed

    for name, (forward, derivative) in list(torch_act.HIDDEN.items()):
        monkeypatch.setitem(torch_act.HIDDEN, name, (spy(forward), spy(derivative)))
    speed = study.activation_seconds(2, device)
    assert seen == {device}
    assert set(speed) == {"NumPy float64", "torch float64", "NumPy float32", "torch float32"}
    assert all(0 < t < 1 and math.isfinite(t) for library in speed.values()
               for step in library.values() for t in step.values())
