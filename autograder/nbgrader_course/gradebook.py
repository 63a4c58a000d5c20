"""The batch grader's outputs: nbgrader's gradebook, grades.csv, scores.csv, and the
autograded notebooks nbgrader's formgrader shows to hand graders.

Everything here is rebuilt from the per-notebook result files, and every write is an
update, not an append: running it twice, or again after an interruption, leaves the same
gradebook and files. Scores a hand grader entered in formgrader are never touched.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from pathlib import Path

import nbformat

from autograder.course import ASSIGNMENT, RELEASE
from autograder.grading.feedback import secret_lines, verdict_text
from autograder.grading.jobs import NotebookResult
from autograder.nbgrader_course.apps import run_nbgrader
from autograder.nbgrader_course.settings import write_config_file
from autograder.notebooks import grade_id, read
from autograder.protected import is_protected, restore_protected
from autograder.redaction import safe_notebook

SCORE_COLUMNS = ("student_id", "notebook", "question", "points", "max_points", "status")


def default_db_url(out: Path) -> str:
    return f"sqlite:///{out / 'gradebook.db'}"


def prepare(out: Path, db_url: str) -> None:
    """Make `out` an nbgrader course folder whose gradebook knows the assignment. Skipped when
    it already does, for these solutions and this gradebook (a rerun, a resumed run)."""
    import shutil
    from importlib import metadata

    from autograder.course import SOLUTIONS
    from autograder.grading.jobs import sha256

    default = db_url == default_db_url(out)
    key = sha256(
        metadata.version("nbgrader"),
        "default gradebook" if default else db_url,
        *(path.read_bytes() for path in sorted(SOLUTIONS.glob("*.ipynb"))),
    )
    out.mkdir(parents=True, exist_ok=True)
    write_config_file(out, None if default else db_url)  # names `out`: rewritten if it moved
    stamp = out / ".prepared"
    if stamp.is_file() and stamp.read_text() == key:
        return
    source = out / "source" / ASSIGNMENT
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(SOLUTIONS, source)
    run_nbgrader(out, "generate_assignment", ASSIGNMENT, "--force")
    _replace(stamp, key)


def sync(db_url: str, results: list[NotebookResult]) -> None:
    """Write every result's scores into the gradebook (idempotent)."""
    from nbgrader.api import Gradebook, MissingEntry

    by_student: dict[str, list[NotebookResult]] = {}
    for result in results:
        by_student.setdefault(result.student_id, []).append(result)
    with Gradebook(db_url) as gradebook, warnings.catch_warnings():
        # nbgrader's add_submission trips SQLAlchemy autoflush warnings; its autograde too
        warnings.simplefilter("ignore")
        for student, notebooks in sorted(by_student.items()):
            gradebook.update_or_create_student(student)
            try:
                gradebook.find_submission(ASSIGNMENT, student)
            except MissingEntry:
                gradebook.add_submission(ASSIGNMENT, student)
            for result in notebooks:
                for question in result.questions:
                    grade = gradebook.find_grade(
                        question.question, result.notebook, ASSIGNMENT, student
                    )
                    grade.auto_score = question.points
                    # as nbgrader's autograde decides it: a hand score or no automatic one
                    grade.needs_manual_grade = (
                        grade.manual_score is not None or grade.auto_score is None
                    )
            gradebook.db.commit()


def _replace(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_scores(results: list[NotebookResult], path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SCORE_COLUMNS)
    for result in sorted(results, key=lambda r: (r.student_id, r.notebook)):
        for q in result.questions:
            points = "" if q.points is None else f"{q.points:g}"
            writer.writerow(
                [result.student_id, result.notebook, q.question, points, f"{q.max_points:g}",
                 q.status]
            )  # fmt: skip
    _replace(path, buffer.getvalue())


def export_grades(out: Path, db_url: str) -> Path:
    """grades.csv written by nbgrader's own CSV export plugin (what `nbgrader export` runs), so
    its columns are nbgrader's; called in-process, which saves a start of nbgrader."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    tmp = out / ".grades.csv.tmp"
    with Gradebook(db_url) as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        CsvExportPlugin(to=str(tmp), assignment=[ASSIGNMENT]).export(gb)
    os.replace(tmp, out / "grades.csv")
    return out / "grades.csv"


def write_autograded(out: Path, result: NotebookResult, path: Path | None) -> Path | None:
    """The student's notebook as a hand grader sees it in formgrader, at
    OUT/autograded/<student>/<assignment>/<notebook>.ipynb; returns that path, or None when
    there is nothing to hand-grade (no file, or one that could not be read).

    formgrader renders it with nbconvert in the origin of the instructor's Jupyter server, so
    it holds only what is safe there (redaction.safe_notebook): the release's protected cells
    (protected.restore_protected), the student's cells with inert outputs and sanitised
    markdown, and under each graded test the grader's own verdict as its only output.
    """
    if path is None or result.status in ("missing", "invalid"):
        return None
    try:
        submitted = read(path)
    except Exception:  # changed or unreadable since grading: nothing to hand-grade
        return None
    release = read(RELEASE / f"{result.notebook}.ipynb")
    restored, _ = restore_protected(release, submitted)
    nb = safe_notebook(restored, release)
    verdicts = {q.question: q for q in result.questions}
    for cell in nb.cells:
        if cell.cell_type == "code" and grade_id(cell) in verdicts and is_protected(cell):
            text = verdict_text(verdicts[grade_id(cell)], secret_lines(result.notebook))
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text + "\n")]
    target = out / "autograded" / result.student_id / ASSIGNMENT / f"{result.notebook}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    _replace(target, nbformat.writes(nb))
    return target
