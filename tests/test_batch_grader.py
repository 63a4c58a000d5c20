"""cs231n-grade end to end, on real notebooks in real sandboxes: attacks, broken inputs, an
interrupted run, and the outputs nbgrader's tools read."""

from __future__ import annotations

import csv
import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import adversarial
import pytest
from conftest import NEEDS_SANDBOX, with_references

from autograder.course import ASSIGNMENT, SAMPLES, SOLUTIONS
from autograder.grading import api, config
from autograder.grading.api import UNSAFE_FLAG
from autograder.grading.isolation import cgroups, sandbox
from autograder.notebooks import hidden_lines, read

pytestmark = [pytest.mark.slow, NEEDS_SANDBOX, pytest.mark.xdist_group("batch_grader")]

GRADE = [str(Path(sys.executable).with_name("cs231n-grade"))]
OPTIONS = ["--notebooks", adversarial.NOTEBOOK, "--workers", "2", "--no-progress"]


def grade(submissions: Path, out: Path, *extra: str, timeout: float = 1800):
    """cs231n-grade's CompletedProcess, with its `pid`: the run's cgroups end in it."""
    command = [*GRADE, str(submissions), "--out", str(out), *OPTIONS, *extra]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as process:  # fmt: skip
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    run = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    run.pid = process.pid
    return run


def scores(out: Path) -> dict[tuple[str, str], tuple[str, str]]:
    with open(out / "scores.csv", newline="") as file:
        return {(r["student_id"], r["question"]): (r["points"], r["status"])
                for r in csv.DictReader(file)}  # fmt: skip


def gradebook_rows(db_url: str) -> list[tuple]:
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        return sorted(
            (s.student.id, nb.name, g.name, g.auto_score, g.needs_manual_grade)
            for s in gb.assignment_submissions(ASSIGNMENT)
            for nb in s.notebooks
            for g in nb.grades
        )


def kernel_groups(pid: str) -> list[str]:
    """The names of the graders' kernel cgroups process `pid` is in (none for a process
    outside every grader's cgroups)."""
    try:
        text = (Path("/proc") / pid / "cgroup").read_text()
    except OSError:
        return []
    parents = f"(?:{cgroups.V1_PARENT}|{cgroups.V2_PARENT})"
    return re.findall(rf"/{parents}/([^/\n]+)", text)


def sandbox_processes(grader_pid: int) -> list[str]:
    """Processes of the sandbox uids still alive that belong to the grader run `grader_pid`
    or to no grader at all (one that left its cgroup). Kernels of other graders (other tests
    grading at the same time take other slots) are theirs: their cgroups end in another
    grader's pid."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid = int(next(line for line in status.read_text().splitlines()
                           if line.startswith("Uid:")).split()[1])  # fmt: skip
        except (OSError, StopIteration, ValueError):
            continue
        if uid < sandbox.FIRST_SANDBOX_UID:
            continue
        groups = kernel_groups(status.parent.name)
        if not groups or any(g.endswith(f"-{grader_pid}") for g in groups):
            found.append(status.parent.name)
    return found


@pytest.fixture(scope="module")
def samples(tmp_path_factory, graded_samples):
    """The three samples, notebook 01 only, graded without interruption."""
    out = with_references(tmp_path_factory.mktemp("batch") / "samples", graded_samples[1])
    run = grade(SAMPLES, out)
    assert run.returncode == 0, run.stdout + run.stderr
    return out


# The attacks' tests run on an xdist worker of their own (the grading of the attacks is the
# longest fixture of the suite). Their run computes notebook 01's references itself (two
# runs) rather than wait for `graded_samples` on the other worker.
ATTACKS = pytest.mark.xdist_group("batch_attacks")


@pytest.fixture(scope="module")
def attacks(tmp_path_factory):
    root = tmp_path_factory.mktemp("attacks")
    submissions, out = root / "submissions", root / "out"
    expected = adversarial.build(submissions, out)
    bad = adversarial.build_bad_inputs(submissions)
    out.mkdir()
    try:
        run = grade(
            submissions, out, "--cell-timeout", "20", "--notebook-timeout", "300",
            "--memory-mb", "2048", "--processes", "128",
        )  # fmt: skip
    finally:
        adversarial.remove_deep_folders(submissions)
    return run, out, expected, bad


def test_samples_score_as_nbgrader_scores_them(graded_samples):
    """Do the samples, every notebook, get exactly the scores nbgrader's autograde gives them
    (expected_scores.csv: test_grading checks the partly wrong sample's rows against nbgrader,
    benchmarks/grading.py all three)?"""
    run, out = graded_samples
    assert run.returncode == 0 and "matches" in run.stdout, run.stdout[-4000:] + run.stderr[-2000:]
    with open(SAMPLES / "expected_scores.csv", newline="") as file:
        expected = {(r["student_id"], r["notebook"], r["question"]): float(r["points"])
                    for r in csv.DictReader(file)}  # fmt: skip
    with open(out / "scores.csv", newline="") as file:
        got = {(r["student_id"], r["notebook"], r["question"]): float(r["points"])
               for r in csv.DictReader(file) if r["status"] == "ok"}  # fmt: skip
    assert got == expected


@ATTACKS
def test_every_attack_gets_exactly_its_expected_outcome(attacks):
    """Does each of the adversarial submissions get the points and status written down for
    it, question by question, and does the grader finish cleanly?"""
    run, out, expected, _ = attacks
    assert len(expected) >= 25
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    got = scores(out)
    wrong = []
    for student, outcome in expected.items():
        for question, (points, status) in outcome.items():
            if got.get((student, question)) != (f"{points:g}", status):
                wrong.append(f"{student} {question}: expected {(points, status)}, "
                             f"got {got.get((student, question))}")  # fmt: skip
    assert not wrong, "\n".join(wrong)


@ATTACKS
def test_bad_inputs_get_a_status_and_the_batch_goes_on(attacks):
    """Corrupt, foreign, old, huge, missing and oddly named submissions: a clear status each,
    and the good ones (nbformat 3, a non-UTF-8 folder name) graded in full?"""
    _, out, _, bad = attacks
    got = scores(out)
    for student, (status, word) in bad.items():
        assert got[(student, "test_graph_gradients")] == ("0", status), student
        assert word in (out / "feedback" / f"{student}.html").read_text(), student
    assert got[("old_nbformat_3", "test_training")] == ("2", "ok")
    long_ids = sorted({s for s, _ in got if s.startswith("a" * 50)})  # bounded for the gradebook
    assert len(long_ids) == 1 and len(long_ids[0]) <= 128
    assert got[(long_ids[0], "test_training")] == ("2", "ok")
    danas = {s for s, _ in got if s.lower().startswith("dana")}
    assert len(danas) == 2 and all(got[(d, "test_training")] == ("2", "ok") for d in danas)
    odd = [s for s, _ in got if s.startswith("caf_")]
    assert odd and got[(odd[0], "test_two_layer_gradients")] == ("3", "ok")


@ATTACKS
def test_the_gradebook_matches_and_was_not_tampered_with(attacks):
    """Does the gradebook hold exactly scores.csv's autograded points (no 99 written from a
    student's kernel), one submission per student, and a grades.csv row each?"""
    _, out, _, _ = attacks
    rows = gradebook_rows(f"sqlite:///{out / 'gradebook.db'}")
    got = scores(out)
    for student, notebook, question, auto, _ in rows:
        if notebook == adversarial.NOTEBOOK and question in adversarial.POINTS:
            assert f"{auto:g}" == got[(student, question)][0], (student, question)
    assert all(auto != 99 for *_, auto, _ in rows)
    with open(out / "grades.csv", newline="") as file:
        students = [r["student_id"] for r in csv.DictReader(file)]
    assert sorted(students) == sorted({s for s, _ in got})


@ATTACKS
def test_nothing_written_shows_hidden_tests_or_kernel_text(attacks):
    """Does no file the grader writes for people (feedback, scores, grades, autograded
    notebooks) hold a line of hidden test source, whatever the leaking submissions tried?
    (references/ is the grader's own cache; source/ and the gradebook are nbgrader's copies
    of the instructor's solutions.)"""
    _, out, _, _ = attacks
    secrets = hidden_lines(read(SOLUTIONS / f"{adversarial.NOTEBOOK}.ipynb"))
    assert len(secrets) > 20
    instructors = {"references", "source", "submissions", "gradebook.db"}
    checked = 0
    for path in out.rglob("*"):
        if not path.is_file() or instructors & set(path.relative_to(out).parts):
            continue
        text = path.read_text(errors="replace")
        assert not [s for s in secrets if s in text], path
        checked += 1
    assert checked > 3 * len(adversarial.LEAKS)
    for student in adversarial.LEAKS:
        page = (out / "feedback" / f"{student}.html").read_text()
        assert "<script" not in page.lower() and "onerror" not in page.lower(), student


@ATTACKS
def test_feedback_says_why_and_no_hidden_input_reaches_it(attacks):
    """Does the feedback say why points were lost: what each failed visible check raised (from
    a run without hidden tests, reasons.py), else the grader's own words? A submission that
    keeps the hidden inputs it sees (in memory and in every writable place) and raises them
    from a later check finds only the visible ones in its feedback."""
    _, out, _, _ = attacks
    untouched = (out / "feedback" / "control_untouched.html").read_text()
    # 10 autograded points and a written answer of 2, unanswered (0 points)
    assert "<b>0 / 12</b>" in untouched
    assert untouched.count("before any hidden test: CheckFailed: ") == 5
    assert "CheckFailed: loss is None: the exercise is not finished yet" in untouched
    forward = (out / "feedback" / "control_forward_only.html").read_text()
    assert "<b>1 / 12</b>" in forward
    assert "before any hidden test: CheckFailed: dc/dx is None" in forward  # the check's words
    assert "ran out of time" in (out / "feedback" / "loop_in_function.html").read_text()
    leaked = (out / "feedback" / "leak_exception_name.html").read_text()
    assert "before any hidden test: none: none" in leaked  # the name chosen without the tests
    kept = (out / "feedback" / "leak_hidden_inputs_through_reasons.html").read_text()
    assert f"before any hidden test: ValueError: seen {adversarial.VISIBLE_SHAPE}" in kept
    assert not [shape for shape in adversarial.HIDDEN_SHAPES if shape in kept]


@ATTACKS
def test_nothing_survives_grading(attacks):
    """No process of a sandbox uid is left (the daemon and the fork bomb included), and no
    scratch folder or cgroup of the run remains."""
    run = attacks[0]
    time.sleep(1)
    assert sandbox_processes(run.pid) == []
    ours = [
        g
        for g in cgroups.groups()
        for p in g.procs_files()
        if p.parent.name.endswith(f"-{run.pid}")
    ]
    assert ours == []  # of either version


def test_interrupted_run_resumes_to_the_same_result(samples, tmp_path):
    """kill -9 in the middle of a batch, then the same command again: are scores.csv,
    grades.csv and the gradebook (here at another SQLAlchemy URL) those of the
    uninterrupted run, with nothing counted twice?"""
    out = tmp_path / "interrupted"
    out.mkdir()
    shutil.copytree(samples / "references", out / "references")
    db_url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    command = [*GRADE, str(SAMPLES), "--out", str(out), *OPTIONS, "--workers", "1",
               "--db", db_url]  # fmt: skip
    process = subprocess.Popen(command, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 600
    while not list(out.glob("results/*/*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert len(list(out.glob("results/*/*.json"))) < 3, "killed too late to test resuming"
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "resuming" in rerun.stdout
    assert (out / "scores.csv").read_text() == (samples / "scores.csv").read_text()
    assert (out / "grades.csv").read_text() == (samples / "grades.csv").read_text()
    assert gradebook_rows(db_url) == gradebook_rows(f"sqlite:///{samples / 'gradebook.db'}")
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "resuming: 3 of 3" in again.stdout
    assert gradebook_rows(db_url) == gradebook_rows(f"sqlite:///{samples / 'gradebook.db'}")
    assert sandbox_processes(process.pid) == []  # the killed run's kernels are gone too


def test_the_library_call_grades_as_the_command_does(samples, tmp_path):
    """Does api.grade, given typed settings, grade the student it names and return for it the
    points of the command's scores.csv, and raise GradingRefused where the command exits,
    letting go of OUT's lock?"""
    out = tmp_path / "library"
    out.mkdir()
    shutil.copytree(samples / "references", out / "references")
    settings = dataclasses.replace(config.load(), workers=2, progress=False)
    graded = api.grade(SAMPLES, out, settings, notebooks=[adversarial.NOTEBOOK],
                       students=["partly_wrong"])  # fmt: skip
    assert graded.code == 0
    assert [(r.student_id, r.notebook) for r in graded.results] == [
        ("partly_wrong", adversarial.NOTEBOOK)
    ]
    points = {(s, q): p for (s, _, q), p in graded.points().items()}
    command = {k: v for k, v in scores(samples).items() if k[0] == "partly_wrong"}
    assert points.keys() == command.keys()
    assert all(float(command[k][0] or "nan") == p or p is None and command[k][0] == ""
               for k, p in points.items()), (points, command)  # fmt: skip
    assert (
        0
        < sum(p or 0 for p in points.values())
        < sum(float(q.max_points) for r in graded.results for q in r.questions)
    )
    with pytest.raises(api.GradingRefused, match="no such notebook") as refused:
        api.grade(SAMPLES, tmp_path / "refused", settings, notebooks=["99_no_such"])
    with api.lock(tmp_path / "refused"):  # the refused run let go of OUT, though its frames live
        assert refused.traceback


def test_a_zip_slip_archive_is_rejected_and_nothing_is_written(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("class/ada/01_numpy_gradients.ipynb", "{}")
        zf.writestr("../../escaped.txt", "gotcha")
    run = grade(archive, tmp_path / "out")
    assert run.returncode != 0 and "outside the extraction folder" in run.stderr
    assert not (tmp_path / "escaped.txt").exists() and not list(tmp_path.rglob("escaped.txt"))


def test_refuses_to_run_student_code_without_a_sandbox(tmp_path):
    """Without bubblewrap on PATH, does grading stop before running anything, naming the
    flag that would allow it?"""
    env = {**os.environ, "PATH": str(tmp_path)}  # no bwrap, no setpriv
    run = subprocess.run([*GRADE, str(SAMPLES), "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert run.returncode != 0 and UNSAFE_FLAG in run.stderr and "bubblewrap" in run.stderr
    assert not (tmp_path / "out" / "results").exists()


def test_check_sandbox_reports_what_is_available():
    run = subprocess.run([*GRADE, "--check-sandbox"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "All isolation the grader needs is available" in run.stdout


def test_a_late_student_and_a_regrade_lose_nobody(tmp_path):
    """Two students graded, then a late one alone into the same OUT, then `--students` for
    one: is everyone in scores.csv, grades.csv, the feedback and the gradebook each time?"""
    class_folder, late, out = tmp_path / "class", tmp_path / "late", tmp_path / "out"
    for student in ("complete", "untouched"):
        shutil.copytree(SAMPLES / student, class_folder / student)
    shutil.copytree(SAMPLES / "partly_wrong", late / "partly_wrong")
    everyone = {"complete", "untouched", "partly_wrong"}
    for submissions, extra in (
        (class_folder, ()),
        (late, ()),
        (SAMPLES, ("--students", "complete")),
    ):
        run = grade(submissions, out, *extra)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert {s for s, _ in scores(out)} == everyone
    with open(out / "grades.csv", newline="") as file:
        assert {r["student_id"] for r in csv.DictReader(file)} == everyone
    assert {p.stem for p in (out / "feedback").glob("*.html")} == everyone
    assert {s for s, *_ in gradebook_rows(f"sqlite:///{out / 'gradebook.db'}")} == everyone
    with open(out / "students.csv", newline="") as file:
        assert {r["student_id"] for r in csv.DictReader(file)} == everyone
