"""nbgrader's gradebook and grades.csv, rebuilt from the batch grader's results.

Every write is an update, not an append: running it twice, or again after an interruption,
leaves the same gradebook and file. Scores a hand grader entered in formgrader are never
touched. This module imports nothing that runs a kernel.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from autograder.course import ASSIGNMENT
from autograder.results import HandGrade, NotebookResult
from cs231n_utils.files import atomic_path


def sync(
    db_url: str, results: list[NotebookResult], changed: set[tuple[str, str]] | None = None
) -> None:
    """Write every result's scores into the gradebook (idempotent). A question is flagged for
    a hand grader (needs_manual_grade) when it has no score at all, or when it has a hand
    score and the student's submission is in `changed` (student, notebook), until the hand
    grader saves it again: a resubmission is looked at again, a rerun on the same file
    changes no flag of a hand-graded question (changed=None: every submission changed)."""
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.utils import parse_utc

    by_student: dict[str, list[NotebookResult]] = {}
    for result in results:
        by_student.setdefault(result.student_id, []).append(result)
    with Gradebook(db_url) as gradebook, warnings.catch_warnings():
        # nbgrader's add_submission trips SQLAlchemy autoflush warnings; its autograde too
        warnings.simplefilter("ignore")
        for student, notebooks in sorted(by_student.items()):
            gradebook.update_or_create_student(student)
            try:
                submission = gradebook.find_submission(ASSIGNMENT, student)
            except MissingEntry:
                submission = gradebook.add_submission(ASSIGNMENT, student)
            times = [r.submitted_at for r in notebooks if r.submitted_at]
            if times:  # the latest file's time, as formgrader lists submissions
                submission.timestamp = parse_utc(max(times))
            for result in notebooks:
                for question in result.questions:
                    grade = gradebook.find_grade(
                        question.question, result.notebook, ASSIGNMENT, student
                    )
                    grade.auto_score = question.points
                    new = changed is None or (student, result.notebook) in changed
                    if grade.manual_score is None:
                        grade.needs_manual_grade = grade.auto_score is None
                    elif new:  # as nbgrader's autograde does: a changed answer is seen again
                        grade.needs_manual_grade = True
                    # else: a hand grade on the same file keeps formgrader's flag
            gradebook.db.commit()


def register(db_url: str, roster: list[dict[str, str]]) -> None:
    """The roster's students in the gradebook with their names and emails (nbgrader's
    `db student import` columns: id, first_name, last_name, email, lms_user_id), for
    formgrader's lists."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gradebook:
        for row in roster:
            names = ("first_name", "last_name", "email", "lms_user_id")
            fields = {k: row[k] or None for k in names if k in row}
            gradebook.update_or_create_student(row["id"], **fields)


def export_grades(out: Path, db_url: str) -> Path:
    """grades.csv: nbgrader's CSV export columns and one per notebook (export.py, the plugin
    `nbgrader export` runs in the folder too); called in-process, which saves a start of
    nbgrader."""
    from nbgrader.api import Gradebook

    from autograder.nbgrader_course.export import NotebookCsvExportPlugin

    with atomic_path(out / "grades.csv") as tmp, Gradebook(db_url) as gb:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            NotebookCsvExportPlugin(to=str(tmp), assignment=[ASSIGNMENT]).export(gb)
    return out / "grades.csv"


def hand_grades(
    db_url: str,
) -> tuple[dict[tuple[str, str, str], HandGrade], dict[tuple[str, str], list[str]]]:
    """What hand graders entered in formgrader: {(student, notebook, question): HandGrade}
    for each grade with a hand score or a comment, and {(student, notebook): [comment...]}
    for comments on cells that are not graded. A hand score on a question flagged again (the
    submission changed) is not reported: it awaits its hand grader."""
    from nbgrader.api import Gradebook, MissingEntry

    grades: dict[tuple[str, str, str], HandGrade] = {}
    others: dict[tuple[str, str], list[str]] = {}
    with Gradebook(db_url) as gradebook:
        try:
            submissions = gradebook.assignment_submissions(ASSIGNMENT)
        except MissingEntry:
            return grades, others
        for submission in submissions:
            student = submission.student.id
            for notebook in submission.notebooks:
                comments = {
                    c.name: c.manual_comment.strip()
                    for c in notebook.comments
                    if c.manual_comment and c.manual_comment.strip()
                }
                for grade in notebook.grades:
                    score = None if grade.needs_manual_grade else grade.manual_score
                    comment = comments.pop(grade.name, "")
                    if score is not None or comment:
                        grades[(student, notebook.name, grade.name)] = HandGrade(score, comment)
                if comments:
                    others[(student, notebook.name)] = [comments[n] for n in sorted(comments)]
    return grades, others
