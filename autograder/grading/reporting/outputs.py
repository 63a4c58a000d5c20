"""Everything cs231n-grade writes at the end of a run, rebuilt from what OUT holds.

The outputs are made from every result file in OUT/results (this run's and every earlier
run's) and the hand grades in the gradebook, never from this run's input alone: grading one
late student, or `--students ID` for a regrade, keeps everyone else in scores.csv, grades.csv,
the feedback pages and the gradebook. Each output is written on its own: one that fails is
reported and makes the exit status 1, and the others are still written. This module imports
nothing that runs a kernel.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from autograder import canvas, late, similarity
from autograder.course import notebook_names
from autograder.exports import write_exports
from autograder.grading.reporting.autograded import write_autograded
from autograder.grading.reporting.feedback import write_feedback
from autograder.nbgrader_course import gradebook
from autograder.report import write_report
from autograder.results import (
    NotebookResult,
    Status,
    read_json,
    with_hand_grades,
    write_json,
    write_scores,
)
from autograder.scores import Score, format_table, report_mismatches

SYNCED = "results/synced.json"  # the submission each gradebook entry was last written from
SHARED = (
    "scores.csv",
    "grades.csv",
    "grades_by_notebook.csv",
    "canvas_grades.csv",
    "gradescope_grades.csv",
    "question_stats.csv",
    "students.csv",
    "report.html",
    "similarity.csv",
    "feedback",
    "autograded",
    "gradebook.db",
)
OUTPUT_MODE = 0o640  # files readable by the course's group (OUT's group), never by others


def share(out: Path, mode: int | str | None = OUTPUT_MODE) -> None:
    """The outputs (SHARED) readable as `mode` says by OUT's group, and never by others,
    whatever `mode` asks: files get `mode`, folders also x where it gives r, and each is
    given OUT's group where this user may (a teaching assistant in the course's group opens
    them; student code never runs as a member of it). OUT itself gets the group's bits.
    `mode` may be octal text (--output-mode); raises ValueError for text that is not."""
    if mode is None:
        mode = OUTPUT_MODE
    if isinstance(mode, str):
        if not mode.isdigit() or int(mode, 8) > 0o777 or "8" in mode or "9" in mode:
            raise ValueError(f"--output-mode {mode!r} is not an octal file mode such as 640")
        mode = int(mode, 8)
    mode &= 0o770
    folder_mode = mode | (mode & 0o440) >> 2 | 0o700
    gid = out.stat().st_gid
    out.chmod(out.stat().st_mode & 0o700 | folder_mode & 0o070)
    for name in SHARED:
        top = out / name
        paths = [top, *top.rglob("*")] if top.is_dir() else [top] if top.exists() else []
        for path in paths:
            if path.is_symlink():
                continue
            try:
                os.chown(path, -1, gid)
            except OSError:
                pass  # not this user's file, or a group they are not in: the mode still holds
            path.chmod(folder_mode if path.is_dir() else mode)


def configure(out: Path, settings) -> None:
    """What this run's flags say about the outputs, kept in OUT for later runs: the Canvas
    gradebook export (--canvas-gradebook, --canvas-assignment) and the late policy (--due,
    --late-policy). Raises ValueError (CanvasError, LatePolicyError) with the reason."""
    if settings.canvas_gradebook:
        canvas.save(out, canvas.read_export(settings.canvas_gradebook, settings.canvas_assignment))
    if settings.due:
        late.save(out, late.LatePolicy.parse(settings.due, settings.late_policy or "none"))
    elif settings.late_policy:
        raise late.LatePolicyError("--late-policy needs --due (the assignment's due date)")


def all_results(out: Path, current: list[NotebookResult]) -> list[NotebookResult]:
    """This run's results and every earlier result in OUT/results of a notebook of the course
    (a student or notebook not graded this time keeps its last result), one per student and
    notebook, in a stable order. Unreadable files of earlier runs are skipped."""
    course = {Path(n).stem for n in notebook_names()}
    found: dict[tuple[str, str], NotebookResult] = {}
    for path in sorted((out / "results").glob("*/*.json")):
        try:
            result = NotebookResult.from_json(read_json(path))
        except ValueError:
            continue
        if result.notebook in course:
            found[(result.student_id, result.notebook)] = result
    for result in current:
        found[(result.student_id, result.notebook)] = result
    return [found[key] for key in sorted(found)]


def _attempt(what: str, step, *args) -> bool:
    """Run one output step; False (reported) if it failed, so the others are still written."""
    try:
        step(*args)
    except Exception as error:
        print(f"cs231n-grade: could not write {what}: {type(error).__name__}: {error}")
        return False
    return True


def _similar(results: list[NotebookResult], out: Path, threshold: float) -> list | None:
    """similarity.csv written; its pairs, for report.html, or None when it failed (reported)."""
    pairs: list = []

    def step() -> None:
        pairs.extend(similarity.write_similar(results, out, threshold))

    return pairs if _attempt("similarity.csv", step) else None


def sync_gradebook(out: Path, db_url: str, results: list[NotebookResult]) -> None:
    """The results into the gradebook; a hand grade is flagged again only where the student's
    submission changed since the gradebook was last written from it."""
    synced = read_json(out / SYNCED) or {}
    changed = {
        (r.student_id, r.notebook)
        for r in results
        if synced.get(f"{r.student_id}/{r.notebook}") != r.submission or not r.submission
    }
    gradebook.sync(db_url, results, changed)
    write_json(out / SYNCED, {f"{r.student_id}/{r.notebook}": r.submission for r in results})


def with_hand(db_url: str, results: list[NotebookResult]) -> list[NotebookResult]:
    grades, comments = gradebook.hand_grades(db_url)
    return with_hand_grades(results, grades, comments)


def scores_of(results: list[NotebookResult]) -> list[Score]:
    return [
        Score(
            r.student_id,
            r.notebook,
            q.question,
            q.points,
            q.max_points,
            "hand" if q.status == Status.HAND else "autograder",
        )
        for r in results
        for q in r.questions
    ]


def finish(
    out: Path,
    db_url: str,
    jobs,
    current: list[NotebookResult],
    settings=None,
    roster: list | None = None,
    expect: Path | None = None,
) -> int:
    """Write every output from all the results in OUT and the gradebook's hand grades (with
    the roster's students registered); nonzero when one could not be written, or where the
    scores differ from the CSV `expect`. `settings`: a config.GraderConfig (the outputs'
    mode and the similarity threshold), or None for the defaults."""
    for job, result in zip(jobs, current, strict=True):
        try:
            write_autograded(out, result, job.path and Path(job.path))
        except Exception as error:  # formgrader's copy only: the scores are written below
            print(f"could not write the autograded copy of {job.label}: {error}", file=sys.stderr)
    results = all_results(out, current)
    roster = roster or []
    written = [_attempt("the roster", gradebook.register, db_url, roster)] if roster else []
    written.insert(0, _attempt("the gradebook", sync_gradebook, out, db_url, results))
    policy = late.load(out)
    if written[0] and policy.due:
        times: dict[str, list[str]] = {}
        for r in results:
            times.setdefault(r.student_id, []).append(r.submitted_at)
        when = {s: late.submitted_at(t) for s, t in times.items()}
        written.append(_attempt("the late penalties", late.write_penalties, db_url, when, policy))
    if written[0]:
        try:
            results = with_hand(db_url, results)
        except Exception as error:
            print(f"cs231n-grade: could not read the hand grades: {error}")
            written.append(False)
    written += [
        _attempt("scores.csv", write_scores, results, out / "scores.csv"),
        written[0] and _attempt("grades.csv", gradebook.export_grades, out, db_url),
        _attempt("the statistics and exports", write_exports, results, out),
        _attempt("the feedback pages", write_feedback, results, out / "feedback", policy),
    ]
    threshold = getattr(settings, "similarity_threshold", None)
    threshold = similarity.THRESHOLD if threshold is None else threshold
    similar = _similar(results, out, threshold)
    written += [
        similar is not None,
        _attempt("report.html", write_report, results, out, similar, threshold),
    ]
    mode = getattr(settings, "output_mode", None)
    written.append(_attempt("the outputs' modes", share, out, mode))
    rows = scores_of(results)
    print(format_table(rows))
    print(summary(results))
    students = len({r.student_id for r in results})
    print(
        f"\n{students} students in {out}: scores.csv, grades.csv, grades_by_notebook.csv, "
        f"canvas_grades.csv, question_stats.csv, report.html, similarity.csv, feedback/, "
        f"gradebook ({db_url})"
    )
    code = 0 if all(written) else 1
    errors = [r for r in results if r.status == Status.GRADER_ERROR]
    if errors:
        print(f"\n{len(errors)} notebook(s) not graded because of a grader problem; run again:")
        for r in errors:
            print(f"  {r.student_id} {r.notebook}: {r.message}")
        code = 1
    if expect and not report_mismatches(rows, expect):
        code = 1
    return code


def summary(results: list[NotebookResult]) -> str:
    """Counts of notebooks and of questions that failed for want of time, memory or a kernel,
    and of answers awaiting or given a hand grade."""
    questions = [q for r in results for q in r.questions]
    count = {s: sum(q.status == s for q in questions) for s in ("timeout", "memory", "crashed")}
    by_status = {s: sum(r.status == s for r in results) for s in ("missing", "invalid")}
    graded = sum(r.status == "ok" for r in results)
    awaiting = sum(q.status == Status.HAND and q.points is None for q in questions)
    by_hand = sum(q.hand_graded for q in questions)
    return (
        f"\n{graded} notebooks graded, {by_status['missing']} missing, {by_status['invalid']} "
        f"invalid, {sum(r.status == 'grader_error' for r in results)} grader errors; questions "
        f"timed out {count['timeout']}, out of memory {count['memory']}, crashed "
        f"{count['crashed']}; {by_hand} graded by hand, {awaiting} awaiting a hand grader"
    )
