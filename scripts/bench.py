"""Benchmark the chapter run, side by side, in one process.

    python scripts/bench.py                    # about 3 minutes on 2 cores
    python scripts/bench.py --quick            # a short pass, about 30 s
    python scripts/bench.py --data-dir ../shared/data/mnist --json bench.json

Measures the machine's dense GEMM rate (large square matmuls), then each run: the median
of --repeats runs, its FLOPs (the dense arithmetic: every matmul of the chapter over all
784 pixels), GFLOP/s, the fraction of the roofline (FLOPs / GEMM rate: 100% would be
the run at the speed of one big matmul), peak memory (the process's peak resident
memory during the run) and the speed-up over a baseline in the book program's own
structure. Prints a Markdown table; --json writes the rows too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from numpy_impl.config import CLASSES, PIXELS, PRESETS, Config
from numpy_impl.data import DataError, Dataset, load
from numpy_impl.files import write_atomically
from numpy_impl.listing import run_listing
from numpy_impl.train import train as numpy_train


def peak_memory_reset() -> None:
    """Start a new peak-memory window (Linux: reset VmHWM); elsewhere a no-op."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_memory_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def timed(run: Callable[[], object], repeats: int) -> tuple[float, float | None]:
    """Median seconds over `repeats` runs, and the peak memory over all of them."""
    seconds = []
    peak_memory_reset()
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), peak_memory_mb()


def gemm_rate(dtype: str, n: int, repeats: int) -> float:
    """GFLOP/s of an n x n matmul: the machine's dense roofline."""
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n)).astype(dtype), rng.random((n, n)).astype(dtype)
    a @ b
    seconds, _ = timed(lambda: a @ b, repeats)
    return 2 * n**3 / seconds / 1e9


def dense_flops(config: Config, evaluations: int) -> float:
    """The chapter's matmuls over all 784 pixels: per batch, forward (layer_0 @ weights_0_1,
    layer_1 @ weights_1_2) and backward (layer_1_delta, both weight gradients); per test
    pass, the forward over the test set."""
    b, h = config.batch_size, config.hidden_size
    per_batch = 2 * b * (2 * PIXELS * h + 3 * h * CLASSES)
    per_test = 2 * config.test_size * (PIXELS * h + h * CLASSES)
    batches = config.iterations * (config.train_size // config.batch_size)
    return batches * per_batch + evaluations * per_test


def logged_iterations(config: Config) -> int:
    return len(range(0, config.iterations, config.log_every))


class Bench:
    def __init__(self, repeats: int, rates: dict[str, float]):
        self.repeats, self.rates, self.rows = repeats, rates, []
        self.baseline_seconds: float | None = None

    def add(self, name: str, config: Config, run: Callable[[], object],
            evaluations: int | None = None, scale: float = 1.0, repeats: int | None = None,
            images_per_second: bool = False) -> None:
        """Time `run`; `scale` stretches a run timed on part of the work to all of it."""
        seconds, peak = timed(run, repeats or self.repeats)
        seconds *= scale
        evaluations = logged_iterations(config) if evaluations is None else evaluations
        flops = dense_flops(config, evaluations)
        roofline = flops / (self.rates[config.dtype] * 1e9)
        chapter = (config.iterations, config.train_size) == (300, 1000)
        if self.baseline_seconds is None:
            self.baseline_seconds = seconds
        row = {
            "run": name, "dtype": config.dtype, "iterations": config.iterations,
            "train_size": config.train_size, "seconds": seconds, "gflop": flops / 1e9,
            "gflop_per_s": flops / seconds / 1e9, "roofline_fraction": roofline / seconds,
            "peak_mb": peak,
            "speedup": self.baseline_seconds / seconds if chapter else None,
            "images_per_s": (config.iterations * config.train_size / seconds
                             if images_per_second else None),
        }
        self.rows.append(row)
        print(f"  {name}: {seconds:.2f} s", file=sys.stderr)

    def table(self) -> str:
        lines = ["| run | dtype | iterations x images | median s | GFLOP | GFLOP/s | of roofline "
                 "| peak MB | speed-up |", "|---|---|---|---|---|---|---|---|---|"]
        for r in self.rows:
            speedup = f"{r['speedup']:.1f}x" if r["speedup"] else ""
            if r["images_per_s"]:
                speedup = f"{r['images_per_s'] / 1e6:.2f} M images/s"
            peak = f"{r['peak_mb']:.0f}" if r["peak_mb"] else "?"
            lines.append(f"| {r['run']} | {r['dtype']} | {r['iterations']} x {r['train_size']} "
                         f"| {r['seconds']:.2f} | {r['gflop']:.1f} | {r['gflop_per_s']:.1f} "
                         f"| {100 * r['roofline_fraction']:.0f}% | {peak} | {speedup} |")
        return "\n".join(lines)


def numpy_rows(bench: Bench, data: Dataset, quick: bool) -> None:
    chapter = PRESETS["tanh"]
    part = 3 if quick else 30  # the baseline is timed on part of the run, then scaled
    bench.add(f"book-structured baseline (timed on {part} iterations, scaled)", chapter,
              lambda: run_listing("tanh", 1, data.train_images, data.train_labels,
                                  data.test_images, data.test_labels, part, log_every=1),
              evaluations=chapter.iterations, scale=chapter.iterations / part, repeats=1)
    bench.add("numpy, book mode", chapter, lambda: numpy_train(chapter, data))
    exact32 = chapter.replace(mode="exact", dtype="float32")
    bench.add("numpy, exact mode", exact32, lambda: numpy_train(exact32, data))


def torch_rows(bench: Bench, data: Dataset, full: Dataset | None, quick: bool) -> None:
    import torch

    from torch_impl.train import train as torch_train

    chapter = PRESETS["tanh"]
    native = chapter.replace(dtype="float32")
    torch_train(chapter.replace(iterations=1), data, device="cpu")  # first-call costs
    bench.add("torch cpu, book mode, NumPy masks", chapter,
              lambda: torch_train(chapter, data, device="cpu"))
    bench.add("torch cpu, book mode, torch masks", native,
              lambda: torch_train(native, data, device="cpu", rng="torch"))
    if not torch.cuda.is_available():
        print("  no CUDA GPU: the GPU rows are left out", file=sys.stderr)
        return

    def on_gpu(config: Config, dataset: Dataset) -> Callable[[], None]:
        def run() -> None:
            torch_train(config, dataset, device="cuda", rng="torch")
            torch.cuda.synchronize()
        return run

    on_gpu(native.replace(iterations=2), data)()
    bench.add("torch cuda, book mode, torch masks", native, on_gpu(native, data))
    if full is not None:
        epochs = 2 if quick else 5
        mnist = native.replace(train_size=len(full.train_labels), iterations=epochs,
                               log_every=epochs)
        bench.add(f"torch cuda, full MNIST, {epochs} epochs", mnist, on_gpu(mnist, full),
                  images_per_second=True)


def scaling_rows(bench: Bench, full: Dataset | None) -> None:
    """One epoch of book mode at growing train sizes: how the cost grows with the work."""
    for size in (1000, 10000, 60000):
        if full is None and size > 1000:
            print(f"  train size {size}: needs --data-dir with the full MNIST", file=sys.stderr)
            continue
        config = PRESETS["tanh"].replace(iterations=1, train_size=size)
        data = full if full is not None else load()
        bench.add(f"numpy, book mode, one epoch of {size}", config,
                  lambda c=config, d=data: numpy_train(c, d))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run each, a short baseline")
    parser.add_argument("--repeats", type=int, default=5, help="runs per row (default: 5)")
    parser.add_argument("--data-dir", type=Path, help="the full MNIST, for the scaling rows "
                        "and the GPU's full-MNIST row")
    parser.add_argument("--json", type=Path, help="write the rows and the machine here")
    parser.add_argument("--no-torch", action="store_true", help="NumPy rows only")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    repeats = 1 if args.quick else args.repeats
    try:
        data = load()
        full = load(args.data_dir, 60000, 10000) if args.data_dir else None
    except DataError as e:
        print(f"scripts/bench.py: error: {e}", file=sys.stderr)
        return 2

    n = 1000 if args.quick else 2000
    rates = {dtype: gemm_rate(dtype, n, 3 if args.quick else 5) for dtype in ("float64",
                                                                             "float32")}
    print(f"dense GEMM ({n}x{n}): " + ", ".join(f"{d} {r:.0f} GFLOP/s" for d, r in rates.items()),
          file=sys.stderr)
    bench = Bench(repeats, rates)
    numpy_rows(bench, data, args.quick)
    scaling_rows(bench, full)
    if not args.no_torch:
        torch_rows(bench, data, full, args.quick)

    machine = {"machine": platform.machine(), "processor": platform.processor(),
               "python": platform.python_version(), "numpy": np.__version__,
               "gemm_gflop_per_s": rates, "repeats": repeats, "quick": args.quick}
    print(f"dense GEMM: float64 {rates['float64']:.0f} GFLOP/s, float32 "
          f"{rates['float32']:.0f} GFLOP/s; median of {repeats} run(s) per row\n")
    print(bench.table())
    if args.json:
        text = json.dumps({"machine": machine, "rows": bench.rows}, indent=2)
        write_atomically(args.json, lambda f: f.write(text.encode()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
