"""docs/performance.md's benchmark is a recorded run, docs/performance/bench.json (written by
`tools/bench.py --json`): its table and GEMM line are the JSON's, as the bench prints
them, and the figures the README and the page quote in prose are its rows'."""

from __future__ import annotations

import json

import pytest

from parity_tests.conftest import REPO
from tools.bench import gemm_line, table

RECORD = REPO / "docs" / "performance" / "bench.json"
PAGE = REPO / "docs" / "performance.md"


@pytest.fixture(scope="module")
def recorded() -> dict:
    return json.loads(RECORD.read_text(encoding="utf-8"))


def row(recorded: dict, name: str) -> dict:
    return next(r for r in recorded["rows"] if r["run"].startswith(name))


def test_the_table_and_the_gemm_line_are_the_recorded_run(recorded):
    page, machine = PAGE.read_text(encoding="utf-8"), recorded["machine"]
    assert table(recorded["rows"]) in page
    line = (f"{gemm_line({'numpy': machine['gemm_gflop_per_s']}, {'numpy': machine['gemm_n']})}"
            f"; median of {machine['rounds']} round(s), every row once a round")
    assert line in page
    assert not machine["quick"] and machine["rounds"] >= 3


def test_the_busy_figures_quoted_are_the_recorded_ones(recorded):
    """A busy core costs each run at most 1.5 times its idle time: the thread policy's
    promise, for the chapter's runs, the idiomatic model and the quick study alike."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    page = PAGE.read_text(encoding="utf-8")
    book = row(recorded, "numpy, book mode")
    assert f"slows a run {book['busy_over_idle']:.1f} times" in readme
    assert f"trains in about {book['seconds']:.1f} s: {round(book['speedup'])} times" in readme
    busy = [r for r in recorded["rows"] if r["busy_over_idle"] is not None]
    assert {r["run"].split(" (")[0] for r in busy} >= {
        "numpy, book mode", "idiomatic", "scripts/study.py --quick"}
    worst = max(busy, key=lambda r: r["busy_over_idle"])
    assert f"at most {worst['busy_over_idle']:.2f}x" in page
    assert worst["busy_over_idle"] <= 1.5


def test_the_checker_catches_a_changed_figure(recorded):
    rows = [dict(r) for r in recorded["rows"]]
    rows[1]["seconds"] *= 1.01
    assert table(rows) not in PAGE.read_text(encoding="utf-8")
