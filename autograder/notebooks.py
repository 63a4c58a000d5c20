"""Reading the course's notebooks and naming their nbgrader cells."""

from __future__ import annotations

import nbformat


def read(path) -> nbformat.NotebookNode:
    """A notebook file as nbformat version 4."""
    return nbformat.read(path, as_version=4)


def grade_id(cell) -> str | None:
    """The nbgrader grade_id of a cell, or None for a cell nbgrader does not track."""
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
