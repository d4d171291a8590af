"""A class's grades for the tools teachers grade with (exercises/gradebook.py): the gradebook
CSV, Gradescope's results.json (checked against Gradescope's documented fields), JUnit XML
(read back with junitparser, a parser that shares none of our code), and the Gradescope
autograder that scripts/build_autograder.py builds, run end to end on a fake /autograder."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
import shutil
import site
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml

from exercises import TRACKS
from exercises.gradebook import csv_text, file_names, gradescope_json, junit_xml
from exercises.grading import Result
from exercises.runner import Graded
from parity_tests.conftest import REPO, child_env, needs_torch
from scripts.check_exercises import RIGHTS

SOLUTIONS = (REPO / "exercises" / "backprop_solutions.py").read_text(encoding="utf-8")
WRONG = "def relu2deriv(output):\n    return output >= 0\n"
HANGS = "def dropout(layer_1, dropout_mask):\n    while True:\n        pass\n"
BACKPROP = list(TRACKS["backprop"])
COUNT = len(BACKPROP)  # the points of a backprop file: one an exercise
AUTOGRAD_COUNT = len(TRACKS["autograd"])  # carol.py's, whose text names an autograd blank
ENDLESS = re.compile(r"failed: still running after \d+ s of CPU time \(an endless loop\?\)")
"""The line of HANGS with --time-limit 1: 1 s of CPU time a call."""
CLASS = {  # file: its text
    "alice.py": SOLUTIONS,
    "late/bob.py": SOLUTIONS + WRONG + HANGS,
    "carol.py": "def softmax_loss(logits, labels:\n",  # cannot be imported; an autograd name
    "=mallory.py": SOLUTIONS,  # a student column that would be a formula
}

# Gradescope's documented results.json (gradescope-autograders.readthedocs.io, specs)
GRADESCOPE_TOP = {"score", "execution_time", "output", "output_format", "test_output_format",
                  "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests",
                  "leaderboard"}
GRADESCOPE_TEST = {"score", "max_score", "status", "name", "name_format", "number", "output",
                   "output_format", "tags", "visibility", "extra_data"}
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def check_exercises(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "scripts/check_exercises.py", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, encoding="utf-8",
                            env=child_env())


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, object]:
    """One run over the class (named in reverse order, two at once) writing the CSV and the
    JUnit XML, and bob's results.json: graded once for every test below."""
    folder = tmp_path_factory.mktemp("class")
    (folder / "late").mkdir()
    for name, text in CLASS.items():
        (folder / name).write_text(text, encoding="utf-8")
    files = [str(folder / name) for name in reversed(CLASS)]
    runs = [check_exercises(*files, "--time-limit", "1", "--jobs", "2", "--csv",
                            str(folder / "grades.csv"), "--junit", str(folder / "junit.xml")),
            check_exercises(str(folder / "late" / "bob.py"), "--time-limit", "1",
                            "--gradescope", str(folder / "results.json"))]
    for run, said in zip(runs, [f"scripts/check_exercises.py: note: {RIGHTS}\n", ""],
                         strict=True):
        _, err = run.communicate(timeout=120)
        assert run.returncode == 1 and err == said, err
    return {"csv": (folder / "grades.csv").read_text(encoding="utf-8"),
            "junit": JUnitXml.fromfile(str(folder / "junit.xml")),
            "results": json.loads((folder / "results.json").read_text(encoding="utf-8"))}


def test_the_csv_has_a_row_a_student_with_points_and_each_exercises_line(graded):
    book = rows(graded["csv"])
    assert [row["student"] for row in book] == ["'=mallory", "alice", "bob", "carol"]
    assert [row["file"] for row in book] == ["'=mallory.py", "alice.py", "late/bob.py",
                                             "carol.py"]
    assert [(row["points"], row["max_points"], row["percent"]) for row in book] == [
        (str(COUNT), str(COUNT), "100.0"), (str(COUNT), str(COUNT), "100.0"),
        (str(COUNT - 2), str(COUNT), f"{100 * (COUNT - 2) / COUNT:.1f}"),
        ("0", str(AUTOGRAD_COUNT), "0.0")]
    bob = book[2]
    assert bob["relu2deriv"] == "wrong"
    assert bob["relu2deriv reason"].startswith("wrong: relu2deriv")
    assert bob["dropout"] == "failed"
    assert ENDLESS.fullmatch(bob["dropout reason"]), bob["dropout reason"]
    assert bob["tanh2deriv"] == "passed" and bob["tanh2deriv reason"].startswith("passed (")
    assert bob["softmax_loss"] == bob["error"] == ""
    carol = book[3]  # graded on the track whose names it defines: every exercise failed
    assert carol["track"] == "autograd" and carol["error"].startswith("cannot be imported")
    assert {carol[name] for name in TRACKS["autograd"]} == {"failed"}
    assert carol["train_step reason"] == f"failed: {carol['error']}"


def test_junit_xml_is_a_suite_a_file_and_a_case_an_exercise(graded):
    suites = {suite.name: suite for suite in graded["junit"]}
    assert list(suites) == ["=mallory.py", "alice.py", "late/bob.py", "carol.py"]
    book = {row["file"].lstrip("'"): row for row in rows(graded["csv"])}
    for name, suite in suites.items():
        cases = list(suite)
        row = book[name]
        names = TRACKS[row["track"]]
        assert [case.name for case in cases] == list(names) and suite.tests == len(names)
        assert {case.classname for case in cases} == {row["student"].lstrip("'")}
        failures = {case.name: case.result[0] for case in cases if not case.is_passed}
        assert suite.failures == len(failures) == int(row["max_points"]) - int(row["points"])
        for exercise, failure in failures.items():
            assert isinstance(failure, Failure) and failure.type == row[exercise]
            assert failure.message == failure.text == row[f"{exercise} reason"]
    assert graded["junit"].failures == 2 + AUTOGRAD_COUNT  # bob's, and carol's every one


def gradescope_failures(results: dict[str, object]) -> dict[str, str]:
    """Each failed test's output, once results.json is found to hold Gradescope's documented
    fields alone, one test per backprop exercise, and a score that is their sum."""
    assert set(results) <= GRADESCOPE_TOP and {"score", "tests", "output"} <= set(results)
    assert isinstance(results["execution_time"], int) and results["execution_time"] >= 0
    assert results["visibility"] in VISIBILITIES
    assert results["stdout_visibility"] in VISIBILITIES
    tests = results["tests"]
    assert [test["name"] for test in tests] == BACKPROP
    for test in tests:
        assert set(test) <= GRADESCOPE_TEST
        assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(test)
        assert test["status"] in ("passed", "failed") and test["visibility"] in VISIBILITIES
        assert test["score"] == (test["max_score"] if test["status"] == "passed" else 0)
        assert isinstance(test["output"], str) and isinstance(test["number"], str)
    assert results["score"] == sum(test["score"] for test in tests)
    return {test["name"]: test["output"] for test in tests if test["status"] == "failed"}


def test_results_json_has_gradescopes_fields(graded):
    results = graded["results"]
    failed = gradescope_failures(results)
    assert list(failed) == ["relu2deriv", "dropout"]
    assert ENDLESS.fullmatch(failed["dropout"]), failed["dropout"]
    assert results["score"] == COUNT - 2 and results["execution_time"] >= 1
    assert results["output"] == f"bob.py: {COUNT - 2} of {COUNT} points"


def a_class() -> list[Graded]:
    """Graded objects made by hand, with lines a spreadsheet would run."""
    results = [Result(name, "passed", "passed (exact)") for name in BACKPROP]
    return [
        Graded(Path("class/zoe.py"), ["backprop"], results),
        Graded(Path("class/Bob.py"), ["backprop"],
               [Result("relu2deriv", "wrong", "-1 where it should be 0"), *results[1:]]),
        Graded(Path("class/amy.py"), ["backprop"],
               [*results[:-1], Result(BACKPROP[-1], "wrong", "=HYPERLINK(\"x\")")]),
        Graded(Path("class/eve.py"), error="cannot be imported: ValueError: \x00\x1b@sum"),
    ]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_no_cell_is_a_formula(start, tmp_path):
    (tmp_path / f"{start}x.py").write_text("", encoding="utf-8")
    grades = [Graded(tmp_path / f"{start}x.py", ["backprop"],
                     [Result(name, "wrong", f"{start}1+1") for name in BACKPROP])]
    row = rows(csv_text(grades))[0]
    assert row["student"] == f"'{start}x" and row["file"] == f"'{start}x.py"
    assert row["relu2deriv reason"] == f"'{start}1+1" and row["points"] == "0"
    cells = [cell for row in rows(csv_text(a_class())) for cell in row.values()]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    assert "'-1 where it should be 0" in cells and "'=HYPERLINK(\"x\")" in cells


def test_the_order_is_the_students_whatever_the_order_graded():
    texts = {csv_text(list(grades)) for grades in itertools.permutations(a_class())}
    xmls = {junit_xml(list(grades)) for grades in itertools.permutations(a_class())}
    assert len(texts) == len(xmls) == 1
    students = [row["student"] for row in rows(texts.pop())]
    assert students == ["amy", "Bob", "eve", "zoe"]


def test_a_file_that_cannot_be_imported_fails_every_exercise_in_each_format():
    eve = a_class()[-1]
    tests = json.loads(gradescope_json(eve, 0.4))["tests"]
    assert [test["name"] for test in tests] == BACKPROP  # no name of a track in its text
    assert {test["status"] for test in tests} == {"failed"}
    suite = next(iter(JUnitXml.fromstring(junit_xml([eve]).encode())))
    assert suite.failures == COUNT  # the control characters an error may hold are not XML's
    assert next(iter(suite)).result[0].message == "failed: cannot be imported: ValueError: " \
                                                  "\ufffd\ufffd@sum"


def test_file_names_are_from_the_folder_the_files_share():
    here = Path.cwd()
    assert file_names([Path("x/a/alice.py"), here / "x/b/bob.py"]) == {
        Path("x/a/alice.py"): "a/alice.py", here / "x/b/bob.py": "b/bob.py"}
    assert file_names([Path("x/a/alice.py")]) == {Path("x/a/alice.py"): "alice.py"}


def test_files_on_two_windows_drives_keep_their_whole_paths(monkeypatch):
    def two_drives(paths):
        raise ValueError("Paths don't have the same drive")

    monkeypatch.setattr(os.path, "commonpath", two_drives)
    alice = Path("x/alice.py")
    assert file_names([alice]) == {alice: Path(os.path.abspath(alice)).as_posix()}


BAD_OUTPUTS = {  # arguments (T: the tmp folder), words of the one line
    "gradescope of two files": (["T/alice.py", "T/bob.py", "--gradescope", "T/r.json"],
                                "--gradescope writes the results of one submission, and 2"),
    "two outputs on one path": (["T/alice.py", "--csv", "T/g.csv", "--junit", "T/g.csv"],
                                "--csv and --junit name the same file"),
    "junit in no folder": (["T/alice.py", "--junit", "T/no/j.xml"], "does not exist"),
    "gradescope on the answers": (["T/alice.py", "--gradescope", "T/alice.py"],
                                  "--gradescope T/alice.py: that is a file of answers"),
}


@pytest.mark.parametrize("case", BAD_OUTPUTS)
def test_a_bad_output_is_one_line_and_grades_nothing(case, tmp_path, script):
    for name in ("alice.py", "bob.py"):
        (tmp_path / name).write_text(SOLUTIONS, encoding="utf-8")
    args, words = BAD_OUTPUTS[case]
    ran = script("check_exercises.py", [a.replace("T", str(tmp_path), 1) for a in args])
    assert ran.returncode == 2 and ran.stdout == "" and ran.stderr.count("\n") == 1
    assert words.replace("T", str(tmp_path), 1) in ran.stderr, ran.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["alice.py", "bob.py"]


USER_REFUSED = {  # what is faked (the effective user id, or no pwd module), words of the line
    "no such user": (0, "--user no_such_user_here: no user called 'no_such_user_here' here"),
    "not root": (1000, "--user no_such_user_here: only root can run the answers as another"),
    "Windows": (None, "--user no_such_user_here: this system cannot start a process as "
                      "another user (Python has no pwd module here)"),
}


@pytest.mark.parametrize("case", USER_REFUSED)
def test_user_is_refused_in_one_line_where_it_cannot_be(case, monkeypatch, tmp_path, script):
    uid, words = USER_REFUSED[case]
    if uid is None:
        monkeypatch.setitem(sys.modules, "pwd", None)  # as on Windows: import pwd fails
    else:
        pytest.importorskip("pwd", reason="Windows has no users to switch to")
        monkeypatch.setattr(os, "geteuid", lambda: uid, raising=False)
    (tmp_path / "alice.py").write_text(SOLUTIONS, encoding="utf-8")
    ran = script("check_exercises.py", [str(tmp_path / "alice.py"), "--user",
                                        "no_such_user_here"])
    assert ran.returncode == 2 and ran.stdout == "" and ran.stderr.count("\n") == 1
    assert words in ran.stderr, ran.stderr


def test_the_autograder_zip(tmp_path, script):
    ran = script("build_autograder.py", ["--out", str(tmp_path / "autograder.zip")])
    assert ran.returncode == 0 and "autograder.zip: " in ran.stdout
    with zipfile.ZipFile(tmp_path / "autograder.zip") as archive:
        names = archive.namelist()
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
    assert names[:2] == ["setup.sh", "run_autograder"]
    assert modes["run_autograder"] & 0o111 and not modes["pyproject.toml"] & 0o111
    for needed in ("pyproject.toml", "README.md", "ch9_shared/data.py",
                   "ch9_shared/mnist/train-images-idx3-ubyte.gz", "torch_impl/network.py",
                   "exercises/runner.py", "scripts/check_exercises.py"):
        assert needed in names
    assert not [name for name in names if "__pycache__" in name or name.startswith(
        (".git", ".venv", "docs/", "parity_tests/", "notebooks/"))]
    again = script("build_autograder.py", ["--out", str(tmp_path / "again.zip")])
    assert again.returncode == 0
    assert (tmp_path / "again.zip").read_bytes() == (tmp_path / "autograder.zip").read_bytes()
    bad = script("build_autograder.py", ["--out", str(tmp_path / "no" / "a.zip")])
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "does not exist" in bad.stderr


PACKED = {  # --out: where it points, and the words of its one line
    "a file it packs": (lambda tmp: REPO / "README.md", "that is a file the autograder packs"),
    "a link to one": (lambda tmp: link(tmp / "a.zip", REPO / "pyproject.toml"),
                      "that is a file the autograder packs"),
    "a folder it packs": (lambda tmp: REPO / "scripts" / "never.zip",
                          "inside scripts/, which the autograder packs"),
}


def link(path: Path, target: Path) -> Path:
    path.symlink_to(target)
    return path


@pytest.mark.parametrize("case", PACKED)
def test_the_zip_is_never_written_over_or_into_what_it_packs(case, tmp_path, script):
    """Refused in one line before the zip is built: the file packed is left as it was, and
    nothing is written inside a folder a later build would pack."""
    where, words = PACKED[case]
    out = where(tmp_path)
    before = {path: path.read_bytes() for path in (REPO / "README.md", REPO / "pyproject.toml")}
    ran = script("build_autograder.py", ["--out", str(out)])
    assert ran.returncode == 2 and ran.stderr.count("\n") == 1 and words in ran.stderr, ran.stderr
    assert {path: path.read_bytes() for path in before} == before
    assert not (REPO / "scripts" / "never.zip").exists()


NOT_A_FILE = {  # --out: what stands there (T: the tmp folder), and the words of its one line
    "a FIFO": ("T/fifo", "that is not a regular file (a device or a pipe?)"),
    "a device": (os.devnull, "that is not a regular file (a device or a pipe?)"),
    "a folder": ("T", "that is a folder; give a file name"),
    "a trailing separator": ("T/new" + os.sep, "that names a folder; give a file name"),
    "a trailing dot": ("T/new" + os.sep + ".", "that names a folder; give a file name"),
}


@pytest.mark.parametrize("case", NOT_A_FILE)
def test_an_out_that_is_no_file_is_one_line_before_the_build(case, tmp_path, monkeypatch,
                                                             script):
    """`--out autograder/` wrote a file called autograder."""
    if case == "a FIFO":
        if not hasattr(os, "mkfifo"):
            pytest.skip("needs os.mkfifo (a named pipe): not on Windows")
        os.mkfifo(tmp_path / "fifo")
    if case == "a device" and not Path(os.devnull).exists():
        pytest.skip(f"no {os.devnull} to stand for a device here")
    from scripts import build_autograder

    monkeypatch.setattr(build_autograder, "autograder_zip", lambda: pytest.fail("it built"))
    out, words = NOT_A_FILE[case]
    ran = script("build_autograder.py", ["--out", out.replace("T", str(tmp_path), 1)])
    assert ran.returncode == 2 and ran.stdout == "" and ran.stderr.count("\n") == 1
    assert words in ran.stderr, ran.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == (["fifo"] if case == "a FIFO"
                                                                 else [])


PROBE = """import os
from pathlib import Path
SOLUTIONS = Path(os.environ["AUTOGRADER_ROOT"], "source", "exercises", "backprop_solutions.py")
def relu2deriv(output):
    solutions = {}
    exec(SOLUTIONS.read_text(encoding="utf-8"), solutions)  # the right answer, this user reads it
    return solutions["relu2deriv"](output)
"""
"""A wrong file that passes relu2deriv only if the solutions can be read."""


def nobody() -> str | None:
    """The unprivileged user the autograder runs the answers as, where there is one."""
    try:
        import pwd
        return pwd.getpwnam("nobody").pw_name
    except (ImportError, KeyError):
        return None


def others_can_run(path: Path) -> bool:
    return all(os.stat(folder).st_mode & 0o001 for folder in [path, *path.parents])


def venv_for_others(folder: Path) -> tuple[Path | None, str]:
    """A venv with this one's packages whose Python, NumPy and torch the user nobody can run
    and import: this one, or where its interpreter is not theirs to run (pyenv's, under
    /root), one made from the system's Python of the same version; else None, and why."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if others_can_run(Path(os.path.realpath(sys.executable))):
        venv = Path(sys.prefix)
    else:
        system = Path("/usr/bin") / version
        if not (system.exists() and others_can_run(system)):
            return None, f"no Python here that the user nobody may run (no {system})"
        subprocess.run([str(system), "-m", "venv", "--without-pip", str(folder)], check=True)
        (folder / "lib" / version / "site-packages" / "outer.pth").write_text(
            "\n".join(site.getsitepackages()) + "\n", encoding="utf-8")
        venv = folder
    import pwd
    entry = pwd.getpwnam("nobody")
    tried = subprocess.run([str(venv / "bin" / "python"), "-c", "import numpy, torch"],
                           user=entry.pw_uid, group=entry.pw_gid, extra_groups=[], cwd="/",
                           capture_output=True, encoding="utf-8", env=child_env())
    if tried.returncode != 0:
        lines = tried.stderr.strip().splitlines() or [f"exit status {tried.returncode}"]
        return None, (f"the user nobody cannot import this venv's packages ({lines[-1]}): "
                      "the checkout is in a folder other users may not enter")
    return venv, ""


@pytest.mark.skipif(getattr(os, "geteuid", lambda: -1)() != 0,
                    reason="the autograder runs as root, as on Gradescope")
@pytest.mark.skipif(nobody() is None, reason="no user called nobody here")
@needs_torch
def test_the_autograder_end_to_end_on_a_fake_autograder_tree(tmp_path, script):
    """The built zip on a fake /autograder, as Gradescope runs it (its venv: this one): a
    right file, a wrong file that tries to read the solutions, a file that hangs, and no file."""
    assert script("build_autograder.py", ["--out", str(tmp_path / "a.zip")]).returncode == 0
    submissions = {"right": SOLUTIONS, "wrong": PROBE, "hangs": SOLUTIONS + HANGS, "none": ""}
    with tempfile.TemporaryDirectory() as name:  # in /tmp: pytest's tmp_path is root's alone
        top = Path(name)
        top.chmod(0o755)
        venv, why = venv_for_others(top / "venv")
        if venv is None:
            pytest.skip(why)
        runs = {}
        for case, text in submissions.items():
            root = top / case
            with zipfile.ZipFile(tmp_path / "a.zip") as archive:
                archive.extractall(root / "source")
            (root / "venv").symlink_to(venv)
            (root / "submission").mkdir()
            if text:
                (root / "submission" / "answers.py").write_text(text, encoding="utf-8")
            shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
            runs[case] = subprocess.Popen(
                ["bash", str(root / "run_autograder"), "--time-limit", "1"],
                env=child_env(AUTOGRADER_ROOT=str(root)), stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, encoding="utf-8")
        for case, run in runs.items():
            out, _ = run.communicate(timeout=120)
            assert run.returncode == 0, f"{case}: {out}"
        results = {case: json.loads((top / case / "results" / "results.json").read_text(
            encoding="utf-8"))
                   for case in submissions}
        solutions = top / "wrong" / "source" / "exercises"
        assert {path.stat().st_mode & 0o777 for path in solutions.glob("*_solutions.py")} \
            == {0o600}
        assert (solutions / "child.py").stat().st_mode & 0o004  # the answers' user runs it
        assert not (solutions.parent / "numpy_impl" / "network.py").stat().st_mode & 0o044
    assert gradescope_failures(results["right"]) == {} and results["right"]["score"] == COUNT
    failed = gradescope_failures(results["hangs"])
    assert list(failed) == ["dropout"] and ENDLESS.fullmatch(failed["dropout"])
    failed = gradescope_failures(results["wrong"])
    assert "PermissionError" in failed.pop("relu2deriv"), results["wrong"]
    assert set(failed) == set(BACKPROP[1:]) and results["wrong"]["score"] == 0
    assert all(line.startswith("not done yet") for line in failed.values())
    assert results["none"]["score"] == 0 and "this submission has 0" in results["none"]["output"]
