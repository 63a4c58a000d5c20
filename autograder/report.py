"""report.html: the class at a glance, for the instructor: per question a histogram of the
points, the statistics of question_stats.csv, and who lost points there and why; then the
pairs of students whose own code is alike (similarity.py), their cells side by side.

Readable at 300 students: each question is one small histogram and a line of numbers; the
names sit in a collapsed list. The page is one file (the histograms are SVG images embedded
as data URLs), built from a jinja2 template that escapes every value, with the grader's own
words only. Imports nothing that runs a kernel.
"""

from __future__ import annotations

import base64
import statistics
from dataclasses import dataclass
from pathlib import Path

import jinja2

from autograder.exports import failure_reason
from autograder.results import NotebookResult, QuestionResult, Status
from autograder.scores import MAX_COVERS, notebook_maxima, position
from autograder.similarity import REPORT_PAIRS, THRESHOLD, Pair
from cs231n_utils.files import atomic_write

PAGE = jinja2.Environment(autoescape=True).from_string("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Grading report</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; }
.q { display: grid; grid-template-columns: 20rem 16rem 1fr; gap: 1rem; align-items: start;
     border-bottom: 1px solid #ddd; padding: .5rem 0; }
.q img { width: 16rem; } .num { font-variant-numeric: tabular-nums; }
details { font-size: .9rem; } li { margin: .1rem 0; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
.pair pre { overflow-x: auto; background: #f6f6f6; padding: .4rem; margin: 0; }
mark { background: #ffe08a; }
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
  {% if q.graded %}{{ q.graded }} graded: mean {{ "%.2f"|format(q.mean) }},
  {{ "%.0f"|format(100 * q.full) }}% full, {{ "%.0f"|format(100 * q.zero) }}% zero
  {%- else %}none graded yet{% endif %}{% if q.awaiting %}; {{ q.awaiting }} awaiting a
  hand grader{% endif %}</span></div>
  <img alt="histogram of the points of {{ q.question }}"
    src="data:image/svg+xml;base64,{{ q.svg }}">
  <details><summary>lost points: {{ q.lost|length }} student{{ "" if q.lost|length == 1
  else "s" }}</summary><ul>
  {% for student, points, reason in q.lost %}
    <li>{{ student }}: {{ "%g"|format(points) }} &mdash; {{ reason }}</li>
  {% endfor %}</ul></details>
</div>
{% endfor %}
{% endfor %}
<h2 id="similarity">Similar code</h2>
{% if similar is none %}
<p>The similarity of students' code was not computed in this run (the terminal says why).</p>
{% else %}
<p>Pairs of students whose own code in a notebook is at least {{ "%g"|format(threshold) }}
similar (similarity.csv lists them all). <b>Similarity is a lead for a human to read, not a
verdict</b>: short exercises, a shared study group or the same tutorial make honest code alike.
Compared: each student's answer cells, without the release's starter lines, comments, layout
or names (renaming hides nothing); code the release holds and idioms many students share do
not count. Similarity is the fraction of the smaller side's fingerprints the other also holds;
a student with too little code of their own is not compared.</p>
{% if not similar %}<p>No pair of students reached the threshold.</p>{% endif %}
{% if similar|length > shown %}<p>The {{ shown }} most similar of {{ similar|length }} pairs are
shown here.</p>{% endif %}
{% for p in similar[:shown] %}
<details><summary class="num">{{ p.notebook }}: {{ p.student_a }} and {{ p.student_b }},
similarity {{ "%.2f"|format(p.similarity) }} ({{ p.shared }} shared fingerprints)</summary>
{% for cell in p.cells %}
<h4>{{ cell.grade_id }}</h4>
<div class="pair">
{% for student, lines in ((p.student_a, cell.a), (p.student_b, cell.b)) %}
<div><b>{{ student }}</b>
<pre>{% for line, hit in lines %}{% if hit %}<mark>{{ line }}</mark>{% else %}{{ line }}{% endif %}
{% endfor %}</pre></div>
{% endfor %}
</div>
{% endfor %}
</details>
{% endfor %}
{% endif %}
</body></html>
""")


@dataclass
class QuestionReport:
    question: str
    max_points: float
    mean: float
    graded: int  # answers with points (the fractions below are of these)
    full: float  # fraction with full points
    zero: float
    awaiting: int
    lost: list[tuple[str, float, str]]  # (student, points, why), lowest points first
    svg: str  # base64


def histogram(points: list[float], max_points: float) -> str:
    """A small bar chart of how many students got each score (every score from 0 to the
    maximum that someone got, and those two), as a base64 SVG document that the page shows as
    an image. Drawn here rather than with matplotlib, which took 4 s for a class's 57 questions
    at the end of every grading run; this takes milliseconds. Only numbers go into it."""
    values = sorted({0.0, max_points, *points})
    counts = [sum(p == v for p in points) for v in values]
    tallest = max(counts) or 1
    slot, bar, top, height = 34, 24, 14, 56  # pixels: a score's column, its bar, above, bars
    width = slot * len(values) + 12
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + height + 16}" '
        'font-family="sans-serif" font-size="9" text-anchor="middle">'
    ]
    for i, (value, count) in enumerate(zip(values, counts, strict=True)):
        x, h = 6 + i * slot + (slot - bar) / 2, height * count / tallest
        middle = x + bar / 2
        parts += [
            f'<rect x="{x:g}" y="{top + height - h:g}" width="{bar}" height="{h:g}" '
            'fill="#4c72b0"/>',
            f'<text x="{middle:g}" y="{top + height - h - 3:g}">{count}</text>',
            f'<text x="{middle:g}" y="{top + height + 12}">{value:g}</text>',
        ]
    parts.append(
        f'<line x1="4" x2="{width - 4}" y1="{top + height}" y2="{top + height}" '
        'stroke="#555"/></svg>'
    )
    return base64.b64encode("".join(parts).encode()).decode()


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
        graded=len(points),
        mean=statistics.mean(points) if points else 0.0,
        full=sum(p == top for p in points) / len(points) if points else 0.0,
        zero=sum(p == 0 for p in points) / len(points) if points else 0.0,
        awaiting=sum(q.points is None and q.status == Status.HAND for _, q in found),
        lost=lost,
        svg=histogram(points, top),
    )


def report(
    results: list[NotebookResult], similar: list[Pair] | None = None, threshold: float = THRESHOLD
) -> str:
    """The page; `similar`: the pairs of similarity.csv, or None where they were not found."""
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
        similar=similar,
        threshold=threshold,
        shown=REPORT_PAIRS,
    )


def write_report(
    results: list[NotebookResult],
    out: Path,
    similar: list[Pair] | None = None,
    threshold: float = THRESHOLD,
) -> Path:
    path = out / "report.html"
    atomic_write(path, report(results, similar, threshold))
    return path
