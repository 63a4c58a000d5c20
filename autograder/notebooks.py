"""Reading the course's notebooks, and every question asked of their nbgrader cells.

One definition of each cell predicate and marker, for release building, grading and
formgrader's notebooks alike (as nbgrader keeps its own in nbgrader.utils). Imports nothing
that runs a kernel.
"""

from __future__ import annotations

import nbformat

SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


def read(path) -> nbformat.NotebookNode:
    """A notebook file as nbformat version 4."""
    return nbformat.read(path, as_version=4)


def nbgrader_meta(cell) -> dict:
    """A cell's nbgrader metadata, or {} (also when a student's file holds something else)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def grade_id(cell) -> str | None:
    """The nbgrader grade_id of a cell, or None for a cell nbgrader does not track."""
    return nbgrader_meta(cell).get("grade_id")


def is_test(cell) -> bool:
    """An autograded test cell: graded code that is not an answer."""
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def is_read_only(cell) -> bool:
    """A locked cell that is neither graded nor an answer (a setup cell). nbgrader's own
    is_locked also counts test cells; see is_protected."""
    meta = nbgrader_meta(cell)
    return bool(meta.get("locked")) and not meta.get("grade") and not meta.get("solution")


def is_protected(cell) -> bool:
    """A release cell the student may not change: read-only, or a graded test."""
    meta = nbgrader_meta(cell)
    return bool(grade_id(cell)) and (
        bool(meta.get("locked")) or (bool(meta.get("grade")) and not meta.get("solution"))
    )


def is_answer(cell) -> bool:
    """A release cell the student writes in (a solution region), graded or not."""
    return (
        bool(grade_id(cell))
        and bool(nbgrader_meta(cell).get("solution"))
        and not is_protected(cell)
    )


def is_written_answer(cell) -> bool:
    """A hand-graded answer: a graded markdown cell."""
    return cell.cell_type == "markdown" and bool(nbgrader_meta(cell).get("grade"))


def strip_markers(source: str, markers: tuple[str, str]) -> str:
    """The source without the marker lines (the code between them kept)."""
    return "\n".join(line for line in source.split("\n") if line.strip() not in markers)


def _parts(source: str) -> tuple[list[str], list[str]]:
    """A test cell's lines outside the hidden-test markers and between them."""
    shown, hidden, inside = [], [], False
    for line in source.splitlines():
        if line.strip() in HIDDEN_MARKERS:
            inside = line.strip() == HIDDEN_MARKERS[0]
        else:
            (hidden if inside else shown).append(line)
    return shown, hidden


def hidden_part(source: str) -> str:
    """The lines of a test cell between the hidden-test markers."""
    return "\n".join(_parts(source)[1])


def hidden_lines(solution: nbformat.NotebookNode) -> set[str]:
    """The lines of hidden test source (long enough to be recognisable) that the release
    does not show elsewhere, not even as part of a longer line."""
    hidden, shown = set(), set()
    for cell in solution.cells:
        visible, secret = _parts(cell.source)
        hidden.update(line.strip() for line in secret if len(line.strip()) >= 12)
        shown.update(line.strip() for line in visible)
    return {line for line in hidden if not any(line in other for other in shown)}
