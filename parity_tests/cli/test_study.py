"""The activation study: its stacked trainer is the chapter's network M times over, its
selection never sees the test set, its statistics are right, and its numbers repeat."""

from __future__ import annotations

import json
import math
import os
import shlex
from pathlib import Path

import numpy as np
import pytest

from parity_tests.conftest import NEEDS_TORCH, needs_fifo

torch = pytest.importorskip("torch", reason=NEEDS_TORCH)

from ch9_shared.close import run_depth
from ch9_shared.config import PRESETS, Config, ConfigError
from ch9_shared.data import Dataset
from ch9_shared.loop import train
from numpy_impl.fast import FastNetwork
from parity_tests.conftest import (
    FLOAT64_DEVICES,
    REFERENCE_LOG,
    REPO,
    assert_close,
    first_test_images,
)
from scripts import study
from scripts.cli import build_parser, config_from_args, main
from scripts.stacked import train_stack


def own_weights(stack_run, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Model m's (weights_0_1, weights_1_2) out of the stack."""
    stack = stack_run.stack
    return stack.weights_0_1[m].cpu().numpy(), stack.weights_1_2[m].cpu().numpy()


@pytest.mark.parametrize("hidden, output, mode", [
    ("sigmoid", "sigmoid", "exact"), ("relu", "softmax", "book"), ("tanh", "identity", "exact")])
def test_each_model_of_a_stack_is_the_numpy_run_of_its_config(hidden, output, mode, dataset):
    base = Config(hidden=hidden, output=output, mode=mode, iterations=12, log_every=4,
                  divisor="batch*classes", alpha=0.5)
    configs = [base, base.replace(seed=7, alpha=1.0), base.replace(init_1_2=0.01, seed=3)]
    stacked = train_stack(configs, dataset, "cpu")
    assert stacked.diverged == [None, None, None]
    for m, config in enumerate(configs):
        records = []
        network = train(FastNetwork(config), dataset, records.append)
        assert [str(r) for r in stacked.logs[m]] == [str(r) for r in records]
        weights_0_1, weights_1_2 = own_weights(stacked, m)
        depth = run_depth(config.iterations * config.train_size // config.batch_size)
        assert_close(weights_0_1, network.weights_0_1, "weights_0_1", depth)
        assert_close(weights_1_2, network.weights_1_2, "weights_1_2", depth)


@pytest.mark.parametrize("device", FLOAT64_DEVICES)
def test_a_stacked_book_run_prints_the_books_log(device, dataset):
    stacked = train_stack([PRESETS["tanh"]], dataset, device)
    assert ([str(r) for r in stacked.logs[0]]
            == REFERENCE_LOG.read_text(encoding="utf-8").splitlines())


def test_a_diverging_model_leaves_the_others_alone(dataset):
    config = Config(iterations=20, mode="exact", output="identity")
    alone = train_stack([config], dataset, "cpu")
    together = train_stack([config, config.replace(alpha=1e6)], dataset, "cpu")
    assert alone.diverged == [None] and together.diverged[0] is None
    assert together.diverged[1] is not None
    assert [str(r) for r in together.logs[0]] == [str(r) for r in alone.logs[0]]
    assert together.final[0] == alone.final[0]


def test_the_models_of_a_stack_share_all_but_alpha_init_and_seed(dataset):
    with pytest.raises(ConfigError, match="share hidden: 'tanh' and 'relu'"):
        train_stack([Config(), Config(hidden="relu")], dataset, "cpu")


@pytest.mark.parametrize("dof, quantile", [(1, 12.7062), (2, 4.3027), (9, 2.2622),
                                           (30, 2.0423), (1000, 1.9623)])
def test_t_quantile(dof, quantile):
    assert study.t_975(dof) == pytest.approx(quantile, abs=2e-4)


def test_summary_and_its_verdict():
    summary = study.Summary.of([0.01, 0.02, 0.03])
    assert summary.mean == pytest.approx(0.02) and summary.std == pytest.approx(0.01)
    assert summary.high - summary.mean == pytest.approx(4.3027 * 0.01 / math.sqrt(3), rel=1e-4)
    assert summary.verdict("held", "reversed") == "not resolved at 95%"
    assert study.Summary.of([0.02, 0.021, 0.019]).verdict("held", "reversed") == "held"
    assert study.Summary.of([-0.02, -0.021, -0.019]).verdict("held", "reversed") == "reversed"


def test_the_folds_hold_out_200_training_images_each():
    images = np.arange(1000 * 784, dtype=np.uint32).reshape(1000, 784)
    data = Dataset(images, np.arange(1000) % 10, images[:5], np.zeros(5, dtype=int))
    for fold in range(5):
        part = study.split(data, fold)
        held = set(part.test_images[:, 0] // 784)
        assert held == set(range(200 * fold, 200 * fold + 200))
        assert set(part.train_images[:, 0] // 784) == set(range(1000)) - held
        assert (np.diff(part.train_images[:, 0]) > 0).all()


def test_selection_never_looks_at_the_test_set(dataset):
    """The grid's winner and scores stay the same when the test set is replaced by noise."""
    noise = Dataset(dataset.train_images, dataset.train_labels,
                    np.random.default_rng(0).integers(0, 256, dataset.test_images.shape,
                                                      dtype=np.uint8),
                    np.zeros_like(dataset.test_labels))
    base = Config(hidden="relu", mode="exact", divisor="batch*classes", iterations=4,
                  log_every=2)
    inits = {"listing 2": study.INITS["listing 2"]}
    chosen, scores = study.select(base, dataset, 2, (0.25, 2.0), inits, "cpu")
    assert study.select(base, noise, 2, (0.25, 2.0), inits, "cpu") == (chosen, scores)
    assert chosen.alpha == max(((0.25, scores["alpha 0.25, init listing 2"]),
                                (2.0, scores["alpha 2.0, init listing 2"])),
                               key=lambda point: point[1])[0]
    assert (chosen.train_size, chosen.test_size) == (1000, 10000)


@pytest.fixture(scope="session")
def quick_study(tmp_path_factory) -> Path:
    """The quick study, run once for every test of what it writes (a session's fixture: a
    module's would run again whenever pytest-xdist gives the worker another module between
    two of them)."""
    folder = tmp_path_factory.mktemp("study")
    assert study.main(["--quick", "--seeds", "2", "--device", "cpu", "--out", str(folder)]) == 0
    return folder


@pytest.mark.xdist_group("quick_study")
def test_quick_study_writes_its_three_files(quick_study):
    document = json.loads((quick_study / "study.json").read_text(encoding="utf-8"))
    assert len(document["combinations"]) == 6 and len(document["quirk_groups"]) == 12
    assert all(len(c["final"]) == 2 for c in document["combinations"])
    markdown = (quick_study / "study.md").read_text(encoding="utf-8")
    assert markdown.count("| tanh beats sigmoid in the hidden layer |") == 2
    assert "| tanh | sigmoid |" in markdown and "| relu | relu |" in markdown
    assert (quick_study / "study.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.xdist_group("quick_study")
@pytest.mark.parametrize("part", ["combinations", "quirk_groups"])
def test_quick_study_repeats_itself(part, quick_study, dataset):
    """Trained again, a group of the study gives the same numbers to the last digit: its
    curves in study.json are what its models learn, not what they happened to learn once."""
    document = json.loads((quick_study / "study.json").read_text(encoding="utf-8"))
    entry = document[part][1]
    config = config_from_args(build_parser("x").parse_args(shlex.split(entry["command"])[1:]))
    assert config.test_size == document["settings"]["test_size"] == study.QUICK_TEST_SIZE
    data = first_test_images(dataset, config.test_size)
    again = study.train_group("again", [config.replace(seed=s) for s in entry["seeds"]],
                              data, "cpu")
    assert (again.curves, again.train_curves) == (entry["curves"], entry["train_curves"])


@pytest.mark.xdist_group("quick_study")
def test_quick_study_states_no_verdicts(quick_study):
    """30 iterations and 2 seeds test the machinery, not the chapter: every table says so,
    and every verdict is "not a finding"."""
    document = json.loads((quick_study / "study.json").read_text(encoding="utf-8"))
    verdicts = [row["verdict"] for row in document["claims"] + document["quirk"]]
    assert verdicts and set(verdicts) == {"not a finding"}
    markdown = (quick_study / "study.md").read_text(encoding="utf-8")
    for word in ("held", "reversed", "not resolved", "the quirk costs", "the quirk gains"):
        assert f"| {word}" not in markdown
    assert markdown.startswith("**A smoke test (`--quick`)")
    assert markdown.count("Not a finding.") == 4  # above each of the study's four parts


@pytest.mark.xdist_group("quick_study")
def test_a_study_command_prints_that_models_log(quick_study, capsys):
    """study.md gives each model's scripts/train.py command; run one, get its log."""
    document = json.loads((quick_study / "study.json").read_text(encoding="utf-8"))
    for group in (document["combinations"][1], document["quirk_groups"][2]):
        command = shlex.split(group["command"])
        assert command[0] == "scripts/train.py" and "--seed" not in command  # seed 1
        assert f"`{group['command']}`" in (quick_study / "study.md").read_text(encoding="utf-8")
        assert main([*command[1:], "--quiet"], prog="scripts/train.py") == 0
        iterations = [i - 1 for i in group["iterations"][:-1]]
        expected = [f"I:{i} Test-Acc:{test} Train-Acc:{train}" for i, test, train in
                    zip(iterations, group["curves"][0], group["train_curves"][0], strict=False)]
        assert capsys.readouterr().out.splitlines() == expected
        assert group["rerun"] == "the same log"  # the study ran the command too, and says so


def test_a_rerun_says_same_log_how_many_lines_differ_or_that_it_diverged(dataset):
    data = first_test_images(dataset, 500)
    config = PRESETS["relu"].replace(iterations=20)
    records = []
    train(FastNetwork(config), data, records.append)
    logs = [str(r) for r in records]
    group = study.Group([config], [], [], [logs], [], [False], 0.0)
    assert study.rerun(group, data) == "the same log"
    group.logs[0] = [logs[0], logs[1].replace("Test-Acc:", "Test-Acc:1")]
    assert study.rerun(group, data).startswith("1 of 2 lines differ: a chaotic run")
    group.logs[0] = logs[:1]
    assert study.rerun(group, data).startswith("1 of 2 lines differ")
    diverging = study.Group([config.replace(alpha=1e4)], [], [], [logs], [], [True], 0.0)
    assert study.rerun(diverging, data).endswith("lower --alpha (now 10000.0) (as the stack's "
                                                 "model)")


@pytest.mark.parametrize("args, message", [
    (["--seeds", "1"], "--seeds must be at least 2"),
    (["--seeds", "0"], "--seeds must be at least 2 (a spread needs two), got 0"),
    (["--seeds", "-4"], "--seeds must be at least 2"),
    (["--folds", "6"], "--folds must be from 1 to 5"),
    (["--folds", "0"], "--folds must be from 1 to 5 (1000 training images, 200 a fold), got 0"),
    (["--quick", "--folds", "0"], "--folds must be from 1 to 5"),
])
def test_study_refuses_bad_counts(args, message, script):
    """0 is refused, never read as "the default" (it was: `args.seeds or 10`)."""
    result = script("scripts/study.py", args)
    assert result.returncode == 2 and result.stdout == ""
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_study_checks_its_output_folder_before_it_trains(tmp_path, capsys):
    taken = tmp_path / "a file"
    taken.write_text("", encoding="utf-8")
    assert study.main(["--out", str(taken)]) == 2
    stderr = capsys.readouterr().err
    assert f"--out {taken}: that is a file" in stderr
    assert "select" not in stderr  # nothing trained


@pytest.mark.parametrize("name", ["study.md", "study.json", "study.png"])
@pytest.mark.parametrize("kind", [pytest.param("fifo", marks=needs_fifo), "folder"])
def test_study_checks_each_file_it_writes_before_it_trains(kind, name, tmp_path, monkeypatch,
                                                           capsys):
    """A FIFO or a folder where study.md is to be written: the run trained for a minute,
    then ended in a traceback."""
    monkeypatch.setattr(study, "run", lambda *args: pytest.fail("it trained"))
    if kind == "fifo":
        os.mkfifo(tmp_path / name)
    else:
        (tmp_path / name).mkdir()
    assert study.main(["--quick", "--out", str(tmp_path)]) == 2
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and f"{tmp_path / name} is " in stderr, stderr


def test_study_checks_mplbackend_before_it_trains(monkeypatch, capsys):
    pytest.importorskip("matplotlib")  # imported here first: the check must not rely on it
    monkeypatch.setattr(study, "run", lambda *args: pytest.fail("it trained"))
    monkeypatch.setenv("MPLBACKEND", "garbage")
    assert study.main(["--quick", "--out", "never"]) == 2
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and "MPLBACKEND=garbage is not a matplotlib backend" in stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_study_on_cuda_without_a_gpu_is_one_clear_line(tmp_path, capsys):
    assert study.main(["--quick", "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "torch sees no CUDA GPU" in capsys.readouterr().err


def test_the_docs_quote_the_study_they_link():
    """What README.md, docs/walkthrough.md and docs/claims.md say the quirk does, and what
    claims.md says of the chapter's claims, is what the study in docs/study found, digit for
    digit: redrawing the study without updating the docs fails here."""
    document = json.loads((REPO / "docs" / "study" / "study.json").read_text(encoding="utf-8"))
    assert not document["settings"]["quick"]
    docs = {name: (REPO / name).read_text(encoding="utf-8")
            for name in ("README.md", "docs/walkthrough.md", "docs/claims.md")}
    for row in document["quirk"]:
        difference = study.Summary(**row["difference"]).difference()
        for name, text in docs.items():
            assert difference in text, f"{name}: {row['listing']} listing, {row['hidden']}"
    for row in document["claims"]:
        assert study.Summary(**row["difference"]).difference() in docs["docs/claims.md"]
    for row in document["combinations"]:
        assert study.Summary(**row["test_accuracy"]).cells() in docs["docs/claims.md"]
