"""Who each submission belongs to: the one place that decides a student's id.

Every input layout (layouts.py), the folder walk (submissions.py) and every output asks this
module. Its table lives in OUT/students.csv, one row per student:

    student_id      the gradebook's id, the key of every output
    name, email     from a roster (nbgrader's `db student import` columns)
    logins          every name the student's work was found under (folder names, the id in a
                    cs231n-submit zip's name, Canvas logins), separated by spaces
    canvas_user_id  Canvas's numeric user id (a roster's lms_user_id, or the Canvas download)
    source, layout, late    where the latest run found the work

A submission found under NAME (with a Canvas user id where Canvas gave one) resolves, in this
order, to: the roster's id (its lms_user_id is the Canvas user id, or its id is NAME); the id
an earlier run recorded (same Canvas user id, or NAME among its logins); else a new id made
from NAME (names.student_id), told apart from every id and file stem already taken. So a rerun
without the roster keeps the roster's ids, and a run that grades only some students (a late
folder) changes no one else's row. A value is never blanked: only a non-empty one replaces
what is known. Trusted side only: nothing here runs a kernel.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autograder.grading.inputs.names import MAX_ID_CHARS, digest, file_stem, student_id
from cs231n_utils.files import atomic_write

STUDENTS_CSV = "students.csv"
COLUMNS = ("student_id", "name", "email", "logins", "canvas_user_id", "source", "layout", "late")


class IdentityError(ValueError):
    """Two submissions, or a roster and a submission, claim one student id."""


@dataclass(frozen=True)
class Found:
    """One student's work as an input layout found it."""

    name: str  # the folder name, the id in a cs231n-submit zip's name, or the Canvas login
    source: str = ""  # the folder, zip or Canvas files it came from
    layout: str = "folders"
    canvas_user_id: str = ""
    late: bool = False


def shown(name: str) -> str:
    """A folder name as text: bytes that are not UTF-8 (surrogate escapes) as `\\xNN`."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", errors="backslashreplace")
    return name


def _warn(message: str) -> None:
    print(f"cs231n-grade: warning: {message}", file=sys.stderr)


def read_roster(path: Path) -> list[dict[str, str]]:
    """The rows of a roster in nbgrader's `db student import` format (columns id, first_name,
    last_name, email, lms_user_id: the Canvas user id; only id is required). Raises
    ValueError for a file without ids."""
    with open(path, newline="", encoding="utf-8-sig") as file:
        rows = list(csv.DictReader(file))
    if not rows or "id" not in rows[0]:
        raise ValueError(f"{path}: a roster needs an `id` column (nbgrader db student import)")
    return [{k: (v or "").strip() for k, v in row.items() if k} for row in rows if row.get("id")]


def read_table(out: Path) -> dict[str, dict[str, str]]:
    """student_id -> its row of OUT/students.csv; {} when there is none yet."""
    try:
        with open(out / STUDENTS_CSV, newline="") as file:
            rows = list(csv.DictReader(file))
    except OSError:
        return {}
    return {
        r["student_id"]: {c: r.get(c) or "" for c in COLUMNS} for r in rows if r.get("student_id")
    }


class Identities:
    """The table of students, a roster, and the ids this run has handed out."""

    def __init__(
        self,
        table: dict[str, dict[str, str]] | None = None,
        roster: list[dict[str, str]] | None = None,
        warn: Callable[[str], None] = _warn,
    ):
        self.table = {k: dict(v) for k, v in (table or {}).items()}
        self.roster = roster or []
        self.warn = warn
        self.given: dict[str, Found] = {}  # id -> what this run resolved to it
        self._taken: dict[str, str] = {}  # casefolded ids and file stems in use -> id
        for sid in self.table:
            self._take(sid)
        for row in self.roster:
            name = " ".join(filter(None, (row.get("first_name"), row.get("last_name"))))
            self.record(
                row["id"],
                name=name,
                email=row.get("email", ""),
                canvas_user_id=row.get("lms_user_id", ""),
            )

    @classmethod
    def load(cls, out: Path, roster: list[dict[str, str]] | None = None, warn=_warn) -> Identities:
        return cls(read_table(out), roster, warn)

    def _take(self, sid: str) -> None:
        for key in (sid, file_stem(sid)):
            self._taken[key.casefold()] = sid

    def _clash(self, candidate: str) -> str | None:
        for key in (candidate, file_stem(candidate)):
            if key.casefold() in self._taken:
                return self._taken[key.casefold()]
        return None

    def _known(self, found: Found) -> str | None:
        """The id the roster or an earlier run gives this submission, if any: the roster's
        first, then a recorded Canvas user id, a recorded login, a recorded id. A recorded id
        this run already gave to other work is passed over."""
        user = found.canvas_user_id
        for row in self.roster:
            if user and row.get("lms_user_id") == user or row["id"] == found.name:
                return row["id"]
        rows = [
            (sid, row)
            for sid, row in sorted(self.table.items())
            if self.given.get(sid, found) == found
            and not (user and row.get("canvas_user_id") not in ("", user))
        ]
        for sid, row in rows:
            if user and row.get("canvas_user_id") == user:
                return sid
        for sid, row in rows:
            if found.name in row.get("logins", "").split():
                return sid
        return next((sid for sid, _ in rows if sid == found.name), None)

    def _new(self, found: Found) -> str:
        candidate = student_id(found.name)
        if self._clash(candidate) is None:
            return candidate
        if found.canvas_user_id:  # Canvas users sharing a login: LOGIN-USERID
            candidate = student_id(f"{found.name}-{found.canvas_user_id}")
            if self._clash(candidate) is None:
                return candidate
        base = candidate[: MAX_ID_CHARS - 9]
        for attempt in range(1000):
            new = f"{base}-{digest(found.name + chr(0) + str(attempt), 8)}"
            if self._clash(new) is None:
                self.warn(
                    f"{self._clash(candidate)!r} and {found.name!r} map to one id "
                    f"({candidate!r}); the second is graded as {new!r}"
                )
                return new
        raise IdentityError(f"cannot find a distinct id for {found.name!r}")

    def resolve(self, found: Found) -> str:
        """The student id of `found`, recorded in the table (see the module's docstring).
        Raises IdentityError when two submissions of one run resolve to one student."""
        sid = self._known(found) or self._new(found)
        if sid in self.given and self.given[sid] != found:
            raise IdentityError(
                f"{self.given[sid].source or self.given[sid].name!r} and "
                f"{found.source or found.name!r} both resolve to student {sid!r} (the roster "
                "or OUT/students.csv gives them one id); fix the roster or the submissions"
            )
        self.given[sid] = found
        self._take(sid)
        logins = self.table.get(sid, {}).get("logins", "").split()
        if found.name not in logins and found.name != sid:
            logins.append(found.name)
        late = "yes" if found.late else ""
        self.record(
            sid,
            logins=" ".join(logins),
            source=found.source,
            layout=found.layout,
            canvas_user_id=found.canvas_user_id,
            late=late,
        )
        return sid

    def record(self, sid: str, **values: str) -> None:
        """Known values of a student; an empty value never replaces a known one."""
        row = self.table.setdefault(sid, {c: "" for c in COLUMNS})
        row["student_id"] = sid
        row.update({k: v for k, v in values.items() if v and k in COLUMNS})
        self._take(sid)

    def merge(self, old: str, new: str) -> None:
        """`old`'s row folded into `new`'s: new's values win, old's fill its gaps, and old's
        id and logins become logins of new, so later runs resolve them to new."""
        if old not in self.table:
            raise IdentityError(f"no student {old!r} in {STUDENTS_CSV}")
        gone = self.table.pop(old)
        row = self.table.setdefault(new, {c: "" for c in COLUMNS})
        logins = row.get("logins", "").split()
        for login in [old, *gone.get("logins", "").split()]:
            if login not in logins and login != new:
                logins.append(login)
        for column in COLUMNS:
            row[column] = row.get(column) or gone.get(column, "")
        row.update(student_id=new, logins=" ".join(logins))

    def save(self, out: Path) -> None:
        """OUT/students.csv, every student known, in id order."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        for sid in sorted(self.table):
            writer.writerow([self.table[sid].get(c, "") for c in COLUMNS])
        atomic_write(out / STUDENTS_CSV, buffer.getvalue())
