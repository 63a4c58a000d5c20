"""A run's results read back: every job's result file, or a grader_error in its place."""

from __future__ import annotations

import sys
from pathlib import Path

from autograder.grading.executors.student import StudentJob
from autograder.results import NotebookResult, read_json


def load_results(
    out: Path, jobs: list[StudentJob], failures: dict[StudentJob, BaseException]
) -> list[NotebookResult]:
    """Every job's result from its file. A job whose file is missing or corrupt (its run
    failed, or the disk did) is a grader_error here, in memory, so that everything else is
    still written; the reason is printed for the instructor, and a rerun grades it again."""
    results = []
    for job in jobs:
        try:
            result = NotebookResult.from_json(read_json(job.result_path(out)))
            if (result.student_id, result.notebook) != (job.student_id, job.notebook):
                raise ValueError("the result of another notebook")
        except ValueError as error:
            failure = failures.get(job)
            why = f"{type(failure).__name__}: {failure}" if failure else str(error)
            print(f"cs231n-grade: {job.label}: no readable result ({why})", file=sys.stderr)
            result = _not_graded(job, "its result could not be read; run the grader again")
        results.append(result)
    return results


def _not_graded(job: StudentJob, reason: str) -> NotebookResult:
    message = f"grader error (not the student's): {reason}"
    try:
        return job._without_run("grader_error", message)
    except Exception:  # the course itself cannot be read: a result without questions
        return NotebookResult(job.student_id, job.notebook, "grader_error", "", message=message)
