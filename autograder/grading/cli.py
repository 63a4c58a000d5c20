"""cs231n-grade: grade a class's notebooks in parallel, in sandboxes, resumably.

    cs231n-grade SUBMISSIONS --out DIR [--workers N] [--students ID...] [--isolation LEVEL]
    cs231n-grade SUBMISSIONS --out DIR --scheduler tcp://HOST:PORT   # on a Dask cluster
    cs231n-grade --merge-students OLD=NEW --out DIR [--dry-run]
    cs231n-grade --check-sandbox
    cs231n-grade --check-host [--isolation LEVEL]   # can a graded kernel read a solution copy?

SUBMISSIONS is a folder with one folder per student (its name is the student id), a .zip of
such a folder, a folder of the zips `cs231n-submit` writes, or Canvas's submissions download
(autograder/grading/inputs/layouts.py); the mapping to student ids is printed and kept in
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
import os
import sys
from pathlib import Path

from autograder.grading import api, config
from autograder.grading.api import UNSAFE_FLAG
from autograder.grading.isolation import hostcheck, sandbox
from autograder.grading.isolation.messages import Limits
from autograder.grading.reporting import merge
from autograder.nbgrader_course import folder as course_folder


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="cs231n-grade",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("submissions", type=Path, nargs="?", help="folder or .zip")
    parser.add_argument("--out", type=Path, help="the grading folder (created if missing)")
    parser.add_argument(
        "--references",
        type=Path,
        metavar="FILE",
        help="the solution's answers, computed elsewhere (the Gradescope build): run no solution",
    )
    parser.add_argument(
        "--notebooks", nargs="+", metavar="NAME", help="grade only these notebooks (file stems)"
    )
    parser.add_argument(
        "--students",
        nargs="+",
        metavar="ID",
        help="grade only these students (ids or names as found); everyone else is kept",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="grade again what --students names (all without it), though its result is current",
    )
    parser.add_argument("--expect", type=Path, help="CSV of expected scores; exit 1 on a mismatch")
    parser.add_argument("--check-sandbox", action="store_true", help="report isolation; exit")
    parser.add_argument(
        "--check-host",
        action="store_true",
        help="plant canary solutions where copies usually are, report which a graded kernel reads",
    )
    parser.add_argument(
        UNSAFE_FLAG,
        dest="unsafe",
        action="store_true",
        help="grade without isolation: student code runs with your privileges",
    )
    parser.add_argument(
        "--merge-students",
        metavar="OLD=NEW",
        help="make student OLD, split off by an earlier run, part of NEW in --out (see merge.py)",
    )
    parser.add_argument("--dry-run", action="store_true", help="with --merge-students: only say")
    config.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.merge_students and args.out is None:
        parser.error("--merge-students needs --out")
    try:
        args.settings, args.sources = config.resolve(args)
    except config.ConfigError as error:
        parser.error(str(error))
    checks = args.check_sandbox or args.check_host or args.merge_students or args.print_config
    if not checks and None in (args.submissions, args.out):
        parser.error("SUBMISSIONS and --out are required (or --check-sandbox, --check-host)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        return run(args)
    except api.GradingRefused as refused:
        sys.exit(f"cs231n-grade: {refused}")


def run(args: argparse.Namespace) -> int:
    settings = args.settings
    if args.print_config:
        print(config.show(settings, args.sources), end="")
        return 0
    if args.check_sandbox:
        capabilities = sandbox.probe()
        print(sandbox.report(capabilities))
        return 1 if sandbox.missing(capabilities) else 0
    if args.check_host:
        limits = Limits(memory_bytes=settings.memory_mb * 2**20, processes=settings.processes)
        level = api.isolation(settings, args.unsafe)
        return hostcheck.main(level, limits, args.out, settings.warm_kernels)
    if args.merge_students:
        out = args.out.resolve()
        with api.lock(out):
            db_url = settings.db or course_folder.default_db_url(out)
            return merge.command(out, db_url, args.merge_students, args.dry_run)
    try:
        graded = api.grade(
            args.submissions,
            args.out,
            settings,
            students=args.students,
            force=args.force,
            notebooks=args.notebooks,
            references=args.references,
            expect=args.expect,
            unsafe=args.unsafe,
        )
    except KeyboardInterrupt:
        # Finished notebooks are on disk; the running ones die with this process (bubblewrap's
        # --die-with-parent), so do not wait for the worker threads to finish them.
        print("\ncs231n-grade: interrupted; run the same command again to resume.", flush=True)
        os._exit(130)
    return graded.code


if __name__ == "__main__":
    sys.exit(main())
