"""nbgrader's gradebook and grades.csv, rebuilt from the batch grader's results.

Every write is an update, not an append: running it twice, or again after an interruption,
leaves the same gradebook and file. Scores a hand grader entered in formgrader are never
touched. This module imports nothing that runs a kernel.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from autograder.course import ASSIGNMENT
from autograder.results import NotebookResult
from cs231n_utils.files import atomic_path


def sync(db_url: str, results: list[NotebookResult]) -> None:
    """Write every result's scores into the gradebook (idempotent)."""
    from nbgrader.api import Gradebook, MissingEntry

    by_student: dict[str, list[NotebookResult]] = {}
    for result in results:
        by_student.setdefault(result.student_id, []).append(result)
    with Gradebook(db_url) as gradebook, warnings.catch_warnings():
        # nbgrader's add_submission trips SQLAlchemy autoflush warnings; its autograde too
        warnings.simplefilter("ignore")
        for student, notebooks in sorted(by_student.items()):
            gradebook.update_or_create_student(student)
            try:
                gradebook.find_submission(ASSIGNMENT, student)
            except MissingEntry:
                gradebook.add_submission(ASSIGNMENT, student)
            for result in notebooks:
                for question in result.questions:
                    grade = gradebook.find_grade(
                        question.question, result.notebook, ASSIGNMENT, student
                    )
                    grade.auto_score = question.points
                    # as nbgrader's autograde decides it: a hand score or no automatic one
                    grade.needs_manual_grade = (
                        grade.manual_score is not None or grade.auto_score is None
                    )
            gradebook.db.commit()


def export_grades(out: Path, db_url: str) -> Path:
    """grades.csv written by nbgrader's own CSV export plugin (what `nbgrader export` runs), so
    its columns are nbgrader's; called in-process, which saves a start of nbgrader."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    with atomic_path(out / "grades.csv") as tmp, Gradebook(db_url) as gb:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            CsvExportPlugin(to=str(tmp), assignment=[ASSIGNMENT]).export(gb)
    return out / "grades.csv"
