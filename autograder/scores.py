"""Scores as both graders report them: one row per student and graded cell, a table, and a
comparison with a table of expected scores. Shared by cs231n-grade and the plain-nbgrader
baseline; imports nothing that runs a kernel.
"""

from __future__ import annotations

import csv
import functools
import statistics
from dataclasses import dataclass
from pathlib import Path

from autograder.course import SOLUTIONS, notebook_names
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
    return position(score.notebook, score.question)


@functools.cache
def question_maxima(notebook: str) -> dict[str, float]:
    """The points of each graded cell of a notebook, from its solution's nbgrader metadata:
    the one source of every maximum (nbgrader's gradebook reads the same cells)."""
    nb = read(SOLUTIONS / f"{notebook}.ipynb")
    return {
        grade_id(cell): float(cell.metadata["nbgrader"].get("points", 0))
        for cell in nb.cells
        if grade_id(cell) and cell.metadata["nbgrader"].get("grade")
    }


def notebook_maxima() -> dict[str, float]:
    """Each notebook's maximum (file stem -> points), in course order: the whole assignment's
    maximum is their sum. Every output that shows a maximum takes it from here."""
    return {Path(n).stem: sum(question_maxima(Path(n).stem).values()) for n in notebook_names()}


MAX_COVERS = "assignment"  # what every total's maximum covers: every notebook of the course


@functools.cache
def _cell_positions(notebook: str) -> dict[str, int]:
    nb = read(SOLUTIONS / f"{notebook}.ipynb")
    return {grade_id(cell): i for i, cell in enumerate(nb.cells) if grade_id(cell)}


def position(notebook: str, question: str) -> int:
    """Where a graded cell stands in its solution notebook (unknown cells last)."""
    return _cell_positions(notebook).get(question, 10**6)


def format_table(rows: list[Score]) -> str:
    """One line per question, in course order: its maximum, mean points, how many got full
    and zero points, and how many answers await a hand grader; then the students' totals.
    Readable at any class size (a column per student is not)."""
    questions: dict[tuple[str, str], list[Score]] = {}
    for r in rows:
        questions.setdefault((r.notebook, r.question), []).append(r)
    order = sorted(questions, key=lambda nq: (nq[0], position(*nq)))
    width = max((len(f"{n} {q}") for n, q in order), default=8) + 2
    lines = [f"{'question':<{width}}{'max':>6}{'mean':>8}{'full':>7}{'zero':>7}{'awaiting':>10}"]
    for key in order:
        found = questions[key]
        scored = [r.points for r in found if r.points is not None]
        top = max(r.max_points for r in found)
        mean = f"{sum(scored) / len(scored):.2f}" if scored else "-"
        full = sum(p == top for p in scored)
        zero = sum(p == 0 for p in scored)
        awaiting = len(found) - len(scored)
        lines.append(f"{' '.join(key):<{width}}{top:>6g}{mean:>8}{full:>7}{zero:>7}{awaiting:>10}")
    totals: dict[str, float] = {}
    for r in rows:
        totals[r.student_id] = totals.get(r.student_id, 0.0) + (r.points or 0.0)
    if totals:
        most = sum(notebook_maxima().values())
        values = sorted(totals.values())
        lines.append(
            f"{len(totals)} students; total points (of {most:g}, the whole {MAX_COVERS}): mean "
            f"{sum(values) / len(values):.1f}, median {statistics.median(values):g}, lowest "
            f"{values[0]:g}, highest {values[-1]:g}"
        )
    if any(r.points is None and r.graded_by == "hand" for r in rows):
        lines.append("awaiting: written answers for a hand grader (formgrader; see README)")
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
