"""Scores as both graders report them: one row per student and graded cell, a table, and a
comparison with a table of expected scores. Shared by cs231n-grade and the plain-nbgrader
baseline; imports nothing that runs a kernel.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

from autograder.course import SOLUTIONS
from autograder.notebooks import grade_id, read


@dataclass(frozen=True)
class Score:
    student_id: str
    notebook: str  # file stem, e.g. "01_numpy_gradients"
    question: str  # the grade cell's grade_id
    points: float | None  # None while an answer awaits its hand grader
    max_points: float
    graded_by: str  # "autograder" or "hand"


def cell_position(score: Score) -> int:
    """Where a graded cell stands in its solution notebook, to list questions in course order."""
    return _cell_positions(score.notebook).get(score.question, 10**6)


@functools.cache
def _cell_positions(notebook: str) -> dict[str, int]:
    nb = read(SOLUTIONS / f"{notebook}.ipynb")
    return {grade_id(cell): i for i, cell in enumerate(nb.cells) if grade_id(cell)}


def format_table(rows: list[Score]) -> str:
    """Questions down, students across: 'points/max' for autograded cells."""
    students = sorted({r.student_id for r in rows})
    questions = sorted(
        {(r.notebook, r.question) for r in rows},
        key=lambda nq: (nq[0], _cell_positions(nq[0]).get(nq[1], 10**6)),
    )
    cell = {(r.student_id, r.notebook, r.question): r for r in rows}
    width = max(len(f"{n} {q}") for n, q in questions) + 2
    col = max(12, *(len(s) + 2 for s in students))
    lines = [f"{'question':<{width}}" + "".join(f"{s:>{col}}" for s in students)]
    totals = {s: [0.0, 0.0] for s in students}
    for notebook, question in questions:
        line = f"{notebook + ' ' + question:<{width}}"
        for s in students:
            r = cell.get((s, notebook, question))
            if r is None:
                text = "-"
            elif r.points is None:
                text = f"?/{r.max_points:g}"
            else:
                text = f"{r.points:g}/{r.max_points:g}"
            if r is not None and r.graded_by == "autograder":
                totals[s][0] += r.points or 0.0
                totals[s][1] += r.max_points
            line += f"{text:>{col}}"
        lines.append(line)
    lines.append(
        f"{'autograded total':<{width}}"
        + "".join(f"{f'{totals[s][0]:g}/{totals[s][1]:g}':>{col}}" for s in students)
    )
    if any(r.graded_by == "hand" and r.points is None for r in rows):
        lines.append("?: a written answer that awaits hand grading (nbgrader formgrader)")
    return "\n".join(lines)


def mismatches(rows: list[Score], expected_csv: Path) -> list[str]:
    """Differences between autograded scores and a table of expected ones
    (columns student_id, notebook, question, points, max_points)."""
    with open(expected_csv, newline="") as file:
        expected = {
            (r["student_id"], r["notebook"], r["question"]): (
                float(r["points"]),
                float(r["max_points"]),
            )
            for r in csv.DictReader(file)
        }
    got = {
        (r.student_id, r.notebook, r.question): (r.points, r.max_points)
        for r in rows
        if r.graded_by == "autograder"
    }
    found = []
    for key in sorted(expected.keys() | got.keys()):
        if expected.get(key) != got.get(key):
            found.append(f"{'/'.join(key)}: expected {expected.get(key)}, got {got.get(key)}")
    return found


def report_mismatches(rows: list[Score], expected_csv: Path) -> bool:
    """Print each difference from the expected scores and a verdict; True when they match."""
    found = mismatches(rows, expected_csv)
    for line in found:
        print(f"MISMATCH {line}")
    print(f"{'differs from' if found else 'matches'} {expected_csv}")
    return not found
