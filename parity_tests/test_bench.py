"""scripts/bench.py runs, writes its table and JSON, and counts the chapter's FLOPs right."""

from __future__ import annotations

import json

from numpy_impl.config import PRESETS
from parity_tests.conftest import run
from scripts.bench import dense_flops, round_robin


def test_dense_flops_of_the_chapter():
    config = PRESETS["tanh"]
    per_batch = 2 * 100 * (2 * 784 * 100 + 3 * 100 * 10)
    per_test = 2 * 10000 * (784 * 100 + 100 * 10)
    assert dense_flops(config, 30) == 3000 * per_batch + 30 * per_test


def test_quick_numpy_pass_writes_table_and_json(tmp_path):
    out = tmp_path / "bench.json"
    result = run(["scripts/bench.py", "--quick", "--no-torch", "--json", str(out)])
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [r["run"].split(" (")[0] for r in rows[:4]] == [
        "book-structured baseline", "numpy, book mode", "numpy, its big matmuls alone",
        "numpy, exact mode"]
    assert rows[0]["speedup"] == 1.0 and rows[1]["speedup"] > 1
    # each run makes the test passes it counts: every iteration for the book's structure,
    # every 10th (the logged ones) for ours, one for an epoch of the scaling rows
    assert [r["test_passes"] for r in rows] == [300, 30, 30, 30, 1]
    assert rows[1]["gflop"] == dense_flops(PRESETS["tanh"], 30) / 1e9
    # peak memory: scripts/train.py's own process, not the bench's (which holds more)
    assert rows[0]["peak_mb"] is None and rows[2]["peak_mb"] is None
    assert all(30 < r["peak_mb"] < 500 for r in rows[1:2] + rows[3:])
    assert all(r["seconds"] > 0 and r["roofline_fraction"] > 0 for r in rows)
    assert all(r["seconds_each_round"] == [r["seconds"]] for r in rows)  # one round
    assert "| numpy, book mode | float64 | 300 x 1000 |" in result.stdout
    assert not list(tmp_path.glob(".*.tmp"))


def test_rows_run_round_robin_so_drift_slows_them_alike():
    calls = []

    def contender(name: str, result: int):
        def run() -> int:
            calls.append(name)
            return result
        return run

    timings = round_robin([contender("a", 1), contender("b", 2)], rounds=3)
    assert calls == ["a", "b"] * 3
    assert [len(t.seconds) for t in timings] == [3, 3]
    assert [t.result for t in timings] == [1, 2]
