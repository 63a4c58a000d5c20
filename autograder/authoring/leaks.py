"""Find what must never reach students: solution code, nbgrader markers, hidden tests."""

from __future__ import annotations

import re

from autograder.notebooks import nbgrader_meta

MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
_REGION = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.DOTALL)


def secret_lines(solution_nb) -> list[str]:
    """The distinctive lines inside solution regions, hidden-test regions and whole
    solution answer cells of a source notebook (blank lines and bare comments skipped)."""
    lines, public = [], set()
    for cell in solution_nb.cells:
        meta = nbgrader_meta(cell)
        regions = [m.group(2) for m in _REGION.finditer(cell.source)]
        if meta.get("solution") and cell.cell_type == "markdown" and not regions:
            regions = [cell.source]
        else:  # what the release shows too (a hidden test may repeat a visible line)
            public.update(line.strip() for line in _REGION.sub("", cell.source).splitlines())
        for region in regions:
            for line in region.splitlines():
                text = line.strip()
                if len(text) >= 8 and not text.startswith("#"):
                    lines.append(text)
    return [line for line in lines if line not in public]


def leaks(release_nb, solution_nb) -> list[str]:
    """Every marker, solution line and hidden-test line found in a release notebook."""
    found = []
    for index, cell in enumerate(release_nb.cells):
        for marker in MARKERS:
            if marker in cell.source:
                found.append(f"cell {index}: marker {marker!r}")
        present = {line.strip() for line in cell.source.splitlines()}
        for line in secret_lines(solution_nb):
            if line in present:
                found.append(f"cell {index}: solution or hidden line {line!r}")
    return found
