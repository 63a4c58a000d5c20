"""What makes the notebooks open and run on Google Colab, written from course.REPOSITORY.

`make release` applies these to solutions/ (then nbgrader carries them into the release):
- an "Open in Colab" badge on the line after each notebook's title, and one per notebook in the
  README's notebook table;
- the Colab block at the top of each setup cell. On Colab it clones the repository once per
  session (the helpers, data/ and the release notebooks that cs231n-submit compares with)
  and installs cs231n_utils from it with `--no-deps`, so Colab's own NumPy, PyTorch and
  TensorFlow are never replaced; anywhere else it does nothing.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

from autograder.course import ASSIGNMENT, BRANCH, REPOSITORY
from autograder.notebooks import grade_id

BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
CLONE_DIR = "/content/cs231n-dl-software"  # Colab's working folder is /content
SETUP_ID = "setup"  # grade_id of the locked setup cell

COLAB_BLOCK = """\
# Colab only: fetch the course's helpers and data once per session. Elsewhere, nothing happens.
import os
import subprocess
import sys

if "google.colab" in sys.modules:
    REPOSITORY = "{repository}"
    COURSE = "{clone_dir}"
    if not os.path.isdir(COURSE):
        for command in (
            ["git", "clone", "--quiet", "--depth=1", REPOSITORY, COURSE],
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "-e", COURSE],
        ):
            subprocess.run(command, check=True)
    sys.path.insert(0, COURSE)  # this kernel started before the install
"""
# The block as stamped earlier, whatever the address was then: from its first line to its last.
_BLOCK_RE = re.compile(
    r"^# Colab only: fetch the course's helpers.*?\n    sys\.path\.insert\(0, COURSE\)[^\n]*\n\n?",
    re.DOTALL,
)
_BADGE_RE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")


def colab_block() -> str:
    return COLAB_BLOCK.format(clone_dir=CLONE_DIR, repository=REPOSITORY)


def colab_url(name: str) -> str:
    """The address that opens release notebook `name` from GitHub in Colab."""
    path = urlparse(REPOSITORY).path.strip("/")
    return (
        f"https://colab.research.google.com/github/{path}/blob/{BRANCH}/notebooks/"
        f"{ASSIGNMENT}/{name}"
    )


def badge(name: str) -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(name)})"


def stamp_notebook(nb, name: str) -> bool:
    """Write the badge into the first cell and the Colab block into the setup cell of `nb`
    (in place); return whether anything changed. Raises ValueError when the notebook has no
    title cell or no setup cell."""
    before = [cell.source for cell in nb.cells]
    first = nb.cells[0]
    if first.cell_type != "markdown" or not first.source.startswith("# "):
        raise ValueError(f"{name}: the first cell must be the markdown title")
    title, _, rest = first.source.partition("\n")
    rest = _BADGE_RE.sub("", rest.lstrip("\n"), count=1).lstrip("\n")
    first.source = f"{title}\n\n{badge(name)}\n\n{rest}"
    setup = [cell for cell in nb.cells if grade_id(cell) == SETUP_ID]
    if len(setup) != 1:
        raise ValueError(f"{name}: expected one cell with grade_id {SETUP_ID!r}")
    code = _BLOCK_RE.sub("", setup[0].source, count=1)
    setup[0].source = colab_block() + "\n" + code
    return [cell.source for cell in nb.cells] != before


def stamp_readme(text: str, names: list[str]) -> str:
    """The README with a Colab badge after each notebook's link in the notebook table (rows
    that link notebooks/<assignment>/<name>); a row's earlier badge is replaced."""
    lines = text.split("\n")
    for name in names:
        link = f"](notebooks/{ASSIGNMENT}/{name})"
        rows = [i for i, line in enumerate(lines) if line.startswith("|") and link in line]
        if len(rows) != 1:
            raise ValueError(f"README: expected one table row linking {name}, found {len(rows)}")
        row = re.sub(r"\s*" + _BADGE_RE.pattern, "", lines[rows[0]])
        lines[rows[0]] = row.replace(link, f"{link} {badge(name)}", 1)
    return "\n".join(lines)
