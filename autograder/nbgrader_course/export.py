"""grades.csv as nbgrader's CSV export writes it, plus a column per notebook.

nbgrader's own plugin gives one row per student and assignment (this course has one
assignment), so a unit of eight notebooks would be one number. This plugin keeps its columns,
in its order and meaning, and adds one column per notebook, named by the notebook, with that
notebook's score in the gradebook (hand grades included; 0 when nothing was submitted).
nbgrader_config.json names it as ExportApp.plugin_class, so `nbgrader export` in a grading
folder writes the same file cs231n-grade does. Values are quoted as CSV requires (nbgrader's
plugin writes them unquoted). Imports nothing that runs a kernel.
"""

from __future__ import annotations

import csv

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import CsvExportPlugin

KEYS = (
    "assignment",
    "duedate",
    "timestamp",
    "student_id",
    "last_name",
    "first_name",
    "email",
    "raw_score",
    "late_submission_penalty",
    "score",
    "max_score",
)


def _text(value) -> str:
    return "" if value is None else str(value)


class NotebookCsvExportPlugin(CsvExportPlugin):
    """nbgrader's CSV export with one more column per notebook (its score)."""

    def export(self, gradebook: Gradebook) -> None:
        dest = self.to or "grades.csv"
        assignments = [
            a for a in gradebook.assignments if not self.assignment or a.name in self.assignment
        ]
        notebooks = sorted({nb.name for a in assignments for nb in a.notebooks})
        students = [s for s in gradebook.students if not self.student or s.id in self.student]
        self.log.info("Exporting grades to %s", dest)
        with open(dest, "w", newline="") as file:
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow([*KEYS, *notebooks])
            for assignment in assignments:
                for student in students:
                    writer.writerow(self.row(gradebook, assignment, student, notebooks))

    @staticmethod
    def row(gradebook: Gradebook, assignment, student, notebooks: list[str]) -> list[str]:
        row = {
            "assignment": assignment.name,
            "duedate": assignment.duedate,
            "student_id": student.id,
            "last_name": student.last_name,
            "first_name": student.first_name,
            "email": student.email,
            "max_score": assignment.max_score,
        }
        by_notebook: dict[str, float] = {}
        try:
            submission = gradebook.find_submission(assignment.name, student.id)
        except MissingEntry:
            row.update(timestamp="", raw_score=0.0, late_submission_penalty=0.0, score=0.0)
        else:
            penalty = submission.late_submission_penalty
            row.update(
                timestamp=submission.timestamp,
                raw_score=submission.score,
                late_submission_penalty=penalty,
                score=max(0.0, submission.score - penalty),
            )
            by_notebook = {nb.name: nb.score for nb in submission.notebooks}
        names = {nb.name for nb in assignment.notebooks}
        scores = [_text(by_notebook.get(n, 0.0)) if n in names else "" for n in notebooks]
        return [_text(row[k]) for k in KEYS] + scores
