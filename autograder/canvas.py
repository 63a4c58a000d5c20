"""Canvas's gradebook import: canvas_grades.csv in the format Canvas reads back.

Canvas imports a CSV whose first row names the columns Student, ID, SIS User ID, SIS Login
ID, Section and one column per assignment, named exactly as in Canvas's own export:
"Assignment Name (assignment id)"; a second row "Points Possible" is skipped. A column named
otherwise is taken for a new assignment (or refused). So the column is read from a gradebook
the instructor exported from Canvas (Grades > Export), passed once with --canvas-gradebook:

    cs231n-grade CLASS --out OUT --canvas-gradebook export.csv [--canvas-assignment NAME]

The column whose name (without its id) matches NAME (default: the nbgrader assignment's name,
letters and digits compared without case, so "DL Software" matches dl_software) is kept in
OUT/canvas_gradebook.json with Canvas's rows (name, user id, SIS ids, section), so later runs
write the same column without the flag, and each student's row carries Canvas's own values
where Canvas knows the student (by user id, else SIS Login ID or SIS User ID = student id).
Without an export the column is the nbgrader assignment's name: a file to check, not import.
Trusted side only: nothing here runs a kernel.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import ASSIGNMENT
from cs231n_utils.files import atomic_write

SAVED = "canvas_gradebook.json"
KEYS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
COLUMN = re.compile(r"^(?P<name>.+?) \((?P<id>\d+)\)$")


class CanvasError(ValueError):
    """The Canvas gradebook cannot be read, or has no column for the assignment."""


@dataclass
class CanvasGradebook:
    column: str  # "Assignment Name (id)", as Canvas exports it
    rows: list[dict[str, str]] = field(default_factory=list)  # Canvas's KEYS per student

    def row_of(self, sid: str, canvas_user_id: str) -> dict[str, str] | None:
        """Canvas's row of a student: by Canvas user id, else by SIS Login or User ID."""
        for row in self.rows:
            if canvas_user_id and row.get("ID") == canvas_user_id:
                return row
        for row in self.rows:
            if sid in (row.get("SIS Login ID"), row.get("SIS User ID")):
                return row
        return None


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.casefold())


def read_export(path: Path, assignment: str | None = None) -> CanvasGradebook:
    """The column of `assignment` (default ASSIGNMENT) and the students of a gradebook
    exported from Canvas. Raises CanvasError naming the assignment columns it has when none,
    or more than one, matches."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            table = list(csv.reader(file))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise CanvasError(f"cannot read the Canvas gradebook {path}: {error}") from error
    if not table or not set(KEYS) <= set(table[0]):
        raise CanvasError(
            f"{path} is not a Canvas gradebook export: its first row lacks {', '.join(KEYS)}"
        )
    header = table[0]
    columns = [c for c in header if COLUMN.match(c)]
    wanted = _key(assignment or ASSIGNMENT)
    matches = [c for c in columns if _key(COLUMN.match(c)["name"]) == wanted]
    if len(matches) != 1:
        what = "no column" if not matches else f"{len(matches)} columns"
        raise CanvasError(
            f"{path}: {what} for the assignment {assignment or ASSIGNMENT!r}; its assignment "
            f"columns are: {'; '.join(columns) or 'none'} (pass --canvas-assignment with one "
            "of their names)"
        )
    rows = []
    for values in table[1:]:
        row = dict(zip(header, values, strict=False))
        if row.get("Student", "").strip() in ("", "Points Possible") or not row.get("ID"):
            continue  # Canvas's points-possible and test-student rows
        rows.append({k: row.get(k, "") for k in KEYS})
    return CanvasGradebook(matches[0], rows)


def save(out: Path, gradebook: CanvasGradebook) -> None:
    atomic_write(out / SAVED, json.dumps({"column": gradebook.column, "rows": gradebook.rows}))


def load(out: Path) -> CanvasGradebook | None:
    """The gradebook an earlier run was given, or None."""
    try:
        data = json.loads((out / SAVED).read_text())
        return CanvasGradebook(str(data["column"]), [dict(r) for r in data["rows"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None
