"""The late policy (autograder/late.py): parsed, applied in the exports with the original
score kept, refused when it cannot be read."""

from __future__ import annotations

import csv
import io

import pytest

from autograder import exports
from autograder.late import LatePolicy, LatePolicyError
from autograder.results import NotebookResult, QuestionResult, Status

DUE = "2026-03-14T23:59:00+00:00"


def test_penalty_per_started_day_and_zero_after_the_limit():
    """10%/day: an hour late costs a day, two days and a minute three; after 3 days, 0?"""
    policy = LatePolicy.parse(DUE, "10/day,zero-after=3")
    assert policy.penalty(50, "2026-03-14T23:00:00+00:00") == 0
    assert policy.penalty(50, "") == 0  # unknown time: never penalised
    assert policy.penalty(50, "2026-03-15T00:59:00+00:00") == pytest.approx(5)
    assert policy.penalty(50, "2026-03-17T00:00:00+00:00") == pytest.approx(15)
    assert policy.penalty(50, "2026-03-18T00:00:00+00:00") == 50
    assert LatePolicy.parse(DUE, "none").penalty(50, "2026-04-01T00:00:00+00:00") == 0
    assert LatePolicy.parse(DUE, "60/day").penalty(50, "2026-03-17T00:00:00+00:00") == 50
    assert "2 day(s) late: 10 of 50" in LatePolicy.parse(DUE, "10/day").describe(
        "2026-03-16T12:00:00+00:00", 50
    )


@pytest.mark.parametrize(
    "due, spec, words",
    [("2026-03-14", "none", "time zone"), ("tomorrow", "none", "not a date"),
     (DUE, "10%", "use none, P/day"), (DUE, "", "use none, P/day")],
)  # fmt: skip
def test_a_policy_that_cannot_be_read_is_a_clear_error(due, spec, words):
    with pytest.raises(LatePolicyError, match=words):
        LatePolicy.parse(due, spec)


def test_exports_apply_the_penalty_and_keep_the_original():
    """A student two days late at 10%/day: raw_total kept, late_penalty and the penalised
    total in grades_by_notebook.csv, and the penalised total in the Canvas and Gradescope
    files; an on-time student untouched?"""
    policy = LatePolicy.parse(DUE, "10/day")

    def result(sid, when):
        q = [QuestionResult("q1", 10.0, 10.0, Status.OK)]
        return NotebookResult(sid, "01_numpy_gradients", Status.OK, "k", q, submitted_at=when)

    results = [
        result("ada", "2026-03-16T12:00:00+00:00"),
        result("ben", "2026-03-14T08:00:00+00:00"),
    ]
    rows = {r["student_id"]: r for r in csv.DictReader(io.StringIO(
        exports.grades_by_notebook(results, policy)))}  # fmt: skip
    assert (rows["ada"]["raw_total"], rows["ada"]["late_penalty"], rows["ada"]["total"]) == (
        "10", "2", "8")  # fmt: skip
    assert (rows["ben"]["late_penalty"], rows["ben"]["total"]) == ("0", "10")
    canvas = list(csv.reader(io.StringIO(exports.canvas_grades(results, {}, None, policy))))
    assert {r[2]: r[5] for r in canvas[2:]} == {"ada": "8", "ben": "10"}
    scope = csv.DictReader(io.StringIO(exports.gradescope_grades(results, {}, policy)))
    assert {r["SID"]: r["Total Score"] for r in scope} == {"ada": "8", "ben": "10"}
