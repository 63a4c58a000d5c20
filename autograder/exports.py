"""The CSV files instructors take elsewhere, made from the results (hand grades included):

    grades_by_notebook.csv  student_id, one column of points per notebook, total, max_total
    canvas_grades.csv       Canvas's gradebook import: Student, ID, SIS User ID, SIS Login ID,
                            Section, then one column named after the assignment (its total)
    question_stats.csv      per question: how many were graded, mean and median points,
                            fraction full and zero, awaiting a hand grader, the most common
                            reason points were lost

Canvas matches an imported row by ID (its numeric user id, known when the submissions came
from Canvas's bulk download, see students.csv) or else by SIS User ID / SIS Login ID, which
here are the student id. Only the grader's own words appear. Imports nothing that runs a kernel.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from pathlib import Path

from autograder.course import ASSIGNMENT, notebook_names
from autograder.results import STATUS_TEXT, NotebookResult, QuestionResult, Status
from autograder.scores import position
from cs231n_utils.files import atomic_write

STUDENTS_CSV = "students.csv"  # the input's mapping, written by cs231n-grade (submissions.py)


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


def max_points(results: list[NotebookResult]) -> dict[str, float]:
    found: dict[str, float] = {}
    for r in results:
        found[r.notebook] = max(found.get(r.notebook, 0.0), sum(q.max_points for q in r.questions))
    return found


def grades_by_notebook(results: list[NotebookResult]) -> str:
    """A column per notebook graded so far (course order); empty where a student's notebook
    was not graded (it was left out with --notebooks), 0 where it was missing."""
    maxima = max_points(results)
    notebooks = [Path(n).stem for n in notebook_names() if Path(n).stem in maxima]
    rows = [["student_id", *notebooks, "total", "max_total"]]
    for student, graded in sorted(by_student(results).items()):
        points = [_number(notebook_points(graded[n])) if n in graded else "" for n in notebooks]
        total = sum(notebook_points(r) for r in graded.values())
        rows.append([student, *points, _number(total), _number(sum(maxima.values()))])
    return _csv(rows)


def read_students(out: Path) -> dict[str, dict[str, str]]:
    """student_id -> its row of OUT/students.csv (name, canvas_user_id, ...), if any."""
    try:
        with open(out / STUDENTS_CSV, newline="") as file:
            return {row["student_id"]: row for row in csv.DictReader(file)}
    except (OSError, KeyError, csv.Error):
        return {}


STUDENT_COLUMNS = ("student_id", "name", "email", "source", "layout", "canvas_user_id", "late")


def write_students(out: Path, rows: list[dict[str, str]]) -> None:
    """OUT/students.csv: every student graded into OUT and where their work came from; a
    run's rows replace those of the same students, the others are kept (a late student's run
    keeps the class)."""
    known = read_students(out)
    for row in rows:
        known[row["student_id"]] = {**known.get(row["student_id"], {}), **row}
    table = [list(STUDENT_COLUMNS)]
    table += [[known[s].get(c, "") for c in STUDENT_COLUMNS] for s in sorted(known)]
    atomic_write(out / STUDENTS_CSV, _csv(table))


def read_roster(path: Path) -> list[dict[str, str]]:
    """The rows of a roster in nbgrader's `db student import` format (columns id, first_name,
    last_name, email, lms_user_id: the Canvas user id; only id is required). Raises
    ValueError for a file without ids."""
    with open(path, newline="", encoding="utf-8-sig") as file:
        rows = list(csv.DictReader(file))
    if not rows or "id" not in rows[0]:
        raise ValueError(f"{path}: a roster needs an `id` column (nbgrader db student import)")
    return [{k: (v or "").strip() for k, v in row.items() if k} for row in rows if row.get("id")]


def roster_students(roster: list[dict[str, str]]) -> list[dict[str, str]]:
    """students.csv rows (name, email, canvas_user_id) for the roster's students; a value
    the roster leaves empty is not written over what is known."""
    rows = []
    for r in roster:
        name = " ".join(filter(None, (r.get("first_name"), r.get("last_name"))))
        row = {"student_id": r["id"], "email": r.get("email", ""),
               "canvas_user_id": r.get("lms_user_id", ""), "name": name}  # fmt: skip
        rows.append({k: v for k, v in row.items() if v})
    return rows


def canvas_grades(results: list[NotebookResult], students: dict[str, dict[str, str]]) -> str:
    total = sum(max_points(results).values())
    rows = [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", ASSIGNMENT],
        ["    Points Possible", "", "", "", "", _number(total)],
    ]
    for student, graded in sorted(by_student(results).items()):
        known = students.get(student, {})
        name = known.get("name") or student
        points = sum(notebook_points(r) for r in graded.values())
        rows.append([name, known.get("canvas_user_id", ""), student, student, "", _number(points)])
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
    rows = [["notebook", "question", "max_points", "graded", "mean", "median", "fraction_full",
             "fraction_zero", "awaiting_hand", "most_common_failure"]]  # fmt: skip
    for (notebook, question), found in sorted(by_question.items(), key=_course_order):
        scored = [q.points for q in found if q.points is not None]
        top = max(q.max_points for q in found)
        lost = Counter(failure_reason(q) for q in found if q.points is not None and q.points < top)
        awaiting = sum(q.points is None and q.status == Status.HAND for q in found)
        if scored:
            numbers = [statistics.mean(scored), statistics.median(scored),
                       sum(p == top for p in scored) / len(scored),
                       sum(p == 0 for p in scored) / len(scored)]  # fmt: skip
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
    """grades_by_notebook.csv, canvas_grades.csv and question_stats.csv in `out`."""
    atomic_write(out / "grades_by_notebook.csv", grades_by_notebook(results))
    atomic_write(out / "canvas_grades.csv", canvas_grades(results, read_students(out)))
    atomic_write(out / "question_stats.csv", question_stats(results))
