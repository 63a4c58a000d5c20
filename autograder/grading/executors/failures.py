"""What a failure while grading one notebook costs, and how it is reported.

The fault's place decides, never a file name in a traceback:
- the student's notebook cannot be read or planned (its cells, its metadata): the notebook is
  `invalid` (student_failure);
- a student's answer is malformed: the judge validates every answer before judging it, so
  that costs only its question (judge.py: "answer could not be judged");
- the judge raises on answers it validated, or on the references: the grader's own code
  failed (`judged` makes it a runner.GraderError): grader_error, logged, no points taken,
  retried by a rerun; so is any failure of the sandbox or kernel machinery.
The student reads the grader's words only: an exception's text may quote the notebook or the
kernel, so it goes to the instructor's log, never into a result. Trusted side only.
"""

from __future__ import annotations

import traceback
from pathlib import Path

from autograder.grading.isolation.runner import Execution, GraderError
from autograder.grading.judging import judge as judging
from autograder.redaction import error_kind
from autograder.results import CELL_FAILURES, Status

LATER_CELLS = "cells after the first graded test"  # one line for them all, in the feedback


def student_failure(error: Exception) -> tuple[str, str]:
    """(status, message) for an exception the notebook's content caused while it was read or
    planned. The message is the grader's own: an exception's text may quote the notebook."""
    if isinstance(error, RecursionError):
        return "invalid", "the notebook is nested too deeply for the grader to read"
    return "invalid", "the notebook's cells have a structure the grader cannot read"


def judged(document: dict | None, references: dict, question: str) -> judging.Verdict:
    """The judge's verdict on a question's answers document. An exception of the judge is the
    grader's fault (the answers were validated first): a GraderError, never a zero."""
    try:
        return judging.judge(document, references[question])
    except Exception as error:
        raise GraderError(f"the judge failed on {question}: {where(error)}") from error


def cell_reports(run: Execution, questions: set[str]) -> list[dict]:
    """The cells that did not run cleanly, for the feedback: label, what happened and an
    exception's kind from the fixed list (never the kernel's message). From the first graded
    test on, the kernel holds hidden inputs and could encode them in which cells fail and how,
    so those cells are reported as one line, without a kind."""
    reports, later = [], False
    for cell in run.cells:
        later = later or cell.label in questions
        if cell.status == "ok":
            continue
        if later:
            reports.append({"label": LATER_CELLS, "status": "later", "seconds": 0.0, "kind": None})
            break
        reports.append(
            {
                "label": cell.label,
                "status": cell.status,
                "seconds": cell.seconds,
                "kind": error_kind(cell.error),
            }
        )
    return reports


def question_status(run: Execution, question: str) -> Status:
    """Why a question that failed did: its own cell's failure, else one of a cell it needed
    (run before it), else a plain wrong answer (ok)."""
    for outcome in (run.probe_status.get(question), run.section_failures.get(question)):
        if outcome in CELL_FAILURES:
            return CELL_FAILURES[outcome]
    return Status.OK


def _frames(error: BaseException) -> list[traceback.FrameSummary]:
    return traceback.extract_tb(error.__traceback__)


def where(error: BaseException) -> str:
    """The exception's type and the grader's line that raised it, for the instructor."""
    frames = _frames(error)
    place = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(error).__name__}{place}"
