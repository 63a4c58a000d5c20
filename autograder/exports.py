"""The CSV files instructors take elsewhere, made from the results (hand grades included):

    grades_by_notebook.csv  student_id, one column of points per notebook, total, max_total,
                            max_covers (what max_total covers: the whole assignment)
    canvas_grades.csv       Canvas's gradebook import: Student, ID, SIS User ID, SIS Login ID,
                            Section, then the assignment's column as Canvas names it (canvas.py)
    gradescope_grades.csv   Name, SID, Email, Total Score, Max Points, Status (Gradescope's)
    question_stats.csv      per question: how many were graded, mean and median points,
                            fraction full and zero, awaiting a hand grader, the most common
                            reason points were lost

Canvas matches an imported row by ID (its numeric user id, known when the submissions came
from Canvas's bulk download or a roster's lms_user_id, kept in students.csv by
autograder/grading/inputs/identity.py) or else by SIS User ID / SIS Login ID, which here are the
student id. Only the grader's own words appear. Imports nothing that runs a kernel.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from pathlib import Path

from autograder import canvas, late
from autograder.canvas import KEYS as CANVAS_KEYS
from autograder.canvas import CanvasGradebook
from autograder.course import ASSIGNMENT
from autograder.grading.inputs.identity import read_table
from autograder.late import LatePolicy
from autograder.results import STATUS_TEXT, NotebookResult, QuestionResult, Status
from autograder.scores import MAX_COVERS, notebook_maxima, position
from cs231n_utils.files import atomic_write


def _csv(rows: list[list]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _number(value: float) -> str:
    return f"{value:g}"


def by_student(results: list[NotebookResult]) -> dict[str, dict[str, NotebookResult]]:
    found: dict[str, dict[str, NotebookResult]] = {}
    for result in results:
        found.setdefault(result.student_id, {})[result.notebook] = result
    return found


def notebook_points(result: NotebookResult | None) -> float:
    """The notebook's points so far: every scored question, autograded or by hand."""
    return sum(q.points or 0.0 for q in result.questions) if result else 0.0


def total(graded: dict[str, NotebookResult], policy: LatePolicy) -> tuple[float, float]:
    """A student's (points before the late penalty, penalty): every export's total is their
    difference (late.py)."""
    raw = sum(notebook_points(r) for r in graded.values())
    when = late.submitted_at([r.submitted_at for r in graded.values()])
    return raw, policy.penalty(raw, when)


def grades_by_notebook(results: list[NotebookResult], policy: LatePolicy | None = None) -> str:
    """A column per notebook graded so far (course order); empty where a student's notebook
    was not graded (it was left out with --notebooks), 0 where it was missing; raw_total,
    late_penalty and total (their difference). max_total is the whole assignment's maximum
    (scores.notebook_maxima), as max_covers says."""
    policy = policy or LatePolicy()
    graded = {r.notebook for r in results}
    notebooks = [n for n in notebook_maxima() if n in graded]
    top = _number(sum(notebook_maxima().values()))
    rows = [
        ["student_id", *notebooks, "raw_total", "late_penalty", "total", "max_total", "max_covers"]
    ]
    for student, found in sorted(by_student(results).items()):
        points = [_number(notebook_points(found[n])) if n in found else "" for n in notebooks]
        raw, penalty = total(found, policy)
        rows.append(
            [
                student,
                *points,
                _number(raw),
                _number(penalty),
                _number(raw - penalty),
                top,
                MAX_COVERS,
            ]
        )
    return _csv(rows)


def canvas_grades(
    results: list[NotebookResult],
    students: dict[str, dict[str, str]],
    gradebook: CanvasGradebook | None = None,
    policy: LatePolicy | None = None,
) -> str:
    """Canvas's import format (canvas.py): the assignment's column as Canvas names it when a
    Canvas export was given, Points Possible the whole assignment's maximum, one row per
    student with Canvas's own name, ids and section where Canvas knows the student."""
    column = gradebook.column if gradebook else ASSIGNMENT
    rows = [
        list(CANVAS_KEYS) + [column],
        ["    Points Possible", "", "", "", "", _number(sum(notebook_maxima().values()))],
    ]
    for student, graded in sorted(by_student(results).items()):
        known = students.get(student, {})
        user = known.get("canvas_user_id", "")
        ours = {
            "Student": known.get("name") or student,
            "ID": user,
            "SIS User ID": student,
            "SIS Login ID": student,
            "Section": "",
        }
        theirs = gradebook.row_of(student, user) if gradebook else None
        row = theirs or ours
        raw, penalty = total(graded, policy or LatePolicy())
        points = raw - penalty
        rows.append([row.get(k, "") for k in CANVAS_KEYS] + [_number(points)])
    return _csv(rows)


GRADESCOPE_COLUMNS = ("Name", "SID", "Email", "Total Score", "Max Points", "Status")


def gradescope_grades(
    results: list[NotebookResult],
    students: dict[str, dict[str, str]],
    policy: LatePolicy | None = None,
) -> str:
    """A CSV in the shape of Gradescope's grade export (and its score import: SID or Email
    and a score): one row per student, Max Points the whole assignment's maximum."""
    top = _number(sum(notebook_maxima().values()))
    rows = [list(GRADESCOPE_COLUMNS)]
    for student, graded in sorted(by_student(results).items()):
        known = students.get(student, {})
        raw, penalty = total(graded, policy or LatePolicy())
        points = raw - penalty
        status = "Graded" if any(r.status != Status.MISSING for r in graded.values()) else "Missing"
        rows.append(
            [
                known.get("name") or student,
                student,
                known.get("email", ""),
                _number(points),
                top,
                status,
            ]
        )
    return _csv(rows)


def failure_reason(question: QuestionResult) -> str:
    """Why a question lost points, in the grader's words: its status, else its first note."""
    if question.status not in (Status.OK, Status.HAND):
        return STATUS_TEXT.get(question.status, question.status)
    first = next((m for m in question.messages if m), "wrong answer")
    return first.splitlines()[0][:200]


def question_stats(results: list[NotebookResult]) -> str:
    by_question: dict[tuple[str, str], list[QuestionResult]] = {}
    for r in results:
        for q in r.questions:
            by_question.setdefault((r.notebook, q.question), []).append(q)
    rows = [
        [
            "notebook",
            "question",
            "max_points",
            "graded",
            "mean",
            "median",
            "fraction_full",
            "fraction_zero",
            "awaiting_hand",
            "most_common_failure",
        ]
    ]
    for (notebook, question), found in sorted(by_question.items(), key=_course_order):
        scored = [q.points for q in found if q.points is not None]
        top = max(q.max_points for q in found)
        lost = Counter(failure_reason(q) for q in found if q.points is not None and q.points < top)
        awaiting = sum(q.points is None and q.status == Status.HAND for q in found)
        if scored:
            numbers = [
                statistics.mean(scored),
                statistics.median(scored),
                sum(p == top for p in scored) / len(scored),
                sum(p == 0 for p in scored) / len(scored),
            ]
            cells = [f"{v:.3g}" for v in numbers]
        else:
            cells = ["", "", "", ""]
        reason = lost.most_common(1)[0][0] if lost else ""
        rows.append([notebook, question, _number(top), len(scored), *cells, awaiting, reason])
    return _csv(rows)


def _course_order(item) -> tuple:
    (notebook, question), _ = item
    return notebook, position(notebook, question)


def write_exports(results: list[NotebookResult], out: Path) -> None:
    """grades_by_notebook.csv, canvas_grades.csv, gradescope_grades.csv and
    question_stats.csv in `out`."""
    students, policy = read_table(out), late.load(out)
    atomic_write(out / "grades_by_notebook.csv", grades_by_notebook(results, policy))
    atomic_write(
        out / "canvas_grades.csv", canvas_grades(results, students, canvas.load(out), policy)
    )
    atomic_write(out / "gradescope_grades.csv", gradescope_grades(results, students, policy))
    atomic_write(out / "question_stats.csv", question_stats(results))
