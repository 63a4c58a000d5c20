"""nbgrader's real autograde on the partly wrong sample, every notebook: its passes and its
failures are the written-down table's. One student only: each notebook of that sample has
questions it answers right and questions it gets wrong, so this shows, notebook by notebook,
that plain nbgrader passes a right answer and fails a wrong one; all three samples are
compared with nbgrader by benchmarks/grading.py, and graded by cs231n-grade in the suite
(conftest.graded_samples). Nine cold nbgrader runs instead of 27 (484 s of the suite's
time)."""

from __future__ import annotations

import csv
import shutil
import sqlite3

import pytest

from autograder.course import SAMPLES, notebook_names
from autograder.nbgrader_course import baseline as grade
from autograder.scores import mismatches

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("grading")]
STUDENT = "partly_wrong"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grading")
    submissions, out = root / "submissions", root / "out"
    shutil.copytree(SAMPLES / STUDENT, submissions / STUDENT)
    with open(SAMPLES / "expected_scores.csv", newline="") as file:
        table = [r for r in csv.DictReader(file) if r["student_id"] == STUDENT]
    with open(root / "expected.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    return out, grade.grade(submissions, out), root / "expected.csv"


def autograded(rows):
    return [r for r in rows if r.graded_by == "autograder"]


def test_scores_match_the_written_down_table(graded):
    """Does the partly wrong sample score exactly as data/sample_submissions/expected_scores.csv
    says, on every notebook, with both points earned and points lost in each?"""
    _, rows, expected = graded
    cells = autograded(rows)
    assert {r.notebook + ".ipynb" for r in cells} == set(notebook_names())
    for notebook in {r.notebook for r in cells}:
        points = [r.points for r in cells if r.notebook == notebook]
        assert 0 in points and any(points), (notebook, points)
    assert mismatches(rows, expected) == []


def test_written_answers_await_hand_grading(graded):
    """Are the written answers left for the formgrader, one pending grade each?"""
    out, rows, _ = graded
    answered = [r for r in rows if r.graded_by == "hand"]
    assert answered and all(r.points is None for r in answered)
    with sqlite3.connect(out / "gradebook.db") as db:
        (waiting,) = db.execute("select count(*) from grade where needs_manual_grade").fetchone()
    assert waiting == len(answered)


def test_scores_csv_matches_the_gradebook(graded):
    """Does scores.csv hold one row per student and graded cell, as the gradebook has them?"""
    out, rows, _ = graded
    with open(out / "scores.csv", newline="") as file:
        written = list(csv.DictReader(file))
    assert list(written[0]) == list(grade.SCORE_COLUMNS)
    assert len(written) == len(rows) == len(grade.read_scores(out))
