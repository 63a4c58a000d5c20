"""The notebooks' run times: one measurement (benchmarks/results/notebook_times.json), written
by the release build into every notebook's header and the README's table."""

from __future__ import annotations

import re

import nbformat
import pytest

from autograder.authoring import run_times
from autograder.course import ASSIGNMENT, RELEASE, REPO_ROOT, SOLUTIONS, notebook_names


def test_every_notebook_was_measured_with_its_runs():
    data = run_times.measured()
    assert sorted(data["seconds"]) == sorted(notebook_names())
    for name, median in data["seconds"].items():
        runs = sorted(data["runs"][name])
        assert len(runs) == data["repeat"] and runs[len(runs) // 2] == pytest.approx(median)


def test_headers_and_readme_say_what_was_measured():
    """Does each notebook's header (solution and release) and the README's row give the
    figure the measurement gives, and the footnote their sum?"""
    data = run_times.measured()
    readme = (REPO_ROOT / "README.md").read_text()
    for name, seconds in data["seconds"].items():
        figure = run_times.shown(seconds)
        for folder in (SOLUTIONS, RELEASE):
            header = nbformat.read(folder / name, as_version=4).cells[0].source
            said = re.findall(r"runs in about (\d+) seconds", header)
            assert said == [str(figure)], (folder / name, said, figure)
        row = next(line for line in readme.splitlines() if f"{ASSIGNMENT}/{name})" in line)
        assert row.endswith(f"| {figure} s |"), row
    total = sum(run_times.shown(s) for s in data["seconds"].values())
    assert f"(the whole sequence: {total} s)" in readme


@pytest.mark.parametrize(
    ("seconds", "figure"), [(0.3, 1), (5.6, 6), (19.4, 19), (21.0, 20), (23.0, 25), (61, 60)]
)
def test_a_figure_is_rounded_to_what_a_reader_can_use(seconds, figure):
    assert run_times.shown(seconds) == figure


def test_stamping_replaces_the_old_figure_and_refuses_what_it_cannot_place():
    data = {"seconds": {"x.ipynb": 23.4, "y.ipynb": 4.2}, "cpus": 2, "repeat": 3}
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# X\n\nthe finished notebook runs in about\n"
                                              "7 seconds.\n")]  # fmt: skip
    run_times.stamp_notebook(nb, "x.ipynb", data)
    assert "runs in about 25 seconds on a 2-core CPU." in nb.cells[0].source
    assert "7 seconds" not in nb.cells[0].source
    with pytest.raises(ValueError, match="not in"):
        run_times.stamp_notebook(nb, "z.ipynb", data)
    nb.cells[0].source = "# X\n\nno time here"
    with pytest.raises(ValueError, match="does not say"):
        run_times.stamp_notebook(nb, "x.ipynb", data)
    readme = (
        f"| 1 | [X](notebooks/{ASSIGNMENT}/x.ipynb) | what | 3 s |\n"
        f"| 2 | [Y](notebooks/{ASSIGNMENT}/y.ipynb) | what | 9 s |\n"
        "on a 4-core CPU machine, kernel start included: the median of 5 runs of "
        "`benchmarks/notebooks.py` (the whole sequence: 12 s).\n"
    )
    stamped = run_times.stamp_readme(readme, data)
    assert "| what | 25 s |" in stamped and "| what | 4 s |" in stamped
    assert "median of 3 runs" in stamped and "whole sequence: 29 s" in stamped
    with pytest.raises(ValueError, match="footnote"):
        run_times.stamp_readme(readme.splitlines()[0] + "\n" + readme.splitlines()[1], data)
