"""The feedback page and the redaction it relies on: only the grader's words reach a student."""

from __future__ import annotations

from autograder.course import SOLUTIONS
from autograder.grading.executors import reasons
from autograder.grading.judging.judge import BEFORE_FIRST, Verdict, question_result
from autograder.grading.reporting.feedback import (
    _plain,
    feedback_path,
    titles,
    verdict_text,
    write_feedback,
)
from autograder.notebooks import hidden_lines, read
from autograder.redaction import EXCEPTION_KINDS, error_kind, exception_kind
from autograder.results import HandGrade, NotebookResult, QuestionResult, with_hand_grades

NOTEBOOK = "01_numpy_gradients"


def secret() -> str:
    lines = sorted(hidden_lines(read(SOLUTIONS / f"{NOTEBOOK}.ipynb")))
    assert lines, "the notebook has hidden tests"
    return lines[0]


def hostile_result() -> NotebookResult:
    return NotebookResult(
        "ada",
        NOTEBOOK,
        "ok",
        "key",
        [
            QuestionResult(
                "test_graph_gradients", 0.0, 2, "ok",
                ["dc/dx: expected 3 <b>bold</b>", f"context:\n{secret()}\nafter"],
            ),
            QuestionResult("test_training", 2.0, 2, "ok", ["<script>alert(1)</script>"]),
            QuestionResult("written_framework", 0.0, 2, "hand", ["not answered"]),
            QuestionResult("written_other", None, 3, "hand"),
            QuestionResult("test_numerical_gradient", None, 2, "grader_error",
                           ["grader error (not the student's): kernel said <i>boom</i>"]),
        ],
        cells=[
            {"label": "cell 7", "status": "error", "seconds": 0.1, "kind": "TypeError"},
            {"label": "cell 9", "status": "error", "seconds": 0.1, "kind": "<script>Evil</script>"},
            {"label": "cell 12", "status": "timeout", "seconds": 20.0, "kind": None},
            {"label": "cell 13", "status": "error", "seconds": 0.1,
             "error": "ValueError: <img src=x onerror=alert(1)> secret message"},
        ],
    )  # fmt: skip


def test_page_shows_no_kernel_text_no_markup_and_no_hidden_test(tmp_path):
    """Do HTML, <script>, a forged exception name, a kernel's error message and a line of
    hidden test source in a result all stay off the page, with what is shown escaped?"""
    [path] = write_feedback([hostile_result()], tmp_path)
    page = path.read_text()
    for forbidden in ("<b>bold", "<script>", "Evil", "onerror", "secret message", secret(),
                      "<i>boom", "kernel said"):  # fmt: skip
        assert forbidden not in page, forbidden
    assert "dc/dx: expected 3 &lt;b&gt;bold&lt;/b&gt;" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the grader's message, escaped


def test_cells_are_reported_by_label_and_kind_from_the_list(tmp_path):
    """Is each cell that did not run cleanly named by its label as given, with a kind from
    the fixed list or "another exception", and a timeout in words?"""
    page = write_feedback([hostile_result()], tmp_path)[0].read_text()
    assert "cell 7: raised a TypeError" in page
    assert "cell 9: raised another exception" in page
    assert "cell 12: ran out of time" in page
    assert "cell 13: raised another exception" in page  # an old record with a message


def test_unanswered_written_question_is_not_awaiting_hand_grading(tmp_path):
    """Is an unanswered written question "not answered" with 0 points, and only an answered
    one "awaits hand grading"?"""
    page = write_feedback([hostile_result()], tmp_path)[0].read_text()
    row = page[page.index("5. Written question") : page.index("<td>written_other</td>")]
    assert "0 / 2" in row and "not answered" in row and "awaits hand grading" not in row
    other = page[page.index("<td>written_other</td>") :]
    assert "? / 3" in other and "awaits hand grading" in other


def test_questions_are_named_by_the_notebooks_headings(tmp_path):
    """Is each question named by the heading above it in the release (not its grade id),
    with the check's name added where two share a heading?"""
    page = write_feedback([hostile_result()], tmp_path)[0].read_text()
    assert "<td>1. A computational graph, forward and backward</td>" in page
    assert "test_graph_gradients" not in page
    assert titles(NOTEBOOK)["test_two_layer_gradients"] == (
        "2. A two-layer ReLU network: two layer gradients"
    )
    # code in a heading is shown as written, emphasis marks are not
    assert titles("05_pytorch_nn_optim")["test_accumulated_gradient"] == (
        "6. zero_grad(): gradients accumulate"
    )
    assert _plain("## 3. **Not** `named_parameters()`, _ever_ a_b") == (
        "3. Not named_parameters(), ever a_b"
    )


def test_a_hand_grade_shows_its_points_and_comment_without_contradiction(tmp_path):
    """A written answer graded by hand: its points, "graded by hand" and the grader's
    comment, and no "awaits hand grading" or "not answered" beside them?"""
    result = hostile_result()
    graded = with_hand_grades(
        [result],
        {("ada", NOTEBOOK, "written_framework"): HandGrade(1.5, "See <b>lecture 4</b>.")},
        {("ada", NOTEBOOK): ["Tidy code overall."]},
    )
    page = write_feedback(graded, tmp_path)[0].read_text()
    row = page[page.index("5. Written question") : page.index("<td>written_other</td>")]
    assert "1.5 / 2" in row and "graded by hand" in row and "See &lt;b&gt;lecture 4" in row
    assert "awaits hand grading" not in row and "not answered" not in row
    assert "Tidy code overall." in page


def test_feedback_goes_where_feedback_path_says(tmp_path):
    """Is the page written at feedback_path, the one place that names it?"""
    [path] = write_feedback([hostile_result()], tmp_path)
    assert path == feedback_path(tmp_path, "ada") and path.is_file()


def test_exception_kind_lets_only_listed_names_pass():
    """Does exception_kind return listed names and "another exception" for anything else,
    and error_kind drop the message of "Name: message"?"""
    assert exception_kind("ZeroDivisionError") == "ZeroDivisionError"
    assert "CheckFailed" in EXCEPTION_KINDS
    for name in ("MyError", "TypeError: <b>", "<script>", "", None, "typeerror"):
        assert exception_kind(name) == "another exception"
    assert error_kind("KeyError: 'secret value'") == "KeyError"
    assert error_kind("<svg onload=x>: y") == "another exception"
    assert error_kind(None) is None


def test_verdict_text_is_the_graders_words():
    """Does a test cell's verdict give points, status and the grader's notes, without a
    hidden test line or a grader problem's details?"""
    question = QuestionResult("q", 1.0, 3, "timeout", ["a cell this question needs ran out"])
    assert verdict_text(question) == (
        "Grader: 1 / 3 points\nran out of time\na cell this question needs ran out"
    )
    hidden = QuestionResult("q", 0.0, 2, "ok", [f"x\n{secret()}"])
    assert secret() not in verdict_text(hidden, {secret()})
    broken = QuestionResult("q", None, 2, "grader_error", ["Traceback: kernel detail"])
    assert "kernel detail" not in verdict_text(broken)


def test_a_check_that_gives_its_own_hint_is_not_given_the_hidden_one():
    """Where the visible check's reason (reasons.give) carries a hint of its own, is that the
    only hint shown, whether or not it is the hidden test's; where it carries none, or no reason
    is given, does the hidden test's hint follow the messages?"""
    hint = "use the central difference"
    errors = {
        "same": f"CheckFailed: g is wrong\n  Hint: {hint}",
        "other": "CheckFailed: losses are wrong\n  Hint: record the loss before each update",
        "none": "NotImplementedError",
    }
    verdicts = {q: Verdict(False, [BEFORE_FIRST], hint, explainable=True) for q in [*errors, "q"]}
    verdicts["q"].explainable = False  # no reason: the fixed words stay
    reasons.give(verdicts, errors, course=None, notebook=None, open_kernel=None, timeout_s=0)
    shown = {q: question_result(q, 2, v).messages for q, v in verdicts.items()}
    assert shown == {
        "same": [reasons.wording(errors["same"])],
        "other": [reasons.wording(errors["other"])],
        "none": [reasons.wording(errors["none"]), f"Hint: {hint}"],
        "q": [BEFORE_FIRST, f"Hint: {hint}"],
    }


def test_a_late_page_says_what_the_penalty_cost_and_what_counts(tmp_path):
    """Handed in two days late under 10 % a day, does the page say so, with the penalised
    total beside the raw one; and does an on-time page say nothing of lateness?"""
    from dataclasses import replace

    from autograder.late import LatePolicy

    policy = LatePolicy.parse("2026-03-01T23:59+00:00", "10/day")
    result = replace(hostile_result(), submitted_at="2026-03-03T12:00+00:00")
    page = write_feedback([result], tmp_path, policy)[0].read_text()
    assert "handed in 2 day(s) late: 0.4 of 2 points deducted" in page
    assert "<b>1.6 / 11</b> counts" in page
    on_time = replace(result, submitted_at="2026-03-01T12:00+00:00")
    assert "Late:" not in write_feedback([on_time], tmp_path, policy)[0].read_text()
