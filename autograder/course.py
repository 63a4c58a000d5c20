"""Where the course's pieces live. Every other module takes its paths from here."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "dl_software"  # the nbgrader assignment that holds the unit's notebooks
SOLUTIONS = REPO_ROOT / "solutions" / ASSIGNMENT  # nbgrader's source/<assignment>
RELEASE = REPO_ROOT / "notebooks" / ASSIGNMENT  # nbgrader's release/<assignment>
SAMPLES = REPO_ROOT / "data" / "sample_submissions"
MUTATIONS = Path(__file__).resolve().parent / "mutations"

# Where students fetch the course from: the one place the address is written. `make release`
# writes it into the Colab badges (README and each notebook's first cell) and into the setup
# cells, which clone it on Colab; `make check-release` fails until they agree with it.
REPOSITORY = "https://github.com/cs231n-dl/dl-software"
BRANCH = "main"  # the branch the badges open


def notebook_names() -> list[str]:
    """The unit's notebooks in course order, as file names (e.g. "01_numpy_gradients.ipynb")."""
    return sorted(p.name for p in SOLUTIONS.glob("*.ipynb"))
