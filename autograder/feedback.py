"""Per-student feedback as one HTML page: each question's points, what went wrong and a hint.

Messages come from the grader's own checks (autograder/judge.py) or, redacted, from the
student's code; hidden test source is never shown, unlike nbgrader's feedback, which
returns the test cells whole.
"""

from __future__ import annotations

import html
from pathlib import Path

from autograder.jobs import NotebookResult

STATUS_TEXT = {
    "ok": "graded",
    "hand": "awaits hand grading",
    "timeout": "ran out of time",
    "memory": "ran out of memory",
    "crashed": "crashed the kernel",
    "missing": "notebook not submitted",
    "invalid": "notebook could not be read",
    "grader_error": "not graded yet (grader problem, not yours)",
}

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Feedback: {student}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; }}
table {{ border-collapse: collapse; width: 100%; margin-bottom: 2rem; }}
td, th {{ border-bottom: 1px solid #ddd; padding: .4rem; text-align: left; vertical-align: top; }}
pre {{ white-space: pre-wrap; margin: 0; font-size: .9rem; }}
.full {{ color: #1a7f37; }} .zero {{ color: #cf222e; }}
</style></head><body>
<h1>Feedback for {student}</h1>
<p>Autograded: <b>{points:g} / {max_points:g}</b> points.
Written answers are graded by hand and are not included.</p>
{sections}
</body></html>
"""


def _section(result: NotebookResult) -> str:
    rows = []
    for q in result.questions:
        if q.points is None:
            score = f"? / {q.max_points:g}"
        else:
            score = f"{q.points:g} / {q.max_points:g}"
        css = "full" if q.points == q.max_points else "zero" if q.points == 0 else ""
        notes = "\n".join(q.messages)
        rows.append(
            f"<tr><td>{html.escape(q.question)}</td><td class='{css}'>{score}</td>"
            f"<td>{html.escape(STATUS_TEXT.get(q.status, q.status))}</td>"
            f"<td><pre>{html.escape(notes)}</pre></td></tr>"
        )
    cells = "".join(
        f"<li>{html.escape(c['label'])}: {html.escape(c['status'])}"
        f"{': ' + html.escape(c['error']) if c.get('error') else ''}</li>"
        for c in result.cells
    )
    problems = f"<p>Cells that did not run cleanly:</p><ul>{cells}</ul>" if cells else ""
    return (
        f"<h2>{html.escape(result.notebook)}</h2>{problems}<table><tr><th>question</th>"
        f"<th>points</th><th>status</th><th>notes</th></tr>{''.join(rows)}</table>"
    )


def write_feedback(results: list[NotebookResult], folder: Path) -> list[Path]:
    """One page per student in `folder`; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    by_student: dict[str, list[NotebookResult]] = {}
    for result in results:
        by_student.setdefault(result.student_id, []).append(result)
    written = []
    for student, notebooks in sorted(by_student.items()):
        notebooks.sort(key=lambda r: r.notebook)
        auto = [q for r in notebooks for q in r.questions if q.status != "hand"]
        page = PAGE.format(
            student=html.escape(student),
            points=sum(q.points or 0.0 for q in auto),
            max_points=sum(q.max_points for q in auto),
            sections="".join(_section(r) for r in notebooks),
        )
        path = folder / f"{student}.html"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(page)
        tmp.replace(path)
        written.append(path)
    return written
