"""How long each solution notebook takes to execute, and what `import cs231n_utils` costs.

    .venv/bin/python benchmarks/notebooks.py [--repeat 3] [--write] [NOTEBOOK ...]

Each notebook runs top to bottom in a fresh kernel, as a student's "Run All" or the grader
does (kernel start included); the median of the runs is reported, since this machine is
shared and single runs are noisy. Targets: each notebook under 60 s (notebook 01 under 20 s),
the import under 0.1 s. With --write (all notebooks), the medians go to
benchmarks/results/notebook_times.json, the one source of the run times that `make release`
writes into the notebooks' headers and the README (autograder/authoring/run_times.py); run
`make release` after it, on a quiet machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from autograder.authoring.run_times import TIMES  # noqa: E402
from autograder.course import SOLUTIONS, notebook_names  # noqa: E402

IMPORT = "import time; t = time.perf_counter(); import cs231n_utils; print(time.perf_counter() - t)"


def execute_seconds(
    path: Path, nb: nbformat.NotebookNode | None = None, timeout: float = 600
) -> float:
    """Seconds to run the notebook at `path` (or `nb`, a changed copy of it, from its folder)
    top to bottom in a fresh kernel, kernel start included; a cell may run `timeout` s."""
    nb = nbformat.read(path, as_version=4) if nb is None else nb
    start = time.perf_counter()
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true", help=f"write the medians to {TIMES.name}")
    parser.add_argument("notebooks", nargs="*", default=notebook_names())
    args = parser.parse_args()
    if args.write and sorted(args.notebooks) != sorted(notebook_names()):
        parser.error("--write measures every notebook: name none")

    load = os.getloadavg()[0]  # a busy machine inflates every figure: kept with them
    imports = [
        float(subprocess.run([sys.executable, "-c", IMPORT], capture_output=True, text=True).stdout)
        for _ in range(max(5, args.repeat))
    ]
    print(
        f"import cs231n_utils: median {statistics.median(imports) * 1e3:.1f} ms "
        f"over {len(imports)} runs"
    )
    total = 0.0
    medians, all_runs = {}, {}
    for name in args.notebooks:
        runs = [execute_seconds(SOLUTIONS / name) for _ in range(args.repeat)]
        median = statistics.median(runs)
        total += median
        medians[name], all_runs[name] = round(median, 1), [round(r, 1) for r in runs]
        shown = ", ".join(f"{r:.1f}" for r in runs)
        print(f"{name:<32} median {median:6.1f} s  (runs: {shown})")
    print(f"{'whole sequence':<32} {total:6.1f} s (sum of medians)")
    if args.write:
        record = {
            "date": datetime.date.today().isoformat(),
            "cpus": len(os.sched_getaffinity(0)),
            "load_average_before": round(load, 2),
            "repeat": args.repeat,
            "seconds": medians,
            "runs": all_runs,
        }
        TIMES.write_text(json.dumps(record, indent=1) + "\n")
        print(f"written: {TIMES}; now run make release")


if __name__ == "__main__":
    main()
