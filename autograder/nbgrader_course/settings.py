"""nbgrader's settings for this course, shared by every way nbgrader is run here.

`apply` fills a traitlets config; `write_config_file` writes the same settings as an
`nbgrader_config.py` into a course folder so that nbgrader's own commands (autograde,
formgrader, export) read them there.
"""

from __future__ import annotations

from pathlib import Path

from autograder.course import REPO_ROOT

# Solution regions become this comment; the code around it keeps the exercise's `None`
# placeholders, so an unfinished exercise fails its check with "... is None: the exercise is
# not finished yet" instead of nbgrader's default `raise NotImplementedError()`.
CODE_STUB = "# YOUR CODE HERE"
TEXT_STUB = "YOUR ANSWER HERE"
CELL_TIMEOUT_S = 300  # one cell; the slowest graded cell takes a few seconds


def apply(c, root: Path, source: str = "source", release: str = "release") -> None:
    """Set the course's nbgrader options on config object `c` for the course folder `root`."""
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.source_directory = source
    c.CourseDirectory.release_directory = release
    c.CourseDirectory.db_url = f"sqlite:///{Path(root) / 'gradebook.db'}"
    c.ClearSolutions.code_stub = {"python": CODE_STUB}
    c.ClearSolutions.text_stub = TEXT_STUB
    c.Execute.timeout = CELL_TIMEOUT_S
    c.Execute.allow_errors = True


def write_config_file(root: Path, db_url: str | None = None) -> Path:
    """Write an nbgrader_config.py into course folder `root` that applies these settings."""
    lines = [
        "# Written by the course's autograder; nbgrader reads it when run in this folder.",
        "import sys",
        f"sys.path.insert(0, {str(REPO_ROOT)!r})",
        "from autograder.nbgrader_course.settings import apply",
        "c = get_config()  # noqa: F821",
        f"apply(c, root={str(root)!r})",
    ]
    if db_url:
        lines.append(f"c.CourseDirectory.db_url = {db_url!r}")
    path = Path(root) / "nbgrader_config.py"
    path.write_text("\n".join(lines) + "\n")
    return path
