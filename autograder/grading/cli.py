"""cs231n-grade: grade a class's notebooks in parallel, in sandboxes, resumably.

    cs231n-grade SUBMISSIONS --out DIR [--workers N]
    cs231n-grade --check-sandbox

SUBMISSIONS is a folder with one folder per student (its name is the student id) holding
that student's notebooks, named as in the release, or a .zip of such a folder. DIR becomes
an nbgrader course folder: gradebook.db (or --db URL), grades.csv (nbgrader export's
columns), scores.csv (one row per student, notebook and question, with a status),
feedback/<student>.html, and autograded/ for `nbgrader formgrader`. Interrupted and run
again, it grades only what is left and ends with the same files.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from autograder.course import SOLUTIONS, notebook_names
from autograder.grading import sandbox
from autograder.grading.autograded import write_autograded
from autograder.grading.cgroups import remove_stale_cgroups
from autograder.grading.feedback import write_feedback
from autograder.grading.jobs import ReferenceJob, Settings, StudentJob
from autograder.grading.messages import Limits
from autograder.grading.scheduler import LocalExecutor, run_all
from autograder.grading.submissions import SubmissionsError, discover, extract_zip
from autograder.nbgrader_course import folder as course_folder
from autograder.nbgrader_course import gradebook
from autograder.results import NotebookResult, read_json, write_scores
from autograder.scores import Score, format_table, report_mismatches

UNSAFE_FLAG = "--unsafe-run-student-code-without-sandbox"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="cs231n-grade",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("submissions", type=Path, nargs="?", help="folder or .zip")
    parser.add_argument("--out", type=Path, help="the grading folder (created if missing)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--db", help="SQLAlchemy URL of the gradebook (default: DIR/gradebook.db)")
    parser.add_argument(
        "--notebooks", nargs="+", metavar="NAME", help="grade only these notebooks (file stems)"
    )
    parser.add_argument("--cell-timeout", type=float, default=120.0, help="seconds per cell")
    parser.add_argument(
        "--notebook-timeout", type=float, default=900.0, help="seconds per notebook, in all"
    )
    parser.add_argument("--memory-mb", type=int, default=4096, help="memory cap per notebook")
    parser.add_argument("--processes", type=int, default=256, help="process cap per notebook")
    parser.add_argument("--expect", type=Path, help="CSV of expected scores; exit 1 on a mismatch")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--check-sandbox", action="store_true", help="report the isolation available and exit"
    )
    parser.add_argument(
        UNSAFE_FLAG,
        dest="unsafe",
        action="store_true",
        help="grade without isolation: student code runs with your privileges",
    )
    args = parser.parse_args(argv)
    if not args.check_sandbox and (args.submissions is None or args.out is None):
        parser.error("SUBMISSIONS and --out are required (or --check-sandbox)")
    return args


def isolation(args) -> bool:
    """True to grade in the sandbox. Without it, exits unless the instructor explicitly
    chose to run student code unisolated (the flag also forces that choice)."""
    capabilities = sandbox.probe()
    missing = sandbox.missing(capabilities)
    if args.unsafe:
        banner = "!" * 78
        print(
            f"{banner}\nWARNING: grading WITHOUT A SANDBOX ({UNSAFE_FLAG}).\nStudent code "
            "runs with your privileges: it can read and change your files, the gradebook and\n"
            f"other students' work, and reach the network. Sandbox parts missing here: "
            f"{', '.join(missing) or 'none'}.\n{banner}",
            file=sys.stderr,
        )
        return False
    if missing:
        print(sandbox.report(capabilities), file=sys.stderr)
        sys.exit(
            f"\ncs231n-grade: refusing to run student code without isolation (missing: "
            f"{', '.join(missing)}).\nInstall bubblewrap and run as root (see README), or pass "
            f"{UNSAFE_FLAG} to grade with no sandbox at all."
        )
    return True


def lock(out: Path):
    out.mkdir(parents=True, exist_ok=True)
    handle = open(out / ".cs231n-grade.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(f"cs231n-grade: another cs231n-grade is grading into {out}; wait for it")
    return handle


def find_students(submissions: Path, out: Path, notebooks: list[str]):
    if submissions.is_file() and submissions.suffix.lower() == ".zip":
        folder = out / "submissions"
        if folder.exists():
            shutil.rmtree(folder)
        extract_zip(submissions, folder)
        submissions = folder
    if not submissions.is_dir():
        raise SubmissionsError(f"{submissions} is neither a folder nor a .zip file")
    return discover(submissions, [f"{n}.ipynb" for n in notebooks]), submissions


def grade(args) -> int:
    out = args.out.resolve()
    isolated = isolation(args)
    handle = lock(out)
    remove_stale_cgroups()
    notebooks = args.notebooks or [Path(n).stem for n in notebook_names()]
    unknown = set(notebooks) - {Path(n).stem for n in notebook_names()}
    if unknown:
        sys.exit(f"cs231n-grade: no such notebook(s): {', '.join(sorted(unknown))}")
    try:
        students, folder = find_students(args.submissions.resolve(), out, notebooks)
    except SubmissionsError as error:
        sys.exit(f"cs231n-grade: {error}")
    if not students:
        sys.exit(f"cs231n-grade: no student folders in {args.submissions}")
    db_url = args.db or course_folder.default_db_url(out)
    # nbgrader's generate_assignment registers the assignment in the gradebook; it is needed
    # only when the results are written, so it runs beside the grading.
    preparing = ThreadPoolExecutor(max_workers=1)
    prepared = preparing.submit(course_folder.prepare, out, SOLUTIONS, db_url)
    settings = Settings(
        limits=Limits(
            memory_bytes=args.memory_mb * 2**20,
            processes=args.processes,
            cell_timeout_s=args.cell_timeout,
        ),
        notebook_timeout_s=args.notebook_timeout,
        isolated=isolated,
        hidden=[str(out), str(folder), str(args.submissions.resolve())],
    )
    executor = LocalExecutor(max(1, args.workers))
    progress = not args.no_progress
    try:
        references = [ReferenceJob(n, r) for n in notebooks for r in (0, 1)]
        todo = [job for job in references if not _done(job, out)]
        failed = [
            f"{job.label}: {result}"
            for job, result in run_all(
                executor, todo, lambda job, slot: job(out, settings, slot), "solutions", progress
            )
            if isinstance(result, BaseException)
        ]
        if failed:
            print("\n".join(["cs231n-grade: the solutions could not be graded:", *failed]))
            return 1
        jobs = [
            StudentJob(s.id, Path(name).stem, nb.status, nb.path and str(nb.path), nb.message)
            for s in students
            for name, nb in s.notebooks.items()
        ]
        todo = [job for job in jobs if not _done(job, out)]
        if len(todo) < len(jobs):
            print(f"resuming: {len(jobs) - len(todo)} of {len(jobs)} notebooks already graded")
        failures = {
            job: error
            for job, error in run_all(
                executor, todo, lambda job, slot: job(out, settings, slot), "students", progress
            )
            if isinstance(error, BaseException)
        }
    finally:
        executor.shutdown()
        preparing.shutdown()
    prepared.result()  # its error, if any, stops here: nothing is half-written
    results = load_results(out, jobs, failures)
    return finish(args, out, db_url, jobs, results, handle)


def _done(job, out: Path) -> bool:
    """Whether a job's result is on disk and current; a result that cannot be read is not."""
    try:
        return job.done(out)
    except Exception:
        return False


def load_results(
    out: Path, jobs: list[StudentJob], failures: dict[StudentJob, BaseException]
) -> list[NotebookResult]:
    """Every job's result from its file. A job whose file is missing or corrupt (its run
    failed, or the disk did) is a grader_error here, in memory, so that everything else is
    still written; the reason is printed for the instructor, and a rerun grades it again."""
    results = []
    for job in jobs:
        try:
            result = NotebookResult.from_json(read_json(job.result_path(out)))
            if (result.student_id, result.notebook) != (job.student_id, job.notebook):
                raise ValueError("the result of another notebook")
        except ValueError as error:
            failure = failures.get(job)
            why = f"{type(failure).__name__}: {failure}" if failure else str(error)
            print(f"cs231n-grade: {job.label}: no readable result ({why})", file=sys.stderr)
            result = _not_graded(job, "its result could not be read; run the grader again")
        results.append(result)
    return results


def _not_graded(job: StudentJob, reason: str) -> NotebookResult:
    message = f"grader error (not the student's): {reason}"
    try:
        return job._without_run("grader_error", message)
    except Exception:  # the course itself cannot be read: a result without questions
        return NotebookResult(job.student_id, job.notebook, "grader_error", "", message=message)


def _attempt(what: str, step, *args) -> bool:
    """Run one output step; False (reported) if it failed, so the others are still written."""
    try:
        step(*args)
    except Exception as error:
        print(f"cs231n-grade: could not write {what}: {type(error).__name__}: {error}")
        return False
    return True


def finish(args, out: Path, db_url: str, jobs, results: list[NotebookResult], handle) -> int:
    """Write every output from the results, each on its own: one that fails is reported and
    makes the exit status 1, and the others are still written."""
    written = [
        _attempt("scores.csv", write_scores, results, out / "scores.csv"),
        _attempt("the gradebook", gradebook.sync, db_url, results),
    ]
    written.append(written[-1] and _attempt("grades.csv", gradebook.export_grades, out, db_url))
    for job, result in zip(jobs, results, strict=True):
        try:
            write_autograded(out, result, job.path and Path(job.path))
        except Exception as error:  # formgrader's copy only: the scores are already written
            print(f"could not write the autograded copy of {job.label}: {error}", file=sys.stderr)
    written.append(_attempt("the feedback pages", write_feedback, results, out / "feedback"))
    rows = [
        Score(r.student_id, r.notebook, q.question, q.points, q.max_points,
              "hand" if q.status == "hand" else "autograder")
        for r in results
        for q in r.questions
    ]  # fmt: skip
    print(format_table(rows))
    print(summary(results))
    print(f"\noutputs in {out}: scores.csv, grades.csv, feedback/, gradebook ({db_url})")
    code = 0 if all(written) else 1
    errors = [r for r in results if r.status == "grader_error"]
    if errors:
        print(f"\n{len(errors)} notebook(s) not graded because of a grader problem; run again:")
        for r in errors:
            print(f"  {r.student_id} {r.notebook}: {r.message}")
        code = 1
    if args.expect and not report_mismatches(rows, args.expect):
        code = 1
    handle.close()
    return code


def summary(results: list[NotebookResult]) -> str:
    questions = [(r, q) for r in results for q in r.questions if q.status != "hand"]
    count = {s: sum(q.status == s for _, q in questions) for s in ("timeout", "memory", "crashed")}
    by_status = {s: sum(r.status == s for r in results) for s in ("missing", "invalid")}
    graded = sum(r.status == "ok" for r in results)
    lines = [
        f"\n{graded} notebooks graded, {by_status['missing']} missing, {by_status['invalid']} "
        f"invalid, {sum(r.status == 'grader_error' for r in results)} grader errors; questions "
        f"timed out {count['timeout']}, out of memory {count['memory']}, crashed "
        f"{count['crashed']}",
        "mean points per question:",
    ]
    per_question: dict[tuple[str, str], list[float]] = {}
    for r, q in questions:
        if q.points is not None:
            per_question.setdefault((r.notebook, q.question), []).append(q.points / q.max_points)
    for (notebook, question), values in sorted(per_question.items()):
        lines.append(f"  {notebook} {question}: {statistics.mean(values):.0%}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.check_sandbox:
        capabilities = sandbox.probe()
        print(sandbox.report(capabilities))
        return 1 if sandbox.missing(capabilities) else 0
    try:
        return grade(args)
    except KeyboardInterrupt:
        # Finished notebooks are on disk; the running ones die with this process (bubblewrap's
        # --die-with-parent), so do not wait for the worker threads to finish them.
        print("\ncs231n-grade: interrupted; run the same command again to resume.", flush=True)
        os._exit(130)


if __name__ == "__main__":
    sys.exit(main())
