"""Running nbgrader's own command-line apps in a course folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


class NbgraderError(RuntimeError):
    """nbgrader itself failed (not a student's notebook): the message holds its output."""


def run_nbgrader(course: Path, *args: str, timeout: float | None = None) -> str:
    """Run `nbgrader ARGS...` with this Python in course folder `course`; return its output.

    nbgrader starts `alembic` as a subprocess: this environment's bin/ is first on PATH
    (autograder/__init__.py).
    Raises NbgraderError with nbgrader's output when it exits non-zero.
    """
    env = dict(os.environ)
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # debugpy's frozen-modules warning
    result = subprocess.run(
        [sys.executable, "-m", "autograder.nbgrader_course.nbgrader", *args],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise NbgraderError(f"`nbgrader {' '.join(args)}` failed in {course}:\n{output}")
    return output
