"""A check teaches rather than tells (issue 38): a wrong answer's line names the tensor, the
symptom and the kind of mistake, never the fix; the fix is the hint ladder's last level,
which `hint(name)` prints and `scripts/check_exercises.py --hint NAME` shows, each run one
level further (the level kept in a file); `--tell` puts the fix in a teacher's gradebook."""

from __future__ import annotations

import ast
import inspect
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from parity_tests.conftest import NEEDS_TORCH, REPO, child_env

torch = pytest.importorskip("torch", reason=NEEDS_TORCH)

from torch import nn

from exercises import TRACKS, autograd_solutions, backprop_solutions, check, exercise, hints
from exercises.autograd_checks import HARD_CODED_RATE
from parity_tests.kit.conftest import wrong_line

SOLUTIONS = {"backprop": backprop_solutions, "autograd": autograd_solutions}
NAMES = [name for names in TRACKS.values() for name in names]


def normal(text: str) -> str:
    """Code as a line may hold it: without spaces, one kind of quote."""
    return "".join(text.split()).replace('"', "'")


def values(name: str) -> list[ast.expr]:
    """What the solution of exercise `name` computes: the values it returns (each of a
    tuple), assigns or calls, but bare names, attributes and constants (docstrings)."""
    track = next(track for track, names in TRACKS.items() if name in names)
    source = textwrap.dedent(inspect.getsource(getattr(SOLUTIONS[track], name)))
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Return | ast.Assign | ast.Expr) and node.value is not None:
            parts = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
            found += [part for part in parts
                      if not isinstance(part, ast.Name | ast.Attribute | ast.Constant)]
    return found


def the_fix(name: str) -> list[str]:
    """The solution's expressions, whole."""
    return [normal(ast.unparse(value)) for value in values(name)]


def pieces(name: str) -> set[str]:
    """Every operation in the solution's expressions, whole or part (`output > 0` of
    `(output > 0).astype(output.dtype)`), but `super()`."""
    return {normal(ast.unparse(node)) for value in values(name) for node in ast.walk(value)
            if isinstance(node, ast.BinOp | ast.Compare | ast.Call | ast.UnaryOp)
            and ast.unparse(node) != "super()"}


def idiomatic(*middle: nn.Module, lr: float | None = None):
    def idiomatic_model(hidden_size, alpha, batch_size, D):
        model = nn.Sequential(nn.Linear(784, hidden_size, bias=False), *middle,
                              nn.Linear(hidden_size, 10, bias=False))
        return model, alpha * batch_size / D if lr is None else lr
    return idiomatic_model


def hard_coded_rate(network, optimizer, layer_0, labels, dropout_mask, D):
    optimizer.zero_grad()
    _, _, logits = network(layer_0, dropout_mask)
    loss = autograd_solutions.softmax_loss(logits, labels, D)
    loss.backward()
    with torch.no_grad():
        for weight in network.parameters():
            weight -= 2 * weight.grad
    return loss


BEYOND = [  # mistakes the engine tells without a catalogue: the mask an answer drew, a rate
    ("idiomatic_model", idiomatic(nn.Tanh()), "drops nothing in train mode"),
    ("idiomatic_model", idiomatic(nn.Tanh(), nn.Dropout(0.2)), "keeps more than"),
    ("train_step", hard_coded_rate, HARD_CODED_RATE),
]


@pytest.mark.parametrize("name", NAMES)
def test_no_line_gives_the_fix_and_the_last_hint_does(name):
    """Each typical mistake of the catalogue of both tracks: its line names its kind and
    holds no operation of the right answer (normalized); the last hint holds the whole."""
    fix, parts = the_fix(name), pieces(name)
    assert fix and all(piece in normal(hints.HINTS[name][-1]) for piece in fix), (name, fix)
    assert not any(all(piece in normal(level) for piece in fix)
                   for level in hints.HINTS[name][:-1]), name  # only the last gives it whole
    cases = [(wrong, kind) for wrong, kind in exercise(name).mistakes]
    cases += [(wrong, words) for other, wrong, words in BEYOND if other == name]
    for wrong, words in cases:
        line = wrong_line(check(wrong, name=name), words)
        ours = re.sub(r"line \d+: .*\)", "line)", line)  # not the answer's own line, quoted
        told = [piece for piece in parts if piece in normal(ours)]
        assert not told, (line, told)


def test_the_suspects_of_a_cut_graph_and_of_a_float32_leak():
    """A graph cut by .data is told so, and a float32 leak names torch's casts too."""
    def softmax_loss(logits, labels, D):
        return torch.nn.functional.cross_entropy(logits.data, labels, reduction="sum") / D
    wrong_line(check(softmax_loss), "does not depend on logits through autograd",
               "the graph from the logits to the loss is cut", "a .data cuts it too")

    def manual_layer_1_delta(layer_2_delta, weight_1_2, layer_1, dropout_mask):
        return autograd_solutions.manual_layer_1_delta(
            layer_2_delta, weight_1_2, layer_1, dropout_mask).float()
    wrong_line(check(manual_layer_1_delta), "is float32, less precise than the exercise's "
               "float64", "torch's .float() or .to(torch.float32)")


def python_c(code: str, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          encoding="utf-8", timeout=120,
                          env=child_env(PYTHONPATH=str(REPO), XDG_CACHE_HOME=str(cache)))


def test_hint_prints_from_python_c_and_keeps_its_level_between_processes(tmp_path):
    """`python -c 'from exercises import hint; hint("dropout")'` prints the hint, and the
    next process goes on one level further; a deleted or broken file starts again, never
    a traceback."""
    cache, levels = tmp_path / "cache", hints.HINTS["dropout"]
    state = cache / hints.STATE
    code = "from exercises import hint; hint('dropout')"
    first, second = python_c(code, cache), python_c(code, cache)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.splitlines() == [
        f"dropout, hint 1 of {len(levels)}: {levels[0]}",
        f"(your place is kept in {state}: delete it to start again)"]
    assert second.stdout.startswith(f"dropout, hint 2 of {len(levels)}: {levels[1]}\n")
    assert json.loads(state.read_text(encoding="utf-8")) == {"dropout": 2}
    for broken in ("{not json", '["dropout", 2]', '{"dropout": "two"}', '{"dropout": 99}'):
        state.write_text(broken, encoding="utf-8")
        again = python_c(code, cache)
        assert again.stdout.startswith("dropout, hint 1 of ") and not again.stderr, again
    state.unlink()
    assert python_c(code, cache).stdout.startswith("dropout, hint 1 of ")


def test_a_hint_that_cannot_be_kept_is_still_shown(tmp_path, monkeypatch, capsys):
    """A cache folder that is a file: the hint shows, says its place is not kept, and this
    process goes on from it."""
    (tmp_path / "cache").write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    hints.hint("tanh2deriv")
    hints.hint("tanh2deriv")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("tanh2deriv, hint 1 of 3: ")
    assert out[1].startswith(f"(could not keep your place in {tmp_path / 'cache'}")
    assert out[2].startswith("tanh2deriv, hint 2 of 3: ")


def test_check_exercises_hint_goes_one_level_further_each_run(script, hint_levels):
    """`--hint NAME`, alone or after a file, shows the next hint, as hint() would (the
    same file); an unknown name is one line that lists the names, exit 2."""
    levels = hints.HINTS["relu2deriv"]
    runs = [script("check_exercises.py", ["--hint", "relu2deriv"]),
            script("check_exercises.py", ["answers.py", "--hint", "relu2deriv"])]
    assert [ran.returncode for ran in runs] == [0, 0], runs
    assert runs[0].stdout.startswith(f"relu2deriv, hint 1 of 3: {levels[0]}\n")
    assert runs[1].stdout.startswith(f"relu2deriv, hint 2 of 3: {levels[1]}\n")
    assert hints.next_hint("relu2deriv").startswith(f"relu2deriv, hint 3 of 3 (the last): "
                                                    f"{levels[2]}\n")
    assert (hint_levels / hints.STATE).is_file()
    unknown = script("check_exercises.py", ["--hint", "relu"])
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert unknown.stderr.count("\n") == 1 and "invalid choice: 'relu'" in unknown.stderr
    assert all(name in unknown.stderr for name in NAMES)


def test_tell_puts_the_fix_in_a_teachers_gradebook(script, tmp_path):
    """A learner's line says what is off; `--tell` adds the fix, the last hint, to the line
    printed and to the CSV a teacher keeps."""
    text = Path(backprop_solutions.__file__).read_text(encoding="utf-8")
    answers = tmp_path / "alice.py"
    answers.write_text(text.replace("return layer_1 * dropout_mask * 2",
                                    "return layer_1 * dropout_mask"), encoding="utf-8")
    learner = script("check_exercises.py", [str(answers)])
    teacher = script("check_exercises.py", [str(answers), "--tell", "--csv",
                                            str(tmp_path / "grades.csv")])
    assert learner.returncode == teacher.returncode == 1, learner.stderr + teacher.stderr
    fix = hints.HINTS["dropout"][-1]
    line = next(line for line in learner.stdout.splitlines() if line.startswith("dropout:"))
    assert line.startswith("dropout: wrong: ") and "layer_1*dropout_mask*2" not in normal(line)
    assert f"{line} ({fix})" in teacher.stdout.splitlines()
    assert f"({fix})" in (tmp_path / "grades.csv").read_text(encoding="utf-8")
    assert teacher.stdout.count("(The fix: ") == 1  # the passing exercises as they were
