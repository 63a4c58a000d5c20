"""Where the course's files are, wherever a notebook runs.

Notebooks run from `solutions/`, from `notebooks/`, from nbgrader's
`autograded/<student>/<assignment>/` folders in a grading directory, and on Colab. They find
`data/` in this order:
1. the `CS231N_DATA` environment variable (the grader and Colab set it);
2. the checkout this package was installed from (`pip install -e .`, as `make` does);
3. a `data/` folder with a `SHA256SUMS` file in the working directory or one above it.
"""

from __future__ import annotations

import os
from pathlib import Path

MARKER = "SHA256SUMS"  # every real data folder of the course has one


def _is_data_dir(path: Path) -> bool:
    return (path / MARKER).is_file()


def data_dir() -> Path:
    """The course's `data/` folder; FileNotFoundError with the places searched if none."""
    tried = []
    env = os.environ.get("CS231N_DATA")
    if env:
        path = Path(env).expanduser()
        if _is_data_dir(path):
            return path
        tried.append(f"{path} (from CS231N_DATA)")
    package_checkout = Path(__file__).resolve().parents[1] / "data"
    if _is_data_dir(package_checkout):
        return package_checkout
    tried.append(str(package_checkout))
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if _is_data_dir(folder / "data"):
            return folder / "data"
    tried.append(f"data/ in {here} and the folders above it")
    raise FileNotFoundError(
        "Cannot find the course's data/ folder (looked in: "
        + "; ".join(tried)
        + "). Run the notebook from inside the course repository, or set CS231N_DATA to "
        "the path of its data/ folder."
    )
