"""The parity figures the docs quote are data: docs/parity/*.json, written by
`scripts/compare.py --json`. docs/parity.md and docs/walkthrough.md quote them figure for
figure, and the first step's rows still come out as recorded."""

from __future__ import annotations

import copy
import json
import re

import pytest

from parity_tests.conftest import NEEDS_TORCH

pytest.importorskip("torch", reason=NEEDS_TORCH)

from ch9_shared.close import Comparison
from ch9_shared.config import Config
from ch9_shared.data import Dataset
from parity_tests.conftest import REPO
from scripts import compare
from torch_impl.parity import first_step_both_sides, quirk_rows, step_rows, table

RECORDS = {dtype: json.loads((REPO / "docs" / "parity" / f"tanh_book_{dtype}.json")
                             .read_text(encoding="utf-8"))
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
    assert problems(page, (REPO / page).read_text(encoding="utf-8")) == []


def test_parity_md_shows_both_reports():
    """The whole float64 report, and the float32 one's step and run tables."""
    shown = blocks((REPO / "docs" / "parity.md").read_text(encoding="utf-8"))
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
    text = (REPO / page).read_text(encoding="utf-8")
    figures = list(FIGURE.finditer(text))
    assert len(figures) >= 10
    for match in figures:
        digit = match.start() + 3  # d.dD: the last digit of the mantissa
        changed = text[:digit] + str((int(text[digit]) + 1) % 10) + text[digit + 1:]
        assert problems(page, changed), f"{page}: changing {match.group()} went unnoticed"


def test_a_figure_in_the_wrong_place_is_caught():
    """Two recorded figures swapped are still recorded figures: the quote catches them."""
    page = "docs/walkthrough.md"
    text = (REPO / page).read_text(encoding="utf-8")
    steps = cells(RECORDS["float64"], "one_step")
    first, second = steps["layer_1"]["max_abs"], steps["layer_2"]["max_abs"]
    swapped = text.replace(f"{first} and {second}", f"{second} and {first}")
    assert swapped != text
    assert problems(page, swapped) == [
        f"{page} does not say, as float64 recorded: "
        f"{QUOTES[page][0][1].format(**fields(RECORDS['float64']))!r}"]


FACTS = ("name", "shape", "exact", "close", "tol")
"""What a row says of the chapter, the same on every machine: which tensor, its shape, the
verdicts and the tolerance."""


def unit(row: Comparison) -> float:
    """max_abs / used: from tol max|b| to 2 tol max|b| (b: the expected tensor), as `used`
    is the largest |a - b| / (tol (|b| + max|b|)). max|b| is the chapter's, to rounding."""
    return row.max_abs / row.used


def departures(recorded: Comparison, here: Comparison) -> list[str]:
    """How a row re-run here departs from the recorded one by more than rounding on another
    CPU can. The tolerance bounds rounding: another machine's kernels (another order of a
    sum, FMA or not) move each side of an entry by at most its allowance,
    tol (|b| + max|b|) <= 2 tol max|b| <= 2 units. So max_abs moves by at most 4 units, and
    the unit itself by at most a factor of 2 (and 2 tol, the allowance's own rounding).
    Above the tolerance (the quirk's rows) max_abs is thus a fact of the chapter, to 4/used
    of itself (12 digits in float64, 3 in float32). Under it, max_abs and used are noise,
    held to the verdict and the unit: here, OpenBLAS's Prescott kernels instead of SkylakeX
    ones gave the float32 quirk's `weights_1_2 (updated)` 64 times its recorded max_abs.
    max_rel (an entry near 0 over its own size) is noise on every row (it ranged over a
    factor of 46 so): only its bounds are checked, above 0 and at most 2."""
    found = [f"{recorded.name}: {key} {getattr(here, key)}, recorded {getattr(recorded, key)}"
             for key in FACTS if getattr(here, key) != getattr(recorded, key)]
    if found or recorded.exact:  # exact: every figure is 0, here too
        return found
    if not (recorded.max_abs > 0 and recorded.used > 0 and 0 < recorded.max_rel <= 2):
        return [f"{recorded.name}: recorded figures no row that is not exact has: {recorded}"]
    if abs(here.max_abs - recorded.max_abs) > 4 * unit(recorded):
        found.append(f"{recorded.name}: max_abs {here.max_abs:.3e}, recorded "
                     f"{recorded.max_abs:.3e}, more than 4 units ({unit(recorded):.1e}) apart")
    slack = 2 * (1 + 2 * recorded.tol)
    if not 1 / slack <= unit(here) / unit(recorded) <= slack:
        found.append(f"{recorded.name}: max_abs / used {unit(here):.1e}, recorded "
                     f"{unit(recorded):.1e}: more than a factor of 2 apart")
    return found


RERUNS: dict[str, list[Comparison]] = {}


def rerun(dtype: str, dataset: Dataset) -> list[Comparison]:
    """The recorded first step's rows, computed again (2 s; once a dtype and a process)."""
    if dtype not in RERUNS:
        config = Config(**RECORDS[dtype]["settings"]["config"])
        first = first_step_both_sides(config, dataset)
        RERUNS[dtype] = step_rows(first) + quirk_rows(
            config, first, first_step_both_sides(config.replace(mode="exact"), dataset))
    return RERUNS[dtype]


def rerun_problems(document: dict, dataset: Dataset) -> list[str]:
    """What of a recorded first step (its one_step and quirk rows) does not come out again."""
    recorded = compare.rows_of(document, "one_step") + compare.rows_of(document, "quirk")
    here = rerun(document["settings"]["dtype"], dataset)
    if len(here) != len(recorded):
        return [f"{len(here)} rows, recorded {len(recorded)}"]
    return [problem for r, h in zip(recorded, here, strict=True) for problem in departures(r, h)]


@pytest.mark.parametrize("dtype", list(RECORDS))
def test_the_recorded_first_step_comes_out_again(dtype, dataset):
    """One step on both sides, now (the whole run's rows take 12 s, so they are not rerun
    here): the rows as recorded, to what another CPU's rounding may change."""
    assert rerun_problems(RECORDS[dtype], dataset) == []


@pytest.mark.parametrize("dtype", list(RECORDS))
def test_other_last_digits_come_out_as_recorded(dtype, dataset):
    """The check passes a record whose last digits are not this machine's: each figure off
    in its last digits; the float64 `layer_1` as issue 25's AMD EPYC gave it; the float32
    quirk's `weights_1_2 (updated)` as OpenBLAS's Prescott kernels give it here."""
    document = copy.deepcopy(RECORDS[dtype])
    for row in document["one_step"] + document["quirk"]:  # off from the 14th digit on
        for key, factor in (("max_abs", 1 + 3e-14), ("max_rel", 1 - 7e-14), ("used", 1 + 5e-14)):
            row[key] *= factor
    another_cpu = {"float64": ("one_step", 0, {"max_abs": 2.7755575615628914e-16}),
                   "float32": ("quirk", 2, {"max_abs": 4.656612873077393e-10,
                                            "max_rel": 1.136636429106622e-07,
                                            "used": 0.00029270716237087924})}
    table_name, index, figures = another_cpu[dtype]
    document[table_name][index].update(figures)
    assert document != RECORDS[dtype]
    assert rerun_problems(document, dataset) == []


WRONG = {
    "a verdict flipped": ("one_step", 0, "close", lambda close: not close),
    "exact claimed": ("one_step", 1, "exact", lambda exact: True),
    "a shape changed": ("one_step", 2, "shape", lambda shape: shape[::-1]),
    "another tolerance": ("one_step", 3, "tol", lambda tol: 2 * tol),
    "a row renamed": ("quirk", 0, "name", lambda name: "layer_1"),
    "a noise figure 100x off": ("one_step", 0, "max_abs", lambda figure: 100 * figure),
    "used 100x off": ("one_step", 4, "used", lambda figure: figure / 100),
    "the quirk 1% off": ("quirk", 1, "max_abs", lambda figure: 1.01 * figure),
    "a max_rel over 2": ("quirk", 3, "max_rel", lambda figure: 100 * figure),
}
"""Records that no machine's re-run gives: a row of the float64 first step, and the change."""


@pytest.mark.parametrize("wrong", list(WRONG))
def test_a_wrong_record_is_caught(wrong, dataset):
    table_name, index, key, change = WRONG[wrong]
    document = copy.deepcopy(RECORDS["float64"])
    row = document[table_name][index]
    row[key] = change(row[key])
    assert rerun_problems(document, dataset), f"{wrong} went unnoticed"


def test_a_missing_row_is_caught(dataset):
    document = copy.deepcopy(RECORDS["float64"])
    del document["quirk"][-1]
    assert rerun_problems(document, dataset) == ["11 rows, recorded 10"]
