"""Notebooks on a busy machine: how much slower they run beside CPU hogs, with the thread
limits of their setup cells (cs231n_utils.threads.limit_threads) and without them.

    .venv/bin/python benchmarks/busy_machine.py [--repeat 3] [--hogs 2] [NOTEBOOK ...]

For each notebook (01 and 07 by default), in one run and in turn: `quiet`, nothing else
running; `busy`, beside --hogs processes that each spin on a CPU; both as shipped, --repeat
times. Then once `busy, no limit`: the setup cell's limit_threads(...) call removed, as the
notebooks ran before it (a run over --cap seconds is stopped and reported as over it). The
kernels start without the thread variables of this shell, as a student's JupyterLab does.
Reported: medians, busy / quiet (the target is 2.5 or less) and no limit / busy.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient.exceptions import CellTimeoutError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from autograder.course import SOLUTIONS  # noqa: E402
from benchmarks.notebooks import execute_seconds  # noqa: E402
from cs231n_utils.threads import POOL_VARIABLES, WAIT_VARIABLES  # noqa: E402

CALL = re.compile(r"^limit_threads\(.*\)\s*(#.*)?$", re.MULTILINE)
DEFAULT = ["01_numpy_gradients.ipynb", "07_static_vs_dynamic.ipynb"]


def without_limit(path: Path) -> nbformat.NotebookNode:
    """The notebook with its setup cell's limit_threads(...) call made a no-op."""
    nb = nbformat.read(path, as_version=4)
    setup = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup"]
    if not setup or not CALL.search(setup[0].source):
        raise SystemExit(f"{path.name}: no limit_threads(...) call in its setup cell")
    setup[0].source = CALL.sub("pass  # limit_threads removed by the benchmark", setup[0].source)
    return nb


class Hogs:
    """`count` processes that each spin on a CPU while the block runs, each in a session of
    its own as independent programs are. Linux with autogroup scheduling (the default on
    desktop and many server kernels) shares the CPUs fairly between sessions, not threads:
    hogs started in this script's session would together count as one program against the
    kernel (Jupyter starts each kernel in a new session), and the machine would look half as
    busy as two other users' programs make it."""

    def __init__(self, count: int):
        self.count, self.procs = count, []

    def __enter__(self):
        spin = [sys.executable, "-c", "while True: pass"]
        self.procs = [subprocess.Popen(spin, start_new_session=True) for _ in range(self.count)]
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            proc.kill()
            proc.wait()


def timed(path: Path, nb: nbformat.NotebookNode | None, cap: float) -> float:
    """Seconds to run the notebook, or inf where a cell ran over `cap` seconds."""
    try:
        return execute_seconds(path, nb, timeout=cap)
    except CellTimeoutError:
        return float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--hogs", type=int, default=2)
    parser.add_argument("--cap", type=float, default=600.0, help="seconds a cell may run")
    parser.add_argument("notebooks", nargs="*", default=DEFAULT)
    args = parser.parse_args()
    for name in (*POOL_VARIABLES, *WAIT_VARIABLES):
        os.environ.pop(name, None)
    print(f"{os.cpu_count()} CPUs, {len(os.sched_getaffinity(0))} usable; {args.hogs} hogs")
    for name in args.notebooks:
        path = SOLUTIONS / name
        quiet = [timed(path, None, args.cap) for _ in range(args.repeat)]
        with Hogs(args.hogs):
            busy = [timed(path, None, args.cap) for _ in range(args.repeat)]
            unlimited = timed(path, without_limit(path), args.cap)
        q, b = statistics.median(quiet), statistics.median(busy)
        shown = "over the cap" if unlimited == float("inf") else f"{unlimited:.1f} s"
        print(f"{name}")
        print(
            f"  quiet            median {q:7.1f} s  (runs: {', '.join(f'{r:.1f}' for r in quiet)})"
        )
        print(
            f"  busy             median {b:7.1f} s  (runs: {', '.join(f'{r:.1f}' for r in busy)})"
        )
        print(f"  busy, no limit   {shown}")
        print(
            f"  busy / quiet {b / q:.2f} (target 2.5 or less); no limit / busy {unlimited / b:.1f}"
        )


if __name__ == "__main__":
    main()
