"""The parity figures the docs quote are data: docs/parity/*.json, written by
`scripts/compare.py --json`. docs/parity.md and docs/walkthrough.md quote them figure for
figure, and the first step's rows still come out as recorded."""

from __future__ import annotations

import json
import re

import pytest

from common.config import Config
from common.threads import one_thread
from parity_tests.conftest import REPO
from scripts import compare
from torch_impl.parity import first_step, quirk_rows, step_rows, table

RECORDS = {dtype: json.loads((REPO / "docs" / "parity" / f"tanh_book_{dtype}.json").read_text())
           for dtype in ("float64", "float32")}

FIGURE = re.compile(r"(?<![\w.])\d\.\d\de[-+]\d\d\b")
"""A figure as compare.py prints it: three significant digits, `2.29e-16`."""


def cells(document: dict, name: str) -> dict[str, dict[str, str]]:
    """A table's rows by tensor name: max_abs, max_rel and used as compare.py's table
    prints them (its own formatting, read back from its output)."""
    rows = {}
    for row in compare.rows_of(document, name):
        *_, max_abs, max_rel, used = table("", [row]).splitlines()[2].split()
        rows[row.name] = {"max_abs": max_abs, "max_rel": max_rel, "used": used}
    return rows


def fields(document: dict) -> dict:
    """What a quote may name: {one_step[layer_1][max_abs]}, {steps}, {tolerance[one_step]}."""
    settings, config = document["settings"], document["settings"]["config"]
    return {**{name: cells(document, name) for name in compare.TABLES},
            "steps": settings["steps"], "logged": config["iterations"] // config["log_every"],
            "tolerance": {k: f"{v:.1e}" for k, v in settings["tolerance"].items()}}


QUOTES = {
    "docs/parity.md": [
        ("float64", "the *max rel diff* column shows such entries: {one_step[layer_1][max_rel]} "
                    "in `layer_1`, whose largest difference is {one_step[layer_1][max_abs]})"),
        ("float64", "After {steps} steps the final weights still differ by at most "
                    "{whole_run[weights_1_2 (final)][max_abs]} (`weights_1_2`, "
                    "{whole_run[weights_1_2 (final)][used]} of the run's tolerance) and every "
                    "logged accuracy is the same"),
        ("float64", "(relative differences up to {quirk[layer_1_delta][max_rel]}, and "
                    "{quirk[weights_0_1 (updated)][max_rel]} where the two updates have "
                    "opposite signs)"),
        ("float32", "the tolerance of a step is 128 eps = {tolerance[one_step]} of each "
                    "tensor's scale"),
    ],
    "docs/walkthrough.md": [
        ("float64", "`layer_1` and `layer_2` agree to {one_step[layer_1][max_abs]} and "
                    "{one_step[layer_2][max_abs]} ("),
        ("float64", "`compare.py` shows them {one_step[layer_2_delta][max_abs]} apart"),
        ("float64", "autograd's gradient of the hidden input agree to "
                    "{one_step[layer_1_delta][max_abs]} ({one_step[layer_1_delta][used]} of "
                    "the tolerance;"),
        ("float64", "the updated matrices agree to {one_step[weights_1_2 (updated)][max_abs]} "
                    "(`weights_1_2`) and {one_step[weights_0_1 (updated)][max_abs]} "
                    "(`weights_0_1`); after the whole run of {steps} steps, to "
                    "{whole_run[weights_1_2 (final)][max_abs]} and "
                    "{whole_run[weights_0_1 (final)][max_abs]}, and all {logged} logged "
                    "accuracies are the same"),
        *[("float64", f"\n| {name} | {{quirk[{name}][max_abs]}} | {{quirk[{name}][max_rel]}} |")
          for name in cells(RECORDS["float64"], "quirk")],
    ],
}
"""Each page's sentences that quote a recorded run, with the figures as fields."""


def blocks(text: str) -> list[str]:
    """The page's fenced blocks without a language (```): compare.py's output."""
    found, inside, bare = [], None, False
    for line in text.splitlines():
        if inside is None and line.startswith("```"):
            inside, bare = [], line == "```"
        elif inside is not None and line == "```":
            if bare:
                found.append("\n".join(inside))
            inside = None
        elif inside is not None:
            inside.append(line)
    return found


def flat(text: str) -> str:
    """Prose with its line breaks as spaces (a table row keeps its own line)."""
    return re.sub(r"[ \t]*\n(?!\|)[ \t]*", " ", text)


def problems(page: str, text: str) -> list[str]:
    """What on `page` (its text: `text`) is not what docs/parity/ recorded: a quote whose
    figures are not the recorded ones, a block of compare.py's output that no recorded run
    printed, a figure in compare.py's format that no recorded row has."""
    found = []
    prose = flat(text)
    for record, quote in QUOTES[page]:
        expected = quote.format(**fields(RECORDS[record]))
        if expected not in prose:
            found.append(f"{page} does not say, as {record} recorded: {expected.strip()!r}")
    reports = [compare.report(document) for document in RECORDS.values()]
    for block in blocks(text):
        if not any(block in report for report in reports):
            found.append(f"{page}: a block that no recorded run printed:\n{block}")
    recorded = {value for document in RECORDS.values() for name in compare.TABLES
                for row in cells(document, name).values() for value in row.values()}
    found += [f"{page}: {figure} is no recorded figure" for figure in FIGURE.findall(text)
              if figure not in recorded]
    return found


@pytest.mark.parametrize("page", list(QUOTES))
def test_the_page_quotes_the_recorded_runs(page):
    assert problems(page, (REPO / page).read_text()) == []


def test_parity_md_shows_both_reports():
    """The whole float64 report, and the float32 one's step and run tables."""
    shown = blocks((REPO / "docs" / "parity.md").read_text())
    assert shown[0] == compare.report(RECORDS["float64"])
    assert compare.report(RECORDS["float32"]).startswith(shown[1])
    assert "whole run" in shown[1]


def test_what_the_pages_say_of_the_records_holds():
    """The claims around the figures: every log line the same, "at most" the largest
    difference of the run, and each run within its tolerance."""
    for document in RECORDS.values():
        assert document["logs_identical"] and document["ok"]
        assert document["settings"]["device"] == "cpu" and document["settings"]["steps"] == 3000
        run = compare.rows_of(document, "whole_run")
        assert max(row.max_abs for row in run) == run[1].max_abs  # weights_1_2 (final)
    assert [d["settings"]["dtype"] for d in RECORDS.values()] == ["float64", "float32"]


@pytest.mark.parametrize("page", list(QUOTES))
def test_a_changed_digit_is_caught(page):
    """Every figure on the page is checked: change the last digit of any one of them, and
    problems() reports it."""
    text = (REPO / page).read_text()
    figures = list(FIGURE.finditer(text))
    assert len(figures) >= 10
    for match in figures:
        digit = match.start() + 3  # d.dD: the last digit of the mantissa
        changed = text[:digit] + str((int(text[digit]) + 1) % 10) + text[digit + 1:]
        assert problems(page, changed), f"{page}: changing {match.group()} went unnoticed"


def test_a_figure_in_the_wrong_place_is_caught():
    """Two recorded figures swapped are still recorded figures: the quote catches them."""
    page = "docs/walkthrough.md"
    text = (REPO / page).read_text()
    steps = cells(RECORDS["float64"], "one_step")
    first, second = steps["layer_1"]["max_abs"], steps["layer_2"]["max_abs"]
    swapped = text.replace(f"{first} and {second}", f"{second} and {first}")
    assert swapped != text
    assert problems(page, swapped) == [
        f"{page} does not say, as float64 recorded: "
        f"{QUOTES[page][0][1].format(**fields(RECORDS['float64']))!r}"]


MACHINE_KEYS = ("machine", "numpy", "numpy_blas", "torch", "torch_cpu_capability",
                "torch_threads")
"""What the last digits of a row depend on: the BLAS kernels, the libraries, the threads."""


@pytest.mark.parametrize("dtype", list(RECORDS))
def test_the_recorded_first_step_comes_out_again(dtype, dataset):
    """One step on both sides, now (2 s; the whole run's rows take 12 s, so they are not
    rerun here): the same rows as recorded. The names, shapes and verdicts everywhere; the
    figures to the bit on a machine like the one that recorded them (its BLAS kernels and
    threads), where the run is deterministic."""
    document = RECORDS[dtype]
    config = Config(**document["settings"]["config"])
    with one_thread():
        first = first_step(config, dataset, "cpu")
        rows = step_rows(first) + quirk_rows(config, first,
                                             first_step(config.replace(mode="exact"), dataset))
        here = compare.machine()
    recorded = compare.rows_of(document, "one_step") + compare.rows_of(document, "quirk")
    assert ([(r.name, r.shape, r.exact, r.close, r.tol) for r in rows]
            == [(r.name, r.shape, r.exact, r.close, r.tol) for r in recorded])
    differs = {key: (document["machine"][key], here[key]) for key in MACHINE_KEYS
               if document["machine"][key] != here[key]}
    if differs:
        pytest.skip(f"recorded on another machine (recorded, here: {differs}): the last digits "
                    "may differ")
    assert rows == recorded
