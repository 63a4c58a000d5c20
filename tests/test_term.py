"""A term as an instructor lives it, on notebook 01 only: a Canvas download graded with a
roster and Canvas's gradebook export, a rerun without the roster, a late folder of
cs231n-submit zips, and a forced regrade of two students. Does every output keep one row per
student under the same ids, the roster's names and Canvas's ids, and one maximum?"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import NEEDS_SANDBOX, with_references

from autograder.course import ASSIGNMENT, SAMPLES
from autograder.scores import notebook_maxima

pytestmark = [pytest.mark.slow, NEEDS_SANDBOX]

NOTEBOOK = "01_numpy_gradients"
GRADE = [str(Path(sys.executable).with_name("cs231n-grade"))]
EXPORT = Path(__file__).parent / "data" / "canvas_gradebook_export.csv"
# Canvas login, Canvas user id, the sample they hand in; the roster knows Ada and Grace
CLASS = {"lovelaceada": ("12345", "complete"), "hoppergrace": ("222", "partly_wrong"),
         "curiecy": ("333", "untouched")}  # fmt: skip
ROSTER = "id,first_name,last_name,email,lms_user_id\ns1001,Ada,Lovelace,ada@x.org,12345\n" \
         "s1002,Grace,Hopper,grace@x.org,222\n"  # fmt: skip
IDS = {"s1001", "s1002", "curiecy"}


def grade(submissions: Path, out: Path, *extra: str) -> str:
    run = subprocess.run(
        [*GRADE, str(submissions), "--out", str(out), "--notebooks", NOTEBOOK, "--workers", "2",
         "--no-progress", *extra],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout


def rows(path: Path, skip: int = 0) -> list[dict[str, str]]:
    lines = path.read_text().splitlines(keepends=True)
    return list(csv.DictReader(io.StringIO(lines[0] + "".join(lines[1 + skip :]))))


def test_a_term_keeps_one_identity_and_one_maximum(tmp_path, graded_samples):
    download = tmp_path / "submissions.zip"
    with zipfile.ZipFile(download, "w") as zf:
        for n, (login, (user, sample)) in enumerate(CLASS.items()):
            source = SAMPLES / sample / f"{NOTEBOOK}.ipynb"
            zf.write(source, f"{login}_{user}_{700 + n}_{NOTEBOOK}.ipynb")
    roster = tmp_path / "roster.csv"
    out = with_references(tmp_path / "out", graded_samples[1])  # the session's solution runs
    roster.write_text(ROSTER)
    grade(download, out, "--roster", str(roster), "--canvas-gradebook", str(EXPORT))
    grade(download, out)  # a rerun without the roster
    late = tmp_path / "late"
    late.mkdir()
    with zipfile.ZipFile(late / f"curiecy_{ASSIGNMENT}.zip", "w") as zf:  # Cy resubmits
        zf.write(SAMPLES / "complete" / f"{NOTEBOOK}.ipynb", f"curiecy/{NOTEBOOK}.ipynb")
    said = grade(late, out)
    assert "changed (1): curiecy" in said
    said = grade(download, out, "--students", "s1001", "s1002", "--force")
    forced = next(line for line in said.splitlines() if "forced (2)" in line)
    assert {"s1001 01_numpy_gradients", "s1002 01_numpy_gradients"} == set(
        forced.split(": ", 1)[1].split(", ")
    )

    students = {r["student_id"]: r for r in rows(out / "students.csv")}
    assert set(students) == IDS
    assert (students["s1001"]["name"], students["s1001"]["canvas_user_id"]) == (
        "Ada Lovelace", "12345")  # fmt: skip
    assert students["curiecy"]["canvas_user_id"] == "333"  # kept through the late folder
    scores = rows(out / "scores.csv")
    grades = {r["student_id"]: r for r in rows(out / "grades.csv")}
    by_notebook = {r["student_id"]: r for r in rows(out / "grades_by_notebook.csv")}
    canvas = rows(out / "canvas_grades.csv", skip=1)
    gradescope = {r["SID"]: r for r in rows(out / "gradescope_grades.csv")}
    assert {r["student_id"] for r in scores} == IDS == set(grades) == set(by_notebook)
    assert set(gradescope) == IDS and len(canvas) == len(IDS)
    assert {p.stem for p in (out / "feedback").glob("*.html")} == IDS
    column = "DL Software (88123)"
    canvas_by_id = {r["ID"]: r for r in canvas}
    assert set(canvas_by_id) == {"12345", "222", "333"}
    assert canvas_by_id["12345"]["SIS Login ID"] == "alovelace"  # Canvas's own row
    points = {sid: float(r["total"]) for sid, r in by_notebook.items()}
    assert points["curiecy"] == points["s1001"] > points["s1002"]  # Cy's late file counts
    assert float(canvas_by_id["333"][column]) == points["curiecy"]
    assert float(gradescope["s1002"]["Total Score"]) == points["s1002"]
    assert float(grades["s1002"][NOTEBOOK]) == points["s1002"]
    top = sum(notebook_maxima().values())
    possible = out.joinpath("canvas_grades.csv").read_text().splitlines()[1].split(",")[-1]
    maxima = {float(possible), *(float(r["max_total"]) for r in by_notebook.values()),
              *(float(r["max_score"]) for r in grades.values()),
              *(float(r["Max Points"]) for r in gradescope.values())}  # fmt: skip
    assert maxima == {top}
    assert {r["max_covers"] for r in by_notebook.values()} == {"assignment"}
    assert f"of {top:g}" in (out / "report.html").read_text()
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        assert {s.student.id for s in gb.assignment_submissions(ASSIGNMENT)} == IDS
    shutil.rmtree(out / "submissions", ignore_errors=True)
