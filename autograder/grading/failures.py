"""What an exception raised while grading one notebook costs, and how it is reported.

A failure of the grading machinery (runner.GraderError) is the grader's problem and is retried;
any other exception while planning, running or judging a notebook was caused by that
notebook's content (its cells, or the records its kernel sent), so it becomes that notebook's
status. The student reads the grader's words only: an exception's text may quote the notebook
or the kernel, so it goes to the instructor's log, never into a result. Trusted side only.
"""

from __future__ import annotations

import traceback
from pathlib import Path


def student_failure(error: Exception) -> tuple[str, str]:
    """(status, message) for an exception the notebook's content caused. The message is the
    grader's own: an exception's text may quote the notebook or the kernel."""
    if any(Path(frame.filename).name == "judge.py" for frame in _frames(error)):
        return "crashed", "the graded checks returned records the grader cannot read"
    if isinstance(error, RecursionError):
        return "invalid", "the notebook is nested too deeply for the grader to read"
    return "invalid", "the notebook's cells have a structure the grader cannot read"


def _frames(error: BaseException) -> list[traceback.FrameSummary]:
    return traceback.extract_tb(error.__traceback__)


def where(error: BaseException) -> str:
    """The exception's type and the grader's line that raised it, for the instructor."""
    frames = _frames(error)
    place = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(error).__name__}{place}"
