"""Run one notebook in a sandboxed kernel and collect the records of its graded tests.

The cells run in the student's order, as nbgrader runs them, with three differences that
make grading depend only on the student's answers:
- read-only cells (the setup cell) and graded test cells come from the course, whatever the
  student's copy says; one the student deleted is put back where the release has it, and a
  duplicate runs once;
- a graded test cell runs in two steps: its visible check as released, as a cell; then, if
  the check passed, its hidden part as a probe (cs231n_utils/graded.py), whose answers leave
  the kernel for the judge. A check that raised ends the question there (the judge's "check
  raised before the hidden tests"), and until the first hidden part is sent the kernel has
  seen nothing hidden, so what such a check raised is kept as the question's reason
  (reasons.py explains the later ones from a second run);
- a cell that hangs, crashes the kernel or runs out of memory is killed and recorded, the
  kernel is restarted, the cells that had run are run again, and the notebook goes on
  without it. Only the questions that needed that cell lose points.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import nbformat

from autograder.grading.isolation.kernel import CellOutcome, SandboxedKernel
from autograder.grading.judging.answers import parse
from autograder.notebooks import (
    HIDDEN_MARKERS,
    grade_id,
    hidden_part,
    is_protected,
    is_test,
    is_written_answer,
    nbgrader_meta,
    strip_markers,
)
from autograder.protected import restore_protected

MIME = "application/x-cs231n-answers+json"  # as cs231n_utils.graded.MIME (kernel side)
FAILURES = ("timeout", "memory", "died")  # outcomes after which the kernel was restarted
MAX_RESTARTS = 8  # the notebook timeout bounds the time they take


class GraderError(RuntimeError):
    """The grader's own machinery failed (not the student's code): retry, never score 0."""


@dataclass
class Question:
    id: str  # the test cell's grade_id
    points: float
    test_source: str  # hidden tests included
    visible: str = ""  # the cell as released: the check every student has
    hidden: str = ""  # the lines between the hidden-test markers


@dataclass
class Course:
    """One notebook's answer key: its release, its graded questions (hidden tests included)
    and its hand-graded answers."""

    name: str  # file stem
    release: nbformat.NotebookNode
    questions: dict[str, Question]  # in release order
    written: dict[str, tuple[float, str]]  # hand-graded answers: grade_id -> (points, stub)

    @classmethod
    def from_notebooks(cls, name: str, release, solution) -> Course:
        released = {grade_id(c): c.source for c in release.cells if grade_id(c)}
        questions = {
            grade_id(c): Question(
                grade_id(c),
                float(nbgrader_meta(c)["points"]),
                strip_markers(c.source, HIDDEN_MARKERS),
                released.get(grade_id(c), ""),
                hidden_part(c.source),
            )
            for c in solution.cells
            if is_test(c)
        }
        written = {
            grade_id(c): (float(nbgrader_meta(c).get("points", 0)), c.source)
            for c in release.cells
            if is_written_answer(c)
        }
        return cls(name, release, questions, written)


@dataclass
class Item:
    kind: str  # "code", "probe" (a graded test's hidden part) or "check" (its visible check)
    source: str
    label: str  # for reports: "cell 7" (counted from 1, as Jupyter does) or a grade_id
    question: str | None = None
    check: str = ""  # a probe's visible check, run first as a cell


def plan(course: Course, notebook: nbformat.NotebookNode) -> list[Item]:
    """The student's cells in their order, with the course's protected cells in charge
    (protected.restore_protected, the rule formgrader's notebooks are written by): read-only
    cells from the release, and each graded test run once as a probe with its hidden tests,
    even where the student edited, retyped or deleted it."""
    restored, _ = restore_protected(course.release, notebook)
    items = []
    for number, cell in enumerate(restored.cells, start=1):
        gid = grade_id(cell)
        if gid in course.questions and is_protected(cell):
            question = course.questions[gid]
            items.append(Item("probe", question.hidden, gid, gid, question.visible))
        elif cell.cell_type == "code" and cell.source.strip():
            items.append(Item("code", cell.source, gid if is_protected(cell) else f"cell {number}"))
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


Receiver = Callable[[str, dict | None], None]  # (question, its answers document or None)


@dataclass
class Execution:
    """What happened in one notebook run."""

    documents: dict[str, dict | None] = field(default_factory=dict)  # without a receiver
    reasons: dict[str, str] = field(default_factory=dict)  # what a check raised, pre-hidden
    probe_status: dict[str, str] = field(default_factory=dict)  # question -> outcome status
    section_failures: dict[str, str] = field(default_factory=dict)  # question -> worst failure
    cells: list[CellReport] = field(default_factory=list)
    restarts: int = 0
    seconds: float = 0.0


def execute(
    items: list[Item],
    kernel: SandboxedKernel,
    notebook_timeout_s: float,
    max_bytes: int,
    receive: Receiver | None = None,
) -> Execution:
    """Run the plan in the kernel (already started); restart and replay after a failure.
    Each question's answers document (answers.parse: bounded before it is decoded) goes to
    `receive` as soon as it arrives, and is not kept; without a receiver, it is kept in
    `documents` (the solution's runs, whose documents are the references)."""
    run = Execution()

    def hand(question: str, document: dict | None) -> None:
        if receive is None:
            run.documents[question] = document
        else:
            receive(question, document)

    start = time.monotonic()
    deadline = start + notebook_timeout_s
    done: list[str] = []  # code that ran, in order, to replay after a restart
    pending_failure: str | None = None
    hidden_sent = False  # whether any hidden part has reached this kernel (replays included)
    for item in items:
        left = deadline - time.monotonic()
        if left <= 0:
            if item.question:
                run.probe_status[item.question] = "timeout"
                hand(item.question, None)
            continue
        began = time.monotonic()
        outcome, code, raised = _check(kernel, item, left), item.source, False
        if item.kind == "probe" and outcome.status == "error":  # the check raised: no hidden
            code, raised = item.check, True  # part, and the answers' document says so
            outcome = CellOutcome("ok", result=CHECK_RAISED, error=outcome.error)
            if not hidden_sent and outcome.error:
                run.reasons[item.question] = outcome.error
        elif outcome.status == "ok":
            if item.kind == "probe":
                done.append(item.check)
                code, hidden_sent = probe_code(item.source, max_bytes), True
            left = deadline - time.monotonic()
            outcome = kernel.run(code, timeout=min(kernel.limits.cell_timeout_s, left), keep=MIME)
        run.cells.append(
            CellReport(
                item.label,
                outcome.status,
                outcome.error if not raised else None,
                time.monotonic() - began,
            )
        )
        if item.question:
            if outcome.status == "ok" and outcome.result is None:
                outcome.result = _ask_again(kernel, deadline)
            run.probe_status[item.question] = outcome.status
            document, outcome.result = parse(outcome.result, max_bytes), None
            hand(item.question, document)
            del document  # judged: the next document is never held beside this one
            if pending_failure:
                run.section_failures[item.question] = pending_failure
                pending_failure = None
        if outcome.status in FAILURES:
            pending_failure = pending_failure or outcome.status
            run.restarts += 1
            if run.restarts > MAX_RESTARTS or not _replay(kernel, done, deadline):
                _give_up(items[items.index(item) + 1 :], run, outcome.status, hand)
                break
        else:
            done.append(code)
    run.seconds = time.monotonic() - start
    return run


CHECK_RAISED = '{"answers": [], "end": "error"}'  # the document of a test whose check raised


def _check(kernel: SandboxedKernel, item: Item, left: float) -> CellOutcome:
    """A probe's visible check, run as a cell; for any other item, nothing (status ok)."""
    if item.kind != "probe" or not item.check.strip():
        return CellOutcome("ok")
    return kernel.run(item.check, timeout=min(kernel.limits.cell_timeout_s, left))


ASK_AGAIN = (
    "__builtins__.__import__('cs231n_utils.graded', fromlist=['last_answers']).last_answers()"
)


def _ask_again(kernel: SandboxedKernel, deadline: float, tries: int = 2) -> str | None:
    """The probe's answers document once more, from an idle kernel: the message that carried it
    can be dropped when the cell's output flooded the grader's small receive queue."""
    for _ in range(tries):
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        outcome = kernel.run(ASK_AGAIN, timeout=min(30.0, left), keep=MIME)
        if outcome.status != "ok":
            return None
        if outcome.result is not None:
            return outcome.result
    return None


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


def _give_up(rest: list[Item], run: Execution, status: str, hand: Receiver) -> None:
    for item in rest:
        if item.question:
            run.probe_status[item.question] = status
            hand(item.question, None)
