"""A class's grades in the formats teachers grade with: a gradebook CSV, Gradescope's
results.json, and JUnit XML (GitHub Classroom, GitLab, Jenkins, CodeGrade).

Pure functions of the grader's `Graded` objects (exercises/runner.py) that return text;
scripts/check_exercises.py writes it. Every exercise of a file's track gets a result in
each format, even where the file could not be imported: each of them then fails, with the
reason as its line. Each exercise is worth POINTS.

The JUnit XML is written with the standard library's ElementTree, so that grading a class
needs nothing beyond NumPy; the tests read it back with junitparser, a JUnit parser that
shares none of this code.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from exercises import TRACKS
from exercises.grading import Result
from exercises.runner import Graded, choose_tracks, defined_in_text

POINTS = 1
"""What an exercise is worth: a gradebook or Gradescope can weigh the columns itself."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet may run as a formula at the start of a cell (OWASP's CSV injection)."""

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
"""Gradescope's visibilities of results.json: the students see every exercise's line at once,
never, after the due date, or once the grades are published."""

EXERCISES = [name for names in TRACKS.values() for name in names]
NOT_XML = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""What XML 1.0 cannot hold (control characters, lone surrogates): an answer's error may."""


def student(path: Path) -> str:
    """The student a file belongs to: its name without `.py` (alice_backprop.py: alice_backprop)."""
    return path.stem


def file_names(paths: list[Path]) -> dict[Path, str]:
    """Each file's path from the folder the files share (alice.py, or late/bob.py), never the
    path as typed: the same class gives the same names wherever it is graded from."""
    absolute = [Path(os.path.abspath(path)) for path in paths]
    try:
        common = Path(os.path.commonpath([path.parent for path in absolute]))
    except ValueError:  # files on two Windows drives share no folder
        return {path: full.as_posix() for path, full in zip(paths, absolute, strict=True)}
    return {path: full.relative_to(common).as_posix()
            for path, full in zip(paths, absolute, strict=True)}


def ordered(grades: list[Graded]) -> list[Graded]:
    """The files by student, then path: one order however many were graded at once, or in
    what order they were named."""
    return sorted(grades, key=lambda graded: (student(graded.path).casefold(),
                                              student(graded.path),
                                              os.path.abspath(graded.path)))


def tracks_in_text(path: Path) -> list[str]:
    """The track(s) of a file that could not be imported, from the names its text defines
    (exercises.runner.choose_tracks): the backprop track if none."""
    return choose_tracks(defined_in_text(path))


def results(graded: Graded) -> list[Result]:
    """One Result an exercise of the file's track(s) (those graded: Graded.only): a file
    that cannot be imported fails each, with the reason."""
    if graded.error is None:
        return graded.results
    return [Result(name, "failed", f"failed: {graded.error}")
            for track in graded.tracks or tracks_in_text(graded.path) for name in TRACKS[track]
            if not graded.only or name in graded.only]


def tracks(graded: Graded) -> str:
    return "+".join(graded.tracks or tracks_in_text(graded.path))


def score(graded: Graded) -> tuple[int, int]:
    """The file's points, and the most it could have."""
    got = results(graded)
    return POINTS * sum(result.passed for result in got), POINTS * len(got)


def summary(graded: Graded) -> str:
    points, most = score(graded)
    return f"{graded.path.name}: {graded.error or f'{points} of {most} points'}"


def spreadsheet_safe(cell: object) -> object:
    """A text cell that no spreadsheet runs as a formula: an apostrophe before a leading
    =, +, -, @, tab or carriage return (numbers stay numbers)."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


CSV_COLUMNS = ["student", "file", "track", "points", "max_points", "percent", "error",
               *(column for name in EXERCISES for column in (name, f"{name} reason"))]


def csv_text(grades: list[Graded]) -> str:
    """One row a file, by student: its points, and per exercise its status and its line."""
    names = file_names([graded.path for graded in grades])
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, restval="")  # CRLF lines: RFC 4180
    writer.writeheader()
    for graded in ordered(grades):
        points, most = score(graded)
        row = {"student": student(graded.path), "file": names[graded.path],
               "track": tracks(graded), "points": points, "max_points": most,
               "percent": round(100 * points / most, 1), "error": graded.error or ""}
        for result in results(graded):
            row[result.name], row[f"{result.name} reason"] = result.status, result.message
        writer.writerow({key: spreadsheet_safe(value) for key, value in row.items()})
    return out.getvalue()


def gradescope_json(graded: Graded, seconds: float, visibility: str = "visible") -> str:
    """Gradescope's results.json for one submission: a test an exercise, worth POINTS, its
    line as the output; the total, and the summary (or why the file cannot be imported);
    shown to the student as `visibility` says (VISIBILITIES)."""
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}, got "
                         f"{visibility!r}")
    tests = [{"name": result.name, "number": str(number), "score": POINTS * result.passed,
              "max_score": POINTS, "status": "passed" if result.passed else "failed",
              "output": result.message, "visibility": visibility}
             for number, result in enumerate(results(graded), 1)]
    return json.dumps({"score": score(graded)[0], "execution_time": round(seconds),
                       "output": summary(graded), "visibility": visibility,
                       "stdout_visibility": "hidden", "tests": tests}, indent=2) + "\n"


def junit_xml(grades: list[Graded]) -> str:
    """JUnit XML: a <testsuite> a file, a <testcase> an exercise; whatever did not pass (not
    done included: it earns no points) is a <failure> whose message is its line."""
    def xml(text: str) -> str:
        return NOT_XML.sub("\ufffd", text)

    names = file_names([graded.path for graded in grades])
    suites = ET.Element("testsuites", name="check_exercises")
    for graded in ordered(grades):
        got = results(graded)
        failures = sum(not result.passed for result in got)
        suite = ET.SubElement(suites, "testsuite", name=xml(names[graded.path]),
                              tests=str(len(got)), failures=str(failures), errors="0",
                              skipped="0")
        for result in got:
            case = ET.SubElement(suite, "testcase", name=result.name,
                                 classname=xml(student(graded.path)))
            if not result.passed:
                line = xml(result.message)
                ET.SubElement(case, "failure", message=line, type=result.status).text = line
    tests = sum(int(suite.get("tests", 0)) for suite in suites)
    suites.set("tests", str(tests))
    suites.set("failures", str(sum(int(suite.get("failures", 0)) for suite in suites)))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
