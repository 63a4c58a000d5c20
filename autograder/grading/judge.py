"""The trusted half of grading: verdicts on the answers a student's kernel handed back.

A graded test's hidden part calls the student's functions on hidden inputs and hands what they
returned to `cs231n_utils.graded.answer`; the kernel sends those answers here as JSON
(grading/answers.py reads them). The references are the course solution's answers to the same
hidden test, from the grader's own runs of the solution notebook. Each student answer is
judged against the solution's answer at the same position, by the rule, tolerance and wording
of the *solution's* record (grading/rules.py), with NumPy in this process. Nothing the kernel
sends decides a rule, sizes an allocation beyond a fixed cap, or appears in a message:
messages are written from the solution's names, case descriptions and hints and from numbers
computed here (a relative error, a factor), and never show a value computed on a hidden input.

Trusted side: imports nothing that runs in the student's kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autograder.grading.answers import Malformed, answers_of, decode
from autograder.grading.rules import RULES, compare, floats, on_case, type_failure
from autograder.redaction import exception_kind, with_article

STABLE_TOL = 1e-9  # two runs of the solution agree this well on a deterministic answer
# rules that compare with the solution's value (or keep one for a later comparison)
DETERMINISTIC = ("close", "equal", "floats", "recorded")


@dataclass
class Verdict:
    passed: bool
    messages: list[str] = field(default_factory=list)
    hint: str = ""


def judge(document, reference: dict) -> Verdict:
    """Whether a question's answers earn its points.

    document: what the student's kernel returned ({"answers": [...], "end": ...}), or None.
    reference: the solution's document for the same question (trusted).
    """
    ref_answers = reference["answers"]
    if document is None:
        return Verdict(False, ["the hidden tests returned no answers (did the cell finish?)"])
    try:
        answers = answers_of(document)
    except Malformed:
        return Verdict(False, ["the hidden tests' answers could not be read"])
    if document.get("end") == "too_large":
        return Verdict(False, ["the answers handed to the grader were too large to grade"])
    mine_by_name: dict[str, object] = {}
    for i, ref in enumerate(ref_answers):
        if i >= len(answers):
            return _stopped(document, ref, i, len(ref_answers))
        record = answers[i]
        if record.get("name") != ref["name"]:
            return Verdict(
                False, ["the hidden tests' answers came in another order than the course's"]
            )
        try:
            mine = decode(record.get("value"))
            theirs = decode(ref["value"])
        except Malformed:
            return Verdict(False, [f"{ref['name']}: the answer could not be read{on_case(ref)}"])
        failure = type_failure(record.get("value"), ref)
        if failure:
            return Verdict(False, [failure], ref.get("hint", ""))
        try:
            if ref["rule"] == "floats":  # judged on how the values were held, too
                failure = floats(mine, ref, theirs, mine_by_name, slot=record.get("value"))
            else:
                failure = RULES[ref["rule"]](mine, ref, theirs, mine_by_name)
        except (ArithmeticError, ValueError, TypeError, IndexError, KeyError):
            failure = f"{ref['name']}: the answer could not be judged{on_case(ref)}"
        if failure:
            return Verdict(False, [failure], ref.get("hint", ""))
        mine_by_name[ref["name"]] = mine  # the latest answer of that name
    if len(answers) > len(ref_answers):
        return Verdict(False, ["the hidden tests received more answers than the course's give"])
    if document.get("end") != "ok":
        return _stopped(document, None, len(ref_answers), len(ref_answers))
    return Verdict(True)


def _stopped(document: dict, ref: dict | None, done: int, total: int) -> Verdict:
    if document.get("end") != "error":
        return Verdict(False, [f"the graded test did not finish ({done} of {total} answers)"])
    kind = with_article(exception_kind(document.get("error")))
    if done == 0:
        message = (
            f"this exercise's check stopped with {kind} before the hidden tests ran: run the "
            "check in your notebook, it says what is wrong"
        )
    else:
        where = on_case(ref) if ref else " after the last answer"
        message = (
            f"your code raised {kind}{where}, after {done} of {total} answers; the visible "
            "check passed, so the difference is in a case it does not try"
        )
    return Verdict(False, [message], ref.get("hint", "") if ref else "")


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
        verdict = judge(first, first)
        if not verdict.passed:
            problems.append(f"{label}: the solution fails its own hidden tests: {verdict.messages}")
    return problems
