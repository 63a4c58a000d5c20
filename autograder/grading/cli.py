"""cs231n-grade: grade a class's notebooks in parallel, in sandboxes, resumably.

    cs231n-grade SUBMISSIONS --out DIR [--workers N] [--students ID...] [--isolation LEVEL]
    cs231n-grade SUBMISSIONS --out DIR --scheduler tcp://HOST:PORT   # on a Dask cluster
    cs231n-grade --merge-students OLD=NEW --out DIR [--dry-run]
    cs231n-grade --check-sandbox
    cs231n-grade --check-host [--isolation LEVEL]   # can a graded kernel read a solution copy?

SUBMISSIONS is a folder with one folder per student (its name is the student id), a .zip of
such a folder, a folder of the zips `cs231n-submit` writes, or Canvas's submissions download
(autograder/grading/layouts.py); the mapping to student ids is printed and kept in
DIR/students.csv. DIR becomes an nbgrader course folder: gradebook.db (or --db URL),
grades.csv (nbgrader export's columns), scores.csv (one row per student, notebook and
question, with a status), grades_by_notebook.csv, canvas_grades.csv, question_stats.csv,
feedback/<student>.html, and autograded/ for formgrader. Every output is rebuilt from all the
results in DIR and the hand grades in the gradebook, so grading late students or regrading
some (--students) keeps everyone else. Interrupted and run again, it grades only what is
left and ends with the same files.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from autograder.course import SOLUTIONS, notebook_names
from autograder.grading import config, hostcheck, layouts, merge, sandbox, shipped, uids
from autograder.grading.cgroups import remove_stale_cgroups
from autograder.grading.collect import load_results
from autograder.grading.identity import IdentityError, read_roster
from autograder.grading.jobs import (
    Settings,
    StudentJob,
    grader_key,
    reference_problem,
    solution_key,
)
from autograder.grading.messages import Limits
from autograder.grading.outputs import configure, finish
from autograder.grading.plan import describe, plan
from autograder.grading.references import ReferenceJob
from autograder.grading.scheduler import LocalExecutor, run_all
from autograder.grading.submissions import SubmissionsError
from autograder.nbgrader_course import folder as course_folder

UNSAFE_FLAG = "--unsafe-run-student-code-without-sandbox"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="cs231n-grade",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("submissions", type=Path, nargs="?", help="folder or .zip")
    parser.add_argument("--out", type=Path, help="the grading folder (created if missing)")
    parser.add_argument("--references", type=Path, metavar="FILE", help="the solution's answers, "
                        "computed elsewhere (the Gradescope build): run no solution")  # fmt: skip
    parser.add_argument("--notebooks", nargs="+", metavar="NAME",
                        help="grade only these notebooks (file stems)")  # fmt: skip
    parser.add_argument(
        "--students", nargs="+", metavar="ID",
        help="grade only these students (ids or names as found); everyone else is kept",
    )  # fmt: skip
    parser.add_argument(
        "--force", action="store_true",
        help="grade again what --students names (all without it), though its result is current",
    )  # fmt: skip
    parser.add_argument("--expect", type=Path, help="CSV of expected scores; exit 1 on a mismatch")
    parser.add_argument("--check-sandbox", action="store_true", help="report isolation; exit")
    parser.add_argument("--check-host", action="store_true", help="plant canary solutions "
                        "where copies usually are, report which a graded kernel reads")  # fmt: skip
    parser.add_argument(UNSAFE_FLAG, dest="unsafe", action="store_true", help="grade without "
                        "isolation: student code runs with your privileges")  # fmt: skip
    parser.add_argument(
        "--merge-students", metavar="OLD=NEW",
        help="make student OLD, split off by an earlier run, part of NEW in --out (see merge.py)",
    )  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="with --merge-students: only say")
    config.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.merge_students and args.out is None:
        parser.error("--merge-students needs --out")
    try:
        args.settings, args.sources = config.resolve(args)
    except config.ConfigError as error:
        parser.error(str(error))
    config.apply(args, args.settings)
    checks = args.check_sandbox or args.check_host or args.merge_students or args.print_config
    if not checks and None in (args.submissions, args.out):
        parser.error("SUBMISSIONS and --out are required (or --check-sandbox, --check-host)")
    return args


def isolation(args) -> sandbox.Isolation:
    """The isolation level to grade at: --isolation's (the sandbox by default). Exits when it
    is not available here, naming the weaker levels that are, unless the instructor
    explicitly chose to run student code unisolated (the flag also forces that choice). On a
    Dask cluster each worker checks its own sandbox (cluster.GraderCheck), not this machine."""
    if args.scheduler and args.isolation is sandbox.Isolation.UID and not args.unsafe:
        sys.exit(
            "cs231n-grade: the 'uid' level rests on file permissions that the grader checks on "
            "its own machine; on a Dask cluster grade at 'sandbox' or 'namespaces'."
        )
    capabilities = [] if args.scheduler else sandbox.probe()
    missing = [] if args.scheduler else sandbox.missing(capabilities, args.isolation)
    if args.unsafe:
        banner = "!" * 78
        gaps = "not checked (the workers run the notebooks)" if args.scheduler else None
        gaps = gaps or ", ".join(missing) or "none"
        print(
            f"{banner}\nWARNING: grading WITHOUT A SANDBOX ({UNSAFE_FLAG}).\nStudent code "
            "runs with your privileges: it can read and change your files, the gradebook and\n"
            f"other students' work, and reach the network. Sandbox parts missing here: "
            f"{gaps}.\n{banner}",
            file=sys.stderr,
        )
        return sandbox.Isolation.NONE
    if missing:
        print(sandbox.report(capabilities), file=sys.stderr)
        levels = list(sandbox.Isolation)
        weaker = [
            str(level)
            for level in sandbox.available_levels(capabilities)
            if levels.index(level) > levels.index(args.isolation)
            and level is not sandbox.Isolation.NONE
        ]
        offer = (
            f"--isolation {' or '.join(weaker)} (weaker: see above what each does not protect)"
            if weaker
            else "no weaker level works here either"
        )
        sys.exit(
            f"\ncs231n-grade: refusing to run student code at isolation level "
            f"'{args.isolation}' (missing: {', '.join(missing)}).\nInstall bubblewrap and run "
            f"as root (see README); available here: {offer}; or pass {UNSAFE_FLAG} to grade "
            "with no sandbox at all."
        )
    if args.isolation is not sandbox.Isolation.SANDBOX:
        print(
            f"cs231n-grade: grading at isolation level '{args.isolation}'. Not protected: "
            f"{sandbox.LEVELS[args.isolation].does_not}.",
            file=sys.stderr,
        )
    return args.isolation


def lock(out: Path):
    out.mkdir(parents=True, exist_ok=True)
    handle = open(out / ".cs231n-grade.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(f"cs231n-grade: another cs231n-grade is grading into {out}; wait for it")
    return handle


def grade(args) -> int:
    out = args.out.resolve()
    level = isolation(args)
    handle = lock(out)
    remove_stale_cgroups()
    notebooks = args.notebooks or [Path(n).stem for n in notebook_names()]
    unknown = set(notebooks) - {Path(n).stem for n in notebook_names()}
    if unknown:
        sys.exit(f"cs231n-grade: no such notebook(s): {', '.join(sorted(unknown))}")
    if args.references:  # the solution's runs, computed elsewhere: no solution runs here
        shipped.install_or_exit(args.references, out, notebooks)
    try:
        args.roster_rows = read_roster(args.roster) if args.roster else []
    except (OSError, ValueError, UnicodeDecodeError) as error:
        sys.exit(f"cs231n-grade: cannot read the roster: {error}")
    try:
        configure(out, args)  # the Canvas export and late policy, kept in OUT
    except ValueError as error:
        sys.exit(f"cs231n-grade: {error}")
    try:
        expected = [f"{n}.ipynb" for n in notebooks]
        students, folder = layouts.find_students(
            args.submissions.resolve(), out, expected, args.roster_rows, args.students
        )
    except (SubmissionsError, IdentityError) as error:
        sys.exit(f"cs231n-grade: {error}")
    if not students:
        sys.exit(f"cs231n-grade: no student folders in {args.submissions}")
    db_url = args.db or course_folder.default_db_url(out)
    settings = Settings(
        limits=Limits(
            memory_bytes=args.memory_mb * 2**20,
            processes=args.processes,
            cell_timeout_s=args.cell_timeout,
        ),
        notebook_timeout_s=args.notebook_timeout,
        isolation=level,
        reasons=args.reasons,
        hidden=[str(p.resolve()) for p in (out, folder, args.submissions, args.references) if p],
    )
    if level is sandbox.Isolation.UID:
        slot_uids = [sandbox.FIRST_SANDBOX_UID + w for w in range(max(1, args.workers))]
        try:
            uids.protect(out, settings.hidden, slot_uids)
        except PermissionError as error:
            sys.exit(f"cs231n-grade: {error}")
    executor = make_executor(args, notebooks, level)
    # nbgrader's generate_assignment registers the assignment in the gradebook; it is needed
    # only when the results are written, so it runs beside the grading.
    preparing = ThreadPoolExecutor(max_workers=1)
    prepared = preparing.submit(course_folder.prepare, out, SOLUTIONS, db_url)
    progress = args.progress
    try:
        references = [ReferenceJob(n, r) for n in notebooks for r in (0, 1)]
        todo = [job for job in references if not _done(job, out)]
        failed = [
            f"{job.label}: {result}"
            for job, result in run_all(
                executor,
                todo,
                lambda job: job.task(settings),
                lambda job, returned: job.finish(out, returned),
                "solutions",
                progress,
            )  # fmt: skip
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
        reasons = plan(jobs, out, args.force)
        print(describe(reasons, len(jobs)))
        todo = list(reasons)
        shared = {}  # notebook -> its checked references, sent once to every machine

        def task(job: StudentJob) -> tuple:
            if job.notebook not in shared:
                references = reference_problem(out, job.notebook)
                shared[job.notebook] = (
                    executor.share(references) if isinstance(references, dict) else references
                )
            return job.task(settings, shared[job.notebook])

        failures = {
            job: error
            for job, error in run_all(
                executor,
                todo,
                task,
                lambda job, returned: job.finish(out, returned),
                "students",
                progress,
            )  # fmt: skip
            if isinstance(error, BaseException)
        }
    finally:
        executor.shutdown()
        preparing.shutdown()
    prepared.result()  # its error, if any, stops here: nothing is half-written
    code = finish(args, out, db_url, jobs, load_results(out, jobs, failures))
    handle.close()
    return code


def make_executor(args, notebooks: list[str], level: sandbox.Isolation):
    """A DaskExecutor on the cluster of --scheduler, else a LocalExecutor of --workers."""
    if not args.scheduler:
        return LocalExecutor(max(1, args.workers))
    from autograder.grading.cluster import DaskExecutor, Expected

    expected = Expected(grader_key(), {n: solution_key(n) for n in notebooks}, str(level))
    try:
        return DaskExecutor(args.scheduler, expected)
    except (OSError, RuntimeError) as error:  # no scheduler there, or no worker accepts
        sys.exit(f"cs231n-grade: cannot grade on {args.scheduler}: {error}")


def _done(job, out: Path) -> bool:
    """Whether a job's result is on disk and current; a result that cannot be read is not."""
    try:
        return job.done(out)
    except Exception:
        return False


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.print_config:
        print(config.show(args.settings, args.sources), end="")
        return 0
    if args.check_sandbox:
        capabilities = sandbox.probe()
        print(sandbox.report(capabilities))
        return 1 if sandbox.missing(capabilities) else 0
    if args.check_host:
        limits = Limits(memory_bytes=args.memory_mb * 2**20, processes=args.processes)
        return hostcheck.main(isolation(args), limits, args.out)
    if args.merge_students:
        out = args.out.resolve()
        with lock(out):
            db_url = args.db or course_folder.default_db_url(out)
            return merge.command(out, db_url, args.merge_students, args.dry_run)
    try:
        return grade(args)
    except KeyboardInterrupt:
        # Finished notebooks are on disk; the running ones die with this process (bubblewrap's
        # --die-with-parent), so do not wait for the worker threads to finish them.
        print("\ncs231n-grade: interrupted; run the same command again to resume.", flush=True)
        os._exit(130)


if __name__ == "__main__":
    sys.exit(main())
