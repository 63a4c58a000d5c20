"""Grade a folder of submissions with nbgrader's autograde and print a score table.

    python -m autograder.nbgrader_course.baseline SUBMISSIONS --out DIR

SUBMISSIONS holds one folder per student (the folder name is the student id) with that
student's notebooks, named as in the release. DIR becomes an nbgrader course folder: its
gradebook.db, nbgrader_config.py and autograded/ folders work with `nbgrader formgrader`
and `nbgrader export` run inside it. DIR/scores.csv has one row per student and graded cell.
"""

from __future__ import annotations

import argparse
import csv
import functools
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from autograder.course import ASSIGNMENT, SOLUTIONS, notebook_names
from autograder.nbgrader_course.apps import run_nbgrader
from autograder.nbgrader_course.settings import write_config_file
from autograder.notebooks import grade_id, read

SCORE_COLUMNS = ("student_id", "notebook", "question", "points", "max_points", "graded_by")


@dataclass(frozen=True)
class Score:
    student_id: str
    notebook: str  # file stem, e.g. "01_numpy_gradients"
    question: str  # the grade cell's grade_id
    points: float | None  # None while an answer awaits its hand grader
    max_points: float
    graded_by: str  # "autograder" or "hand"


def prepare_course(out: Path) -> None:
    """Make `out` an nbgrader course folder with the assignment registered in its gradebook."""
    out.mkdir(parents=True, exist_ok=True)
    source = out / "source" / ASSIGNMENT
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(SOLUTIONS, source)
    write_config_file(out)
    run_nbgrader(out, "generate_assignment", ASSIGNMENT, "--force")


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


def cell_position(score: Score) -> int:
    """Where a graded cell stands in its solution notebook, to list questions in course order."""
    return _cell_positions(score.notebook).get(score.question, 10**6)


@functools.cache
def _cell_positions(notebook: str) -> dict[str, int]:
    nb = read(SOLUTIONS / f"{notebook}.ipynb")
    return {grade_id(cell): i for i, cell in enumerate(nb.cells) if grade_id(cell)}


def write_scores(rows: list[Score], path: Path) -> None:
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=SCORE_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))


def format_table(rows: list[Score]) -> str:
    """Questions down, students across: 'points/max' for autograded cells."""
    students = sorted({r.student_id for r in rows})
    questions = sorted(
        {(r.notebook, r.question) for r in rows},
        key=lambda nq: (nq[0], _cell_positions(nq[0]).get(nq[1], 10**6)),
    )
    cell = {(r.student_id, r.notebook, r.question): r for r in rows}
    width = max(len(f"{n} {q}") for n, q in questions) + 2
    col = max(12, *(len(s) + 2 for s in students))
    lines = [f"{'question':<{width}}" + "".join(f"{s:>{col}}" for s in students)]
    totals = {s: [0.0, 0.0] for s in students}
    for notebook, question in questions:
        line = f"{notebook + ' ' + question:<{width}}"
        for s in students:
            r = cell.get((s, notebook, question))
            if r is None:
                text = "-"
            elif r.points is None:
                text = f"?/{r.max_points:g}"
            else:
                text = f"{r.points:g}/{r.max_points:g}"
            if r is not None and r.graded_by == "autograder":
                totals[s][0] += r.points or 0.0
                totals[s][1] += r.max_points
            line += f"{text:>{col}}"
        lines.append(line)
    lines.append(
        f"{'autograded total':<{width}}"
        + "".join(f"{f'{totals[s][0]:g}/{totals[s][1]:g}':>{col}}" for s in students)
    )
    if any(r.graded_by == "hand" and r.points is None for r in rows):
        lines.append("?: a written answer that awaits hand grading (nbgrader formgrader)")
    return "\n".join(lines)


def grade(submissions: Path, out: Path, workers: int | None = None) -> list[Score]:
    """Autograde every student in `submissions` into course folder `out`; return the scores."""
    prepare_course(out)
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


def mismatches(rows: list[Score], expected_csv: Path) -> list[str]:
    """Differences between autograded scores and a table of expected ones
    (columns student_id, notebook, question, points, max_points)."""
    with open(expected_csv, newline="") as file:
        expected = {
            (r["student_id"], r["notebook"], r["question"]): (
                float(r["points"]),
                float(r["max_points"]),
            )
            for r in csv.DictReader(file)
        }
    got = {
        (r.student_id, r.notebook, r.question): (r.points, r.max_points)
        for r in rows
        if r.graded_by == "autograder"
    }
    found = []
    for key in sorted(expected.keys() | got.keys()):
        if expected.get(key) != got.get(key):
            found.append(f"{'/'.join(key)}: expected {expected.get(key)}, got {got.get(key)}")
    return found


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
    if args.expect:
        found = mismatches(rows, args.expect)
        for line in found:
            print(f"MISMATCH {line}")
        print(f"{'differs from' if found else 'matches'} {args.expect}")
        return 1 if found else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
