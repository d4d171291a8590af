"""A learner's check: one exercise alone (--only), an answer that raises told at its own
line, an exercise that fails because one it calls is wrong told so first, and what makes a
check fast without trusting anything else (no torch for the backprop track, no catalogue of
mistakes for right answers, no torch._dynamo for an optimizer)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from exercises import TRACKS, check, check_module, grading
from exercises.runner import calls_message
from parity_tests.conftest import REPO, child_env, needs_torch, run
from parity_tests.kit.conftest import line_of

BACKPROP = (REPO / "exercises" / "backprop_solutions.py").read_text(encoding="utf-8")
AUTOGRAD = (REPO / "exercises" / "autograd_solutions.py").read_text(encoding="utf-8")


def check_exercises(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "scripts/check_exercises.py", *args], cwd=REPO,
                          capture_output=True, encoding="utf-8", timeout=600,
                          env=child_env(PYTHONPATH=str(REPO)))


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# --only

def test_only_checks_the_named_exercises_alone(tmp_path):
    """Two named, one of them wrong: their two lines, a summary that says only they were
    checked, exit 1; the wrong exercise that is not named changes nothing."""
    text = BACKPROP.replace("return 1 - output**2", "return 1 - output")  # tanh2deriv wrong
    answers = write(tmp_path, "alice.py", text)
    ran = check_exercises(str(answers), "--only", "dropout,tanh2deriv")
    assert ran.returncode == 1, ran.stderr
    lines = ran.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == ["tanh2deriv", "dropout"]
    assert lines[0].startswith("tanh2deriv: wrong:") and lines[1].startswith("dropout: passed")
    assert lines[-1] == f"{answers}: 1 of 2 passed (only dropout, tanh2deriv checked: --only)"
    ran = check_exercises(str(answers), "--only", "dropout")
    assert ran.returncode == 0 and len(ran.stdout.splitlines()) == 2, ran.stdout


def test_only_an_unknown_name_is_one_line_that_lists_the_names(tmp_path):
    answers = write(tmp_path, "alice.py", BACKPROP)
    ran = check_exercises(str(answers), "--only", "tanh2deriv,tanh2derivv")
    assert ran.returncode == 2 and ran.stdout == "" and ran.stderr.count("\n") == 1
    assert "no exercise is called 'tanh2derivv'" in ran.stderr
    assert all(name in ran.stderr for names in TRACKS.values() for name in names)


def test_only_and_a_track_that_does_not_hold_it_is_one_line(tmp_path):
    answers = write(tmp_path, "alice.py", BACKPROP)
    ran = check_exercises(str(answers), "--only", "softmax_loss", "--track", "backprop")
    assert ran.returncode == 2 and ran.stdout == "" and ran.stderr.count("\n") == 1
    assert "--only softmax_loss: an exercise of the autograd track" in ran.stderr


def test_check_module_checks_only_those_named():
    from exercises import backprop_solutions
    results = check_module(backprop_solutions, only=["tanh2deriv", "dropout"])
    assert [result.name for result in results] == ["tanh2deriv", "dropout"]
    assert all(result.passed for result in results)
    assert [r.name for r in check_module(backprop_solutions, only="relu2deriv")] == ["relu2deriv"]


# The line an answer raised at.

RAISES = """
def helper(output):
    return output * undefined_name


def tanh2deriv(output):
    slope = 1 - output**2
    return helper(slope)
"""


def test_the_cli_names_the_students_file_and_line_never_the_copy_or_the_grader(tmp_path):
    """The answer raised in a helper of its own file: that line, in the file as the learner
    named it (it is graded from a private copy), and no frame of the grader's."""
    answers = write(tmp_path, "alice.py", BACKPROP + RAISES)
    ran = check_exercises(str(answers), "--only", "tanh2deriv")
    line = ran.stdout.splitlines()[0]
    number = (BACKPROP + RAISES).splitlines().index("    return output * undefined_name") + 1
    assert line == ("tanh2deriv: wrong: it raised NameError: name 'undefined_name' is not "
                    f"defined ({answers}, line {number}: return output * undefined_name)")
    assert "check_exercises-" not in ran.stdout and "child.py" not in ran.stdout


def test_an_import_that_fails_names_its_line(tmp_path):
    answers = write(tmp_path, "bob.py", "import numpy as np\nfrom numpy import tanh2\n")
    ran = check_exercises(str(answers))
    assert ran.returncode == 1
    assert ran.stdout.splitlines()[-1].endswith(
        f"({answers}, line 2: from numpy import tanh2)"), ran.stdout


def test_check_names_the_answers_own_line():
    def helper(output):
        return output * undefined_name  # noqa: F821

    def tanh2deriv(output):
        return helper(1 - output**2)
    assert str(check(tanh2deriv)) == (
        "tanh2deriv: wrong: it raised NameError: name 'undefined_name' is not defined "
        f"({__file__}, line {line_of(helper)}: return output * undefined_name # noqa: F821)")

    def dropout(layer_1):  # the grader's call raises: no line of the grader's is given
        return layer_1 * 2
    line = str(check(dropout))
    assert line.endswith("dropout() takes 1 positional argument but 2 were given"), line


# The cause.

WRONG_TANH = BACKPROP.replace("return 1 - output**2", "return 1 - output")


def test_which_exercise_calls_which_is_read_from_the_answers_code():
    """From the text: through a helper of the file; never a name that is an argument."""
    from exercises.depends import calls_in_file, dependency_order
    text = textwrap.dedent("""\
        def tanh2deriv(output):
            return 1 - output**2
        def _slope(layer_1):
            return tanh2deriv(layer_1 / 2)
        def layer_1_delta(layer_2_delta, weights_1_2, layer_1, dropout_mask):
            return layer_2_delta @ weights_1_2.T * _slope(layer_1) * dropout_mask * 2
        def weights_0_1_update(weights_0_1, layer_0, layer_1_delta, alpha):
            return weights_0_1 - alpha * layer_0.T @ layer_1_delta(1, 2, 3, 4)
    """)
    calls = calls_in_file(text)
    assert calls == {"tanh2deriv": (), "layer_1_delta": ("tanh2deriv",),
                     "weights_0_1_update": ()}
    assert dependency_order(["layer_1_delta", "tanh2deriv"], calls) == [
        "tanh2deriv", "layer_1_delta"]


def test_the_cli_says_a_dependent_exercise_fails_because_of_the_one_it_calls(tmp_path):
    """layer_1_delta is right but calls a wrong tanh2deriv: its line says to fix tanh2deriv
    first; with --only layer_1_delta too (tanh2deriv is graded, unseen, for the cause). One
    that does not call it is judged on its own."""
    answers = write(tmp_path, "alice.py", WRONG_TANH)
    lines = check_exercises(str(answers)).stdout.splitlines()
    assert "layer_1_delta: wrong: fails because tanh2deriv, which it calls, is wrong: fix " \
           "tanh2deriv first" in lines
    assert next(line for line in lines if line.startswith("tanh2deriv: wrong: "))
    ran = check_exercises(str(answers), "--only", "layer_1_delta")
    assert ran.stdout.splitlines() == [
        "layer_1_delta: wrong: fails because tanh2deriv, which it calls, is wrong: fix "
        "tanh2deriv first", f"{answers}: 0 of 1 passed (only layer_1_delta checked: --only)"]
    # a layer_1_delta that does not call the wrong tanh2deriv: its own verdict
    text = WRONG_TANH.replace("tanh2deriv(layer_1 / 2)", "(1 - (layer_1 / 2) ** 2)")
    ran = check_exercises(str(write(tmp_path, "bob.py", text)), "--only", "layer_1_delta")
    assert ran.stdout.splitlines()[0].startswith("layer_1_delta: passed"), ran.stdout


@needs_torch
def test_check_says_train_step_fails_because_of_softmax_loss(tmp_path, monkeypatch):
    """The issue's case: a softmax_loss that leaves autograd (.item()) makes train_step
    raise in torch; check(train_step) says to fix softmax_loss first."""
    import importlib.util

    text = AUTOGRAD.replace('reduction="sum") / D', 'reduction="sum").item() / D', 1)
    path = write(tmp_path, "learner.py", text)
    spec = importlib.util.spec_from_file_location("learner", path)
    learner = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "learner", learner)
    spec.loader.exec_module(learner)
    assert str(check(learner.train_step)) == (
        "train_step: wrong: fails because softmax_loss, which it calls, is wrong: fix "
        "softmax_loss first")
    assert check(learner.ChapterNetwork).passed  # it calls no other exercise


# Fast, trusting nothing else.

def test_the_backprop_track_imports_no_torch_in_the_grader():
    code = ("import sys\nfrom scripts.check_exercises import main\n"
            "status = main(['exercises/backprop_solutions.py'])\n"
            "print(status, 'torch' in sys.modules)\n")
    ran = run(["-c", code])
    assert ran.stdout.splitlines()[-1] == "0 False", ran.stdout + ran.stderr


def test_right_answers_need_no_catalogue_of_mistakes():
    """The grader's message to the child computes the references, not the mistakes: a
    catalogue is computed where an answer is wrong (and then in this process alone)."""
    grading._mistakes.cache_clear()
    calls_message(list(TRACKS["backprop"]), "float64", 0)
    assert grading._mistakes.cache_info().currsize == 0
    assert not check(lambda output: 1 - output, name="tanh2deriv").passed
    assert grading._mistakes.cache_info().currsize >= 1


@needs_torch
def test_the_optimizer_train_step_is_given_is_sgd_without_torch_dynamo():
    """An SGD (isinstance), whose step and zero_grad are torch's to the bit, and checking
    train_step imports no torch._dynamo (seconds, on the first optimizer's first call)."""
    code = textwrap.dedent("""\
        import sys
        import torch
        from exercises import exercise
        from exercises import autograd_solutions as solutions
        from exercises.child import plain_sgd, probe
        made = probe(solutions.train_step, exercise("train_step").calls("float64", 0))
        assert not any(key.endswith("outcome") for key in made), made
        torch.manual_seed(0)
        ours, theirs = (torch.nn.Parameter(torch.randn(5, 3, dtype=torch.float64))
                        for _ in range(2))
        theirs.data.copy_(ours.data)
        optimizers = [plain_sgd()([ours], lr=0.3)]
        print(isinstance(optimizers[0], torch.optim.SGD), "torch._dynamo" in sys.modules)
        optimizers.append(torch.optim.SGD([theirs], lr=0.3))
        for weight, optimizer in zip((ours, theirs), optimizers):
            (weight ** 2).sum().backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=False)
        print(torch.equal(ours, theirs), torch.equal(ours.grad, theirs.grad),
              float(ours.grad.abs().sum()))
    """)
    ran = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         encoding="utf-8", timeout=600, env=child_env(PYTHONPATH=str(REPO)))
    assert ran.stdout.splitlines() == ["True False", "True True 0.0"], ran.stdout + ran.stderr
