"""Per-student feedback as one HTML page: each question's points, what went wrong and a hint.

The page says the grader's own words and numbers (and one text of a kernel's, below): each
question's points, its status in fixed wording and the messages of the grader's checks
(autograder/grading/judging/judge.py owns their wording), and for each cell that did not run cleanly
its label, what happened and, for an exception, its kind from redaction.EXCEPTION_KINDS,
never the kernel's message, output or type name; the cells after the first graded test as
one line (failures.cell_reports). On a hidden case the messages say which answer failed and
how, in a few fixed words (judge.py). The one text from a kernel is what a failed visible
check raised in a second run that never saw a hidden test (reasons.py), escaped like every
value. Any line of hidden test source is withheld from the messages (nbgrader's feedback
returns the test cells whole). The page is built from a jinja2 template that escapes every
value. This module imports nothing that runs in a kernel.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

from autograder import late
from autograder.course import RELEASE, SOLUTIONS
from autograder.grading.inputs.names import file_stem
from autograder.late import LatePolicy
from autograder.redaction import exception_kind, with_article, withhold_secrets
from autograder.results import UNANSWERED, NotebookResult, QuestionResult, Status
from cs231n_utils.files import atomic_write

STATUS_TEXT = {
    "ok": "graded",
    "hand": "awaits hand grading",
    "by hand": "graded by hand",
    "timeout": "ran out of time",
    "memory": "ran out of memory",
    "crashed": "crashed the kernel",
    "missing": "notebook not submitted",
    "invalid": "notebook could not be read",
    "grader_error": "not graded yet (grader problem, not yours)",
}
CELL_TEXT = {
    "timeout": "ran out of time",
    "memory": "ran out of memory",
    "died": "crashed the kernel",
    "later": "one or more did not run cleanly (run your notebook to see which)",
}

PAGE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Feedback: {{ student }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; }
table { border-collapse: collapse; width: 100%; margin-bottom: 2rem; }
td, th { border-bottom: 1px solid #ddd; padding: .4rem; text-align: left; vertical-align: top; }
pre { white-space: pre-wrap; margin: 0; font-size: .9rem; }
.full { color: #1a7f37; } .zero { color: #cf222e; }
</style></head><body>
<h1>Feedback for {{ student }}</h1>
<p>Points so far: <b>{{ points }} / {{ max_points }}</b>.
{% if awaiting %}{{ awaiting }} written answer(s) worth {{ awaiting_points }} point(s) still
await a hand grader.{% endif %}</p>
{% if late %}<p>Late: {{ late }}, so <b>{{ penalised }} / {{ max_points }}</b> counts (the points
below are before the penalty).</p>{% endif %}
{% for section in sections %}
<h2>{{ section.notebook }}</h2>
{% if section.cells %}<p>Cells that did not run cleanly:</p>
<ul>{% for cell in section.cells %}<li>{{ cell }}</li>{% endfor %}</ul>{% endif %}
{% if section.comments %}<p>Comments from your grader:</p>
<ul>{% for comment in section.comments %}<li><pre>{{ comment }}</pre></li>{% endfor %}
</ul>{% endif %}
<table><tr><th>question</th><th>points</th><th>status</th><th>notes</th></tr>
{% for row in section.rows %}<tr><td>{{ row.question }}</td>
<td class="{{ row.css }}">{{ row.score }}</td><td>{{ row.status }}</td>
<td><pre>{{ row.notes }}</pre></td></tr>
{% endfor %}</table>
{% endfor %}
</body></html>
"""
)


@dataclass
class Row:
    question: str
    score: str  # "2 / 3", "? / 2"
    css: str  # "full", "zero" or ""
    status: str
    notes: str


def points_text(points: float | None, max_points: float) -> str:
    return f"{'?' if points is None else f'{points:g}'} / {max_points:g}"


def status_text(question: QuestionResult) -> str:
    """The question's status in the grader's words, one per question: "graded by hand" for
    points a hand grader gave, "not answered" (0 points) for a written answer left as
    released, "awaits hand grading" only while it has no points."""
    if question.hand_graded:
        return STATUS_TEXT["by hand"]
    if question.status == Status.HAND and question.points is not None:
        return UNANSWERED
    return STATUS_TEXT.get(question.status, "not graded")


def notes(question: QuestionResult, secret_lines: set[str]) -> list[str]:
    """The messages worth showing: none for a grader problem (they are for the instructor,
    and say so in the grader's output), and none that repeat the status."""
    if question.status == "grader_error":
        return []
    return [
        withhold_secrets(m, secret_lines) for m in question.messages if m != status_text(question)
    ]


def verdict_text(question: QuestionResult, secret_lines: set[str] = frozenset()) -> str:
    """One question's result as the grader says it, for a test cell's output in formgrader:
    "Grader: 2 / 3 points", then the status if not plainly graded, then the notes."""
    lines = [f"Grader: {points_text(question.points, question.max_points)} points"]
    if question.status != "ok":
        lines.append(status_text(question))
    return "\n".join(lines + notes(question, secret_lines))


def cell_text(cell: dict) -> str:
    """ "cell 7: raised a TypeError", "cell 9: ran out of time"."""
    status = cell.get("status")
    if status == "error":
        what = f"raised {with_article(exception_kind(cell.get('kind')))}"
    else:
        what = CELL_TEXT.get(status, "did not run cleanly")
    return f"{cell.get('label')}: {what}"


@functools.cache
def secret_lines(notebook: str) -> frozenset[str]:
    """The lines of the notebook's hidden tests, which no page may show."""
    from autograder.notebooks import hidden_lines, read

    path = SOLUTIONS / f"{notebook}.ipynb"
    return frozenset(hidden_lines(read(path))) if path.is_file() else frozenset()


@functools.cache
def titles(notebook: str) -> dict[str, str]:
    """grade id -> the exercise's title as the student reads it in the release: the nearest
    markdown heading above its cell, with the check's name added where several questions
    share one heading."""
    from autograder.notebooks import grade_id, read

    path = RELEASE / f"{notebook}.ipynb"
    if not path.is_file():
        return {}
    heading, found = "", {}
    for cell in read(path).cells:
        if cell.cell_type == "markdown":
            lines = [line for line in cell.source.splitlines() if line.startswith("#")]
            heading = _plain(lines[-1]) if lines else heading
        if grade_id(cell) and cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            found[grade_id(cell)] = heading
    shared = {h for h in found.values() if list(found.values()).count(h) > 1}
    return {
        gid: (f"{h}: {_humane(gid)}" if h in shared else h) if h else _humane(gid)
        for gid, h in found.items()
    }


def _plain(heading: str) -> str:
    """A markdown heading as text: emphasis marks and backticks gone, code kept as written
    (`zero_grad()` keeps its underscore)."""
    parts = re.split(r"`([^`]*)`", heading.lstrip("#"))  # odd parts: inside backticks
    prose = re.compile(r"\*+|(?<!\w)_+|_+(?!\w)")  # *a*, **a**, _a_, __a__; not snake_case
    return "".join(p if i % 2 else prose.sub("", p) for i, p in enumerate(parts)).strip()


def _humane(grade_id: str) -> str:
    return re.sub(r"^(test|written)_", "", grade_id).replace("_", " ")


def _row(question: QuestionResult, secrets: set[str], title: str = "") -> Row:
    full, zero = question.points == question.max_points, question.points == 0
    return Row(
        title or question.question,
        points_text(question.points, question.max_points),
        "full" if full else "zero" if zero else "",
        status_text(question),
        "\n".join(notes(question, secrets)),
    )


def page(student: str, notebooks: list[NotebookResult], policy: LatePolicy | None = None) -> str:
    """One student's feedback page; with a late `policy`, the penalty and what counts."""
    questions = [q for r in notebooks for q in r.questions]
    points = sum(q.points or 0.0 for q in questions)
    when = late.submitted_at([r.submitted_at for r in notebooks])
    policy = policy or LatePolicy()
    waiting = [q for q in questions if q.status == Status.HAND and q.points is None]
    sections = [
        {
            "notebook": r.notebook,
            "cells": [cell_text(c) for c in r.cells if c.get("status") != "ok"],
            "comments": r.comments,
            "rows": [
                _row(q, secret_lines(r.notebook), titles(r.notebook).get(q.question, ""))
                for q in r.questions
            ],
        }
        for r in sorted(notebooks, key=lambda r: r.notebook)
    ]
    return PAGE.render(
        student=student,
        points=f"{points:g}",
        late=policy.describe(when, points),
        penalised=f"{points - policy.penalty(points, when):g}",
        max_points=f"{sum(q.max_points for q in questions):g}",
        awaiting=len(waiting),
        awaiting_points=f"{sum(q.max_points for q in waiting):g}",
        sections=sections,
    )


def feedback_path(folder: Path, student_id: str) -> Path:
    """Where a student's page goes: a bounded, safe file name (names.file_stem)."""
    return folder / f"{file_stem(student_id)}.html"


def write_feedback(
    results: list[NotebookResult], folder: Path, policy: LatePolicy | None = None
) -> list[Path]:
    """One page per student in `folder` (with the late `policy`); returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    by_student: dict[str, list[NotebookResult]] = {}
    for result in results:
        by_student.setdefault(result.student_id, []).append(result)
    written = []
    for student, notebooks in sorted(by_student.items()):
        path = feedback_path(folder, student)
        atomic_write(path, page(student, notebooks, policy))
        written.append(path)
    return written
