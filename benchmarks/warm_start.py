"""A kernel ready for a student's first cell: cold, against forked from a warm server.

    sudo .venv/bin/python benchmarks/warm_start.py [--runs 3] [--notebooks 02_tf_static_graphs ...]

For each notebook, the median of --runs of: a kernel at level `sandbox` started
(SandboxedKernel, cgroup and uid included) and the release's setup cells run in it (the Colab
cell and the imports cell: what every graded run pays before the student's code), cold and warm
in turn so that a change in the machine's load hits both alike. Warm kernels are forked from
the server grading uses for the notebook (importing what its release imports), started before
the first timed run: its start, once per notebook and grading run, is reported apart. Needs
root and bubblewrap.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from autograder.course import notebook_names
from autograder.grading.executors.jobs import course, notebook_modules
from autograder.grading.isolation.kernel import SandboxedKernel


def setup_cells(notebook: str) -> list[str]:
    """The release's code cells up to the one that imports cs231n_utils' helpers."""
    cells = []
    for cell in course(notebook).release.cells:
        if cell.cell_type == "code":
            cells.append(cell.source)
            if "seed_everything" in cell.source or len(cells) == 3:
                break
    return cells


def ready(notebook: str, modules: list[str] | None) -> float:
    """Seconds from nothing to a kernel that has run the setup cells."""
    start = time.perf_counter()
    with SandboxedKernel(f"start-{notebook}", warm=modules) as kernel:
        for source in setup_cells(notebook):
            outcome = kernel.run(source)
            assert outcome.status == "ok", (notebook, outcome)
        seconds = time.perf_counter() - start
        assert (kernel.forked is not None) == (modules is not None), notebook
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--notebooks", nargs="+", default=[Path(n).stem for n in notebook_names()])
    args = parser.parse_args()
    print("| notebook | server start and a first kernel s | cold s | warm s | cold / warm |")
    print("|---|---:|---:|---:|---:|")
    totals = {"cold": 0.0, "warm": 0.0}
    for notebook in args.notebooks:
        modules = notebook_modules(notebook)
        begun = time.perf_counter()
        ready(notebook, modules)  # starts the notebook's server; untimed as a kernel
        started = time.perf_counter() - begun
        times = {"cold": [], "warm": []}
        for _ in range(args.runs):
            times["cold"].append(ready(notebook, None))
            times["warm"].append(ready(notebook, modules))
        cold, hot = (statistics.median(times[k]) for k in ("cold", "warm"))
        totals["cold"] += cold
        totals["warm"] += hot
        print(f"| {notebook} | {started:.2f} | {cold:.2f} | {hot:.2f} | {cold / hot:.1f} |")
    cold, hot = totals["cold"], totals["warm"]
    print(f"| **total** | | {cold:.1f} | {hot:.1f} | {cold / hot:.1f} |")


if __name__ == "__main__":
    main()
