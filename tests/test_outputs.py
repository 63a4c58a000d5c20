"""The outputs of cs231n-grade rebuilt from OUT (results of every run, the gradebook's hand
grades), without running a notebook: regrades keep everyone, hand grades round-trip."""

from __future__ import annotations

import csv
import shutil
from dataclasses import asdict, replace

import pytest

from autograder.course import ASSIGNMENT, SOLUTIONS
from autograder.grading.executors import jobs
from autograder.grading.inputs import identity
from autograder.grading.inputs.names import file_stem
from autograder.grading.reporting import outputs
from autograder.nbgrader_course import folder as course_folder
from autograder.results import NotebookResult, QuestionResult, Status, write_json

NOTEBOOK = "01_numpy_gradients"
WRITTEN = "written_framework"


def result(student: str, submission: str = "v1") -> NotebookResult:
    """A graded notebook: every autograded question full, the written answer awaiting."""
    info = jobs.course(NOTEBOOK)
    questions = [QuestionResult(q.id, float(q.points), q.points, Status.OK)
                 for q in info.questions.values()]  # fmt: skip
    questions += [QuestionResult(g, None, p, Status.HAND) for g, (p, _) in info.written.items()]
    return NotebookResult(student, NOTEBOOK, Status.OK, f"key-{submission}", questions,
                          submission=submission)  # fmt: skip


def put(out, r: NotebookResult) -> None:
    write_json(out / "results" / file_stem(r.student_id) / f"{r.notebook}.json", asdict(r))


def run(out) -> int:
    return outputs.finish(out, course_folder.default_db_url(out), [], [])


def csv_rows(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """One nbgrader course folder for the module: nbgrader's generate and release steps take
    seconds, and every test here starts from the same one."""
    template = tmp_path_factory.mktemp("prepared") / "out"
    course_folder.prepare(template, SOLUTIONS)
    return template


@pytest.fixture
def out(tmp_path, prepared):
    """A copy of the prepared folder of its own; prepare() takes it as a moved folder (its
    config rewritten to name the new place, nothing generated again)."""
    out = tmp_path / "out"
    shutil.copytree(prepared, out, symlinks=True)
    course_folder.prepare(out, SOLUTIONS)
    assert str(prepared) not in (out / "nbgrader_config.json").read_text()
    return out


def test_a_deleted_gradebook_is_made_again_with_the_assignment(out):
    """With the folder prepared but its gradebook.db deleted, does preparing it again make a
    gradebook that knows the assignment (a rerun then writes the scores), instead of taking the
    folder as prepared?"""
    from nbgrader.api import Gradebook

    (out / "gradebook.db").unlink()
    course_folder.prepare(out, SOLUTIONS)
    with Gradebook(course_folder.default_db_url(out)) as gb:
        assert gb.find_assignment(ASSIGNMENT).name == ASSIGNMENT


def everyone(out) -> dict[str, set[str]]:
    return {
        "scores.csv": {r["student_id"] for r in csv_rows(out / "scores.csv")},
        "grades.csv": {r["student_id"] for r in csv_rows(out / "grades.csv")},
        "grades_by_notebook.csv": {r["student_id"]
                                   for r in csv_rows(out / "grades_by_notebook.csv")},
        "feedback": {p.stem for p in (out / "feedback").glob("*.html")},
    }  # fmt: skip


def test_a_late_student_keeps_everyone_in_every_output(out):
    """Two students graded, then a late one alone: are all three in scores.csv, grades.csv,
    grades_by_notebook.csv, the feedback and the gradebook?"""
    for student in ("ada", "ben"):
        put(out, result(student))
    assert run(out) == 0
    assert all(found == {"ada", "ben"} for found in everyone(out).values()), everyone(out)
    put(out, replace(result("cy"), submitted_at="2026-03-14T15:09:26+00:00"))
    assert run(out) == 0
    assert all(found == {"ada", "ben", "cy"} for found in everyone(out).values()), everyone(out)
    from nbgrader.api import Gradebook

    with Gradebook(course_folder.default_db_url(out)) as gb:
        assert {s.student.id for s in gb.assignment_submissions(ASSIGNMENT)} == {
            "ada", "ben", "cy"
        }  # fmt: skip
        # the file's time is the submission's timestamp formgrader lists
        assert str(gb.find_submission(ASSIGNMENT, "cy").timestamp) == "2026-03-14 15:09:26"


def hand_grade(out, student: str, score: float, comment: str) -> None:
    """What formgrader's API does when a hand grader saves a score and a comment."""
    from nbgrader.api import Gradebook

    with Gradebook(course_folder.default_db_url(out)) as gb:
        grade = gb.find_grade(WRITTEN, NOTEBOOK, ASSIGNMENT, student)
        grade.manual_score = score
        grade.needs_manual_grade = False
        gb.find_comment(WRITTEN, NOTEBOOK, ASSIGNMENT, student).manual_comment = comment
        gb.db.commit()


def flagged(out, student: str) -> bool:
    from nbgrader.api import Gradebook

    with Gradebook(course_folder.default_db_url(out)) as gb:
        return gb.find_grade(WRITTEN, NOTEBOOK, ASSIGNMENT, student).needs_manual_grade


def test_hand_grades_round_trip_and_are_not_flagged_again(out):
    """A score and comment entered as formgrader does: are they in scores.csv (status hand),
    the feedback page and the terminal, kept by a rerun without flagging them again, and
    flagged again only when the student's submission changed?"""
    put(out, result("ada"))
    run(out)
    assert flagged(out, "ada")
    hand_grade(out, "ada", 1.5, "Good point about <tape> reuse.")
    for _ in range(2):  # a rerun, and another
        run(out)
        rows = {r["question"]: r for r in csv_rows(out / "scores.csv")}
        assert (rows[WRITTEN]["points"], rows[WRITTEN]["status"]) == ("1.5", "hand")
        assert not flagged(out, "ada")
        page = (out / "feedback" / "ada.html").read_text()
        assert "1.5 / 2" in page and "graded by hand" in page
        assert "Good point about &lt;tape&gt; reuse." in page
        assert "awaits hand grading" not in page
    put(out, result("ada", submission="v2"))
    for _ in range(2):  # flagged by the resubmission, and still flagged by a rerun
        run(out)
        assert flagged(out, "ada")
        rows = {r["question"]: r for r in csv_rows(out / "scores.csv")}
        assert rows[WRITTEN]["points"] == ""  # awaits its hand grader again


def test_exports_and_statistics(out):
    """Per-notebook grades, Canvas's import columns and per-question statistics."""
    put(out, result("ada"))
    zero = result("ben")
    zero.questions = [replace(q, points=0.0 if q.status == Status.OK else None,
                              messages=["dc/dx: expected 3, got 0"])
                      for q in zero.questions]  # fmt: skip
    put(out, zero)
    run(out)
    by_notebook = {r["student_id"]: r for r in csv_rows(out / "grades_by_notebook.csv")}
    assert float(by_notebook["ada"][NOTEBOOK]) > 0 and by_notebook["ben"][NOTEBOOK] == "0"
    grades = {r["student_id"]: r for r in csv_rows(out / "grades.csv")}  # nbgrader's, + notebooks
    assert float(grades["ada"][NOTEBOOK]) == float(by_notebook["ada"][NOTEBOOK])
    assert grades["ada"]["score"] == grades["ada"][NOTEBOOK] and grades["ben"][NOTEBOOK] == "0.0"
    canvas = list(csv.reader(open(out / "canvas_grades.csv")))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", ASSIGNMENT]
    assert canvas[1][0].strip() == "Points Possible"
    stats = {r["question"]: r for r in csv_rows(out / "question_stats.csv")}
    row = stats["test_graph_gradients"]
    assert (row["graded"], row["fraction_full"], row["fraction_zero"]) == ("2", "0.5", "0.5")
    assert row["most_common_failure"] == "dc/dx: expected 3, got 0"
    assert stats[WRITTEN]["awaiting_hand"] == "2"


def test_a_roster_names_the_students_and_students_csv_keeps_everyone(out, tmp_path):
    """A roster in nbgrader's `db student import` format: are the names and emails in the
    gradebook (formgrader's lists) and students.csv, and does a later run's mapping keep the
    earlier students' rows?"""
    roster_file = tmp_path / "roster.csv"
    roster_file.write_text("id,first_name,last_name,email\nada,Ada,Lovelace,ada@example.org\n")
    roster = identity.read_roster(roster_file)
    first = identity.Identities.load(out)
    first.resolve(identity.Found("ada", "ada_dl_software.zip", "submit zips"))
    first.save(out)
    second = identity.Identities.load(out, roster)
    second.resolve(identity.Found("ben", "ben"))
    second.save(out)
    rows = {r["student_id"]: r for r in csv_rows(out / "students.csv")}
    assert rows["ada"]["name"] == "Ada Lovelace" and rows["ada"]["source"] == "ada_dl_software.zip"
    assert rows["ben"]["source"] == "ben"
    put(out, result("ada"))
    outputs.finish(out, course_folder.default_db_url(out), [], [], roster=roster)
    from nbgrader.api import Gradebook

    with Gradebook(course_folder.default_db_url(out)) as gb:
        student = gb.find_student("ada")
        assert (student.first_name, student.last_name, student.email) == (
            "Ada",
            "Lovelace",
            "ada@example.org",
        )
    canvas = list(csv.reader(open(out / "canvas_grades.csv")))
    assert canvas[2][0] == "Ada Lovelace" and canvas[2][2] == "ada"


def test_merge_students_joins_a_split_student_everywhere(out, capsys):
    """A student graded under a login, later known by a roster id: does --dry-run change
    nothing, and the merge leave one student with the result, the hand grade and the row?"""
    from autograder.grading.reporting import merge

    ids = identity.Identities.load(out)
    ids.resolve(identity.Found("lovelaceada", "lovelaceada", "folders"))
    ids.record("s1001", name="Ada Lovelace")
    ids.save(out)
    put(out, result("lovelaceada"))
    put(out, replace(result("ben"), notebook=NOTEBOOK))
    run(out)
    hand_grade(out, "lovelaceada", 1.5, "Nice.")
    before = sorted(p.name for p in (out / "results").iterdir())
    assert merge.merge(out, course_folder.default_db_url(out), "lovelaceada=s1001", True) == 0
    assert "results/lovelaceada/01_numpy_gradients.json: becomes 's1001'" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "results").iterdir()) == before
    assert merge.merge(out, course_folder.default_db_url(out), "lovelaceada=s1001") == 0
    assert all(found == {"s1001", "ben"} for found in everyone(out).values()), everyone(out)
    rows = {r["student_id"]: r for r in csv_rows(out / "students.csv")}
    assert set(rows) == {"s1001"} and rows["s1001"]["logins"] == "lovelaceada"
    assert rows["s1001"]["name"] == "Ada Lovelace"
    scores = {(r["student_id"], r["question"]): r["points"] for r in csv_rows(out / "scores.csv")}
    assert scores[("s1001", WRITTEN)] == "1.5"
    with pytest.raises(identity.IdentityError, match="no student 'nobody'"):
        merge.merge(out, course_folder.default_db_url(out), "nobody=s1001")
