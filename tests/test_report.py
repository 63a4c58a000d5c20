"""report.html: one histogram per question, the numbers, who lost points, nothing unescaped."""

from __future__ import annotations

import base64
import re
from xml.etree import ElementTree

import pytest

from autograder.report import histogram, report
from autograder.results import NotebookResult, QuestionResult, Status


def klass(students: int) -> list[NotebookResult]:
    results = []
    for i in range(students):
        sid = f"student{i:03d}" if i else "<script>alert(1)</script>"
        questions = [
            QuestionResult("test_two_layer_loss", 1.0 if i % 3 else 0.0, 1.0, Status.OK,
                           ["loss is off by a relative error of 3e-01 <b>"]),
            QuestionResult("test_training", 2.0 if i % 5 else 0.0, 2.0,
                           Status.OK if i % 5 else Status.TIMEOUT),
            QuestionResult("written_framework", None, 2.0, Status.HAND),
        ]  # fmt: skip
        results.append(NotebookResult(sid, "01_numpy_gradients", Status.OK, "k", questions))
    return results


def test_a_class_of_300_gets_one_histogram_per_question_and_escaped_names():
    """Is there one embedded histogram per question, the mean and fractions, a collapsed list
    of who lost points with the grader's reason, and no markup from ids or messages?"""
    page = report(klass(300))
    assert len(re.findall(r'src="data:image/svg\+xml;base64,[A-Za-z0-9+/=]+"', page)) == 3
    assert "300 students" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "3e-01 &lt;b&gt;" in page and "3e-01 <b>" not in page
    assert "ran out of time" in page  # the status text of a timeout, the grader's words
    assert "lost points: 60 students" in page  # test_training: every fifth timed out
    assert "lost points: 100 students" in page  # test_two_layer_loss: every third
    assert "300 graded: mean 0.67," in page  # test_two_layer_loss
    assert "none graded yet; 300 awaiting a" in page  # written_framework


def test_fractions_are_of_the_graded_answers_and_one_student_is_one():
    """Where one written answer is scored 0 and two await a hand grader, does the page say the
    fractions are of the one graded, not that the class scored zero, and "1 student"?"""
    results = klass(3)
    results[0].questions[2] = QuestionResult("written_framework", 0.0, 2.0, Status.HAND)
    page = report(results)
    written = page[page.index("<b>written_framework</b>") :]
    assert re.sub(r"\s+", " ", written[: written.index("</span>")]).endswith(
        "2 points; 1 graded: mean 0.00, 0% full, 100% zero; 2 awaiting a hand grader"
    )
    assert "lost points: 1 student</summary>" in written


def test_a_histogram_counts_the_students_at_each_score():
    """Does the histogram show one bar per score (0 and the maximum always), each as tall as
    its count of students relative to the tallest, with its count above and its score below?"""
    drawn = base64.b64decode(histogram([0.0, 2.0, 2.0, 0.5, 2.0], 3.0)).decode()
    svg = ElementTree.fromstring(drawn)
    space = "{http://www.w3.org/2000/svg}"
    heights = [float(r.get("height")) for r in svg.iter(f"{space}rect")]
    labels = [t.text for t in svg.iter(f"{space}text")]
    assert labels == ["1", "0", "1", "0.5", "3", "2", "0", "3"]  # count, score; per bar
    assert heights[0] == heights[1] == pytest.approx(heights[2] / 3, rel=1e-3)
    assert heights[2] > 0 and heights[3] == 0
