"""The sample submissions that `make demo` grades and the tests check.

- complete: the release with every exercise answered as in solutions/;
- untouched: the release exactly as a student receives it;
- partly_wrong: complete, with a few of the mutations in autograder/mutations/ applied.
Their expected scores are written down by hand in data/sample_submissions/expected_scores.csv.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat

from autograder.authoring import mutations
from autograder.notebooks import SOLUTION_MARKERS, grade_id, nbgrader_meta, read, strip_markers

# Which plausible mistakes the partly-wrong student made, per notebook (mutation names).
PARTLY_WRONG = {
    "00_hardware.ipynb": ["seconds treated as milliseconds"],
    "01_numpy_gradients.ipynb": [
        "ReLU mask missing in the backward pass",
        "forward difference instead of central difference",
    ],
    "02_tf_static_graphs.ipynb": ["decay ignored (a constant learning rate)"],
    "03_keras.ipynb": ["learning rate ignored (SGD's default of 0.01)"],
    "04_pytorch_autograd.ipynb": ["gradients not reset between steps (they accumulate)"],
    "05_pytorch_nn_optim.ipynb": ["branches added instead of multiplied"],
    "06_data_loading.ipynb": ["generator re-seeded every epoch (same order each epoch)"],
    "07_static_vs_dynamic.ipynb": ["RNN state not reset between sequences"],
    "08_convnets.ipynb": ["backbone not frozen"],
}
STUDENTS = ("complete", "partly_wrong", "untouched")


def completed(release_nb, solution_nb):
    """The release notebook with every solution cell answered as in the solution notebook."""
    answers = {
        grade_id(cell): strip_markers(cell.source, SOLUTION_MARKERS)
        for cell in solution_nb.cells
        if nbgrader_meta(cell).get("solution")
    }
    nb = copy.deepcopy(release_nb)
    for cell in nb.cells:
        if grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    return nb


def build_samples(release_dir: Path, solutions_dir: Path, dest: Path) -> None:
    """Write dest/<student>/<notebook>.ipynb for every sample student."""
    for release_path in sorted(release_dir.glob("*.ipynb")):
        name = release_path.name
        release_nb = read(release_path)
        complete = completed(release_nb, read(solutions_dir / name))
        chosen = [m for m in mutations.load(name) if m.name in PARTLY_WRONG.get(name, [])]
        missing = set(PARTLY_WRONG.get(name, [])) - {m.name for m in chosen}
        if missing:
            raise mutations.MutationError(f"{name}: unknown mutations {sorted(missing)}")
        notebooks = {
            "complete": complete,
            "partly_wrong": mutations.apply_to_notebook(complete, chosen),
            "untouched": release_nb,
        }
        for student, nb in notebooks.items():
            (dest / student).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, dest / student / name)
