"""nbgrader's settings for this course, shared by every way nbgrader is run here.

`write_config_file` writes them as `nbgrader_config.json` into a course folder, so that
nbgrader's own commands (autograde, formgrader, export) read them there.
"""

from __future__ import annotations

import json
from pathlib import Path

# Solution regions become this comment; the code around it keeps the exercise's `None`
# placeholders, so an unfinished exercise fails its check with "... is None: the exercise is
# not finished yet" instead of nbgrader's default `raise NotImplementedError()`.
CODE_STUB = "# YOUR CODE HERE"
TEXT_STUB = "YOUR ANSWER HERE"
CELL_TIMEOUT_S = 300  # one cell; the slowest graded cell takes a few seconds
COURSE_ID = "cs231n-dl-software"
# nbgrader's exchange (release/collect/feedback between accounts on one machine) is kept in
# the course folder: formgrader needs one to show an assignment as released and to drop its
# warning banner. Students here submit files (cs231n-submit, an LMS), not through it.
EXCHANGE = "exchange"


def settings(root: Path, db_url: str | None = None) -> dict:
    """nbgrader's options for the course folder `root`, as a traitlets config (nested dicts)."""
    return {
        "CourseDirectory": {
            "root": str(root),
            "source_directory": "source",
            "release_directory": "release",
            "db_url": db_url or f"sqlite:///{Path(root) / 'gradebook.db'}",
            "course_id": COURSE_ID,
        },
        "Exchange": {"root": str(Path(root) / EXCHANGE)},
        # `nbgrader export` writes grades.csv as cs231n-grade does: a column per notebook
        "ExportApp": {"plugin_class": "autograder.nbgrader_course.export.NotebookCsvExportPlugin"},
        "ClearSolutions": {"code_stub": {"python": CODE_STUB}, "text_stub": TEXT_STUB},
        "Execute": {"timeout": CELL_TIMEOUT_S, "allow_errors": True},
    }


def write_config_file(root: Path, db_url: str | None = None) -> Path:
    """Write the settings into course folder `root` as nbgrader_config.json, which nbgrader's
    own commands (autograde, formgrader, export) read when run there: data, not code."""
    legacy = Path(root) / "nbgrader_config.py"  # what earlier versions wrote there
    if legacy.is_file() and legacy.read_text().startswith("# Written by the course's autograder"):
        legacy.unlink()
    path = Path(root) / "nbgrader_config.json"
    path.write_text(json.dumps(settings(root, db_url), indent=1) + "\n")
    return path
