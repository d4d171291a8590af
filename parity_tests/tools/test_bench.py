"""tools/bench.py runs, writes its table and JSON, and counts the chapter's FLOPs right."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ch9_shared import system
from ch9_shared.config import PRESETS
from ch9_shared.data import SHIPPED
from parity_tests.conftest import REPO, needs_proc, needs_torch, peak_within, run
from tools.bench import Row, Timing, dense_flops, peak_mb, results, round_robin, table


def test_dense_flops_of_the_chapter():
    config = PRESETS["tanh"]
    per_batch = 2 * 100 * (2 * 784 * 100 + 3 * 100 * 10)
    per_test = 2 * 10000 * (784 * 100 + 100 * 10)
    assert dense_flops(config, 30) == 3000 * per_batch + 30 * per_test


def test_quick_numpy_pass_writes_table_and_json(tmp_path, script):
    out = tmp_path / "bench.json"
    result = script("tools/bench.py", ["--quick", "--no-torch", "--idle-only", "--json",
                                         str(out)])
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text(encoding="utf-8"))["rows"]
    assert [r["run"].split(" (")[0] for r in rows[:5]] == [
        "book-structured baseline", "numpy, book mode", "numpy, its big matmuls alone",
        "numpy, its big matmuls alone, on the run's threads", "numpy, exact mode"]
    assert rows[0]["speedup"] == 1.0 and rows[1]["speedup"] > 1
    # --quick times the chapter rows on 30 iterations (3 test passes) and scales them
    assert all(r["run"].endswith("(timed on 30 iterations, scaled)") for r in rows[1:5])
    assert all(r["iterations"] == 300 for r in rows[:5])
    # each run makes the test passes it counts: every iteration for the book's structure,
    # every 10th (the logged ones) for ours, one for an epoch of the scaling rows
    assert [r["test_passes"] for r in rows] == [300, 30, 30, 30, 30, 1]
    assert rows[1]["gflop"] == dense_flops(PRESETS["tanh"], 30) / 1e9
    # peak memory: scripts/train.py's own process, not the bench's (which holds more)
    assert [rows[i]["peak_mb"] for i in (0, 2, 3)] == [None] * 3  # no train.py run of theirs
    assert all(peak_within(r["peak_mb"], 30, 500) for r in rows[1:2] + rows[4:])
    assert all(r["seconds"] > 0 and r["roofline_fraction"] > 0 for r in rows)
    assert all(r["seconds_each_round"] == [r["seconds"]] for r in rows)  # one round
    assert all(r["busy_seconds"] is None for r in rows)  # --idle-only
    assert ("| numpy, book mode (timed on 30 iterations, scaled) | float64 | 300 x 1000 |"
            in result.stdout)
    assert not list(tmp_path.glob(".*.tmp"))


def test_json_on_a_file_the_bench_reads_is_refused_before_it_times(monkeypatch, script):
    import tools.bench

    monkeypatch.setattr(tools.bench, "round_robin", lambda *args: pytest.fail("it timed"))
    data = SHIPPED / "t10k-labels-idx1-ubyte.gz"
    before = data.read_bytes()
    result = script("tools/bench.py", ["--quick", "--no-torch", "--json", str(data)])
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "that is a file the run reads" in result.stderr
    assert data.read_bytes() == before


def test_where_the_system_gives_no_peak_the_bench_says_none(monkeypatch):
    """Windows has no getrusage: peak_mb is None there, and only there the tests take None."""
    assert not peak_within(None, 30, 500) and peak_within(100, 30, 500)
    monkeypatch.setattr(sys, "platform", "win32")
    assert peak_mb(["--iterations", "1"]) is None
    assert peak_within(None, 30, 500) and not peak_within(100, 30, 500)


@pytest.mark.parametrize(("platform", "mb"), [("linux", 2.0), ("darwin", 2 / 1024)])
def test_the_peak_is_in_kib_on_linux_and_in_bytes_on_macos(platform, mb, monkeypatch):
    """getrusage's ru_maxrss: KiB on Linux, bytes on macOS; either way the bench says MB."""
    ran = []

    def run(argv, **options):
        ran.append(argv)
        return subprocess.CompletedProcess(argv, 0, stdout="2048\n")
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(system.subprocess, "run", run)
    assert system.peak_mb(["true"]) == mb
    assert ran[0][-1] == "true"


def test_rows_run_round_robin_so_drift_slows_them_alike():
    calls = []

    def contender(name: str, result: int):
        def run() -> int:
            calls.append(name)
            return result
        return run

    timings, busy = round_robin([contender("a", 1), contender("b", 2)], rounds=3,
                                busy=[contender("a busy", 3)])
    assert calls == ["a", "b", "a busy"] * 3
    assert [len(t.seconds) for t in timings + busy] == [3, 3, 3]
    assert [t.result for t in timings + busy] == [1, 2, 3]


def test_a_row_timed_busy_too_gets_both_columns():
    config = PRESETS["tanh"]
    rows = [Row("baseline", config, lambda: 300), Row("ours", config, lambda: 30, busy=True)]
    timings = [Timing([10.0], 300), Timing([2.0, 3.0, 4.0], 30)]
    [baseline, ours] = results(rows, timings, {"numpy": {"float64": 100.0}},
                               {"ours": Timing([4.5, 3.0, 6.0], 30)})
    assert baseline["busy_seconds"] is None and baseline["busy_over_idle"] is None
    assert ours["busy_seconds"] == 4.5 and ours["busy_over_idle"] == 1.5
    assert ours["busy_seconds_each_round"] == [4.5, 3.0, 6.0]
    assert "| ours | float64 | 300 x 1000 | 3.00 | 4.50 (1.50x) |" in table([baseline, ours])


def children() -> list[str]:
    """The command lines of this process's children (Linux)."""
    pid = os.getpid()
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="utf-8").split()
    return [Path(f"/proc/{child}/cmdline").read_text(encoding="utf-8").replace("\0", " ")
            for child in found]


@needs_proc
def test_a_busy_run_runs_beside_a_process_that_keeps_one_core_busy():
    seen = []
    round_robin([lambda: seen.append(("idle", children()))], rounds=2,
                busy=[lambda: seen.append(("busy", children()))])
    assert [kind for kind, _ in seen] == ["idle", "busy"] * 2
    for kind, running in seen:
        spinning = [c for c in running if "while True: pass" in c]
        assert len(spinning) == (1 if kind == "busy" else 0)
    assert not [c for c in children() if "while True" in c]  # stopped after each round


@needs_torch
def test_the_idiomatic_run_and_the_quick_study_are_timed_busy_too(dataset, monkeypatch):
    """Their busy column is the thread policy's measure for them; the study's FLOP columns
    are blank (its arithmetic is not the chapter's), and its row runs the learner's command."""
    import subprocess

    from tools import bench

    commands = []
    monkeypatch.setattr(subprocess, "run", lambda argv, **kw: commands.append(argv))
    rows = {row.name.split(" (")[0]: row for row in bench.torch_rows(dataset, quick=True)}
    idiomatic, study = rows["idiomatic"], rows["scripts/study.py --quick"]
    assert idiomatic.busy and study.busy and idiomatic.flops and not study.flops
    assert idiomatic.argv[:2] == ("--impl", "idiomatic")
    assert study.run() == 0 and commands[0][1].endswith("scripts/study.py")
    assert commands[0][2:5] == ["--quick", "--device", "cpu"]
    out = results([study], [Timing([30.0], 0)], {"numpy": {"float64": 1.0}},
                  {study.name: Timing([36.0], 0)})[0]
    assert out["gflop"] is None and out["busy_over_idle"] == pytest.approx(1.2)
    assert f"| {study.name} | float64 | 30 x 1000 | 30.00 | 36.00 (1.20x) | | | |  |" in (
        table([out]))


def test_against_a_folder_that_is_no_checkout_is_one_line(tmp_path, script):
    result = script("tools/bench.py", ["--against", str(tmp_path)])
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "no scripts/train.py there" in result.stderr


def test_against_times_both_checkouts_round_robin_as_a_ratio(tmp_path, monkeypatch):
    """Each round runs the other checkout's command, then this one's, for the book's run and
    the grading of each track's solutions (faked: no timing is asserted, only what is run,
    where, and said)."""
    from tools import bench

    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "train.py").write_text("", encoding="utf-8")
    ran = []
    monkeypatch.setattr(bench.subprocess, "run", lambda command, **kw: ran.append(
        (command[1:], kw["cwd"], kw["env"]["PYTHONPATH"])))
    lines, rows = bench.against(tmp_path, rounds=2, idle_only=True)
    both = [args for args in bench.AGAINST.values() for _ in range(2)]
    assert [args for args, _, _ in ran] == [  # every command once a round, in both
        *both, bench.GRADING["checking one exercise (tanh2deriv)"]] * 2  # --only: this one's
    assert [(cwd, where) for _, cwd, where in ran] == (
        [(tmp_path, str(tmp_path)), (REPO, str(REPO))] * len(bench.AGAINST)
        + [(REPO, str(REPO))]) * 2
    assert [line.split(":")[0] for line in lines] == [f"{what}, idle" for what in bench.AGAINST]
    assert all("ratio" in line for line in lines)
    assert [(r["checkout"], r["run"]) for r in rows] == [
        (checkout, what) for what in bench.AGAINST for checkout in (tmp_path.name,
                                                                    "this checkout")
    ] + [("this checkout", "checking one exercise (tanh2deriv)")]


def test_grading_is_each_check_as_a_ratio_of_the_book_run(tmp_path, monkeypatch):
    """--grading: the book's run, each track's check and one exercise's, each a process of
    its own in this checkout, idle and busy, and each as a ratio of the book's run in the
    same rounds; its table, and its JSON (timings faked: none is asserted)."""
    from tools import bench

    ran = []

    def run(command, **kw):
        if command[0] == sys.executable:
            ran.append(command[1:])
        return subprocess.CompletedProcess(command, 0, stdout="")
    monkeypatch.setattr(bench.subprocess, "run", run)
    idle, busy = iter([2.0, 1.0, 3.0, 0.5]), iter([4.0, 2.0, 5.0, 1.0])

    def faked(runs, rounds, busy_runs=()):
        for run in runs:
            run()
        return ([Timing([next(idle)]) for _ in runs], [Timing([next(busy)]) for _ in busy_runs])
    monkeypatch.setattr(bench, "round_robin", faked)
    out = tmp_path / "grading.json"
    assert bench.main(["--grading", "--repeats", "1", "--json", str(out)]) == 0
    assert ran == list(bench.GRADING.values())
    assert ran[-1][-2:] == ["--only", "tanh2deriv"]
    rows = json.loads(out.read_text(encoding="utf-8"))["rows"]
    assert [r["run"] for r in rows] == list(bench.GRADING)
    assert [r["of_book_run"] for r in rows] == [1.0, 0.5, 1.5, 0.25]
    assert [r["busy_of_book_run"] for r in rows] == [1.0, 0.5, 1.25, 0.25]
    assert ("| this checkout | grading the autograd solutions | 3.00 | 1.50x | 5.00 | 1.25x |"
            in bench.grading_table(rows))


def test_without_torch_the_torch_rows_are_one_line_that_names_no_torch():
    ran = run(["tools/bench.py", "--quick"], block_torch=True)
    assert ran.returncode == 2 and ran.stdout == "", ran.stderr
    assert ran.stderr.count("\n") == 1 and ran.stderr.startswith("tools/bench.py: error: ")
    assert "pip install -e '.[torch]', or add --no-torch" in ran.stderr
