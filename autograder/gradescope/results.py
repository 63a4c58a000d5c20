"""One submission's results as Gradescope's results.json.

The format is Gradescope's autograder specification
(https://gradescope-autograders.readthedocs.io/en/latest/specs/, "Output format"): a top-level
`score`, `output`, `execution_time`, `stdout_visibility` and a list of `tests`, each with
`name`, `number`, `score`, `max_score`, `status` ("passed" or "failed"), `output` and
`visibility`. One test per question, named by its notebook and the exercise's title; its
output is the grader's verdict as formgrader shows it (feedback.verdict_text: the grader's own
words and numbers, hidden test lines withheld). A written answer awaiting a hand grader is a
test worth its points with score 0 and no status, saying so. This module imports nothing that
runs a kernel.
"""

from __future__ import annotations

from pathlib import Path

from autograder.grading.reporting.feedback import cell_text, secret_lines, titles, verdict_text
from autograder.redaction import withhold_secrets
from autograder.results import (
    STATUS_TEXT,
    NotebookResult,
    QuestionResult,
    Status,
    totals,
    write_json,
)
from autograder.scores import position

# When a student sees the results (Gradescope's values; `make gradescope VISIBILITY=...`). By
# default after the due date: before it the notebooks' visible checks are the feedback, and
# results shown at once would tell, one resubmission at a time, which hidden case failed.
VISIBILITIES = ("after_due_date", "after_published", "visible", "hidden")
VISIBILITY = "after_due_date"
PENDING = "A written answer: graded by hand after the deadline ({points:g} points, pending)."
GRADER_ERROR = (
    "The autograder itself failed on {what}: this is the grader's problem, not yours, and no "
    "points were taken for it. Your instructor will regrade it."
)


def test_name(notebook: str, question: str) -> str:
    """ "01_numpy_gradients: Two-layer network, backward pass (test_two_layer_gradients)"."""
    title = titles(notebook).get(question)
    return f"{notebook}: {title} ({question})" if title else f"{notebook}: {question}"


def test_entry(
    result: NotebookResult, question: QuestionResult, number: str, visibility: str = VISIBILITY
) -> dict:
    entry = {
        "name": test_name(result.notebook, question.question),
        "number": number,
        "score": question.points or 0.0,
        "max_score": float(question.max_points),
        "visibility": visibility,
    }
    if question.status == Status.HAND and question.points is None:
        return entry | {"output": PENDING.format(points=question.max_points)}
    if question.status == Status.GRADER_ERROR:
        output = GRADER_ERROR.format(what="this question")
    else:
        output = verdict_text(question, secret_lines(result.notebook))
    passed = question.points is not None and question.points >= question.max_points
    return entry | {"status": "passed" if passed else "failed", "output": output}


def notebook_line(result: NotebookResult) -> str:
    """The notebook's total, or why it was not graded, and the cells that did not run."""
    points, most = totals(result.questions)
    if result.status == Status.GRADER_ERROR:
        line = f"{result.notebook}: " + GRADER_ERROR.format(what="this notebook")
    elif result.status != Status.OK:
        why = withhold_secrets(result.message, secret_lines(result.notebook))
        text = STATUS_TEXT.get(result.status, result.status)
        line = f"{result.notebook}: {text}" + (f" ({why})" if why and why not in text else "")
        line += ", 0 points"
    else:
        line = f"{result.notebook}: {points:g} / {most:g} points"
    waiting = [q for q in result.questions if q.status == Status.HAND and q.points is None]
    if waiting:
        line += f"; {len(waiting)} written answer(s) await a hand grader"
    cells = [cell_text(c) for c in result.cells if c.get("status") != "ok"]
    return "\n".join([line, *(f"  {c}" for c in cells)])


def results_json(
    results: list[NotebookResult], seconds: float, note: str = "", visibility: str = VISIBILITY
) -> dict:
    """results.json for one student's notebooks (in course order), shown to the student
    when `visibility` says (the whole result and each test)."""
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility {visibility!r}: expected one of {', '.join(VISIBILITIES)}")
    results = sorted(results, key=lambda r: r.notebook)
    tests = []
    for i, result in enumerate(results, start=1):
        questions = sorted(result.questions, key=lambda q: position(result.notebook, q.question))
        tests += [
            test_entry(result, q, f"{i}.{j}", visibility) for j, q in enumerate(questions, start=1)
        ]
    score = sum(totals(r.questions)[0] for r in results)
    lines = [note] if note else []
    lines += [notebook_line(r) for r in results]
    return {
        "score": score,
        "execution_time": round(seconds),
        "output": "\n".join(lines),
        "visibility": visibility,
        "stdout_visibility": "hidden",  # the grader's log, for the instructors
        "tests": tests,
    }


def failed_json(message: str, seconds: float) -> dict:
    """results.json when the grader could not grade the submission at all."""
    return {
        "score": 0.0,
        "execution_time": round(seconds),
        "output": message,
        "visibility": "visible",  # what to upload instead: of use before the due date
        "stdout_visibility": "hidden",
        "tests": [],
    }


def write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, data)
