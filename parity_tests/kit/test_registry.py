"""Each exercise is registered once, in its track's checks, and the rest is found from that
registration (exercises/registry.py): its blank, its answer, its hint ladder (read from the
registration's text, without importing the checks) and its catalogue of typical mistakes."""

from __future__ import annotations

import importlib

import pytest

from exercises import TRACKS, exercise, hints, track_of
from exercises.registry import HERE, HINTS, registered_hints
from parity_tests.conftest import NEEDS_TORCH, run

NAMES = [name for names in TRACKS.values() for name in names]


def checks_of(track: str) -> object:
    """The track's checks (the autograd track's import torch: skipped where there is none)."""
    if track == "autograd":
        pytest.importorskip("torch", reason=NEEDS_TORCH)
    return importlib.import_module(f"exercises.{track}_checks")


@pytest.mark.parametrize("name", NAMES)
def test_each_registration_names_its_blank_and_holds_a_ladder_and_a_catalogue(name):
    """Its blank is the blank file's, its answer the solutions' function or class of its
    name; its ladder has two hints or more, the last the fix; its catalogue two typical
    mistakes or more, each with its kind in words."""
    track = track_of(name)
    registered = checks_of(track).EXERCISE[name]
    assert registered is exercise(name)
    assert registered.blank is getattr(importlib.import_module(f"exercises.{track}"), name)
    assert callable(getattr(importlib.import_module(f"exercises.{track}_solutions"), name))
    assert len(registered.hints) >= 2 and registered.hints[-1].startswith("The fix: ")
    assert len(registered.mistakes) >= 2
    assert all(isinstance(kind, str) and kind for _, kind in registered.mistakes)


@pytest.mark.parametrize("track", TRACKS)
def test_the_hints_are_read_from_the_registrations_text(track):
    """HINTS, which hint() and --hint show, are each registration's own, in the tracks'
    order."""
    checks = checks_of(track)
    assert registered_hints(HERE / f"{track}_checks.py") == {
        one.name: one.hints for one in checks.EXERCISES}
    assert list(HINTS) == NAMES and all(HINTS[name] for name in TRACKS[track])


def test_reading_the_hints_imports_neither_the_checks_nor_numpy_nor_torch():
    """The registry reads the checks' text: a hint of the autograd track is shown at once."""
    code = ("import sys; import exercises.registry; from exercises import hint; "
            "hint('softmax_loss'); print(sorted(m for m in ('numpy', 'torch', "
            "'exercises.autograd_checks') if m in sys.modules))")
    ran = run(["-c", code])
    assert ran.returncode == 0 and ran.stderr == "", ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0] == f"softmax_loss, hint 1 of 3: {HINTS['softmax_loss'][0]}"
    assert lines[-1] == "[]"


def test_hints_that_are_not_written_out_are_refused_with_their_line(tmp_path):
    checks = tmp_path / "toy_checks.py"
    checks.write_text("LADDER = ('A nudge.', 'The fix: x.')\nEXERCISES = (\n"
                      "    function_exercise(blanks.toy, hints=LADDER),\n)\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"^toy_checks\.py, line 3: the hints of toy are a "
                                         r"tuple of texts, written out there"):
        registered_hints(checks)


def test_a_ladder_of_one_level_is_refused():
    from exercises import backprop, backprop_checks
    with pytest.raises(ValueError, match=r"^tanh2deriv: its hint ladder \(hints= in its "
                                         r"registration\) has 1 level, where it needs two"):
        backprop_checks.slope_exercise(backprop.tanh2deriv, (), hints=("The fix: 1 - t**2.",))


def test_a_blank_that_no_registration_holds_is_told_so(monkeypatch, script):
    """A blank added without its registration: its check and its hint say what is missing,
    and --hint in one line (exit status 2)."""
    monkeypatch.setitem(TRACKS, "backprop", (*TRACKS["backprop"], "unregistered"))
    monkeypatch.setitem(hints.HINTS, "unregistered", ())
    with pytest.raises(ValueError, match=r"^unregistered has a blank in exercises/backprop.py "
                                         r"and no registration in exercises/backprop_checks.py"):
        exercise("unregistered")
    with pytest.raises(ValueError, match=r"^unregistered has no hints: its track's checks do "
                                         "not register it"):
        hints.next_hint("unregistered")
    ran = script("check_exercises.py", ["--hint", "unregistered"])
    assert ran.returncode == 2 and ran.stdout == "" and ran.stderr == (
        "scripts/check_exercises.py: error: unregistered has no hints: its track's checks "
        "do not register it (EXERCISES in exercises/*_checks.py)\n")
