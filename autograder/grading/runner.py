"""Run one notebook in a sandboxed kernel and collect the records of its graded tests.

The cells run in the student's order, as nbgrader runs them, with three differences that
make grading depend only on the student's answers:
- read-only cells (the setup cell) and graded test cells come from the course, whatever the
  student's copy says; one the student deleted is put back where the release has it, and a
  duplicate runs once;
- a graded test cell runs as a probe (cs231n_utils/graded.py), hidden tests included, and
  the answers its hidden part hands back leave the kernel for the judge;
- a cell that hangs, crashes the kernel or runs out of memory is killed and recorded, the
  kernel is restarted, the cells that had run are run again, and the notebook goes on
  without it. Only the questions that needed that cell lose points.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import nbformat

from autograder.grading.kernel import CellOutcome, SandboxedKernel
from autograder.notebooks import grade_id

MIME = "application/x-cs231n-answers+json"  # as cs231n_utils.graded.MIME (kernel side)
HIDDEN_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
FAILURES = ("timeout", "memory", "died")  # outcomes after which the kernel was restarted
MAX_RESTARTS = 8  # the notebook timeout bounds the time they take


class GraderError(RuntimeError):
    """The grader's own machinery failed (not the student's code): retry, never score 0."""


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_test(cell) -> bool:
    meta = _nbgrader(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def is_locked(cell) -> bool:
    meta = _nbgrader(cell)
    return bool(meta.get("locked")) and not meta.get("grade") and not meta.get("solution")


def strip_hidden_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if line.strip() not in HIDDEN_MARKERS)


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


@dataclass
class Question:
    id: str  # the test cell's grade_id
    points: float
    test_source: str  # hidden tests included


@dataclass
class Course:
    """What the grader knows of one notebook: its questions and its protected cells."""

    name: str  # file stem
    questions: dict[str, Question]  # in release order
    locked: dict[str, str]  # grade_id -> source of read-only cells
    order: list[str]  # grade_ids of protected cells (locked and tests) in release order
    written: dict[str, tuple[float, str]]  # hand-graded answers: grade_id -> (points, stub)
    secret_lines: set[str]

    @classmethod
    def from_notebooks(cls, name: str, release, solution) -> Course:
        tests = {grade_id(c): c for c in solution.cells if is_test(c)}
        questions = {
            gid: Question(gid, float(_nbgrader(c)["points"]), strip_hidden_markers(c.source))
            for gid, c in tests.items()
        }
        locked = {grade_id(c): c.source for c in release.cells if is_locked(c)}
        order = [grade_id(c) for c in release.cells if grade_id(c) in questions or is_locked(c)]
        written = {
            grade_id(c): (float(_nbgrader(c).get("points", 0)), c.source)
            for c in release.cells
            if c.cell_type == "markdown" and _nbgrader(c).get("grade")
        }
        return cls(name, questions, locked, order, written, hidden_lines(solution))


@dataclass
class Item:
    kind: str  # "code" or "probe"
    source: str
    label: str  # for reports: "cell 7" or a grade_id
    question: str | None = None


def plan(course: Course, notebook: nbformat.NotebookNode) -> list[Item]:
    """The student's cells in their order, with the course's protected cells in charge."""
    items, placed = [], set()
    position = {gid: i for i, gid in enumerate(course.order)}

    def place(gid: str) -> None:
        """Put protected cell `gid`, and any missing one the release has before it."""
        for earlier in course.order[: position[gid] + 1]:
            if earlier in placed:
                continue
            placed.add(earlier)
            if earlier in course.questions:
                items.append(Item("probe", course.questions[earlier].test_source, earlier, earlier))
            else:
                items.append(Item("code", course.locked[earlier], earlier))

    for index, cell in enumerate(notebook.cells):
        gid = grade_id(cell)
        if gid in position:
            place(gid)
        elif cell.cell_type == "code" and cell.source.strip():
            items.append(Item("code", cell.source, f"cell {index + 1}"))  # as Jupyter counts
    if course.order:
        place(course.order[-1])
    return items


def probe_code(test_source: str, max_bytes: int) -> str:
    """The code sent to the kernel for one graded test: run it with its answers recorded.
    Names are taken from builtins and the module, not the notebook's globals, so that a
    notebook's own `graded` or `compile` does not change what runs (a kernel that tampers
    with it anyway only misreports its own answers)."""
    return (
        "__builtins__.__import__('cs231n_utils.graded', fromlist=['run_probe'])"
        f".run_probe({test_source!r}, {int(max_bytes)})"
    )


@dataclass
class CellReport:
    label: str
    status: str  # CellOutcome.status
    error: str | None = None
    seconds: float = 0.0


@dataclass
class Execution:
    """What happened in one notebook run."""

    documents: dict[str, dict | None] = field(default_factory=dict)  # question -> records
    probe_status: dict[str, str] = field(default_factory=dict)  # question -> outcome status
    section_failures: dict[str, str] = field(default_factory=dict)  # question -> worst failure
    cells: list[CellReport] = field(default_factory=list)
    restarts: int = 0
    seconds: float = 0.0


def execute(
    items: list[Item], kernel: SandboxedKernel, notebook_timeout_s: float, max_bytes: int
) -> Execution:
    """Run the plan in the kernel (already started); restart and replay after a failure."""
    run = Execution()
    start = time.monotonic()
    deadline = start + notebook_timeout_s
    done: list[str] = []  # code that ran, in order, to replay after a restart
    pending_failure: str | None = None
    for item in items:
        left = deadline - time.monotonic()
        if left <= 0:
            if item.question:
                run.probe_status[item.question] = "timeout"
                run.documents[item.question] = None
            continue
        code = probe_code(item.source, max_bytes) if item.kind == "probe" else item.source
        began = time.monotonic()
        outcome: CellOutcome = kernel.run(
            code, timeout=min(kernel.limits.cell_timeout_s, left), keep=MIME
        )
        run.cells.append(
            CellReport(item.label, outcome.status, outcome.error, time.monotonic() - began)
        )
        if item.question:
            run.probe_status[item.question] = outcome.status
            run.documents[item.question] = _parse(outcome.result)
            if pending_failure:
                run.section_failures[item.question] = pending_failure
                pending_failure = None
        if outcome.status in FAILURES:
            pending_failure = pending_failure or outcome.status
            run.restarts += 1
            if run.restarts > MAX_RESTARTS or not _replay(kernel, done, deadline):
                _give_up(items[items.index(item) + 1 :], run, outcome.status)
                break
        else:
            done.append(code)
    run.seconds = time.monotonic() - start
    return run


def _parse(document: str | None) -> dict | None:
    """The kernel's answers document, or None; never raises (deep nesting included)."""
    if document is None:
        return None
    try:
        parsed = json.loads(document)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _replay(kernel: SandboxedKernel, done: list[str], deadline: float) -> bool:
    """Run again what had run before the restart; False if that fails too."""
    for code in done:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        outcome = kernel.run(code, timeout=min(kernel.limits.cell_timeout_s, left))
        if outcome.status in FAILURES:
            return False
    return True


def _give_up(rest: list[Item], run: Execution, status: str) -> None:
    for item in rest:
        if item.question:
            run.probe_status[item.question] = status
            run.documents[item.question] = None
