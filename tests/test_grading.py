"""nbgrader's real autograde on the sample submissions: full marks for the complete one,
zero on every autograded cell for the untouched release, and the written-down table for the
partly wrong one."""

from __future__ import annotations

import csv
import sqlite3

import pytest

from autograder.course import SAMPLES, notebook_names
from autograder.nbgrader_course import baseline as grade
from autograder.scores import mismatches

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("grading")]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    out = tmp_path_factory.mktemp("grading")
    return out, grade.grade(SAMPLES, out)


def autograded(rows, student):
    return [r for r in rows if r.student_id == student and r.graded_by == "autograder"]


def test_complete_submission_scores_full_marks(graded):
    """Does the complete sample (the solutions) earn full marks on every autograded cell?"""
    _, rows = graded
    cells = autograded(rows, "complete")
    assert {r.notebook + ".ipynb" for r in cells} == set(notebook_names())
    assert all(r.points == r.max_points > 0 for r in cells), [
        r for r in cells if r.points != r.max_points
    ]


def test_untouched_release_scores_zero(graded):
    """Does the untouched release score zero on every autograded cell, without crashing
    the grader?"""
    _, rows = graded
    cells = autograded(rows, "untouched")
    assert cells and all(r.points == 0 for r in cells), [r for r in cells if r.points]


def test_scores_match_the_written_down_table(graded):
    """Do all three samples score exactly as data/sample_submissions/expected_scores.csv says?"""
    _, rows = graded
    assert mismatches(rows, SAMPLES / "expected_scores.csv") == []


def test_written_answers_await_hand_grading(graded):
    """Are written answers left for the formgrader, except unanswered ones, which nbgrader
    scores 0 itself?"""
    out, rows = graded
    hand = [r for r in rows if r.graded_by == "hand"]
    answered = [r for r in hand if r.student_id != "untouched"]
    assert answered and all(r.points is None for r in answered)
    assert all(r.points == 0 for r in hand if r.student_id == "untouched")
    with sqlite3.connect(out / "gradebook.db") as db:
        (waiting,) = db.execute("select count(*) from grade where needs_manual_grade").fetchone()
    assert waiting == len(answered)


def test_scores_csv_matches_the_gradebook(graded):
    """Does scores.csv hold one row per student and graded cell, as the gradebook has them?"""
    out, rows = graded
    with open(out / "scores.csv", newline="") as file:
        written = list(csv.DictReader(file))
    assert list(written[0]) == list(grade.SCORE_COLUMNS)
    assert len(written) == len(rows) == len(grade.read_scores(out))
