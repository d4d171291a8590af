"""Every GPU code path (CUDA, Apple's MPS), on the device parameter: checkpoints and resuming
across devices, the stacked trainer, the bench's device rows, determinism of plain runs,
float32 matmuls at full precision whatever the caller set, and the notes a GPU run prints.
The CPU runs each body here; only the CUDA and MPS parameters skip where torch cannot use
that GPU. Then how a device is chosen and refused, with MPS faked where there is none."""

from __future__ import annotations

import contextlib
import math
import threading

import numpy as np
import pytest

from parity_tests.conftest import NEEDS_TORCH

torch = pytest.importorskip("torch", reason=NEEDS_TORCH)

from ch9_shared.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ch9_shared.close import run_depth
from ch9_shared.config import PRESETS, Config
from ch9_shared.loop import train
from numpy_impl.fast import FastNetwork
from parity_tests import conftest
from parity_tests.conftest import (
    CUDA,
    DEVICES,
    MPS,
    assert_close,
    dtype_for,
    first_test_images,
    float64_on,
    peak_within,
)
from scripts import evaluate, stacked, study
from scripts.cli import as_flags, main
from scripts.stacked import train_stack
from tools import bench
from torch_impl import activations as torch_act
from torch_impl import device as torch_device
from torch_impl import hand_built, idiomatic, parity
from torch_impl import network as torch_network
from torch_impl.hand_built import HandBuiltModel

SHORT = [*conftest.SHORT, "--iterations", "8", "--quiet"]


def train_py(argv: list[str]) -> int:
    """scripts/train.py --impl torch, in this process."""
    return main(["--impl", "torch", *argv], prog="scripts/train.py")


def torch_train(config: Config, data, log=None, *, device="cpu", rng="numpy"
                ) -> HandBuiltModel:
    return train(HandBuiltModel(config, device, rng), data, log, device=device)


def weights(model: HandBuiltModel) -> tuple[np.ndarray, np.ndarray]:
    state = model.state()
    return state.weights_0_1, state.weights_1_2


# Checkpoints ------------------------------------------------------------------------------

@pytest.mark.parametrize("rng", ["numpy", "torch"])
@pytest.mark.parametrize("device", DEVICES)
def test_save_resume_and_evaluate_on_the_device(device, rng, tmp_path, capsys):
    """Stopped at 4 of 8 iterations and resumed on the device: the same log and, to the bit,
    the same weights and generator state as the run never stopped; evaluated there, the
    checkpoint scores as NumPy scores it."""
    flags = [*SHORT, "--device", device, "--dtype", dtype_for(device), "--rng", rng]
    whole, part, end = (tmp_path / f"{name}.npz" for name in ("whole", "part", "end"))
    assert train_py([*flags, "--iterations", "8", "--save", str(whole)]) == 0
    whole_log = capsys.readouterr().out
    assert train_py([*flags, "--iterations", "4", "--save", str(part)]) == 0
    part_log = capsys.readouterr().out
    assert train_py([*flags, "--iterations", "8", "--resume", str(part), "--save", str(end)]) == 0
    assert part_log + capsys.readouterr().out == whole_log
    assert whole_log.count("\n") == 4

    a, b = load_checkpoint(whole), load_checkpoint(end)
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


def made_on(device: str, tmp_path, dtype: str = "float64"):
    """A --rng torch checkpoint after 2 iterations, its generator state as `device` makes it:
    a GPU generator's 16 bytes are crafted where there is no such GPU."""
    path = tmp_path / f"made-on-{device}.npz"
    flags = [*SHORT, "--rng", "torch", "--iterations", "2", "--dtype", dtype, "--save", str(path)]
    if not torch_device.available(device):
        assert train_py([*flags, "--device", "cpu"]) == 0
        checkpoint = load_checkpoint(path)
        checkpoint.torch_rng = torch.Generator("cpu").manual_seed(1).get_state()[:16].numpy()
        checkpoint.torch_rng_device = device
        save_checkpoint(path, checkpoint)
    else:
        assert train_py([*flags, "--device", device]) == 0
    return path


def refused(argv: list[str], capsys) -> str:
    """The one line of a train.py run stopped before it trained (exit 2, no log)."""
    capsys.readouterr()
    status = train_py(argv)
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("scripts/train.py: error: ")
    return err.rstrip()


@pytest.mark.parametrize(("made", "resumed"), [
    ("cuda", "cpu"), pytest.param("cpu", "cuda", marks=CUDA.marks),
    ("mps", "cpu"), pytest.param("cpu", "mps", marks=MPS.marks),
])
def test_torch_masks_resume_on_another_device_is_one_clear_line(made, resumed, tmp_path,
                                                                capsys):
    """A generator's state fits only its own kind of device: resuming on another one stops
    before training, in one line that names the --device to use."""
    dtype = "float32" if "mps" in (made, resumed) else "float64"
    path = made_on(made, tmp_path, dtype)
    err = refused([*SHORT, "--rng", "torch", "--iterations", "4", "--device", resumed,
                   "--dtype", dtype, "--resume", str(path), "--save",
                   str(tmp_path / "end.npz")], capsys)
    assert err.endswith(f"--device {made}"), err
    assert not (tmp_path / "end.npz").exists()


def test_a_generator_state_of_another_size_is_one_clear_line(tmp_path, capsys):
    """A CUDA generator's 16 bytes said to be the CPU's: torch refuses the state, in one line
    that names the field."""
    path = made_on("cuda", tmp_path)
    checkpoint = load_checkpoint(path)
    checkpoint.torch_rng_device = "cpu"
    save_checkpoint(path, checkpoint)
    err = refused([*SHORT, "--rng", "torch", "--iterations", "4", "--device", "cpu",
                   "--resume", str(path)], capsys)
    assert err.endswith("torch_rng: 16 bytes, not the state of a torch.Generator on cpu"), err


@pytest.mark.parametrize("device", ["cpu", "cuda", "mps"])  # crafted where there is no GPU
def test_checkpoints_keep_the_torch_rng_device(device, tmp_path):
    checkpoint = load_checkpoint(made_on(device, tmp_path, dtype=dtype_for(device)))
    assert checkpoint.torch_rng_device == device
    save_checkpoint(tmp_path / "copy.npz", checkpoint)
    copy = load_checkpoint(tmp_path / "copy.npz")
    assert copy.torch_rng_device == device
    assert np.array_equal(copy.torch_rng, checkpoint.torch_rng)


@pytest.mark.parametrize(("made", "resumed"), [
    pytest.param("cpu", "cuda", marks=CUDA.marks), pytest.param("cuda", "cpu", marks=CUDA.marks),
    pytest.param("cpu", "mps", marks=MPS.marks), pytest.param("mps", "cpu", marks=MPS.marks)])
def test_numpy_masks_resume_on_the_other_device(made, resumed, tmp_path, capsys):
    """NumPy's masks and the weights travel: the run goes on, and ends close to the run
    that never left the first device (another device sums in another order)."""
    dtype = "float32" if "mps" in (made, resumed) else "float64"
    flags = [*SHORT, "--mode", "exact", "--dtype", dtype]
    whole, part, end = (tmp_path / f"{name}.npz" for name in ("whole", "part", "end"))
    assert train_py([*flags, "--device", made, "--iterations", "8", "--save", str(whole)]) == 0
    assert train_py([*flags, "--device", made, "--iterations", "4", "--save", str(part)]) == 0
    assert train_py([*flags, "--device", resumed, "--iterations", "8", "--resume", str(part),
                     "--save", str(end)]) == 0
    a, b = load_checkpoint(whole), load_checkpoint(end)
    depth = run_depth(8 * 10)
    assert_close(b.weights_0_1, a.weights_0_1, "weights_0_1", depth)
    assert_close(b.weights_1_2, a.weights_1_2, "weights_1_2", depth)


# The stacked trainer -----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("device", DEVICES)
def test_a_stack_of_models_with_their_own_alphas_on_the_device(device, dtype, dataset):
    """float64: each model's log is the NumPy model's. float32: each model's weights are
    close to the single-model torch run of its config on the same device."""
    float64_on(device, dtype)
    base = Config(hidden="tanh", mode="exact", iterations=12, log_every=4,
                  divisor="batch*classes", alpha=0.5, dtype=dtype)
    configs = [base, base.replace(alpha=1.0, seed=7), base.replace(alpha=2.0, init_1_2=0.01)]
    stack = train_stack(configs, dataset, device)
    assert stack.stack.weights_0_1.device.type == device
    assert stack.diverged == [None] * len(configs)
    depth = run_depth(12 * 10)
    for m, config in enumerate(configs):
        weights_0_1, weights_1_2 = stack.stack.weights_0_1[m], stack.stack.weights_1_2[m]
        if dtype == "float64":
            records = []
            network = train(FastNetwork(config), dataset, records.append)
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
    assert peak_within(row["peak_mb"], 30, 16000)  # the host's, in a process of its own
    if device == "cuda":
        assert 0 < row["gpu_peak_mb"] < 2000  # the chapter's tensors: tens of MB
    else:
        assert row["gpu_peak_mb"] is None


@pytest.mark.parametrize(("device", "says"), [("cuda", "no CUDA GPU"),
                                              ("mps", "no usable Apple GPU (MPS)")])
def test_bench_device_rows_on_a_gpu_not_here_is_one_clear_line(device, says, capsys):
    if torch_device.available(device):
        pytest.skip(f"this machine has {device}")
    assert bench.main(["--quick", "--device-rows", device]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err


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
    "first_step_both_sides": lambda device, data: parity.first_step_both_sides(
        PRESETS["tanh"].replace(dtype="float32"), data, device),
}
STEPS = {"train": (torch_network.Network, "train_step"),
         "train_stack": (stacked.Stack, "train_step"),
         "first_step_both_sides": (torch_network.Network, "train_step")}


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
    for module in (hand_built, stacked, parity):
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

@pytest.mark.parametrize(("dtype", "quiet", "noted"), [
    ("float64", False, True), ("float64", True, False), ("float32", False, False)])
def test_a_gpu_run_in_float64_notes_that_float32_is_faster(dtype, quiet, noted, monkeypatch,
                                                           capsys):
    """A run on the CPU, whose notes are those of a CUDA device: the script asks for the
    notes of the device and dtype it runs, prints them in the flags' words, and --quiet keeps
    them back."""
    cuda_notes, asked = torch_device.notes, []

    def notes_as_on_cuda(device: torch.device, dtype: torch.dtype) -> list[str]:
        asked.append((device, dtype))
        return cuda_notes(torch.device("cuda"), dtype)

    monkeypatch.setattr(torch_device, "notes", notes_as_on_cuda)
    monkeypatch.delenv(torch_device.TF32_OVERRIDE, raising=False)
    argv = ["--device", "cpu", "--dtype", dtype, "--iterations", "1", "--test-size", "500"]
    assert train_py(argv + (["--quiet"] if quiet else [])) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if "note:" in line]
    if noted:
        assert notes == ["scripts/train.py: note: " + as_flags(cuda_notes(
            torch.device("cuda"), torch.float64)[0])]
        assert "--dtype float32" in notes[0]
    else:
        assert notes == []
    if quiet:
        assert err == ""
    assert asked == ([] if quiet else [(torch.device("cpu"), getattr(torch, dtype))])


def test_the_float64_note_is_only_for_cuda():
    assert torch_device.notes(torch.device("cuda"), torch.float64)
    assert not torch_device.notes(torch.device("cuda"), torch.float32)
    assert not torch_device.notes(torch.device("cpu"), torch.float64)
    assert not torch_device.notes(torch.device("mps"), torch.float32)  # float64: refused


@pytest.mark.parametrize(("override", "dtype", "cuda", "noted"), [
    ("1", torch.float32, True, True), ("0", torch.float32, True, False),
    ("1", torch.float64, True, False), ("1", torch.float32, False, False)])
def test_the_tf32_override_is_noted_once_for_a_cuda_float32_run(override, dtype, cuda, noted,
                                                                 monkeypatch, capsys):
    monkeypatch.setenv(torch_device.TF32_OVERRIDE, override)
    torch_device.note_tf32_override.cache_clear()
    for _ in range(2):
        with torch_device.full_precision(torch.device("cuda" if cuda else "cpu"), dtype):
            pass  # the device is only looked at: no GPU is needed
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

    for name, activation in list(torch_act.HIDDEN.items()):
        monkeypatch.setitem(torch_act.HIDDEN, name, activation._replace(
            forward=spy(activation.forward), deriv=spy(activation.deriv)))
    speed = study.activation_seconds(2, device)
    assert seen == {device}
    libraries = {"NumPy float64", "torch float64", "NumPy float32", "torch float32"}
    assert set(speed) == libraries - ({"torch float64"} if device == "mps" else set())
    assert all(0 < t < 1 and math.isfinite(t) for library in speed.values()
               for step in library.values() for t in step.values())


# Choosing a device, and refusing one ---------------------------------------------------------

DEVICE_SCRIPTS = {  # every script that takes --device, as a learner runs it
    "train.py --impl torch": ("scripts/train.py", ["--impl", "torch", "--iterations", "1"]),
    "train.py --impl idiomatic": ("scripts/train.py", ["--impl", "idiomatic", "--iterations",
                                                       "1"]),
    "compare.py": ("scripts/compare.py", ["--iterations", "1"]),
    "study.py": ("scripts/study.py", ["--quick"]),
}


def device_script(name: str, device: str, tmp_path, dtype: str | None = None
                  ) -> tuple[str, list[str]]:
    """A script's path and its arguments for a run on `device` (evaluate.py: of a float64
    checkpoint)."""
    if name == "evaluate.py":
        path = tmp_path / "one.npz"
        assert main(["--iterations", "1", "--test-size", "100", "--quiet", "--save", str(path)],
                    prog="scripts/train.py") == 0
        return "scripts/evaluate.py", [str(path), "--impl", "torch", "--device", device]
    path, args = DEVICE_SCRIPTS[name]
    args = [*args, "--device", device, *(["--dtype", dtype] if dtype else [])]
    return path, args + (["--out", str(tmp_path / "study")] if name == "study.py" else [])


@pytest.mark.parametrize("name", [*DEVICE_SCRIPTS, "evaluate.py"])
@pytest.mark.parametrize("dtype", [None, "float32"])
@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_a_gpu_that_is_not_here_is_one_line_from_every_script(device, dtype, name, script,
                                                             tmp_path):
    if torch_device.available(device):
        pytest.skip(f"this machine has {device}")
    if name == "evaluate.py" and dtype:
        pytest.skip("evaluate.py takes the checkpoint's dtype")
    path, args = device_script(name, device, tmp_path, dtype)
    result = script(path, args)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"{path}: error: ")
    assert ("no CUDA GPU" if device == "cuda" else "no usable Apple GPU (MPS)") in result.stderr


@pytest.fixture
def mps_here(monkeypatch):
    """Torch, as far as the project asks, has a usable MPS (and no CUDA)."""
    monkeypatch.setattr(torch_device, "mps_usable", lambda: True)
    monkeypatch.setattr(torch_device, "accelerator", lambda: "mps")


@pytest.mark.parametrize("name", [*DEVICE_SCRIPTS, "evaluate.py"])
def test_float64_on_mps_is_one_line_naming_dtype_float32(name, mps_here, script, tmp_path):
    """The default dtype, float64, on a (faked) usable MPS: refused before anything runs, in
    the flags' words: --dtype float32 (evaluate.py, of a float64 checkpoint: --device cpu)."""
    path, args = device_script(name, "mps", tmp_path)
    result = script(path, args)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"{path}: error: ")
    assert "no float64" in result.stderr
    assert ("--device cpu" if name == "evaluate.py" else "--dtype float32") in result.stderr


def test_the_library_refuses_float64_on_mps_in_the_configs_words(mps_here, dataset):
    with pytest.raises(torch_device.NoFloat64) as refused:
        torch_device.resolve_device("mps", torch.float64)
    assert "`dtype` float64" in str(refused.value) and "--" not in str(refused.value)
    assert torch_device.resolve_device("mps", torch.float32) == torch.device("mps")
    for model in (HandBuiltModel, idiomatic.Idiomatic):
        with pytest.raises(torch_device.NoFloat64):
            model(PRESETS["relu"].replace(mode="exact", iterations=1), device="mps")


@pytest.mark.parametrize(("here", "dtype", "chosen"), [
    ("mps", torch.float32, "mps"), ("mps", torch.float64, "cpu"),
    ("cuda", torch.float32, "cuda"), ("cuda", torch.float64, "cuda"),
    (None, torch.float32, "cpu"), (None, torch.float64, "cpu")])
def test_auto_picks_an_accelerator_only_for_a_dtype_it_runs(here, dtype, chosen, monkeypatch):
    monkeypatch.setattr(torch_device, "accelerator", lambda: here)
    monkeypatch.setattr(torch_device, "available", lambda kind: True)
    assert torch_device.resolve_device("auto", dtype) == torch.device(chosen)


@pytest.mark.parametrize("has_accelerator_api", [True, False])
@pytest.mark.parametrize(("reported", "usable", "found"), [
    ("mps", True, "mps"), ("mps", False, None), ("cuda", True, "cuda"), (None, True, None)])
def test_the_accelerator_is_one_torch_reports_and_mps_only_where_usable(
        has_accelerator_api, reported, usable, found, monkeypatch):
    """torch.accelerator where torch has it; torch.cuda and torch.backends.mps where not."""
    monkeypatch.setattr(torch_device, "mps_usable", lambda: usable)
    if has_accelerator_api:
        monkeypatch.setattr(torch.accelerator, "is_available", lambda: reported is not None)
        monkeypatch.setattr(torch.accelerator, "current_accelerator",
                            lambda: None if reported is None else torch.device(reported))
        monkeypatch.setattr(torch.cuda, "is_available", lambda: 1 / 0)  # not asked
    else:
        monkeypatch.delattr(torch, "accelerator")
        monkeypatch.setattr(torch.cuda, "is_available", lambda: reported == "cuda")
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: reported == "mps")
    assert torch_device.accelerator() == found


@pytest.mark.parametrize(("available", "computes", "usable"), [
    (False, True, False), (True, True, True), (True, False, False)])
def test_mps_is_usable_only_where_a_small_tensor_computes_on_it(available, computes, usable,
                                                                monkeypatch):
    """GitHub's macOS runners report MPS available, then fail to allocate: the probe says
    unusable, once a process (cached)."""
    real, probes = torch.ones, []

    def ones(*size, device=None):
        probes.append(device)
        if not computes:
            raise RuntimeError("MPS backend out of memory (faked)")
        return real(*size)

    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: available)
    monkeypatch.setattr(torch, "ones", ones)
    torch_device.mps_usable.cache_clear()
    try:
        assert torch_device.mps_usable() is usable
        assert torch_device.mps_usable() is usable
        assert probes == (["mps"] if available else [])
    finally:
        torch_device.mps_usable.cache_clear()


@pytest.mark.parametrize("has_accelerator_api", [True, False])
@pytest.mark.parametrize("device", ["cpu", "cuda", "mps"])
def test_synchronize_waits_on_the_devices_own_queue(device, has_accelerator_api, monkeypatch):
    waited = []
    if has_accelerator_api:
        monkeypatch.setattr(torch.accelerator, "synchronize",
                            lambda d: waited.append(("accelerator", d.type)))
    else:
        monkeypatch.delattr(torch, "accelerator")
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d: waited.append(("cuda", d.type)))
    monkeypatch.setattr(torch.mps, "synchronize", lambda: waited.append(("mps", "mps")))
    torch_device.synchronize(torch.device(device))
    if device == "cpu":
        assert waited == []
    else:
        assert waited == [("accelerator" if has_accelerator_api else device, device)]


@pytest.mark.parametrize("device", ["cpu", "cuda", "mps"])
def test_the_dropout_generator_state_is_the_devices_own(device, monkeypatch):
    """nn.Dropout draws from the device's default generator: its state is read and set
    there (torch.cuda's, torch.mps's, faked where there is no such GPU)."""
    states = {}
    if device != "cpu":
        module = getattr(torch, device)
        monkeypatch.setattr(module, "get_rng_state", lambda *d: torch.full((16,), 7,
                                                                          dtype=torch.uint8))
        monkeypatch.setattr(module, "set_rng_state",
                            lambda state, *d: states.setdefault(device, state))
    where = torch.device(device)
    state = idiomatic.dropout_rng_state(where)
    assert torch.equal(state, torch.get_rng_state()) == (device == "cpu")
    idiomatic.set_dropout_rng_state(where, state)
    if device != "cpu":
        assert torch.equal(states[device], torch.full((16,), 7, dtype=torch.uint8))


@pytest.mark.parametrize("here", ["cpu", "mps"])
def test_a_checkpoint_resumes_its_generator_on_its_own_kind_of_device_alone(here, tmp_path):
    checkpoint = load_checkpoint(made_on("mps", tmp_path, dtype="float32"))
    assert checkpoint.torch_rng_device == "mps"
    set_to = []
    if here == "mps":
        state = checkpoint.torch_rng_on(here)
        hand_built.set_generator_state(state, torch.device(here), set_to.append)
        assert [bytes(state.numpy()) for state in set_to] == [bytes(checkpoint.torch_rng)]
    else:
        with pytest.raises(CheckpointError, match="on mps, which cannot go on on cpu: resume "
                                                  "it with `device` mps"):
            checkpoint.torch_rng_on(here)


@pytest.mark.parametrize("gpu", [False, True])
def test_the_test_passes_run_inline_on_a_gpu(gpu, dataset, monkeypatch):
    """On CUDA or MPS (faked: the loop is told the device, the model runs on the CPU) each
    logged test pass is queued on the training thread; on the CPU it runs on the second
    thread. The loop decides, from the device the runner names."""
    names, real = [], hand_built.test_pass
    monkeypatch.setattr(hand_built, "test_pass", lambda *a: (
        names.append(threading.current_thread().name), real(*a))[1])
    train(HandBuiltModel(PRESETS["relu"].replace(iterations=3, log_every=1), "cpu"),
          first_test_images(dataset, 100), lambda r: None, device="cuda" if gpu else "cpu")
    assert len(names) == 3
    assert all(name == threading.main_thread().name for name in names) == gpu
    assert all(name.startswith("test-pass") for name in names) != gpu
