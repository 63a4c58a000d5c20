"""formgrader in a real browser on a grading folder cs231n-grade made: the assignment released
without a banner, students with their roster names, a failed test showing the grader's
verdict, a hand grade and comment entered and saved; then cs231n-grade again, and the hand
grade is in scores.csv, grades.csv and the feedback page, not flagged again. Screenshots go
to build/test-artifacts/formgrader/."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import lab_server
import pytest
from conftest import NEEDS_SANDBOX, with_references
from lab_server import free_port

from autograder.course import ASSIGNMENT, REPO_ROOT, SAMPLES

NOTEBOOK = "01_numpy_gradients"
STUDENT = "partly_wrong"
WRITTEN = "written_framework"
TOKEN = "cs231n-formgrader-token"
ARTIFACTS = REPO_ROOT / "build" / "test-artifacts" / "formgrader"
ROSTER = "id,first_name,last_name,email\n" + "".join(
    f"{s},{s.title().replace('_', '')},Sample,{s}@example.org\n"
    for s in ("complete", "partly_wrong", "untouched")
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("formgrader"), NEEDS_SANDBOX]


def grade(
    out: Path, roster: Path | None, *extra: str, submissions: Path = SAMPLES
) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("cs231n-grade")), str(submissions), "--out",
               str(out), "--notebooks", NOTEBOOK, "--workers", "2", "--no-progress",
               *(["--roster", str(roster)] if roster else []), *extra]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run


@pytest.fixture(scope="module")
def graded(tmp_path_factory, graded_samples):
    root = tmp_path_factory.mktemp("formgrader")
    roster = root / "roster.csv"
    roster.write_text(ROSTER)
    grade(with_references(root / "out", graded_samples[1]), roster)  # the session's solution runs
    return root / "out", roster


@pytest.fixture(scope="module")
def server(graded):
    """`cd OUT && jupyter lab`, as the README says; yields its URL."""
    out, _ = graded
    port = free_port()
    command = [str(Path(sys.executable).with_name("jupyter")), "lab", "--no-browser",
               f"--port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={TOKEN}"]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(out.parent / "runtime")}
    url = f"http://127.0.0.1:{port}"
    with lab_server.running(command, out, env, out.parent / "lab.log", url, TOKEN):
        yield url


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{server}/lab?token={TOKEN}")  # logs in: the token becomes a cookie
        yield page
        browser.close()


def db_grade(out: Path):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        grade = gb.find_grade(WRITTEN, NOTEBOOK, ASSIGNMENT, STUDENT)
        comment = gb.find_comment(WRITTEN, NOTEBOOK, ASSIGNMENT, STUDENT)
        return grade.manual_score, grade.needs_manual_grade, comment.manual_comment


def submission_id(out: Path) -> str:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        return gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, STUDENT).id


def test_hand_grading_in_formgrader_round_trips(graded, server, page):
    out, roster = graded
    page.goto(f"{server}/formgrader")
    page.wait_for_selector("text=dl_software")
    page.wait_for_selector("td:has-text('released')", timeout=60_000)  # the table, via AJAX
    page.screenshot(path=str(ARTIFACTS / "1-assignments.png"))
    assert page.locator("#warning-exchange, #warning-course-id").count() == 0

    page.goto(f"{server}/formgrader/manage_students")
    page.wait_for_selector("text=Sample")
    page.screenshot(path=str(ARTIFACTS / "2-students.png"))
    assert "None, None" not in page.content()

    page.goto(f"{server}/formgrader/submissions/{submission_id(out)}")
    score = page.locator(f"input#{WRITTEN}")
    # formgrade.js saves a changed input only once it has fetched the grades and comments and
    # bound them to the inputs: typing earlier (a slow machine) loses the grade. (Its
    # formgrader.loaded stays false here: MathJax comes from a CDN this machine cannot reach.)
    page.wait_for_function(
        "() => typeof formgrader !== 'undefined' && formgrader.grades"
        " && formgrader.grades.loaded && formgrader.comments && formgrader.comments.loaded",
        timeout=60_000,
    )
    assert "Grader: 0 / 3 points" in page.content()  # a failed test shows the verdict
    score.fill("1.5")
    score.press("Tab")
    comment = page.locator(f"textarea#{WRITTEN}-comment")
    comment.fill("Right idea; say why the tape is rebuilt.")
    comment.press("Tab")
    deadline = time.monotonic() + 30
    while db_grade(out)[0] != 1.5 or not db_grade(out)[2]:
        assert time.monotonic() < deadline, db_grade(out)
        time.sleep(0.5)
    page.screenshot(path=str(ARTIFACTS / "3-hand-graded.png"), full_page=True)
    assert db_grade(out)[1] is False

    grade(out, roster)
    with open(out / "scores.csv", newline="") as file:
        rows = {(r["student_id"], r["question"]): r for r in csv.DictReader(file)}
    assert (rows[(STUDENT, WRITTEN)]["points"], rows[(STUDENT, WRITTEN)]["status"]) == (
        "1.5", "hand"
    )  # fmt: skip
    assert db_grade(out)[1] is False  # not flagged again by the rerun
    with open(out / "grades.csv", newline="") as file:
        grades = {r["student_id"]: r for r in csv.DictReader(file)}
    auto = sum(float(r["points"] or 0) for (s, q), r in rows.items() if s == STUDENT)
    assert float(grades[STUDENT][NOTEBOOK]) == auto
    feedback = (out / "feedback" / f"{STUDENT}.html").read_text()
    assert "1.5 / 2" in feedback and "Right idea; say why the tape is rebuilt." in feedback
    page.goto(f"file://{out / 'feedback' / f'{STUDENT}.html'}")
    page.screenshot(path=str(ARTIFACTS / "4-feedback.png"), full_page=True)


def test_after_a_term_formgrader_lists_each_student_once_by_name(graded, server, page):
    """The rest of a term on the same folder: a rerun without the roster, a late folder, a
    forced regrade of two. Does formgrader's student list (in the browser) still show each
    student once, under the roster's name, and the late student beside them?"""
    out, _ = graded
    late = out.parent / "late" / "late_one"
    late.mkdir(parents=True)
    shutil.copyfile(SAMPLES / "complete" / f"{NOTEBOOK}.ipynb", late / f"{NOTEBOOK}.ipynb")
    grade(out, None)
    grade(out, None, submissions=late.parent)
    forced = grade(out, None, "--students", "complete", "partly_wrong", "--force")
    assert "complete" in forced.stdout and "partly_wrong" in forced.stdout
    page.goto(f"{server}/formgrader/manage_students")
    page.wait_for_selector("td.id:has-text('late_one')", timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "5-students-after-the-term.png"))
    ids = sorted(page.locator("td.id").all_inner_texts())
    assert ids == ["complete", "late_one", "partly_wrong", "untouched"], ids
    names = page.locator("td.name").all_inner_texts()
    for student in ("complete", "partly_wrong", "untouched"):
        assert names.count(f"Sample, {student.title().replace('_', '')}") == 1, names
