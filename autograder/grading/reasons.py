"""Why a question failed, in words a student can act on, from a run that saw no hidden test.

Most wrong answers fail the exercise's visible check, which runs before the hidden tests in
the same cell: the graded run then only knows that the check raised (judge.BEFORE_FIRST),
and it may say no more, since the kernel that raised had already run earlier questions'
hidden tests and chooses every word of its exception (judge.py: feedback is no oracle).

So the grader asks again, in a second kernel that never receives a hidden test: the
student's cells in their order, each graded test cell as the release has it (its visible
check only, the source every student has). A word that kernel says can only carry what the
student already knows: their own code, the release and the shipped data. That holds where
each kernel has a private /tmp and nothing else writable survives it (levels `sandbox` and
`namespaces`); at `uid` and `none` a graded kernel could leave hidden inputs in a shared
/tmp for this run to read back, so there is no second run there and the fixed words stay.
The second run changes no points: it only replaces the fixed words of a question whose check
raised with what the check raised, bounded in length.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import nbformat

from autograder.grading.failures import where
from autograder.grading.judge import Verdict
from autograder.grading.runner import FAILURES, Course, Item, plan
from autograder.grading.sandbox import Isolation
from autograder.notebooks import grade_id

ISOLATED = (Isolation.SANDBOX, Isolation.NAMESPACES)  # no writable place outlives a kernel
MAX_CHARS = 600  # of one reason: a check's message is a line or two
REASON = "your notebook's check for this exercise fails, before any hidden test: {}"


def give(
    verdicts: dict[str, Verdict],
    course: Course,
    notebook: nbformat.NotebookNode,
    open_kernel: Callable[[], AbstractContextManager],
    timeout_s: float,
) -> None:
    """Replace the fixed words of each question whose visible check raised in the graded run
    (Verdict.explainable) with what it raises in a run without hidden tests. A failure of
    that run costs nothing: the fixed words stay, and the instructor's log says why."""
    asked = {question for question, verdict in verdicts.items() if verdict.explainable}
    if not asked:
        return
    try:
        with open_kernel() as kernel:
            found = explain(visible_plan(course, notebook), kernel, asked, timeout_s)
    except Exception as error:  # the sandbox or kernel machinery: no reasons this time
        print(f"cs231n-grade: {course.name}: no reasons: {where(error)}", file=sys.stderr)
        return
    for question, error in found.items():
        verdicts[question].messages = [wording(error)]


def visible_plan(course: Course, notebook: nbformat.NotebookNode) -> list[Item]:
    """runner.plan with each graded test's hidden part left out: its cell as released."""
    released = {grade_id(c): c.source for c in course.release.cells if grade_id(c)}
    return [
        Item("check", released[item.question], item.label, item.question)
        if item.kind == "probe"
        else item
        for item in plan(course, notebook)
    ]


def explain(items: list[Item], kernel, questions: set[str], timeout_s: float) -> dict[str, str]:
    """question -> what its visible check raised ("Name: message"), for the questions asked,
    in a kernel (started) that runs no hidden test. A cell that hangs or kills the kernel
    ends the run: what was found until then is kept."""
    wanted = [i for i, item in enumerate(items) if item.question in questions]
    if not wanted:
        return {}
    reasons: dict[str, str] = {}
    deadline = time.monotonic() + timeout_s
    for item in items[: wanted[-1] + 1]:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        outcome = kernel.run(item.source, timeout=min(kernel.limits.cell_timeout_s, left))
        if outcome.status in FAILURES:
            break
        if item.question in questions and outcome.status == "error" and outcome.error:
            reasons[item.question] = bounded(outcome.error)
    return reasons


def bounded(error: str) -> str:
    """One reason as the feedback shows it: printable, at most MAX_CHARS."""
    text = "".join(c if c.isprintable() or c == "\n" else " " for c in error).strip()
    text = text.removesuffix(":")  # "NotImplementedError: " has no message
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def wording(error: str) -> str:
    return REASON.format(error)
