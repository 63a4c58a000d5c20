"""The trusted half of grading: verdicts on the answers a student's kernel handed back.

A graded test's hidden part calls the student's functions on hidden inputs and hands what they
returned to `cs231n_utils.graded.answer`; the kernel sends those answers here as JSON
(answers.py reads them). The references are the course solution's answers to the same
hidden test, from the grader's own runs of the solution notebook. Each student answer is
judged against the solution's answer at the same position, by the rule, tolerance and wording
of the *solution's* record (grading/judging/rules.py), with NumPy in this process.

Feedback is no oracle. After the first hidden test ran, the kernel holds hidden inputs and
chooses everything it sends, so a message must carry no bit it chose: on a hidden case the
student learns which answer failed and one of a few fixed kinds of failure (wrong, of the
wrong type, could not be judged, raised an exception, did not finish), in words written from
the solution's record (name, case, hint) and nothing computed from the student's values.
Details (what a check raised) come from a second run that never sees a hidden test
(reasons.py). There is no "visible answer" that the judge explains in detail: an answer
computed on the notebook's own inputs in a hidden part is still chosen by a kernel that has
run earlier hidden tests, so its relative error could carry their inputs.

Where a fault lies decides what it costs. The student's document is validated and decoded
first (answers.py): anything malformed is that question's zero. The rules then judge only
validated values and check them against the solution's before computing, so an exception
escaping a rule is the grader's own fault: it propagates, and the caller makes it a
grader_error (student.py), never a zero. Trusted side: imports nothing that runs in the
student's kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from autograder.grading.judging.answers import TOO_LARGE, Malformed, answers_of, decode
from autograder.grading.judging.rules import RULES, compare, floats, on_case, type_failure
from autograder.results import STATUS_TEXT, QuestionResult, Status

STABLE_TOL = 1e-9  # two runs of the solution agree this well on a deterministic answer
# rules that compare with the solution's value (or keep one for a later comparison)
DETERMINISTIC = ("close", "equal", "floats", "recorded")

NO_ANSWERS = "the hidden tests returned no answers (did the cell finish?)"
UNREADABLE = "the hidden tests' answers could not be judged"
TOO_LARGE_TEXT = "the answers were too large to grade"
REORDERED = "the hidden tests' answers came in another order than the course's"
EXTRA = "the hidden tests received more answers than the course's give"
BEFORE_FIRST = (
    "this exercise's check stopped with an exception before the hidden tests ran: run the "
    "check in your notebook, it says what is wrong"
)


@dataclass
class Verdict:
    passed: bool
    messages: list[str] = field(default_factory=list)
    hint: str = ""
    explainable: bool = False  # the visible check raised: reasons.py may say what it raised


def judge(document, reference: dict) -> Verdict:
    """Whether a question's answers earn its points.

    document: what the student's kernel returned ({"answers": [...], "end": ...}), or None.
    reference: the solution's document for the same question (trusted: an exception raised
    on it, or by a rule on a validated answer, is the grader's and propagates).
    """
    ref_answers = reference["answers"]
    if document is None:
        return Verdict(False, [NO_ANSWERS])
    try:
        answers = answers_of(document)
    except Malformed:
        return Verdict(False, [UNREADABLE])
    if document.get("end") == TOO_LARGE:
        return Verdict(False, [TOO_LARGE_TEXT])
    mine_by_name: dict[str, object] = {}
    for i, ref in enumerate(ref_answers):
        if i >= len(answers):
            return _stopped(document, ref, i)
        record = answers[i]
        if record.get("name") != ref["name"]:
            return Verdict(False, [REORDERED])
        theirs = decode(ref["value"])  # the solution's: Malformed here is the grader's
        try:
            mine = decode(record.get("value"))
        except Malformed:
            return Verdict(False, [f"{ref['name']}: answer could not be judged{on_case(ref)}"])
        failure = type_failure(record.get("value"), ref)
        if failure:  # written from the solution's record alone
            return Verdict(False, [failure], _hint(ref))
        with np.errstate(all="ignore"):  # an overflow is judged by its inf, not a warning
            if ref["rule"] == "floats":  # judged on how the values were held, too
                failure = floats(mine, ref, theirs, mine_by_name, slot=record.get("value"))
            else:
                failure = RULES[ref["rule"]](mine, ref, theirs, mine_by_name)
        if failure:
            return Verdict(False, [_wrong(ref)], _hint(ref))
        mine_by_name[ref["name"]] = mine  # the latest answer of that name
    if len(answers) > len(ref_answers):
        return Verdict(False, [EXTRA])
    if document.get("end") != "ok":
        return _stopped(document, None, len(ref_answers))
    return Verdict(True)


def question_result(
    question: str, max_points: float, verdict: Verdict, status: Status = Status.OK
) -> QuestionResult:
    """A question's result as every exporter reads it: its points, status and messages (the
    verdict's, after the failed cell's status, and its hint last)."""
    messages = list(verdict.messages) + ([f"Hint: {verdict.hint}"] if verdict.hint else [])
    if status != Status.OK:
        messages.insert(0, f"a cell this question needs {STATUS_TEXT[status]}")
    points = float(max_points) if verdict.passed else 0.0
    return QuestionResult(question, points, max_points, status, messages)


def _hint(ref: dict) -> str:
    return str(ref.get("hint", ""))


def _wrong(ref: dict) -> str:
    return f"{ref['name']}: wrong{on_case(ref)}"


def _stopped(document: dict, ref: dict | None, done: int) -> Verdict:
    """A document that ends before the solution's last answer, or after it without "ok"; its
    words depend only on where it stopped and whether it reported an exception (never which:
    the kernel chose that name)."""
    raised = document.get("end") == "error"
    if raised and done == 0:
        return Verdict(False, [BEFORE_FIRST], _hint(ref) if ref else "", explainable=True)
    if ref is None:
        what = "raised an exception" if raised else "did not finish"
        return Verdict(False, [f"the graded test {what} after its last answer"])
    what = "your code raised an exception" if raised else "the graded test did not finish"
    return Verdict(False, [f"{ref['name']}: {what}{on_case(ref)}"], _hint(ref))


# ------------------------------------------------------------------------------ references


def check_reference(first: dict, second: dict, label: str) -> list[str]:
    """Problems of a question's two solution runs: answers a rule cannot judge, answers that
    compare with the solution's value but differ between runs, and a solution that fails
    its own rules. Empty when the question can be graded."""
    problems = []
    try:
        one, two = answers_of(first), answers_of(second)
    except Malformed:
        return [f"{label}: the solution's hidden tests handed back no answers"]
    if first.get("end") != "ok" or not one:
        return [f"{label}: the solution's hidden tests did not finish with answers"]
    if [a.get("name") for a in one] != [a.get("name") for a in two]:
        return [f"{label}: the two solution runs gave different answers"]
    for a, b in zip(one, two, strict=True):
        if a.get("rule") not in RULES:
            problems.append(f"{label} {a.get('name')}: unknown rule {a.get('rule')!r}")
        elif a["rule"] in DETERMINISTIC:
            x, y = decode(a["value"]), decode(b["value"])
            if compare(a["name"], x, y, STABLE_TOL, "") is not None:
                problems.append(
                    f"{label} {a['name']}: differs between two runs of the solution; seed it, "
                    "or judge it by a property rule"
                )
    if not problems:
        try:
            verdict = judge(first, first)
        except Exception as error:  # the grader's bug, or a record no rule can judge
            return [f"{label}: the judge failed on the solution's own answers: {error!r}"]
        if not verdict.passed:
            problems.append(f"{label}: the solution fails its own hidden tests: {verdict.messages}")
    return problems
