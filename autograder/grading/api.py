"""grade(): cs231n-grade as a library call, with typed settings in and typed results out.

    from autograder.grading import api, config
    settings = dataclasses.replace(config.load(), workers=4, progress=False)
    graded = api.grade(Path("class"), Path("out"), settings, notebooks=["01_numpy_gradients"])
    graded.results  # every NotebookResult in OUT, this run's and earlier runs'

It runs exactly what the command runs (cli.grade: identities, references, sandboxed kernels,
every output rebuilt in OUT); where the command would stop with a message, grade() raises
GradingRefused with that message instead of exiting. The Gradescope autograder calls it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from autograder.grading import cli, config
from autograder.grading.outputs import all_results
from autograder.results import NotebookResult


class GradingRefused(RuntimeError):
    """cs231n-grade would not grade (a missing sandbox, an unreadable roster, no students...):
    the message it gives instructors. Nothing in OUT was changed by the refused part."""


@dataclass
class Graded:
    code: int  # the command's exit status: 0, or 1 (a solution could not be graded, --expect)
    out: Path
    results: list[NotebookResult]  # every result in OUT as graded (hand grades: gradebook)

    def points(self) -> dict[tuple[str, str, str], float | None]:
        """(student id, notebook, question) -> the grader's points (None: awaits a hand
        grader, or the grader failed)."""
        return {
            (r.student_id, r.notebook, q.question): q.points
            for r in self.results
            for q in r.questions
        }


def grade(
    submissions: Path,
    out: Path,
    settings: config.GraderConfig | None = None,
    *,
    students: list[str] | None = None,
    force: bool = False,
    notebooks: list[str] | None = None,
    references: Path | None = None,
    expect: Path | None = None,
) -> Graded:
    """Grade `submissions` into `out` with `settings` (default: config.load(out), what the
    command would use with no flags). Raises GradingRefused where the command would exit."""
    argv = [str(submissions), "--out", str(out)]
    argv += ["--students", *students] if students else []
    argv += ["--notebooks", *notebooks] if notebooks else []
    argv += ["--references", str(references)] if references else []
    argv += ["--expect", str(expect)] if expect else []
    argv += ["--force"] if force else []
    try:
        args = cli.parse(argv)
        if settings is not None:
            config.apply(args, settings)
            args.settings = settings
            args.sources = {f.name: "grade()" for f in fields(settings)}
        code = cli.grade(args)
    except SystemExit as stop:
        if isinstance(stop.code, str):
            raise GradingRefused(stop.code.removeprefix("cs231n-grade: ").strip()) from None
        raise GradingRefused(f"cs231n-grade stopped with status {stop.code}") from None
    return Graded(code, Path(out), all_results(Path(out).resolve(), []))
