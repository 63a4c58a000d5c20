"""report.html: the class at a glance, for the instructor: per question a histogram of the
points, the statistics of question_stats.csv, and who lost points there and why.

Readable at 300 students: each question is one small histogram and a line of numbers; the
names sit in a collapsed list. The page is one file (the histograms are PNGs embedded as data
URLs), built from a jinja2 template that escapes every value, with the grader's own words only.
Imports nothing that runs a kernel.
"""

from __future__ import annotations

import base64
import io
import statistics
from dataclasses import dataclass
from pathlib import Path

import jinja2

from autograder.exports import failure_reason
from autograder.results import NotebookResult, QuestionResult, Status
from autograder.scores import MAX_COVERS, notebook_maxima, position
from cs231n_utils.files import atomic_write

PAGE = jinja2.Environment(autoescape=True).from_string("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Grading report</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; }
.q { display: grid; grid-template-columns: 20rem 16rem 1fr; gap: 1rem; align-items: start;
     border-bottom: 1px solid #ddd; padding: .5rem 0; }
.q img { width: 16rem; } .num { font-variant-numeric: tabular-nums; }
details { font-size: .9rem; } li { margin: .1rem 0; }
</style></head><body>
<h1>Grading report</h1>
<p class="num">{{ students }} students, {{ notebooks }} notebooks. Autograded total: mean
{{ "%.1f"|format(mean) }}, median {{ "%.1f"|format(median) }} of {{ "%g"|format(maximum) }}
points (the maximum of the whole {{ covers }}). Hand-graded answers count once a grader
has scored them.</p>
{% for notebook, questions in sections %}
<h2>{{ notebook }}</h2>
{% for q in questions %}
<div class="q">
  <div><b>{{ q.question }}</b><br><span class="num">{{ "%g"|format(q.max_points) }} points;
  mean {{ "%.2f"|format(q.mean) }}, {{ "%.0f"|format(100 * q.full) }}% full,
  {{ "%.0f"|format(100 * q.zero) }}% zero{% if q.awaiting %}, {{ q.awaiting }} awaiting a
  hand grader{% endif %}</span></div>
  <img alt="histogram of the points of {{ q.question }}" src="data:image/png;base64,{{ q.png }}">
  <details><summary>lost points: {{ q.lost|length }} students</summary><ul>
  {% for student, points, reason in q.lost %}
    <li>{{ student }}: {{ "%g"|format(points) }} &mdash; {{ reason }}</li>
  {% endfor %}</ul></details>
</div>
{% endfor %}
{% endfor %}
</body></html>
""")


@dataclass
class QuestionReport:
    question: str
    max_points: float
    mean: float
    full: float  # fraction with full points
    zero: float
    awaiting: int
    lost: list[tuple[str, float, str]]  # (student, points, why), lowest points first
    png: str  # base64


def histogram(points: list[float], max_points: float) -> str:
    """A small bar chart of how many students got each score, as base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a grading server
    from matplotlib import pyplot as plt

    values = sorted({0.0, max_points, *points})
    counts = [sum(p == v for p in points) for v in values]
    figure, axes = plt.subplots(figsize=(3.2, 1.2), dpi=80)
    axes.bar([f"{v:g}" for v in values], counts, color="#4c72b0")
    axes.set_ylabel("students", fontsize=7)
    axes.tick_params(labelsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def question_report(question: str, found: list[tuple[str, QuestionResult]]) -> QuestionReport:
    scored = [(s, q) for s, q in found if q.points is not None]
    top = max(q.max_points for _, q in found)
    points = [q.points for _, q in scored]
    lost = sorted(
        ((s, q.points, failure_reason(q)) for s, q in scored if q.points < top),
        key=lambda row: (row[1], row[0]),
    )
    return QuestionReport(
        question=question,
        max_points=top,
        mean=statistics.mean(points) if points else 0.0,
        full=sum(p == top for p in points) / len(points) if points else 0.0,
        zero=sum(p == 0 for p in points) / len(points) if points else 0.0,
        awaiting=sum(q.points is None and q.status == Status.HAND for _, q in found),
        lost=lost,
        png=histogram(points, top),
    )


def report(results: list[NotebookResult]) -> str:
    by_question: dict[tuple[str, str], list[tuple[str, QuestionResult]]] = {}
    totals: dict[str, float] = {}
    for r in results:
        for q in r.questions:
            by_question.setdefault((r.notebook, q.question), []).append((r.student_id, q))
            if q.status != Status.HAND or q.points is not None:
                totals[r.student_id] = totals.get(r.student_id, 0.0) + (q.points or 0.0)
    sections: dict[str, list[QuestionReport]] = {}
    for notebook, question in sorted(by_question, key=lambda nq: (nq[0], position(*nq))):
        sections.setdefault(notebook, []).append(
            question_report(question, by_question[(notebook, question)])
        )
    values = list(totals.values()) or [0.0]
    return PAGE.render(
        students=len(totals),
        notebooks=len(sections),
        mean=statistics.mean(values),
        median=statistics.median(values),
        maximum=sum(notebook_maxima().values()),
        covers=MAX_COVERS,
        sections=sections.items(),
    )


def write_report(results: list[NotebookResult], out: Path) -> Path:
    path = out / "report.html"
    atomic_write(path, report(results))
    return path
