"""Why a question failed, in words a student can act on, from runs that saw no hidden test.

Most wrong answers fail the exercise's visible check, which the grader runs before the hidden
part (runner.py); the verdict then says only that the check raised (judge.BEFORE_FIRST). What
it raised may be shown only from a kernel that has seen no hidden input: any other kernel
chooses every word of its exception and could spell hidden inputs with them (judge.py:
feedback is no oracle). Two such kernels exist:
- the graded run itself, until it sends its first hidden part: the checks that raised before
  that (all of them, in a notebook whose first exercise is wrong or unfinished) come with
  their reason from the graded run (Execution.reasons), at no cost;
- for the checks that raised later, a second kernel that never receives a hidden test: the
  student's cells in their order, each graded test cell as released (its visible check only,
  the source every student has).
A word such a kernel says can only carry what the student already knows: their own code, the
release and the shipped data. That holds where each kernel has a private /tmp and nothing
else writable survives it (levels `sandbox` and `namespaces`); at `uid` and `none` a graded
kernel could leave hidden inputs in a shared /tmp for the next run to read back, so reasons
are given only at the isolated levels. Reasons change no points: they only replace the fixed
words of a question whose check raised with what it raised, bounded in length.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import nbformat

from autograder.grading.executors.failures import where
from autograder.grading.isolation.runner import FAILURES, Course, Item, plan
from autograder.grading.isolation.sandbox import Isolation
from autograder.grading.judging.judge import Verdict

ISOLATED = (Isolation.SANDBOX, Isolation.NAMESPACES)  # no writable place outlives a kernel
MAX_CHARS = 600  # of one reason: a check's message is a line or two
REASON = "your notebook's check for this exercise fails, before any hidden test: {}"


def give(
    verdicts: dict[str, Verdict],
    known: dict[str, str],
    course: Course,
    notebook: nbformat.NotebookNode,
    open_kernel: Callable[[], AbstractContextManager],
    timeout_s: float,
) -> None:
    """Replace the fixed words of each question whose visible check raised in the graded run
    (Verdict.explainable) with what it raised: from the graded run where it raised before any
    hidden part was sent (`known`, runner.Execution.reasons), else from a second run without
    hidden tests. A failure of that run costs nothing: the fixed words stay, and the
    instructor's log says why."""
    explainable = {question for question, verdict in verdicts.items() if verdict.explainable}
    for question in explainable & set(known):
        explained(verdicts[question], bounded(known[question]))
    asked = explainable - set(known)
    if not asked:
        return
    try:
        with open_kernel() as kernel:
            found = explain(visible_plan(course, notebook), kernel, asked, timeout_s)
    except Exception as error:  # the sandbox or kernel machinery: no reasons this time
        print(f"cs231n-grade: {course.name}: no reasons: {where(error)}", file=sys.stderr)
        return
    for question, error in found.items():
        explained(verdicts[question], error)


def visible_plan(course: Course, notebook: nbformat.NotebookNode) -> list[Item]:
    """runner.plan with each graded test's hidden part left out: its cell as released."""
    return [
        Item("check", item.check, item.label, item.question) if item.kind == "probe" else item
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


def explained(verdict: Verdict, error: str) -> None:
    """`verdict` saying what its check raised. A check that gives its own hint gave it for the
    mistake it saw; the verdict's hint, the first hidden answer's (no answer was reached), is
    then left out: it was written for another mistake and may point the student elsewhere."""
    verdict.messages = [wording(error)]
    if "Hint:" in error:
        verdict.hint = ""
