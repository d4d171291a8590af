"""scripts/check_exercises.py never writes its gradebook through a link an answer could plant:
a link at an output's path in a folder others may write is refused before grading, and the
path each output goes to is fixed then, so that a link planted during grading is replaced by
the gradebook, never followed (an answer that runs as another user, or the grader as root,
would otherwise overwrite whatever file the link names)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ch9_shared.files import output_target, write_atomically
from exercises import TRACKS
from parity_tests.conftest import REPO, needs_symlinks

pytestmark = [needs_symlinks,
              pytest.mark.skipif(os.name != "posix", reason="folders' permissions are POSIX's")]

BLANK = (REPO / "exercises" / "backprop.py").read_text(encoding="utf-8")
VICTIM = b"a file the answers' user may not write\n"


def folder(path: Path, mode: int) -> Path:
    path.mkdir()
    path.chmod(mode)
    return path


def planting(tmp_path: Path, link: Path, target: Path) -> Path:
    """A blank file of answers whose import, in the grader's child, makes `link` a symbolic
    link to `target` (replacing what stood there): a link planted during grading."""
    path = tmp_path / "planter.py"
    path.write_text(BLANK + f"\nimport os\nif os.path.lexists({str(link)!r}):\n"
                    f"    os.unlink({str(link)!r})\nos.symlink({str(target)!r}, {str(link)!r})\n",
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("mode", [0o1777, 0o777, 0o770], ids=["sticky", "world", "group"])
def test_a_link_in_a_folder_others_may_write_is_refused_before_grading(mode, tmp_path, script):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(VICTIM)
    shared = folder(tmp_path / "shared", mode)
    grades = shared / "grades.csv"
    grades.symlink_to(victim)
    answers = tmp_path / "alice.py"
    answers.write_text(BLANK, encoding="utf-8")
    ran = script("check_exercises.py", [str(answers), "--csv", str(grades)])
    assert ran.returncode == 2 and ran.stdout == ""  # nothing graded
    assert ran.stderr.startswith(f"scripts/check_exercises.py: error: --csv {grades}: "
                                 f"{grades} is a symbolic link in a folder others may write")
    assert ran.stderr.count("\n") == 1 and str(victim) in ran.stderr
    assert victim.read_bytes() == VICTIM and grades.is_symlink()


def test_a_link_planted_during_grading_is_replaced_never_followed(tmp_path, script):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(VICTIM)
    grades = folder(tmp_path / "shared", 0o1777) / "grades.csv"
    ran = script("check_exercises.py", [str(planting(tmp_path, grades, victim)),
                                        "--csv", str(grades)])
    assert ran.returncode == 1, ran.stderr
    assert ran.stdout.count("not done yet") == len(TRACKS["backprop"])
    assert victim.read_bytes() == VICTIM
    assert not grades.is_symlink() and grades.read_text(encoding="utf-8").startswith("student,")


def test_a_teachers_own_link_is_resolved_once_before_grading(tmp_path, script):
    """A link in a private folder is fine: the gradebook goes to the file it named at the
    start, whatever an answer makes of the link meanwhile."""
    private = folder(tmp_path / "private", 0o700)
    book = folder(tmp_path / "book", 0o700) / "grades.csv"
    victim = tmp_path / "victim.txt"
    victim.write_bytes(VICTIM)
    link = private / "grades.csv"
    link.symlink_to(book)
    ran = script("check_exercises.py", [str(planting(tmp_path, link, victim)),
                                        "--csv", str(link)])
    assert ran.returncode == 1, ran.stderr
    assert victim.read_bytes() == VICTIM and os.readlink(link) == str(victim)
    assert book.read_text(encoding="utf-8").startswith("student,")


def test_write_atomically_without_following_links(tmp_path):
    """A link at the path is replaced itself; the user's own file keeps its mode; a file
    that is read-only is refused; output_target resolves a private link, once."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(VICTIM)
    path = tmp_path / "out.txt"
    path.symlink_to(victim)
    write_atomically(path, lambda f: f.write(b"new\n"), follow_links=False)
    assert not path.is_symlink() and path.read_bytes() == b"new\n"
    assert victim.read_bytes() == VICTIM
    path.chmod(0o600)
    write_atomically(path, lambda f: f.write(b"newer\n"), follow_links=False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_bytes() == b"newer\n"
    link = tmp_path / "link.txt"
    link.symlink_to(path)
    tmp_path.chmod(0o700)
    assert output_target("--csv", link) == path.resolve()
