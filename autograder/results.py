"""What grading found, in one place: the statuses, the result types, their totals and files.

Every exporter (scores.csv, the gradebook, feedback, the terminal summary, formgrader's
notebooks) reads these types, so a total or a status is decided once. This module imports
nothing that runs a kernel: writing a CSV does not start Jupyter.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from cs231n_utils.files import atomic_write


class Status(StrEnum):
    """A question's or a notebook's status (equal to its string, as files store it)."""

    OK = "ok"  # graded: the points are what the answers earned
    TIMEOUT = "timeout"  # a cell it needed outlived its time
    MEMORY = "memory"  # a cell it needed ran out of memory
    CRASHED = "crashed"  # a cell it needed killed the kernel
    MISSING = "missing"  # the notebook was not submitted
    INVALID = "invalid"  # the notebook could not be read or planned
    HAND = "hand"  # a written answer, for a hand grader
    GRADER_ERROR = "grader_error"  # the grader's own machinery failed: no points, retried


# A cell's outcome in the kernel (kernel.CellOutcome.status) as a question's status.
CELL_FAILURES = {"timeout": Status.TIMEOUT, "memory": Status.MEMORY, "died": Status.CRASHED}
STATUS_TEXT = {
    Status.OK: "graded",
    Status.HAND: "awaits hand grading",
    Status.TIMEOUT: "ran out of time",
    Status.MEMORY: "ran out of memory",
    Status.CRASHED: "crashed the kernel",
    Status.MISSING: "notebook not submitted",
    Status.INVALID: "notebook could not be read",
    Status.GRADER_ERROR: "not graded yet (grader problem, not yours)",
}
UNANSWERED = "not answered"  # a written answer left as released: 0 points, no hand grader
SCORE_COLUMNS = ("student_id", "notebook", "question", "points", "max_points", "status")


@dataclass
class QuestionResult:
    question: str
    points: float | None  # None: awaits a hand grader, or the grader failed
    max_points: float
    status: str  # a Status
    messages: list[str] = field(default_factory=list)
    hand_graded: bool = False  # its points are a hand grader's (formgrader)


@dataclass
class NotebookResult:
    student_id: str
    notebook: str  # file stem
    status: str  # a Status: ok, missing, invalid or grader_error
    key: str  # what it was graded from; a rerun regrades when this changes
    questions: list[QuestionResult] = field(default_factory=list)
    message: str = ""
    cells: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    restarts: int = 0
    submission: str = ""  # the submitted file's hash: a hand grade stands while it does
    submitted_at: str = ""  # the file's modification time, UTC ISO 8601 ("" if unknown)
    comments: list[str] = field(default_factory=list)  # a hand grader's, on ungraded cells

    @property
    def autograded(self) -> list[QuestionResult]:
        return [q for q in self.questions if q.status != Status.HAND]

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> NotebookResult:
        """The result a job wrote. Raises ValueError for anything that is not one (a missing
        file reads as None), so that a caller can count it as not graded."""
        try:
            data = dict(data)
            data["questions"] = [QuestionResult(**q) for q in data["questions"]]
            result = cls(**data)
        except (TypeError, ValueError, KeyError) as error:
            raise ValueError(f"not a notebook result ({type(error).__name__})") from error
        if not all(isinstance(getattr(result, f), str) for f in ("student_id", "notebook")):
            raise ValueError("not a notebook result (its names are not text)")
        return result


@dataclass(frozen=True)
class HandGrade:
    """What a hand grader entered in formgrader for one question: a score (None: none yet,
    or the submission changed since) and a comment ("" when none)."""

    score: float | None
    comment: str = ""


def with_hand_grades(
    results: list[NotebookResult],
    grades: dict[tuple[str, str, str], HandGrade],
    comments: dict[tuple[str, str], list[str]] | None = None,
) -> list[NotebookResult]:
    """The results with the hand grades of (student, notebook, question) in place: a question
    a hand grader scored gets status hand, their points and their comment as its notes (what
    the grader said before is kept below it); `comments` are the hand grader's comments on
    cells that are not questions, per (student, notebook)."""
    merged = []
    for result in results:
        questions = []
        for q in result.questions:
            hand = grades.get((result.student_id, result.notebook, q.question))
            if hand is None or hand.score is None and not hand.comment:
                questions.append(q)
                continue
            notes = [hand.comment] if hand.comment else []
            if hand.score is None:
                questions.append(replace(q, messages=notes + q.messages))
                continue
            kept = [m for m in q.messages if m != UNANSWERED] if q.status == Status.HAND else []
            questions.append(
                replace(
                    q,
                    points=hand.score,
                    status=Status.HAND,
                    messages=notes + kept,
                    hand_graded=True,
                )
            )
        extra = (comments or {}).get((result.student_id, result.notebook), [])
        merged.append(replace(result, questions=questions, comments=result.comments + extra))
    return merged


def totals(questions: list[QuestionResult]) -> tuple[float, float]:
    """(points, max points) of the autograded questions among `questions`; a question
    without points yet (grader error) counts 0 of its maximum."""
    auto = [q for q in questions if q.status != Status.HAND]
    return sum(q.points or 0.0 for q in auto), sum(q.max_points for q in auto)


def write_json(path: Path, data) -> None:
    """A JSON file, written atomically: a rerun after kill -9 sees the old file or the new."""
    atomic_write(path, json.dumps(data))


def read_json(path: Path) -> dict | None:
    """The JSON object in a file the grader wrote, or None when it is missing, unreadable or
    not an object (a rerun then redoes its job)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def write_scores(results: list[NotebookResult], path: Path) -> None:
    """scores.csv: one row per student, notebook and question, with its status."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SCORE_COLUMNS)
    for result in sorted(results, key=lambda r: (r.student_id, r.notebook)):
        for q in result.questions:
            points = "" if q.points is None else f"{q.points:g}"
            writer.writerow(
                [
                    result.student_id,
                    result.notebook,
                    q.question,
                    points,
                    f"{q.max_points:g}",
                    q.status,
                ]
            )
    atomic_write(path, buffer.getvalue())


def sha256(*parts: bytes | str) -> str:
    """A key for what something was made from: the hash of its parts, each delimited."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()
