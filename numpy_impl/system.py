"""What differs between Linux, macOS and Windows, in one place.

Everything else in the project is the same code on every system. Each branch here has a
test that runs on Linux by faking the other systems (a module made unimportable, a call
made to raise).
"""

from __future__ import annotations

# The grader's child process: the channel, the limits, the kill.


# BLAS and threads.


# Paths and files.
