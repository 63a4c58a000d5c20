"""canvas_grades.csv as Canvas imports it, and gradescope_grades.csv as Gradescope reads it:
each parsed the way its importer does (tests/data/canvas_gradebook_export.csv is shaped as
Canvas's Grades > Export writes it: a points-possible row, a test student, score columns)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from autograder import canvas, exports
from autograder.results import NotebookResult, QuestionResult, Status
from autograder.scores import notebook_maxima

EXPORT = Path(__file__).parent / "data" / "canvas_gradebook_export.csv"
STUDENTS = {"s1001": {"name": "Ada Lovelace", "canvas_user_id": "12345", "email": "a@x.org"},
            "cy": {"name": "", "canvas_user_id": ""}}  # fmt: skip


def results() -> list[NotebookResult]:
    q = [QuestionResult("q1", 3.0, 4.0, Status.OK), QuestionResult("q2", None, 2.0, Status.HAND)]
    return [NotebookResult("s1001", "01_numpy_gradients", Status.OK, "k", q),
            NotebookResult("cy", "01_numpy_gradients", Status.MISSING, "k",
                           [QuestionResult("q1", 0.0, 4.0, Status.MISSING)])]  # fmt: skip


def canvas_import(text: str) -> tuple[str, str, dict[str, dict[str, str]]]:
    """What Canvas's gradebook import reads: the header, the points possible row (skipped
    as data), then rows keyed by ID (or SIS Login ID), each with the assignment's column."""
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    assert header[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert rows[1][0].strip() == "Points Possible"
    column = header[5]
    data = [dict(zip(header, r, strict=True)) for r in rows[2:]]
    by_key = {r["ID"] or r["SIS Login ID"]: r for r in data}
    assert len(by_key) == len(data), "one row per student"
    return column, rows[1][5], by_key


def test_the_column_is_canvas_own_and_its_rows_carry_canvas_ids():
    """With Canvas's export: is the column exactly "DL Software (88123)", Points Possible the
    assignment's maximum, Ada's row Canvas's (name, SIS ids, section), and a student Canvas
    does not know still listed under the student id?"""
    gradebook = canvas.read_export(EXPORT)
    assert gradebook.column == "DL Software (88123)"
    assert [r["ID"] for r in gradebook.rows] == ["12345", "222", "99999"]
    column, possible, rows = canvas_import(exports.canvas_grades(results(), STUDENTS, gradebook))
    assert column == "DL Software (88123)"
    assert float(possible) == sum(notebook_maxima().values())
    assert rows["12345"] == {"Student": "Lovelace, Ada", "ID": "12345", "SIS User ID": "s1001",
                             "SIS Login ID": "alovelace", "Section": "CS231N-001",
                             column: "3"}  # fmt: skip
    assert rows["cy"][column] == "0"


def test_an_assignment_not_in_the_export_is_a_clear_error():
    """Does a name that matches no column say so and list the columns the export has?"""
    with pytest.raises(canvas.CanvasError) as caught:
        canvas.read_export(EXPORT, "Project 3")
    message = str(caught.value)
    assert "Project 3" in message and "Homework 1 (88001)" in message
    assert "Quiz: Week 2 (88200)" in message and "Current Score" not in message
    assert canvas.read_export(EXPORT, "homework 1").column == "Homework 1 (88001)"


def test_a_file_that_is_not_a_canvas_export_is_refused(tmp_path):
    bad = tmp_path / "grades.csv"
    bad.write_text("student_id,total\nada,3\n")
    with pytest.raises(canvas.CanvasError, match="not a Canvas gradebook export"):
        canvas.read_export(bad)


def test_the_column_is_kept_for_later_runs(tmp_path):
    """Saved once, is the same gradebook read back by a later run (no flag needed)?"""
    canvas.save(tmp_path, canvas.read_export(EXPORT))
    assert canvas.load(tmp_path) == canvas.read_export(EXPORT)
    assert canvas.load(tmp_path / "nothing") is None


def test_gradescope_csv_reads_as_gradescope_scores():
    """Gradescope's score import keys a row by SID or Email and reads Total Score: one row
    per student, Max Points the assignment's maximum, a missing notebook marked Missing?"""
    text = exports.gradescope_grades(results(), STUDENTS)
    rows = {r["SID"]: r for r in csv.DictReader(io.StringIO(text))}
    assert list(rows) == ["cy", "s1001"]
    assert rows["s1001"]["Total Score"] == "3" and rows["s1001"]["Email"] == "a@x.org"
    assert rows["s1001"]["Name"] == "Ada Lovelace" and rows["cy"]["Status"] == "Missing"
    assert {float(r["Max Points"]) for r in rows.values()} == {sum(notebook_maxima().values())}
