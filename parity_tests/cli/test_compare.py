"""scripts/compare.py: the per-tensor report passes on the real code and fails on broken code;
--json writes its rows."""

from __future__ import annotations

import json

import pytest

from parity_tests.conftest import NEEDS_TORCH

pytest.importorskip("torch", reason=NEEDS_TORCH)

from numpy_impl import activations as numpy_act
from parity_tests import conftest
from scripts import compare
from torch_impl import activations as torch_act

SHORT = [*conftest.SHORT, "--preset", "tanh", "--iterations", "3", "--device", "cpu"]


def test_report_lists_every_tensor_and_exits_0(script):
    result = script("scripts/compare.py", SHORT)
    assert result.returncode == 0, result.stderr
    for name in ("layer_1 ", "layer_2 ", "layer_2_delta", "layer_1_delta", "weights_1_2 (updated)",
                 "weights_0_1 (updated)", "weights_0_1 (final)", "logs identical: True",
                 "book-exact vs formula", "all tensors within tolerance"):
        assert name in result.stdout
    header = next(line for line in result.stdout.splitlines() if line.startswith("tensor"))
    assert header.split() == ["tensor", "shape", "exact", "close", "max", "abs", "diff", "max",
                              "rel", "diff", "of", "tolerance"]


def test_a_broken_torch_derivative_makes_it_fail(monkeypatch, capsys):
    monkeypatch.setitem(torch_act.HIDDEN, "tanh",
                        torch_act.HIDDEN["tanh"]._replace(deriv=lambda out: 1 - out))
    assert compare.main(SHORT) == 1
    out = capsys.readouterr().out
    assert "OUT OF TOLERANCE" in out
    assert any(line.startswith("layer_1_delta ") and " False " in line for line in out.splitlines())


def test_a_broken_numpy_derivative_makes_it_fail(monkeypatch, capsys):
    monkeypatch.setitem(numpy_act.HIDDEN, "relu",
                        numpy_act.HIDDEN["relu"]._replace(deriv=lambda out: out > -1))
    assert compare.main([*SHORT, "--preset", "relu", "--mode", "exact"]) == 1
    assert "OUT OF TOLERANCE" in capsys.readouterr().out


def test_bad_input_is_one_line(script):
    result = script("scripts/compare.py", ["--train-size", "5000"])
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "there are 1000" in result.stderr


@pytest.mark.parametrize("flag", ["--plot", "--metrics", "--save", "--save-every", "--resume",
                                  "--quiet", "--impl", "--rng"])
def test_flags_it_would_ignore_are_refused(flag, capsys):
    with pytest.raises(SystemExit) as stop:
        compare.main([flag, "x"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unrecognized arguments" in err and flag in err


def test_it_takes_the_flags_that_make_a_run():
    args = compare.build_parser().parse_args(
        ["--preset", "relu", "--mode", "exact", "--seed", "3", "--init-1-2", "0.2",
         "--divisor", "batch*batch", "--dtype", "float32", "--device", "cpu"])
    config = compare.config_from_args(args)
    assert (config.hidden, config.mode, config.seed, config.init_1_2, config.D,
            config.dtype) == ("relu", "exact", 3, 0.2, 10000, "float32")


def test_json_holds_every_row_and_the_settings_and_prints_the_same_report(script, tmp_path):
    path = tmp_path / "compare.json"
    result = script("scripts/compare.py", [*SHORT, "--json", str(path)])
    assert result.returncode == 0, result.stderr
    document = json.loads(path.read_text(encoding="utf-8"))
    assert result.stdout == compare.report(document) + "\n"  # the report is the file's rows
    assert [len(document[name]) for name in compare.TABLES] == [6, 2, 5]
    for name in compare.TABLES:
        for row in document[name]:
            assert set(row) == {"name", "shape", "exact", "close", "max_abs", "max_rel", "used",
                                "tol"}
    settings = document["settings"]
    assert (settings["config"]["iterations"], settings["config"]["test_size"], settings["device"],
            settings["dtype"], settings["steps"]) == (3, 500, "cpu", "float64", 30)
    assert settings["command"] == ("scripts/compare.py --iterations 3 --test-size 500 "
                                   "--log-every 2 --device cpu")
    assert document["logs_identical"] and document["ok"]
    assert document["machine"]["numpy_blas"] and "torch_threads" in document["machine"]
    assert [p.name for p in tmp_path.iterdir()] == ["compare.json"]  # no temporary file left


def test_exact_mode_records_no_quirk_rows(script, tmp_path):
    path = tmp_path / "exact.json"
    assert script("scripts/compare.py", [*SHORT, "--mode", "exact", "--json", str(path)]
                  ).returncode == 0
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["quirk"] == [] and "the book's quirk" not in compare.report(document)


@pytest.mark.parametrize("where, message", [("missing/x.json", "does not exist"),
                                            (".", "that is a folder")])
def test_an_unwritable_json_path_is_one_line_before_any_work(where, message, script, tmp_path,
                                                             monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("compare.py loaded the data before checking --json")

    monkeypatch.setattr(compare, "load", no_work)
    result = script("scripts/compare.py", [*SHORT, "--json", str(tmp_path / where)])
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and f"--json {tmp_path / where}" in result.stderr
    assert message in result.stderr


def test_the_machine_block_names_the_blas_numpy_reports_where_threadpoolctl_sees_none(
        monkeypatch):
    from ch9_shared import threads

    monkeypatch.setattr(threads, "threadpool_info", lambda: [])
    [blas] = compare.machine()["numpy_blas"]
    assert blas["internal_api"] and blas["version"] and blas["num_threads"] is None
