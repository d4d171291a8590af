"""Benchmark the chapter run, side by side, in one process.

    python tools/bench.py                    # about 11 minutes on 2 cores
    python tools/bench.py --quick            # one round, a tenth of each run: about 2 min
    python tools/bench.py --data-dir ~/mnist --json bench.json   # with a full MNIST
    python tools/bench.py --quick --device-rows cuda   # the GPU's rows alone (or mps)
    python tools/bench.py --against ../old --repeats 7   # book run, grading: this / another
    python tools/bench.py --grading --json grading.json  # checks as ratios of the book's run

Measures the machine's dense GEMM rate (large square matmuls) and each run, round-robin
(every row once a round, --repeats rounds, so that a slow minute on a shared machine slows
every row alike). For each run: the median seconds, its FLOPs (the dense arithmetic: every
matmul of the chapter over all 784 pixels, its test passes included), GFLOP/s, the
fraction of the roofline (FLOPs / GEMM rate: 100% would be the run at the speed of one big
matmul), its peak memory (scripts/train.py making the same run in a process of its
own, after the rounds) and the speed-up over a baseline in the book program's own structure.
With a CUDA GPU, the GPU's rows take their roofline from a GEMM on the GPU (float32 at full
precision, timed in the same rounds) and add the GPU's peak memory (torch.cuda's
max_memory_allocated, the JSON's "gpu_peak_mb").
Every run keeps its log, unprinted, so that it makes the test passes a learner's run
makes. Prints a Markdown table; --json writes the rows too.
"""

from __future__ import annotations

import scripts  # noqa: F401  first: a signal during the imports below is one line

# isort: split

import contextlib
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ch9_shared import system
from ch9_shared.config import CLASSES, PIXELS, PRESETS, Config, ConfigError
from ch9_shared.data import SHIPPED, DataError, Dataset, load
from ch9_shared.files import OutputError, distinct, writable_file, write_atomically
from ch9_shared.loop import LogRecord, Model, train
from ch9_shared.threads import SecondThread, one_thread
from numpy_impl.fast import FastNetwork
from numpy_impl.listing import run_listing
from scripts.cli import Parser, about, as_flags, exit_with, idx_files, output_file


def peak_mb(argv: Sequence[str]) -> float | None:
    """The peak resident memory of `scripts/train.py argv` in a process of its own, as a
    learner runs it: Python, the libraries, the data and the run (None on Windows)."""
    train_py = str(Path(__file__).parent.parent / "scripts" / "train.py")
    return system.peak_mb([sys.executable, train_py, "--quiet", *argv])


def logged(model: Callable[[Config], Model], config: Config, data: Dataset,
           device: str = "cpu") -> Callable[[], int]:
    """A run as scripts/train.py makes it on `device` (a kind: "cpu", "cuda", "mps"), its
    log kept but not printed; returns its number of test passes (one per log line)."""
    def run() -> int:
        records: list[LogRecord] = []
        train(model(config), data, log=records.append, device=device)
        return len(records)
    return run


def gemm(dtype: str, n: int) -> Callable[[], object]:
    """One n x n matmul: the machine's dense rate is its 2 n**3 FLOPs over its seconds."""
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n)).astype(dtype), rng.random((n, n)).astype(dtype)
    a @ b
    return lambda: a @ b


def big_matmuls(config: Config, data: Dataset, policy: bool = False) -> Callable[[], int]:
    """The chapter run's big matmuls and nothing else, at their shapes in numpy_impl/fast.py
    (each batch's zero pixels dropped, the test pass at logged iterations): the floor under
    any NumPy run of this arithmetic on this machine. With `policy`, on the run's threads:
    training's products on one BLAS thread, each test pass on a second thread, on a copy
    of the weights (ch9_shared/threads.py). Returns its number of test passes."""
    fast = FastNetwork(config)
    batches = fast.layout_batches(data.train_images, data.train_labels)
    rng = np.random.default_rng(0)
    weights_0_1 = rng.random((PIXELS, config.hidden_size))
    layer_1_delta = rng.random((config.batch_size, config.hidden_size))
    test_layer_0, pixels = fast.layout_test(data.test_images), fast.test_pixels

    def test_pass(snapshot: np.ndarray) -> None:
        snapshot.T @ test_layer_0.T

    def run() -> int:
        test_passes = 0
        threads = one_thread() if policy else contextlib.nullcontext()
        with threads, SecondThread(lambda _: None, inline=not policy) as tests:
            for iteration in range(config.iterations):
                for batch in batches:
                    batch.layer_0 @ weights_0_1[batch.pixels]
                    batch.layer_0.T @ layer_1_delta
                if iteration % config.log_every == 0:
                    tests.submit(functools.partial(test_pass, weights_0_1[pixels]))
                    test_passes += 1
        return test_passes
    return run


def dense_flops(config: Config, evaluations: int) -> float:
    """The chapter's matmuls over all 784 pixels: per batch, forward (layer_0 @ weights_0_1,
    layer_1 @ weights_1_2) and backward (layer_1_delta, both weight gradients); per test
    pass, the forward over the test set."""
    b, h = config.batch_size, config.hidden_size
    per_batch = 2 * b * (2 * PIXELS * h + 3 * h * CLASSES)
    per_test = 2 * config.test_size * (PIXELS * h + h * CLASSES)
    batches = config.iterations * (config.train_size // config.batch_size)
    return batches * per_batch + evaluations * per_test


class Row(NamedTuple):
    """One line of the table. `run` makes the run and returns its number of test passes;
    `scale` stretches a run made on part of the work to all of it; `argv`, the flags of
    scripts/train.py that make the same run (for its peak memory in a process of its own);
    `roofline`, "numpy" for the CPU's rows, the device for a device row ("cuda")."""

    name: str
    config: Config
    run: Callable[[], int]
    argv: tuple[str, ...] | None = None
    scale: float = 1.0
    images_per_second: bool = False
    roofline: str = "numpy"  # whose dense GEMM is its roofline: NumPy's, or a torch device's
    device_peaks: list[float] | None = None  # a device row's peak MB on the GPU, run by run
    busy: bool = False  # a chapter run: timed again with one core busy
    flops: bool = True  # the chapter's arithmetic (not the study: its FLOP columns are blank)


@dataclass
class Timing:
    """One contender's runs: the seconds of each, and what the last one returned."""

    seconds: list[float] = field(default_factory=list)
    result: object = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


@contextlib.contextmanager
def one_core_busy() -> Iterator[None]:
    """Another process keeps one core busy inside the block, as a browser or an editor does
    on a learner's machine: a run's thread pools then get one core less than they expect."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # until it spins
        yield
    finally:
        spinner.kill()
        spinner.wait()


def round_robin(runs: list[Callable[[], object]], rounds: int,
                busy: list[Callable[[], object]] = ()) -> tuple[list[Timing], list[Timing]]:
    """Every run once a round, `rounds` times over: a slow minute on a shared machine then
    slows every contender alike, not just the one that happened to be running. In each
    round the `busy` runs then run again with one core busy (one_core_busy)."""
    timings, busy_timings = [Timing() for _ in runs], [Timing() for _ in busy]

    def time_each(contenders: list[Callable[[], object]], into: list[Timing]) -> None:
        for run, timing in zip(contenders, into, strict=True):
            start = time.perf_counter()
            timing.result = run()
            timing.seconds.append(time.perf_counter() - start)

    for done in range(rounds):
        start_round = time.perf_counter()
        time_each(runs, timings)
        if busy:
            with one_core_busy():
                time_each(busy, busy_timings)
        print(f"  round {done + 1} of {rounds}: {time.perf_counter() - start_round:.0f} s",
              file=sys.stderr)
    return timings, busy_timings


def results(rows: list[Row], timings: list[Timing], rates: dict[str, dict[str, float]],
            busy: dict[str, Timing], speedups: bool = True) -> list[dict]:
    """The table's rows as dicts; speed-ups are over the first row, the baseline. Each row's
    roofline is the dense GEMM rate of its own device (`rates[row.roofline][dtype]`); `busy`
    has the busy timings of the rows timed busy too, by name. Each row's peak memory in the
    host is measured here, after the rounds, in a process of its own; a GPU row's peak on
    the GPU was measured in its rounds."""
    baseline = timings[0].median * rows[0].scale
    out = []
    for row, timing in zip(rows, timings, strict=True):
        busy_seconds = busy[row.name].median * row.scale if row.name in busy else None
        config, seconds = row.config, timing.median * row.scale
        test_passes = round(int(timing.result) * row.scale) if row.flops else None
        flops = dense_flops(config, test_passes) if row.flops else None
        roofline = flops / (rates[row.roofline][config.dtype] * 1e9) if row.flops else None
        chapter = (config.iterations, config.train_size) == (300, 1000) and row.flops
        out.append({
            "run": row.name, "dtype": config.dtype, "iterations": config.iterations,
            "train_size": config.train_size, "test_passes": test_passes,
            "seconds": seconds, "seconds_each_round": [t * row.scale for t in timing.seconds],
            "gflop": flops / 1e9 if row.flops else None,
            "gflop_per_s": flops / seconds / 1e9 if row.flops else None,
            "roofline_fraction": roofline / seconds if row.flops else None,
            "roofline": row.roofline,
            "peak_mb": peak_mb(row.argv) if row.argv is not None else None,
            "gpu_peak_mb": max(row.device_peaks) if row.device_peaks else None,
            "speedup": baseline / seconds if chapter and speedups else None,
            "busy_seconds": busy_seconds,
            "busy_seconds_each_round": ([t * row.scale for t in busy[row.name].seconds]
                                        if row.name in busy else None),
            "busy_over_idle": None if busy_seconds is None else busy_seconds / seconds,
            "images_per_s": (config.iterations * config.train_size / seconds
                             if row.images_per_second else None),
        })
    return out


def table(rows: list[dict]) -> str:
    lines = ["| run | dtype | iterations x images | median s | one core busy: s | GFLOP "
             "| GFLOP/s | of roofline | peak MB | speed-up |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        speedup = f"{r['speedup']:.1f}x" if r["speedup"] else ""
        if r["images_per_s"]:
            speedup = f"{r['images_per_s'] / 1e6:.2f} M images/s"
        peak = "" if r["peak_mb"] is None else f"{r['peak_mb']:.0f}"
        if r["gpu_peak_mb"] is not None:
            peak += f" (GPU {r['gpu_peak_mb']:.0f})"
        busy = ("" if r["busy_seconds"] is None
                else f"{r['busy_seconds']:.2f} ({r['busy_over_idle']:.2f}x)")
        work = ("| | | |" if r["gflop"] is None else f"| {r['gflop']:.1f} | {r['gflop_per_s']:.1f} "
                f"| {100 * r['roofline_fraction']:.0f}% |")
        lines.append(f"| {r['run']} | {r['dtype']} | {r['iterations']} x {r['train_size']} "
                     f"| {r['seconds']:.2f} | {busy} {work} {peak} | {speedup} |")
    return "\n".join(lines)


QUICK_ITERATIONS = 30
"""--quick times each chapter row on its first 30 iterations (3 test passes) and scales by
10, as the baseline is always timed on part of the run: the same rows, in a tenth of the time."""


class Part(NamedTuple):
    """What a chapter row times: all of the run, or with --quick its first 30 iterations."""

    config: Config
    scale: float  # from the part to the whole run
    flags: tuple[str, ...]  # scripts/train.py's flags for the part (for its peak memory)
    label: str  # added to the row's name


def timed_part(config: Config, quick: bool) -> Part:
    if not quick:
        return Part(config, 1.0, (), "")
    part = config.replace(iterations=QUICK_ITERATIONS)
    return Part(part, config.iterations / part.iterations, ("--iterations", str(part.iterations)),
                f" (timed on {part.iterations} iterations, scaled)")


def numpy_rows(data: Dataset, quick: bool) -> list[Row]:
    chapter = PRESETS["tanh"]
    exact32 = chapter.replace(mode="exact", dtype="float32")
    listing_part = 3 if quick else 30  # the baseline is timed on part of the run, then scaled
    book, exact32_part = timed_part(chapter, quick), timed_part(exact32, quick)
    return [
        Row(f"book-structured baseline (timed on {listing_part} iterations, scaled)", chapter,
            lambda: len(run_listing("tanh", 1, data.train_images, data.train_labels,
                                    data.test_images, data.test_labels, listing_part,
                                    log_every=1)),
            scale=chapter.iterations / listing_part),
        Row(f"numpy, book mode{book.label}", chapter, logged(FastNetwork, book.config, data),
            book.flags, book.scale, busy=True),
        Row(f"numpy, its big matmuls alone (the floor){book.label}", chapter,
            big_matmuls(book.config, data), scale=book.scale),
        Row(f"numpy, its big matmuls alone, on the run's threads{book.label}", chapter,
            big_matmuls(book.config, data, policy=True), scale=book.scale),
        Row(f"numpy, exact mode{exact32_part.label}", exact32,
            logged(FastNetwork, exact32_part.config, data),
            ("--mode", "exact", "--dtype", "float32", *exact32_part.flags), exact32_part.scale,
            busy=True),
    ]


def scaling_rows(data: Dataset, full: Dataset | None, data_dir: Path | None) -> list[Row]:
    """One epoch of book mode at growing train sizes: how the cost grows with the work."""
    rows = []
    for size in (1000, 10000, 60000):
        if full is None and size > 1000:
            print(f"  train size {size}: needs --data-dir with the full MNIST", file=sys.stderr)
            continue
        config = PRESETS["tanh"].replace(iterations=1, train_size=size)
        flags = ("--iterations", "1", "--train-size", str(size))
        if full is not None:
            flags += ("--data-dir", str(data_dir))
        rows.append(Row(f"numpy, book mode, one epoch of {size}", config,
                        logged(FastNetwork, config, data if full is None else full), flags))
    return rows


def quick_study() -> Callable[[], int]:
    """`python scripts/study.py --quick` in a process of its own, as a learner runs it, its
    report in a scratch folder; returns 0 (it makes none of the chapter's test passes)."""
    study_py = str(Path(__file__).parent.parent / "scripts" / "study.py")

    def run() -> int:
        with tempfile.TemporaryDirectory() as out:
            subprocess.run([sys.executable, study_py, "--quick", "--device", "cpu", "--out",
                            out], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        return 0
    return run


def torch_rows(data: Dataset, quick: bool) -> list[Row]:
    """The chapter with torch on the CPU, both mask streams (roofline: NumPy's GEMM); the
    idiomatic model; and the quick study, whose FLOPs are not the chapter's."""
    from torch_impl.hand_built import HandBuiltModel
    from torch_impl.idiomatic import Idiomatic

    chapter = PRESETS["tanh"]
    native = chapter.replace(dtype="float32")
    exact = chapter.replace(mode="exact")
    book, native_part = timed_part(chapter, quick), timed_part(native, quick)
    exact_part = timed_part(exact, quick)
    train(HandBuiltModel(chapter.replace(iterations=1), "cpu"), data)  # first-call costs
    return [
        Row(f"torch cpu, book mode, NumPy masks{book.label}", chapter,
            logged(functools.partial(HandBuiltModel, device="cpu"), book.config, data),
            ("--impl", "torch", "--device", "cpu", *book.flags), book.scale, busy=True),
        Row(f"torch cpu, book mode, torch masks{native_part.label}", native,
            logged(functools.partial(HandBuiltModel, device="cpu", rng="torch"),
                   native_part.config, data),
            ("--impl", "torch", "--device", "cpu", "--dtype", "float32", "--rng", "torch",
             *native_part.flags), native_part.scale, busy=True),
        Row(f"idiomatic (nn.Sequential), exact mode{exact_part.label}", exact,
            logged(functools.partial(Idiomatic, device="cpu"), exact_part.config, data),
            ("--impl", "idiomatic", "--device", "cpu", *exact_part.flags), exact_part.scale,
            busy=True),
        Row("scripts/study.py --quick (every group of the study, 30 iterations)",
            PRESETS["tanh"].replace(iterations=30), quick_study(), busy=True, flops=False),
    ]


DEVICE_CHAPTER = PRESETS["tanh"].replace(dtype="float32")
"""The chapter as the device rows run it: float32, masks from a torch.Generator."""


def device_gemm(dtype: str, n: int, device: str) -> Callable[[], object]:
    """One n x n matmul on a torch device at full float32 precision, waited for: the
    device's dense rate, the roofline of its rows."""
    import torch

    from torch_impl.device import full_precision, synchronize

    where, torch_dtype = torch.device(device), getattr(torch, dtype)
    generator = torch.Generator(where).manual_seed(0)
    a, b = (torch.rand((n, n), generator=generator, dtype=torch_dtype, device=where)
            for _ in range(2))

    def run() -> None:
        with full_precision(where, torch_dtype):
            a @ b
            synchronize(where)
    run()
    return run


def device_rows(device: str, data: Dataset, full: Dataset | None = None,
                data_dir: Path | None = None, quick: bool = False,
                chapter: Config = DEVICE_CHAPTER) -> list[Row]:
    """The rows of a torch device, "cuda" or "mps" on a GPU ("cpu" runs the same code without
    one): the chapter with torch masks and, given the full MNIST, epochs of it in images per
    second. Each run is waited for (synchronized) before its time is taken, and keeps a CUDA
    GPU's peak allocated memory; its roofline is the device's own GEMM (device_gemm)."""
    import torch

    from torch_impl.device import synchronize
    from torch_impl.hand_built import HandBuiltModel

    where = torch.device(device)

    def on_device(config: Config, dataset: Dataset, peaks: list[float]) -> Callable[[], int]:
        run = logged(functools.partial(HandBuiltModel, device=where, rng="torch"), config,
                     dataset, where.type)

        def synchronized() -> int:
            if where.type == "cuda":
                torch.cuda.reset_peak_memory_stats(where)
            test_passes = run()
            synchronize(where)
            if where.type == "cuda":
                peaks.append(torch.cuda.max_memory_allocated(where) / 2**20)
            return test_passes
        return synchronized

    on_device(chapter.replace(iterations=2), data, [])()  # first-call costs
    flags = ("--impl", "torch", "--device", device, "--dtype", chapter.dtype, "--rng", "torch")
    peaks: list[float] = []
    rows = [Row(f"torch {device}, book mode, torch masks", chapter,
                on_device(chapter, data, peaks), (*flags, "--iterations", str(chapter.iterations)),
                roofline=device, device_peaks=peaks)]
    if full is not None:
        epochs = 2 if quick else 5
        mnist = chapter.replace(train_size=len(full.train_labels), iterations=epochs,
                                log_every=epochs)
        peaks = []
        rows.append(Row(f"torch {device}, full MNIST, {epochs} epochs", mnist,
                        on_device(mnist, full, peaks),
                        (*flags, "--data-dir", str(data_dir), "--train-size",
                         str(mnist.train_size), "--iterations", str(epochs), "--log-every",
                         str(epochs)),
                        images_per_second=True, roofline=device, device_peaks=peaks))
    return rows


def gemm_line(rates: dict[str, dict[str, float]], sizes: dict[str, int]) -> str:
    """dense GEMM (2000x2000): float64 107 GFLOP/s, float32 205 GFLOP/s; cuda (8192x8192): ..."""
    parts = []
    for who, by_dtype in rates.items():
        where = "" if who == "numpy" else f"{who} "
        parts.append(f"{where}({sizes[who]}x{sizes[who]}): " + ", ".join(
            f"{dtype} {rate:.0f} GFLOP/s" for dtype, rate in by_dtype.items()))
    return "dense GEMM " + "; ".join(parts)


AGAINST = {
    "the book's run": ["scripts/train.py", "--quiet"],
    "grading the backprop solutions": ["scripts/check_exercises.py",
                                       "exercises/backprop_solutions.py"],
    "grading the autograd solutions": ["scripts/check_exercises.py",
                                       "exercises/autograd_solutions.py"],
}
"""What --against times in both checkouts: the book's run, as a learner runs it, and a
teacher's grading of each track's right answers (each file in its child process)."""
GRADING = {**AGAINST, "checking one exercise (tanh2deriv)": [
    "scripts/check_exercises.py", "exercises/backprop_solutions.py", "--only", "tanh2deriv"]}
"""What --grading times in this checkout: AGAINST, and a learner's check of one exercise
that needs no torch."""
BOOK_RUN = "the book's run"


def timed_commands(plan: list[tuple[str, Path, str]], rounds: int, idle_only: bool
                   ) -> list[dict]:
    """Each (checkout, its tree, a command of GRADING) of the plan, a process of its own
    (`python ARGS`, in the checkout, with its own packages), round-robin: every command of
    every checkout once a round, then again with one core busy. A row each: the median
    seconds, idle and busy, and their ratio to the same checkout's book run in the same
    rounds."""
    def command(tree: Path, args: list[str]) -> Callable[[], object]:
        env = {**os.environ, "PYTHONPATH": str(tree)}  # its own packages, not this checkout's
        return lambda: subprocess.run([sys.executable, *args], cwd=tree, env=env, check=True,
                                      stdout=subprocess.DEVNULL)

    runs = [command(tree, GRADING[what]) for _, tree, what in plan]
    timings, busy = round_robin(runs, rounds, [] if idle_only else runs)
    pairs = [(name, what) for name, _, what in plan]
    medians = {pair: timing.median for pair, timing in zip(pairs, timings, strict=True)}
    busy_medians = {pair: timing.median for pair, timing in zip(pairs, busy, strict=True)
                    } if busy else {}
    rows = []
    for index, (name, what) in enumerate(pairs):
        book, busy_book = medians[(name, BOOK_RUN)], busy_medians.get((name, BOOK_RUN))
        busy_seconds = busy_medians.get((name, what))
        rows.append({
            "checkout": name, "run": what, "command": GRADING[what],
            "seconds": medians[(name, what)], "seconds_each_round": timings[index].seconds,
            "of_book_run": medians[(name, what)] / book,
            "busy_seconds": busy_seconds,
            "busy_seconds_each_round": busy[index].seconds if busy else None,
            "busy_of_book_run": None if busy_seconds is None else busy_seconds / busy_book})
    return rows


def load_average() -> list[float] | None:
    """The machine's load over the last 1, 5 and 15 minutes (None on Windows): on a shared
    machine, how busy it was besides the bench."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def grading_table(rows: list[dict]) -> str:
    """The rows of timed_commands as a Markdown table."""
    lines = ["| checkout | run | median s | of the book's run | one core busy: s | of the "
             "book's run, busy |", "|---|---|---|---|---|---|"]
    for r in rows:
        busy = ("| |" if r["busy_seconds"] is None
                else f"| {r['busy_seconds']:.2f} | {r['busy_of_book_run']:.2f}x |")
        lines.append(f"| {r['checkout']} | {r['run']} | {r['seconds']:.2f} "
                     f"| {r['of_book_run']:.2f}x {busy}")
    return "\n".join(lines)


def against(other: Path, rounds: int, idle_only: bool) -> tuple[list[str], list[dict]]:
    """Each of AGAINST in this checkout and in `other` (a `git worktree` of an older commit,
    run with this Python), and this checkout's check of one exercise, round-robin, idle and
    with one core busy: the median seconds of each and their ratio, in one run; and
    timed_commands' rows (the other checkout's named by its folder)."""
    here = Path(__file__).resolve().parent.parent
    if not (other / "scripts" / "train.py").is_file():
        raise ConfigError(f"--against {other}: no scripts/train.py there (give a checkout of "
                          "this project)")
    plan = [(checkout, tree, what) for what in GRADING
            for checkout, tree in ((other.resolve().name, other.resolve()),
                                   ("this checkout", here))
            if what in AGAINST or tree == here]  # --only is this checkout's
    rows = timed_commands(plan, rounds, idle_only)
    by = {(r["checkout"], r["run"]): r for r in rows}
    lines = []
    for label, key in (("idle", "seconds"), ("one core busy", "busy_seconds")):
        for what in AGAINST:
            old, new = by[(other.resolve().name, what)][key], by[("this checkout", what)][key]
            if old is not None:
                lines.append(f"{what}, {label}: {other} {old:.2f} s, this checkout {new:.2f} "
                             f"s, ratio {new / old:.3f} (median of {rounds})")
    return lines, rows


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="tools/bench.py", description=about(__doc__))
    parser.add_argument("--quick", action="store_true",
                        help="one round, each chapter row timed on 30 of its 300 iterations")
    parser.add_argument("--repeats", type=int, default=5,
                        help="rounds: every row runs once a round (default: 5)")
    parser.add_argument("--data-dir", type=Path, help="the full MNIST, for the scaling rows "
                        "and the GPU's full-MNIST row")
    parser.add_argument("--json", type=output_file, help="write the rows and the machine here")
    parser.add_argument("--no-torch", action="store_true", help="NumPy rows only")
    parser.add_argument("--idle-only", action="store_true",
                        help="leave out the timings with one core busy")
    parser.add_argument("--device-rows", choices=("cuda", "mps", "cpu"),
                        help="only the rows of this torch device and its GEMM (the GPU's "
                        "rows: cuda or mps; cpu runs the same code on the CPU)")
    parser.add_argument("--against", type=Path, metavar="DIR",
                        help="only the book's run and the grading of the solutions, this "
                        "checkout against the checkout in DIR (e.g. a git worktree of main), "
                        "as ratios")
    parser.add_argument("--grading", action="store_true",
                        help="only the book's run, the check of each track's solutions and "
                        "of one exercise, each a process of its own, as ratios of the "
                        "book's run")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.against is not None and args.grading:
        parser.error("--against and --grading are two benchmarks: give one")
    if args.against is not None or args.grading:
        try:
            if args.json is not None:
                writable_file("--json", args.json)
            if args.grading:
                here = Path(__file__).resolve().parent.parent
                lines, rows = [], timed_commands([("this checkout", here, what)
                                                  for what in GRADING],
                                                 args.repeats, args.idle_only)
            else:
                lines, rows = against(args.against, args.repeats, args.idle_only)
        except (ConfigError, OutputError) as e:
            print(f"tools/bench.py: error: {as_flags(e)}", file=sys.stderr)
            return 2
        print("\n".join([*lines, "", grading_table(rows)]).strip())
        if args.json is not None:
            machine = {**system.machine(), "cpus": os.cpu_count(), "rounds": args.repeats,
                       "load_average": load_average()}
            text = json.dumps({"machine": machine, "rows": rows}, indent=2)
            write_atomically(args.json, lambda f: f.write(text.encode()))
        return 0
    if args.no_torch and args.device_rows:
        parser.error("--device-rows runs torch: leave out --no-torch")
    rounds = 1 if args.quick else args.repeats
    try:
        if args.json is not None:
            data_dir = None if args.data_dir is None else idx_files(args.data_dir)
            distinct({"--json": args.json}, {"the run": idx_files(SHIPPED), "--data-dir": data_dir})
            writable_file("--json", args.json)
        data = load()
        full = load(args.data_dir, 60000, 10000) if args.data_dir else None
        device = args.device_rows
        if not args.no_torch:
            try:
                from torch_impl.device import accelerator, available
            except ImportError as e:
                raise ConfigError(f"the torch rows need torch ({e}): pip install -e '.[torch]', "
                                  "or add --no-torch for the NumPy rows alone") from None

            if device is not None and not available(device):
                gpu = "CUDA GPU" if device == "cuda" else "usable Apple GPU (MPS)"
                raise ConfigError(f"--device-rows {device}, but torch sees no {gpu} here "
                                  "(--device-rows cpu runs the same rows on the CPU)")
            if device is None:
                device = accelerator()
            if device is None:
                print("  no GPU: the GPU rows are left out", file=sys.stderr)
    except (DataError, ConfigError, OutputError) as e:
        print(f"tools/bench.py: error: {as_flags(e)}", file=sys.stderr)
        return 2

    gemms: dict[tuple[str, str], Callable[[], object]] = {}
    sizes: dict[str, int] = {}
    rows: list[Row] = []
    if args.device_rows is None:
        sizes["numpy"] = n = 1000 if args.quick else 2000
        gemms = {("numpy", dtype): gemm(dtype, n) for dtype in ("float64", "float32")}
        rows = numpy_rows(data, args.quick) + scaling_rows(data, full, args.data_dir)
        if not args.no_torch:
            rows += torch_rows(data, args.quick)
    if device is not None:
        sizes[device] = n = (4096 if args.quick else 8192) if device != "cpu" else 1000
        on_device = device_rows(device, data, full, args.data_dir, args.quick)
        gemms.update({(device, dtype): device_gemm(dtype, n, device)
                      for dtype in sorted({row.config.dtype for row in on_device})})
        rows += on_device
    busy_rows = [row for row in rows if row.busy and not args.idle_only]
    timings, busy_timings = round_robin([*gemms.values()] + [row.run for row in rows], rounds,
                                        [row.run for row in busy_rows])
    rates: dict[str, dict[str, float]] = {}
    for (who, dtype), timing in zip(gemms, timings, strict=False):
        rates.setdefault(who, {})[dtype] = 2 * sizes[who]**3 / timing.median / 1e9
    busy = {row.name: timing for row, timing in zip(busy_rows, busy_timings, strict=True)}
    rows_out = results(rows, timings[len(gemms):], rates, busy,
                       speedups=args.device_rows is None)

    machine = {**system.machine(), "gemm_gflop_per_s": rates.get("numpy"),
               "gemm_n": sizes.get("numpy"), "rounds": rounds, "quick": args.quick}
    if device is not None:
        import torch

        machine.update({"torch": torch.__version__, "device": device,
                        "device_name": (torch.cuda.get_device_name() if device == "cuda"
                                        else platform.processor()),
                        "device_gemm_gflop_per_s": rates[device],
                        "device_gemm_n": sizes[device]})
    print(f"{gemm_line(rates, sizes)}; median of {rounds} round(s), every row once a round\n")
    print(table(rows_out))
    if args.json:
        text = json.dumps({"machine": machine, "rows": rows_out}, indent=2)
        write_atomically(args.json, lambda f: f.write(text.encode()))
    return 0


if __name__ == "__main__":
    exit_with(main)
