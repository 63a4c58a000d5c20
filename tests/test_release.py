"""The student release is generated from solutions/, committed in sync, clean and leak-free."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from autograder.authoring import leaks, release
from autograder.course import RELEASE, REPO_ROOT, SAMPLES, SOLUTIONS, notebook_names
from autograder.notebooks import grade_id, read

ALL_NOTEBOOKS = sorted(
    p
    for folder in (SOLUTIONS, RELEASE, SAMPLES)
    for p in folder.rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release")
    release.build(out)
    return out


def test_release_is_in_sync_with_solutions(built):
    """Does regenerating the release and samples from solutions/ change nothing committed?"""
    assert release.differences(built) == [], "run `make release` and commit the result"


def test_release_has_every_notebook(notebooks):
    """Does notebooks/ hold exactly the solution notebooks, by name?"""
    assert sorted(p.name for p in RELEASE.glob("*.ipynb")) == notebooks


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_stored_without_outputs(path):
    """Is the notebook stored with no outputs and no execution counts?"""
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c.get("outputs") or c.get("execution_count")]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them before committing"


@pytest.mark.parametrize("name", notebook_names())
def test_release_leaks_nothing(name):
    """Does the release contain no marker, no solution line and no hidden test?"""
    found = leaks.leaks(read(RELEASE / name), read(SOLUTIONS / name))
    assert not found, "\n".join(found)


def test_leak_check_finds_a_planted_leak():
    """Would a solution line left in a release notebook be caught?"""
    name = notebook_names()[0]
    solution = read(SOLUTIONS / name)
    planted = copy.deepcopy(read(RELEASE / name))
    secret = leaks.secret_lines(solution)[0]
    next(c for c in planted.cells if c.cell_type == "code").source += "\n" + secret
    assert any(secret in line for line in leaks.leaks(planted, solution))
    hidden = next(c for c in solution.cells if "BEGIN HIDDEN TESTS" in c.source)
    planted.cells[0].source += "\n" + hidden.source
    assert any("marker" in line for line in leaks.leaks(planted, solution))


@pytest.mark.parametrize("name", notebook_names())
def test_notebook_structure(name):
    """Does the notebook open with goals and a time, run a setup cell with the hardware
    report, hold exercises with visible and hidden checks and a written question, and end
    with a summary?"""
    nb = read(SOLUTIONS / name)
    first = nb.cells[0].source
    assert first.startswith("# ") and "You will learn" in first and "Time:" in first
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert "print_hardware_report()" in setup.source and "seed_everything" in setup.source
    assert nb.cells[-1].source.startswith("## Summary")
    metas = [(c, c.metadata.get("nbgrader", {})) for c in nb.cells]
    tests = [c for c, m in metas if m.get("grade") and c.cell_type == "code"]
    written = [c for c, m in metas if m.get("grade") and c.cell_type == "markdown"]
    assert tests and written, "needs autograded tests and a hand-graded written answer"
    for cell in tests:
        meta = cell.metadata["nbgrader"]
        assert meta["points"] > 0 and meta["locked"], grade_id(cell)
        assert "### BEGIN HIDDEN TESTS" in cell.source, f"{grade_id(cell)} has no hidden tests"
