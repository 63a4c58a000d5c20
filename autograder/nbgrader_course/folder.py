"""One way to make an nbgrader course folder: the release build, the batch grader's output
folder and the plain-nbgrader baseline all prepare theirs here.

A course folder holds source/<assignment>/ (the solutions), nbgrader's settings
(nbgrader_config.json) and a gradebook in which `nbgrader generate_assignment` registered the
assignment, with release/<assignment>/ beside it, released (`nbgrader release_assignment`)
into the folder's own exchange/ so that formgrader shows it as released, without a banner.
"""

from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path

from autograder.course import ASSIGNMENT, SOLUTIONS
from autograder.nbgrader_course.apps import run_nbgrader
from autograder.nbgrader_course.settings import write_config_file
from autograder.results import sha256
from cs231n_utils.files import atomic_write

STAMP = ".prepared"  # what the folder was prepared from, to skip preparing it again


def default_db_url(out: Path) -> str:
    return f"sqlite:///{out / 'gradebook.db'}"


def prepare(out: Path, source: Path = SOLUTIONS, db_url: str | None = None) -> None:
    """Make `out` an nbgrader course folder for the notebooks in `source`, its gradebook at
    `db_url` (default: out/gradebook.db) knowing the assignment. Skipped when the folder was
    already prepared from the same notebooks, nbgrader and gradebook (a rerun), unless the
    default gradebook's file is gone (deleted: the assignment is registered again)."""
    db_url = db_url or default_db_url(out)
    default = db_url == default_db_url(out)
    key = sha256(
        metadata.version("nbgrader"),
        "generated and released",  # what preparing does: a folder prepared before is redone
        "default gradebook" if default else db_url,
        *(path.read_bytes() for path in sorted(source.glob("*.ipynb"))),
    )
    out.mkdir(parents=True, exist_ok=True)
    write_config_file(out, None if default else db_url)  # names `out`: rewritten if it moved
    stamp = out / STAMP
    gradebook_kept = not default or (out / "gradebook.db").is_file()
    if stamp.is_file() and stamp.read_text() == key and gradebook_kept:
        return
    target = out / "source" / ASSIGNMENT
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    run_nbgrader(out, "generate_assignment", ASSIGNMENT, "--force")
    # into the folder's own exchange, so formgrader lists the assignment as released
    run_nbgrader(out, "release_assignment", ASSIGNMENT, "--force")
    atomic_write(stamp, key)
