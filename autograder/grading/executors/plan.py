"""What a run grades, and why: each student notebook is graded when it is new (no result in
OUT), changed (its file, its solution or the grader changed since its result, or the result
was a grader error) or forced (--force: graded again though its result is current); the
others keep their result. Trusted side only: nothing here runs a kernel.
"""

from __future__ import annotations

from autograder.grading.executors.student import StudentJob
from autograder.results import read_json

REASONS = ("forced", "changed", "new")
SHOWN = 12  # notebooks named per reason in the run's note; the rest are counted


def reason(job: StudentJob, out, force: bool = False) -> str | None:
    """Why `job` is graded this run ("new", "changed", "forced"), or None to keep its result."""
    data = read_json(job.result_path(out))
    if not data:
        return "new"
    try:
        current = data.get("key") == job.key() and data.get("status") != "grader_error"
    except OSError:  # the file went away since discovery
        return "changed"
    if not current:
        return "changed"
    return "forced" if force else None


def plan(jobs: list[StudentJob], out, force: bool = False) -> dict[StudentJob, str]:
    """The jobs to grade, each with its reason, in the order of `jobs`."""
    found = {job: reason(job, out, force) for job in jobs}
    return {job: why for job, why in found.items() if why}


def describe(todo: dict[StudentJob, str], total: int) -> str:
    """One line per reason: how many notebooks, and which (the first SHOWN)."""
    kept = total - len(todo)
    lines = [f"grading {len(todo)} of {total} notebooks ({kept} kept as graded):"]
    if kept:  # an earlier run's results are reused, as after an interruption
        lines[0] = f"resuming: {kept} of {total} notebooks kept as graded; " + lines[0]
    for why in REASONS:
        labels = [job.label for job, w in todo.items() if w == why]
        if labels:
            more = f", and {len(labels) - SHOWN} more" if len(labels) > SHOWN else ""
            lines.append(f"  {why} ({len(labels)}): {', '.join(labels[:SHOWN])}{more}")
    return "\n".join(lines)
