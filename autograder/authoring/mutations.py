"""Plausible wrong answers, one list per notebook, that prove each graded test can fail.

`autograder/mutations/<notebook stem>.toml` holds entries like

    [[mutation]]
    name = "ReLU mask missing in the backward pass"
    cell = "two_layer_loss"            # grade_id of the solution cell to change
    replace = "grad_h * (h_pre > 0)"   # text that must occur in that cell
    with = "grad_h"
    fails = ["test_two_layer_gradients"]   # grade_ids of tests that must fail
    visible_passes = false   # true: the release's visible check passes, only hidden tests fail
    rerun = []               # grade_ids of later cells to re-run after the change

    [[alternative]]          # a correct answer written differently: full marks
    name = "einsum instead of @"
    cell = "two_layer_loss"
    replace = "h_pre = x @ w1"
    with = "h_pre = np.einsum('nd,dh->nh', x, w1)"
    passes = ["test_two_layer_loss", "test_two_layer_gradients"]

    [[unpointed]]            # a mistake no returned value shows: no points lost, but told
    name = "..."             # cell, replace, with as above
    passes = ["test_checkpoint"]     # the graded tests keep full marks
    check = "check_weights_only"     # grade_id of the check without points that must fail

The test suite applies each one in a kernel that ran the solution notebook; the sample
submission `partly_wrong` is built from some of them.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass

from autograder.course import MUTATIONS
from autograder.notebooks import grade_id


class MutationError(ValueError):
    """A mutation no longer matches the solution it was written for."""


@dataclass(frozen=True)
class Mutation:
    notebook: str  # file name, e.g. "01_numpy_gradients.ipynb"
    name: str
    cell: str
    replace: str
    with_: str
    fails: tuple[str, ...]
    visible_passes: bool = False
    rerun: tuple[str, ...] = ()
    check: str = ""  # an unpointed mistake's check without points, which must report it

    def apply(self, source: str) -> str:
        """The cell source with this mutation's change made; MutationError if it cannot be."""
        if self.replace not in source:
            raise MutationError(
                f"{self.notebook}: mutation {self.name!r} expects {self.replace!r} in cell "
                f"{self.cell!r}; update autograder/mutations/ to match the solution"
            )
        return source.replace(self.replace, self.with_, 1)


def load(notebook: str, kind: str = "mutation") -> list[Mutation]:
    """The mutations of one notebook (file name); an empty list when it has none.

    kind "alternative" reads the `[[alternative]]` entries instead: correct answers written
    differently from the solution, each with `passes = [...]`, the tests it must pass; kind
    "unpointed" the `[[unpointed]]` ones: mistakes that keep those tests' full marks and that
    the check without points named by `check` reports."""
    path = MUTATIONS / f"{notebook.removesuffix('.ipynb')}.toml"
    if not path.exists():
        return []
    entries = tomllib.loads(path.read_text()).get(kind, [])
    return [
        Mutation(
            notebook=notebook,
            name=entry["name"],
            cell=entry["cell"],
            replace=entry["replace"],
            with_=entry["with"],
            fails=tuple(entry.get("fails" if kind == "mutation" else "passes", ())),
            visible_passes=entry.get("visible_passes", False),
            rerun=tuple(entry.get("rerun", ())),
            check=entry.get("check", ""),
        )
        for entry in entries
    ]


def apply_to_notebook(nb, mutations: list[Mutation]):
    """A copy of notebook `nb` with each mutation's change made in its cell."""
    nb = copy.deepcopy(nb)
    cells = {grade_id(cell): cell for cell in nb.cells if grade_id(cell)}
    for mutation in mutations:
        if mutation.cell not in cells:
            raise MutationError(f"{mutation.notebook}: no cell with grade_id {mutation.cell!r}")
        cell = cells[mutation.cell]
        cell.source = mutation.apply(cell.source)
    return nb
