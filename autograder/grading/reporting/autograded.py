"""The notebooks formgrader shows to hand graders: OUT/autograded/<student>/<assignment>/.

formgrader renders them with nbconvert in the origin of the instructor's Jupyter server, so
they hold only what is safe there (redaction.safe_notebook): the release's protected cells
(protected.restore_protected, the rule the runner grades by), the student's cells with inert
outputs and sanitised markdown, and under each graded test the grader's own verdict as its
only output. This module imports nothing that runs a kernel.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from autograder.course import ASSIGNMENT, RELEASE
from autograder.grading.reporting.feedback import secret_lines, verdict_text
from autograder.notebooks import grade_id, read
from autograder.protected import is_protected, restore_protected
from autograder.redaction import safe_notebook
from autograder.results import NotebookResult, Status
from cs231n_utils.files import atomic_write


def write_autograded(out: Path, result: NotebookResult, path: Path | None) -> Path | None:
    """Write the student's notebook as a hand grader sees it; return its path, or None when
    there is nothing to hand-grade (no file, or one that could not be read)."""
    if path is None or result.status in (Status.MISSING, Status.INVALID):
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
    target = autograded_path(out, result.student_id, result.notebook)
    atomic_write(target, nbformat.writes(nb))
    return target


def autograded_path(out: Path, student_id: str, notebook: str) -> Path:
    """Where the hand-grading copy of a student's notebook (a file stem) is kept in OUT."""
    return out / "autograded" / student_id / ASSIGNMENT / f"{notebook}.ipynb"
