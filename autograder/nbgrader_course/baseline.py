"""Grade a folder of submissions with nbgrader's autograde and print a score table.

    python -m autograder.nbgrader_course.baseline SUBMISSIONS --out DIR

SUBMISSIONS holds one folder per student (the folder name is the student id) with that
student's notebooks, named as in the release. DIR becomes an nbgrader course folder: its
gradebook.db, nbgrader_config.json and autograded/ folders work with `nbgrader formgrader`
and `nbgrader export` run inside it. DIR/scores.csv has one row per student and graded cell.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

from autograder.course import ASSIGNMENT, notebook_names
from autograder.nbgrader_course import folder as course_folder
from autograder.nbgrader_course.apps import run_nbgrader
from autograder.scores import Score, cell_position, format_table, report_mismatches

SCORE_COLUMNS = ("student_id", "notebook", "question", "points", "max_points", "graded_by")


def collect(submissions: Path, out: Path) -> list[str]:
    """Copy each student's notebooks into out/submitted/<student>/<assignment>/; return ids."""
    expected = set(notebook_names())
    students = []
    for folder in sorted(p for p in submissions.iterdir() if p.is_dir()):
        target = out / "submitted" / folder.name / ASSIGNMENT
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for name in sorted(expected):
            if (folder / name).is_file():
                shutil.copyfile(folder / name, target / name)
        students.append(folder.name)
    return students


def read_scores(out: Path) -> list[Score]:
    """Every grade in the course folder's gradebook, one Score per student and grade cell."""
    from nbgrader.api import Gradebook

    rows = []
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gradebook:
        for submission in gradebook.assignment_submissions(ASSIGNMENT):
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    hand = grade.cell.cell_type == "markdown"
                    # nbgrader scores an untouched answer 0 itself; others await a grader.
                    points = None if grade.needs_manual_grade else grade.score
                    rows.append(
                        Score(
                            student_id=submission.student.id,
                            notebook=notebook.name,
                            question=grade.name,
                            points=None if points is None else float(points),
                            max_points=float(grade.max_score),
                            graded_by="hand" if hand else "autograder",
                        )
                    )
    return sorted(rows, key=lambda s: (s.student_id, s.notebook, cell_position(s)))


def write_scores(rows: list[Score], path: Path) -> None:
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=SCORE_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))


def grade(submissions: Path, out: Path, workers: int | None = None) -> list[Score]:
    """Autograde every student in `submissions` into course folder `out`; return the scores."""
    course_folder.prepare(out)
    students = collect(submissions, out)
    if not students:
        raise SystemExit(f"no student folders in {submissions}")
    # One nbgrader process per student, `workers` at a time: nbgrader grades notebooks one
    # after another, and students are independent. They share the SQLite gradebook, whose
    # writes are short and wait for each other's locks.
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        list(
            pool.map(
                lambda student: run_nbgrader(
                    out, "autograde", ASSIGNMENT, "--force", "--student", student
                ),
                students,
            )
        )
    rows = read_scores(out)
    write_scores(rows, out / "scores.csv")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--workers", type=int, help="students graded at once (default: the number of cores)"
    )
    parser.add_argument(
        "--expect", type=Path, help="a CSV of expected scores; exit 1 if any score differs"
    )
    args = parser.parse_args(argv)
    rows = grade(args.submissions.resolve(), args.out.resolve(), args.workers)
    print(format_table(rows))
    print(f"\nscores: {args.out / 'scores.csv'}; gradebook: {args.out / 'gradebook.db'}")
    return 0 if not args.expect or report_mismatches(rows, args.expect) else 1


if __name__ == "__main__":
    sys.exit(main())
