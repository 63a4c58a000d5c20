"""The course's protected cells put back into a student's notebook, as nbgrader's
OverwriteCells does, in one place for every caller.

Protected cells are the release's read-only cells and graded test cells: whatever the student
did to them (edited, deleted, retyped as markdown, duplicated), the result holds each exactly
once, with the release's source, type and metadata, where the release has it relative to the
other protected cells (the grading runner plans its run from this). Hand-graded
answer cells keep the student's text but take the release's metadata and type; one the
student deleted comes back as the release's stub, so formgrader can still score it. This
module imports nothing that runs in a kernel.
"""

from __future__ import annotations

import copy

import nbformat

from autograder.notebooks import grade_id, is_answer, is_protected, nbgrader_meta


def set_type(cell, cell_type: str) -> None:
    """Make `cell` a code or markdown cell, with the fields nbformat requires of that type."""
    cell.cell_type = cell_type
    if cell_type == "code":
        cell.setdefault("outputs", [])
        cell.setdefault("execution_count", None)
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)


def restore_protected(
    release: nbformat.NotebookNode, student: nbformat.NotebookNode
) -> tuple[nbformat.NotebookNode, list[str]]:
    """The student's notebook with the release's protected cells in charge, and one line per
    cell that had to be restored ("test_x was deleted: put back").

    The student's other cells keep their order and content; nbgrader metadata on them that the
    release does not give them is removed, so no student cell poses as a graded one.
    """
    release_cells = {grade_id(c): c for c in release.cells if grade_id(c)}
    order = [gid for gid, c in release_cells.items() if is_protected(c)]
    position = {gid: i for i, gid in enumerate(order)}
    cells: list = []
    placed: set[str] = set()
    notes: list[str] = []

    def place(gid: str, present: bool) -> None:
        """Put protected cell `gid`, and any missing one the release has before it."""
        for earlier in order[: position[gid] + 1]:
            if earlier not in placed:
                placed.add(earlier)
                cells.append(copy.deepcopy(release_cells[earlier]))
                if earlier != gid or not present:
                    notes.append(f"{earlier} was deleted: put back")

    for cell in student.cells:
        gid = grade_id(cell)
        if gid in position:
            original = release_cells[gid]
            if gid in placed:
                notes.append(f"{gid} appeared more than once: kept once")
                continue
            if cell.get("cell_type") != original.cell_type:
                notes.append(f"{gid} was made a {cell.get('cell_type')} cell: restored")
            elif cell.get("source") != original.source:
                notes.append(f"{gid} was edited: restored")
            place(gid, present=True)
        elif gid in release_cells and is_answer(release_cells[gid]) and gid not in placed:
            placed.add(gid)
            cells.append(_as_answer(cell, release_cells[gid]))
        else:
            cells.append(_unclaimed(cell))
    if order:
        place(order[-1], present=False)
    _put_back_graded_answers(release, release_cells, cells, placed, notes)
    result = copy.deepcopy(student)
    result.nbformat_minor = max(student.get("nbformat_minor", 0), release.nbformat_minor)
    result.cells = _unique_ids(cells, with_ids=result.nbformat_minor >= 5)
    return result, notes


def _as_answer(cell, original):
    answer = copy.deepcopy(cell)
    answer.metadata = copy.deepcopy(original.metadata)
    if answer.get("cell_type") != original.cell_type:
        set_type(answer, original.cell_type)
    if "id" in original:
        answer.id = original.id
    return answer


def _unclaimed(cell):
    cell = copy.deepcopy(cell)
    cell.get("metadata", {}).pop("nbgrader", None)
    return cell


def _put_back_graded_answers(release, release_cells, cells, placed, notes) -> None:
    """A deleted answer that formgrader scores comes back as the release's stub, after the
    nearest cell the release has before it (as nbgrader's add_missing_cells does)."""
    release_order = [grade_id(c) for c in release.cells if grade_id(c)]
    for index, gid in enumerate(release_order):
        original = release_cells[gid]
        if gid in placed or not (is_answer(original) and nbgrader_meta(original).get("grade")):
            continue
        present = [grade_id(c) for c in cells]
        earlier = [g for g in release_order[:index] if g in present]
        at = present.index(earlier[-1]) + 1 if earlier else 0
        cells.insert(at, copy.deepcopy(original))
        placed.add(gid)
        notes.append(f"{gid} was deleted: put back")


def _unique_ids(cells: list, with_ids: bool) -> list:
    """nbformat 4.5 requires distinct cell ids; the release's cells keep theirs."""
    taken = {c.get("id") for c in cells if grade_id(c)}
    seen: set = set()
    for number, cell in enumerate(cells):
        if not with_ids:
            cell.pop("id", None)
            continue
        if cell.get("id") in seen or (not grade_id(cell) and cell.get("id") in taken):
            del cell["id"]
        if "id" not in cell:
            cell.id = f"student-{number}"
            while cell.id in seen or cell.id in taken:
                cell.id += "-again"
        seen.add(cell.id)
    return cells
